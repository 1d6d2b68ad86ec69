//! `cargo demo auth`: the four mechanisms, the OAuth2 login and RBAC, measured side by side.
//!
//! Each section measures, prints its table and returns its figures as a typed struct (also
//! recorded in the JSON report). The goals and the closing paragraph are built from those
//! structs alone.
//!
//! | section, in the order it runs | file | returns |
//! |---|---|---|
//! | What the server does to trust one request | [`per_request_cost`] | [`per_request_cost::PerRequestCost`] |
//! | Revocation: how long a revoked caller still gets in | [`revocation`] | [`revocation::Revocation`] |
//! | The mechanisms side by side, over HTTP | [`mechanism_table`] | [`mechanism_table::MechanismTable`] |
//! | One OAuth2 login, as a transcript | [`oauth_transcript`] | [`oauth_transcript::OAuthFlow`] |
//! | The RBAC matrix: mechanism × role × route | [`rbac_matrix`] | [`rbac_matrix::RbacMatrix`] |
//! | Login abuse: the throttle, and the timing of unknown users | [`login_abuse`] | [`login_abuse::LoginAbuse`] |
//! | Performance goals | [`goals`] | [`goals::Goals`] |
//! | What you just saw | [`closing`] | the paragraph |
//!
//! This file holds what the sections share: the two instances ([`Bench`]), the
//! [`Credential`] each mechanism hands a client, and the helpers that log in with them.

pub mod closing;
pub mod goals;
pub mod login_abuse;
pub mod mechanism_table;
pub mod oauth_transcript;
pub mod per_request_cost;
pub mod rbac_matrix;
pub mod revocation;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use reqwest::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use serde::Serialize;
use support::clock::{ManualClock, SystemClock};
use support::demo::DemoArgs;
use support::narrate::Narrator;
use support::server::RunningServer;
use support::{Report, Settings};

use crate::accounts::DEMO_ACCOUNTS;
use crate::api_keys::{CreatedKey, NewKey};
use crate::app::{self, AppState};
use crate::basic;
use crate::config::Config;
use crate::error::API_KEY_HEADER;
use crate::jwt_bearer::TokenResponse;
use crate::login::LoginRequest;
use crate::passwords::PasswordCost;
use crate::principal::Mechanism;
use crate::rbac::{Permission, Role};
use crate::session::{CSRF_HEADER, SessionLogin};

const TOPIC: &str = "auth";
const TITLE: &str =
    "Authentication and authorization: how a REST API knows who is calling, and what they may do";
/// The longest any one demo request may take.
const HTTP_DEADLINE: Duration = Duration::from_secs(10);

/// One running instance and the state behind it.
pub struct Node {
    pub server: RunningServer,
    pub state: AppState,
}

impl Node {
    async fn start(config: Config, clock: support::clock::SharedClock) -> anyhow::Result<Self> {
        let state = AppState::new(config, clock).await?;
        let for_server = state.clone();
        let server = support::server::spawn(move |l| app::run(l, for_server))?;
        Ok(Self { server, state })
    }
}

/// What every section is handed.
pub struct Bench<'a> {
    pub args: &'a DemoArgs,
    pub http: reqwest::Client,
    /// Hashes at the OWASP baseline on the system clock: what the cost figures are measured on.
    /// Its throttle is opened wide, so the timing of many failed logins can be measured.
    pub owasp: Node,
    /// Hashes cheaply on a clock the demo moves by hand: revocation delays, the throttle's
    /// window and the RBAC matrix, none of which is about hashing speed.
    pub manual: Node,
    pub clock: ManualClock,
}

/// A client's credential for one mechanism.
#[derive(Debug, Clone)]
pub enum Credential {
    /// The `Authorization: Basic …` value.
    Basic(String),
    Cookie {
        name: String,
        value: String,
        csrf: String,
    },
    Bearer(String),
    ApiKey(String),
}

