//! `cargo demo sessions-vs-jwt`: the three mechanisms, measured side by side.
//!
//! Each section measures, prints its table and returns its figures as a typed struct (also
//! recorded in the JSON report). The comparison table, the goals and the closing paragraph are
//! built from those structs alone, never by reading a number back out of a printed table.
//!
//! | section, in the order it runs | file | returns |
//! |---|---|---|
//! | Per request: what it costs to log in | [`login_cost`] | [`login_cost::LoginCost`] |
//! | … the bytes of the credential on every request | [`bytes_on_the_wire`] | [`bytes_on_the_wire::CredentialBytes`] |
//! | … the server's work to trust one request, in-process | [`authentication_cost`] | [`authentication_cost::AuthenticationCost`] |
//! | … the whole `GET /me` over loopback HTTP | [`whole_request`] | [`whole_request::WholeRequest`] |
//! | Revocation: how long is the old credential still accepted? | [`revocation`] | [`revocation::Revocation`] |
//! | Two instances behind a load balancer: the client alternating, and a real nginx | [`two_instances`] | [`two_instances::TwoInstances`] |
//! | The classic comparison, with a measured column beside each claim | [`classic_table`] | [`classic_table::ClassicTable`] |
//! | Performance goals | [`goals`] | [`goals::Goals`] |
//! | What you just saw | [`closing`] | the paragraph |
//!
//! This file holds what the sections share: the [`Mechanism`]s and [`PerMechanism`] figures, the
//! [`Bench`] (instance A, its logged-in credentials, the tokens, the run's [`RunIds`]), and the
//! client helpers every section logs in and probes with.

pub mod authentication_cost;
pub mod bytes_on_the_wire;
pub mod classic_table;
pub mod closing;
pub mod goals;
pub mod login_cost;
pub mod revocation;
pub mod two_instances;
pub mod whole_request;

use std::sync::Arc;

use anyhow::Context as _;
use reqwest::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use serde::Serialize;
use support::clock::{SharedClock, SystemClock};
use support::demo::{DemoArgs, RunIds};
use support::narrate::Narrator;
use support::{Report, Service, Settings};

use crate::app::{self, AppState, Parts};
use crate::config::Config;
use crate::error::BEARER_SCHEME;
use crate::jwt::{AccessClaims, Keyring, Verifier};
use crate::jwt_auth::TokenPair;
use crate::session::Credentials;
use crate::users::{DEMO_USERS, UserStore};

const TOPIC: &str = "sessions-vs-jwt";
/// The longest any one demo request may take.
const HTTP_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);
const TITLE: &str =
    "Sessions vs JWT: where login state lives, what it costs, how fast it can be revoked";
/// The heading the four per-request measurements share (the demo has always printed them as
/// one section).
pub const PER_REQUEST: &str =
    "Per request: what the client sends, and what the server does with it";

/// The four ways of trusting a request, in the order every table lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Mechanism {
    MemorySession,
    RedisSession,
    /// The access token, verified by signature and claims only (`/jwt-plain/me`).
    PlainJwt,
    /// The access token plus the denylist and generation lookup (`/jwt/me`).
    CheckedJwt,
}

impl Mechanism {
    /// The row label every table uses.
    pub fn label(self) -> &'static str {
        match self {
            Mechanism::MemorySession => "memory session",
            Mechanism::RedisSession => "Redis session",
            Mechanism::PlainJwt => "JWT (verify only)",
            Mechanism::CheckedJwt => "JWT + denylist",
        }
    }

    /// The route prefix its `/me` (and for sessions `/login`, `/logout`) lives under.
    pub fn prefix(self) -> &'static str {
        match self {
            Mechanism::MemorySession => "/memory",
            Mechanism::RedisSession => "/redis",
            Mechanism::PlainJwt => "/jwt-plain",
            Mechanism::CheckedJwt => "/jwt",
        }
    }

    /// Whether the credential is a bearer token (else a session cookie).
    pub fn is_jwt(self) -> bool {
        matches!(self, Mechanism::PlainJwt | Mechanism::CheckedJwt)
    }
}

/// One figure per mechanism. The two whose state is in Redis are `None` when the run had no
/// Redis (the demo leaves their rows out and says so).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerMechanism<T> {
    pub memory: T,
    pub redis: Option<T>,
    pub plain_jwt: T,
    pub checked_jwt: Option<T>,
}

impl<T> PerMechanism<T> {
    /// The figure for `mechanism`, if this run measured it.
    pub fn get(&self, mechanism: Mechanism) -> Option<&T> {
        match mechanism {
            Mechanism::MemorySession => Some(&self.memory),
            Mechanism::RedisSession => self.redis.as_ref(),
            Mechanism::PlainJwt => Some(&self.plain_jwt),
            Mechanism::CheckedJwt => self.checked_jwt.as_ref(),
        }
    }

    /// The measured ones, in table order.
    pub fn iter(&self) -> impl Iterator<Item = (Mechanism, &T)> {
        [
            Mechanism::MemorySession,
            Mechanism::RedisSession,
            Mechanism::PlainJwt,
            Mechanism::CheckedJwt,
        ]
        .into_iter()
        .filter_map(|m| self.get(m).map(|figure| (m, figure)))
    }

    /// The same shape, with `f` applied to every figure.
    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> PerMechanism<U> {
        PerMechanism {
            memory: f(self.memory),
            redis: self.redis.map(&mut f),
            plain_jwt: f(self.plain_jwt),
            checked_jwt: self.checked_jwt.map(&mut f),
        }
    }

    /// Builds one with `f` per mechanism, in table order; `redis_up` says whether the Redis ones are measured.
    pub async fn measure<F, Fut>(redis_up: bool, mut f: F) -> anyhow::Result<Self>
    where
        F: FnMut(Mechanism) -> Fut,
        Fut: Future<Output = anyhow::Result<T>>,
    {
        let memory = f(Mechanism::MemorySession).await?;
        let redis = match redis_up {
            true => Some(f(Mechanism::RedisSession).await?),
            false => None,
        };
        let plain_jwt = f(Mechanism::PlainJwt).await?;
        let checked_jwt = match redis_up {
            true => Some(f(Mechanism::CheckedJwt).await?),
            false => None,
        };
        Ok(Self {
            memory,
            redis,
            plain_jwt,
            checked_jwt,
        })
    }
}

/// One running instance and the state behind it.
pub struct Node {
    pub server: support::server::RunningServer,
    pub state: AppState,
}

/// A client's credential for one mechanism.
#[derive(Debug, Clone)]
pub enum Credential {
    Cookie { name: String, value: String },
    Bearer(String),
}

impl Credential {
    /// The request header line the client sends for it, as bytes on the wire (HTTP/1.1; header
    /// names are case-insensitive, so the lower-case constants weigh what `Cookie:` weighs).
    pub fn header_line(&self) -> String {
        match self {
            Credential::Cookie { name, value } => format!("{COOKIE}: {name}={value}\r\n"),
            Credential::Bearer(token) => format!("{AUTHORIZATION}: {BEARER_SCHEME} {token}\r\n"),
        }
    }

    pub fn apply(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Credential::Cookie { name, value } => req.header(COOKIE, format!("{name}={value}")),
            Credential::Bearer(token) => req.bearer_auth(token),
        }
    }
}

/// What instance A handed out at the start: one credential per mechanism (`redis` only with
/// Redis; both JWT routes take the same access token).
pub struct Creds {
    pub memory: Credential,
    /// The memory session's id, for timing the store without HTTP.
    pub memory_id: String,
    pub redis: Option<Credential>,
    /// The Redis session's id, for the bare `GET` of the same key.
    pub redis_id: Option<String>,
    pub jwt: Credential,
}