impl Credential {
    /// The request header line(s) it adds, as bytes on the wire (HTTP/1.1).
    pub fn header_lines(&self) -> String {
        match self {
            Credential::Basic(value) => format!("{AUTHORIZATION}: {value}\r\n"),
            Credential::Cookie { name, value, .. } => format!("{COOKIE}: {name}={value}\r\n"),
            Credential::Bearer(token) => format!("{AUTHORIZATION}: Bearer {token}\r\n"),
            Credential::ApiKey(key) => format!("{API_KEY_HEADER}: {key}\r\n"),
        }
    }

    /// Attaches it to a request; `unsafe_method` adds the CSRF token a session needs.
    pub fn apply(
        &self,
        req: reqwest::RequestBuilder,
        unsafe_method: bool,
    ) -> reqwest::RequestBuilder {
        match self {
            Credential::Basic(value) => req.header(AUTHORIZATION, value),
            Credential::Cookie { name, value, csrf } => {
                let req = req.header(COOKIE, format!("{name}={value}"));
                if unsafe_method {
                    req.header(CSRF_HEADER, csrf)
                } else {
                    req
                }
            }
            Credential::Bearer(token) => req.bearer_auth(token),
            Credential::ApiKey(key) => req.header(API_KEY_HEADER, key),
        }
    }
}

/// The password of a demo account.
pub fn password_of(username: &str) -> anyhow::Result<&'static str> {
    DEMO_ACCOUNTS
        .iter()
        .find(|(name, _, _)| *name == username)
        .map(|(_, password, _)| *password)
        .with_context(|| format!("{username} is not a demo account"))
}

/// The demo account holding `role` (the first one, for authors).
pub fn account_with(role: Role) -> &'static str {
    DEMO_ACCOUNTS
        .iter()
        .find(|(_, _, r)| *r == role)
        .map_or("rita", |(name, _, _)| *name)
}

/// Logs `username` in to `mechanism` on `node`; for API keys, a key with every scope the
/// account may grant, minted through the JWT door.
pub async fn login(
    http: &reqwest::Client,
    node: &Node,
    mechanism: Mechanism,
    username: &str,
) -> anyhow::Result<Credential> {
    let password = password_of(username)?;
    let body = LoginRequest {
        username: username.to_owned(),
        password: password.to_owned(),
    };
    match mechanism {
        Mechanism::Basic => Ok(Credential::Basic(basic::encode(username, password))),
        Mechanism::Session => {
            let resp = http
                .post(node.server.url("/session/login"))
                .json(&body)
                .send()
                .await?;
            anyhow::ensure!(
                resp.status() == 200,
                "/session/login answered {}",
                resp.status()
            );
            let raw = resp
                .headers()
                .get(SET_COOKIE)
                .and_then(|v| v.to_str().ok())
                .context("no Set-Cookie")?
                .to_owned();
            let (name, value) = raw
                .split(';')
                .next()
                .and_then(|p| p.split_once('='))
                .context("unreadable Set-Cookie")?;
            let login: SessionLogin = resp.json().await?;
            Ok(Credential::Cookie {
                name: name.to_owned(),
                value: value.to_owned(),
                csrf: login.csrf_token,
            })
        }
        Mechanism::Jwt => {
            let resp = http
                .post(node.server.url("/jwt/token"))
                .json(&body)
                .send()
                .await?;
            anyhow::ensure!(
                resp.status() == 200,
                "/jwt/token answered {}",
                resp.status()
            );
            let token: TokenResponse = resp.json().await?;
            Ok(Credential::Bearer(token.access_token))
        }
        Mechanism::ApiKey => {
            let Credential::Bearer(token) =
                Box::pin(login(http, node, Mechanism::Jwt, username)).await?
            else {
                anyhow::bail!("the JWT login returned another credential");
            };
            let role = node
                .state
                .accounts
                .find(username)?
                .context("no such account")?
                .role;
            let scopes = role
                .permissions()
                .without(Permission::ManageOwnKeys)
                .iter()
                .map(|p| p.scope().to_owned())
                .collect();
            let resp = http
                .post(node.server.url("/jwt/api-keys"))
                .bearer_auth(token)
                .json(&NewKey {
                    name: format!("{username}'s demo key"),
                    scopes,
                })
                .send()
                .await?;
            anyhow::ensure!(
                resp.status() == 201,
                "/jwt/api-keys answered {}",
                resp.status()
            );
            let created: CreatedKey = resp.json().await?;
            Ok(Credential::ApiKey(created.key))
        }
    }
}