impl Creds {
    /// The credential `mechanism`'s `/me` takes, if this run has one.
    pub fn for_mechanism(&self, mechanism: Mechanism) -> Option<&Credential> {
        match mechanism {
            Mechanism::MemorySession => Some(&self.memory),
            Mechanism::RedisSession => self.redis.as_ref(),
            Mechanism::PlainJwt | Mechanism::CheckedJwt => Some(&self.jwt),
        }
    }
}

/// The HS256 token A issued, and an EdDSA token with the same claims, to compare their sizes
/// and verification costs.
pub struct Tokens {
    pub hs256: String,
    pub claims: AccessClaims,
    pub eddsa: String,
    pub eddsa_keys: Keyring,
    pub eddsa_verifier: Verifier,
}

/// What every section is handed.
pub struct Bench<'a> {
    pub args: &'a DemoArgs,
    pub config: Config,
    pub http: reqwest::Client,
    /// `None`: Redis was not reachable.
    pub pool: Option<deadpool_redis::Pool>,
    /// The user store A and B share (a database, really).
    pub users: UserStore,
    /// This run's key namespaces come from here, so no two sections (and no two runs) share one.
    pub ids: RunIds,
    /// A's namespace; B shares it (that is the point of a shared store).
    pub namespace: String,
    pub a: Node,
    pub creds: Creds,
    pub tokens: Tokens,
}

impl Bench<'_> {
    pub fn redis_up(&self) -> bool {
        self.pool.is_some()
    }

    /// A Redis key namespace for `label`, unique to this run; the demo deletes them all at the end.
    pub fn namespace(&self, label: &str) -> String {
        namespace(&self.ids, label)
    }

    /// Starts another instance of the deployment: the shared users and Redis, its own memory.
    pub fn start(&self, clock: SharedClock, namespace: &str) -> anyhow::Result<Node> {
        start(
            &self.config,
            clock,
            &self.users,
            self.pool.clone(),
            namespace,
        )
    }
}

fn namespace(ids: &RunIds, label: &str) -> String {
    format!("{}{}:", app::KEY_NAMESPACE, ids.name(label))
}

/// Runs the demo: the sections in the order they print.
pub async fn demo(settings: &Settings, args: &DemoArgs) -> anyhow::Result<Report> {
    let mut n = Narrator::new(TOPIC, TITLE, args);
    let services = n
        .probe(
            settings,
            &[(
                Service::Redis,
                "the Redis-session and JWT-denylist rows are left out (tokens keep their refresh state in memory)",
            )],
        )
        .await?;
    let pool = services
        .is_up(Service::Redis)
        .then(|| app::redis_pool(&settings.redis_url))
        .transpose()?;
    // No ids are handed out (the users are seeded per instance), only this run's names.
    let ids = RunIds::new(0..0);

    let mut config = Config::new(settings.clone()).for_localhost();
    if args.quick {
        config = config.with_cheap_hashing();
    }
    let users = UserStore::seeded(config.hash_cost).await?;
    // Every demo request has a deadline: a wedged instance fails the run instead of hanging it.
    let http = reqwest::Client::builder()
        .timeout(HTTP_DEADLINE)
        .build()
        .context("Failed to build the demo's HTTP client")?;
    let namespace = namespace(&ids, "demo");
    let a = start(
        &config,
        Arc::new(SystemClock),
        &users,
        pool.clone(),
        &namespace,
    )?;
    let setup = async {
        let creds = login_all(&http, &a).await?;
        let tokens = mint_tokens(&a, &creds, &config)?;
        anyhow::Ok((creds, tokens))
    }
    .await;
    let (creds, tokens) = match setup {
        Ok(setup) => setup,
        Err(err) => {
            a.server.stop().await;
            return Err(err);
        }
    };
    let bench = Bench {
        args,
        config,
        http,
        pool,
        users,
        ids,
        namespace,
        a,
        creds,
        tokens,
    };

    let result = sections(&mut n, &bench).await;
    bench.a.server.stop().await;
    if let Some(pool) = &bench.pool {
        cleanup(pool, &bench.ids).await;
    }
    result?;
    n.finish(args.json.as_deref())
}

/// Every section, in order. Each heading is printed here, so this function reads as the
/// demo's table of contents.
async fn sections(n: &mut Narrator, bench: &Bench<'_>) -> anyhow::Result<()> {
    n.section(PER_REQUEST);
    let login = login_cost::section(n, bench).await?;
    let bytes = bytes_on_the_wire::section(n, bench)?;
    let cost = authentication_cost::section(n, bench).await?;
    let whole = whole_request::section(n, bench, &cost).await?;

    n.section(revocation::TITLE);
    let revocation = revocation::section(n, bench).await?;

    n.section(two_instances::TITLE);
    let routing = two_instances::section(n, bench).await?;

    n.section(classic_table::TITLE);
    // Read by nobody after it: its figures are in the report, for a chart.
    classic_table::section(n, &bytes, &cost, &revocation, &routing)?;

    n.section(goals::TITLE);
    let goals = goals::section(n, &cost)?;

    n.section(closing::TITLE);
    closing::section(
        n,
        &closing::Figures {
            login: &login,
            bytes: &bytes,
            cost: &cost,
            whole: &whole,
            revocation: &revocation,
            routing: &routing,
            goals: &goals,
        },
    );
    Ok(())
}

fn start(
    config: &Config,
    clock: SharedClock,
    users: &UserStore,
    redis: Option<deadpool_redis::Pool>,
    namespace: &str,
) -> anyhow::Result<Node> {
    let state = AppState::new(Parts {
        config: config.clone(),
        clock,
        users: users.clone(),
        redis,
        namespace: namespace.to_owned(),
        keys: None,
    })?;
    let for_server = state.clone();
    let server = support::server::spawn(move |l| app::run(l, for_server))?;
    Ok(Node { server, state })
}

/// The demo's client logs in as the first demo user.
pub fn alice() -> Credentials {
    Credentials {
        username: DEMO_USERS[0].0.to_owned(),
        password: DEMO_USERS[0].1.to_owned(),
    }
}

/// Logs in under `mechanism`'s prefix (`/memory`, `/redis`) and returns the session cookie.
pub async fn session_login(
    http: &reqwest::Client,
    node: &Node,
    mechanism: Mechanism,
    who: &Credentials,
) -> anyhow::Result<Credential> {
    session_login_at(http, &node.server.base_url, mechanism, who).await
}