/// `method url` with `credential` (and a JSON body when given); the status.
pub async fn status_of(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    credential: Option<&Credential>,
    body: Option<&serde_json::Value>,
) -> anyhow::Result<u16> {
    let unsafe_method = !matches!(method, reqwest::Method::GET | reqwest::Method::HEAD);
    let mut req = http.request(method, url);
    if let Some(credential) = credential {
        req = credential.apply(req, unsafe_method);
    }
    if let Some(body) = body {
        req = req.json(body);
    }
    Ok(req.send().await?.status().as_u16())
}

/// The figures of every section, for the goals and the closing paragraph.
#[derive(Debug, Clone, Serialize)]
pub struct AllFigures {
    pub cost: per_request_cost::PerRequestCost,
    pub mechanisms: mechanism_table::MechanismTable,
    pub revocation: revocation::Revocation,
    pub oauth: oauth_transcript::OAuthFlow,
    pub matrix: rbac_matrix::RbacMatrix,
    pub abuse: login_abuse::LoginAbuse,
    pub goals: goals::Goals,
}

/// Runs the demo: the sections in the order they print.
pub async fn demo(_settings: &Settings, args: &DemoArgs) -> anyhow::Result<Report> {
    let mut n = Narrator::new(TOPIC, TITLE, args);
    n.say(
        "No external service is needed: sessions, API keys and the throttle live in this process \
         (production keeps them in Redis or the database), and the OAuth2 provider is a local \
         stand-in mounted in the same server.",
    );
    let http = reqwest::Client::builder()
        .timeout(HTTP_DEADLINE)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("Failed to build the demo's HTTP client")?;
    let mut wide_open = Config::default();
    // The timing section sends dozens of failed logins; the throttle would answer 429 after
    // five of them, and 429s cost nothing to compute.
    wide_open.throttle.per_account = usize::MAX;
    wide_open.throttle.per_address = usize::MAX;
    let owasp = Node::start(wide_open, Arc::new(SystemClock)).await?;
    let clock = ManualClock::starting_now();
    let manual = match Node::start(
        Config::default().with_password_cost(PasswordCost::CHEAP),
        Arc::new(clock.clone()),
    )
    .await
    {
        Ok(node) => node,
        Err(err) => {
            owasp.server.stop().await;
            return Err(err);
        }
    };
    let bench = Bench {
        args,
        http,
        owasp,
        manual,
        clock,
    };
    let result = sections(&mut n, &bench).await;
    bench.owasp.server.stop().await;
    bench.manual.server.stop().await;
    result?;
    n.finish(args.json.as_deref())
}

/// Every section, in order: this function reads as the demo's table of contents.
async fn sections(n: &mut Narrator, bench: &Bench<'_>) -> anyhow::Result<AllFigures> {
    n.section(per_request_cost::TITLE);
    let cost = per_request_cost::section(n, bench).await?;

    n.section(revocation::TITLE);
    let revocation = revocation::section(n, bench).await?;

    n.section(mechanism_table::TITLE);
    let mechanisms = mechanism_table::section(n, bench, &revocation).await?;

    n.section(oauth_transcript::TITLE);
    let oauth = oauth_transcript::section(n, &bench.manual.server, &bench.manual.state).await?;

    n.section(rbac_matrix::TITLE);
    let matrix = rbac_matrix::section(n, bench).await?;

    n.section(login_abuse::TITLE);
    let abuse = login_abuse::section(n, bench).await?;

    n.section(goals::TITLE);
    let goals = goals::section(n, &cost)?;

    let all = AllFigures {
        cost,
        mechanisms,
        revocation,
        oauth,
        matrix,
        abuse,
        goals,
    };
    n.section(closing::TITLE);
    closing::section(n, &all);
    Ok(all)
}