/// [`session_login`] at any base URL: an instance, or the load balancer in front of two.
pub async fn session_login_at(
    http: &reqwest::Client,
    base: &str,
    mechanism: Mechanism,
    who: &Credentials,
) -> anyhow::Result<Credential> {
    let prefix = mechanism.prefix();
    let resp = http
        .post(format!("{base}{prefix}/login"))
        .json(who)
        .send()
        .await?;
    anyhow::ensure!(
        resp.status() == 200,
        "{prefix}/login answered {}",
        resp.status()
    );
    let raw = resp
        .headers()
        .get(SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .context("no Set-Cookie")?;
    let (name, value) = raw
        .split(';')
        .next()
        .and_then(|p| p.split_once('='))
        .context("unreadable Set-Cookie")?;
    Ok(Credential::Cookie {
        name: name.to_owned(),
        value: value.to_owned(),
    })
}

pub async fn jwt_login(
    http: &reqwest::Client,
    node: &Node,
    who: &Credentials,
) -> anyhow::Result<TokenPair> {
    jwt_login_at(http, &node.server.base_url, who).await
}

/// [`jwt_login`] at any base URL.
pub async fn jwt_login_at(
    http: &reqwest::Client,
    base: &str,
    who: &Credentials,
) -> anyhow::Result<TokenPair> {
    let resp = http
        .post(format!("{base}/jwt/login"))
        .json(who)
        .send()
        .await?;
    anyhow::ensure!(
        resp.status() == 200,
        "/jwt/login answered {}",
        resp.status()
    );
    Ok(resp.json().await?)
}

/// Logs in to `mechanism` on `node`: a session cookie, or the access token of a fresh pair.
pub async fn login(
    http: &reqwest::Client,
    node: &Node,
    mechanism: Mechanism,
    who: &Credentials,
) -> anyhow::Result<Credential> {
    login_at(http, &node.server.base_url, mechanism, who).await
}

/// [`login`] at any base URL.
pub async fn login_at(
    http: &reqwest::Client,
    base: &str,
    mechanism: Mechanism,
    who: &Credentials,
) -> anyhow::Result<Credential> {
    if mechanism.is_jwt() {
        Ok(Credential::Bearer(
            jwt_login_at(http, base, who).await?.access_token,
        ))
    } else {
        session_login_at(http, base, mechanism, who).await
    }
}

/// `GET url` with `credential`; the status.
pub async fn status_of(
    http: &reqwest::Client,
    url: String,
    credential: &Credential,
) -> anyhow::Result<u16> {
    Ok(credential
        .apply(http.get(url))
        .send()
        .await?
        .status()
        .as_u16())
}

async fn login_all(http: &reqwest::Client, a: &Node) -> anyhow::Result<Creds> {
    let memory = session_login(http, a, Mechanism::MemorySession, &alice()).await?;
    let redis = match a.state.redis {
        Some(_) => Some(session_login(http, a, Mechanism::RedisSession, &alice()).await?),
        None => None,
    };
    let pair = jwt_login(http, a, &alice()).await?;
    let id = |c: &Credential| match c {
        Credential::Cookie { value, .. } => value.clone(),
        Credential::Bearer(_) => String::new(),
    };
    Ok(Creds {
        memory_id: id(&memory),
        redis_id: redis.as_ref().map(id),
        memory,
        redis,
        jwt: Credential::Bearer(pair.access_token),
    })
}

fn mint_tokens(a: &Node, creds: &Creds, config: &Config) -> anyhow::Result<Tokens> {
    let hs256 = match &creds.jwt {
        Credential::Bearer(token) => token.clone(),
        Credential::Cookie { .. } => anyhow::bail!("the JWT login returned a cookie"),
    };
    let claims: AccessClaims = a
        .state
        .jwt
        .verify(&hs256)
        .map_err(|e| anyhow::anyhow!("A refused its own token: {e}"))?;
    let eddsa_keys = Keyring::eddsa(a.state.clock.clone())?;
    let eddsa = eddsa_keys.sign(&claims)?;
    let eddsa_verifier = Verifier::new(
        eddsa_keys.algorithm(),
        &config.jwt.issuer,
        Some(&config.jwt.audience),
        config.jwt.leeway,
        a.state.clock.clone(),
    );
    Ok(Tokens {
        hs256,
        claims,
        eddsa,
        eddsa_keys,
        eddsa_verifier,
    })
}

/// Deletes every key of this run: all its namespaces end in the run's token.
async fn cleanup(pool: &deadpool_redis::Pool, ids: &RunIds) {
    let Ok(mut conn) = pool.get().await else {
        return;
    };
    let pattern = format!("{}*_{}:*", app::KEY_NAMESPACE, ids.run());
    // SCAN in pages, not KEYS: KEYS blocks a shared Redis for as long as it walks the keyspace.
    let mut cursor: u64 = 0;
    loop {
        let page: redis::RedisResult<(u64, Vec<String>)> = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(500)
            .query_async(&mut conn)
            .await;
        let Ok((next, keys)) = page else { return };
        if !keys.is_empty() {
            let _: redis::RedisResult<()> =
                redis::cmd("DEL").arg(&keys).query_async(&mut conn).await;
        }
        if next == 0 {
            return;
        }
        cursor = next;
    }
}
