//! Starting an instance on a manual clock, and logging in through each mechanism.
//!
//! reqwest runs here without a cookie store, on purpose: a test sends the `Cookie` header by hand,
//! so it can keep, replay or drop exactly what the server set, and see its attributes.

#![allow(dead_code)] // each test module uses its own part of this kit

use std::sync::Arc;

use auth::accounts::DEMO_ACCOUNTS;
use auth::api_keys::CreatedKey;
use auth::error::API_KEY_HEADER;
use auth::passwords::PasswordCost;
use auth::principal::Mechanism;
use auth::rbac::{Permission, Role};
use auth::session::{CSRF_HEADER, SessionLogin};
use auth::{AppState, Config};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, SET_COOKIE, WWW_AUTHENTICATE};
use reqwest::{Method, RequestBuilder, Response};
use support::Problem;
use support::clock::ManualClock;
use support::problem::PROBLEM_JSON;
use support::server::RunningServer;

/// The start of every test's clock: a fixed instant, so a failure reruns identically.
pub const T0: u64 = 1_750_000_000;

/// The shipped configuration with cheap password hashing (the parameters are the lesson of
/// `passwords.rs`, not of every test).
pub fn test_config() -> Config {
    Config::default().with_password_cost(PasswordCost::CHEAP)
}

/// A demo account's username and password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct User {
    pub username: &'static str,
    pub password: &'static str,
    pub role: Role,
}

/// The demo account named `username` (one of `DEMO_ACCOUNTS`).
pub fn user(username: &str) -> User {
    let (username, password, role) = DEMO_ACCOUNTS
        .into_iter()
        .find(|(name, _, _)| *name == username)
        .unwrap_or_else(|| panic!("{username} is not a demo account"));
    User {
        username,
        password,
        role,
    }
}

pub fn rita() -> User {
    user("rita")
}
pub fn arthur() -> User {
    user("arthur")
}
pub fn olga() -> User {
    user("olga")
}
pub fn ada() -> User {
    user("ada")
}

/// Every scope `role` may put on an API key: its permissions but key management.
pub fn grantable_scopes(role: Role) -> Vec<String> {
    role.permissions()
        .iter()
        .filter(|p| *p != Permission::ManageOwnKeys)
        .map(|p| p.scope().to_owned())
        .collect()
}

/// One running instance, its state (to look inside) and its clock (to move time).
pub struct Instance {
    pub server: RunningServer,
    pub state: AppState,
    pub clock: ManualClock,
    pub http: reqwest::Client,
}

/// What a request carries to say who is calling.
#[derive(Debug, Clone)]
pub enum Credential {
    Anonymous,
    /// The whole `Authorization` value, `Basic …`.
    Basic(String),
    /// The cookie pair (`name=value`) and the session's CSRF token.
    Session {
        cookie: String,
        csrf_token: String,
    },
    Bearer(String),
    ApiKey(String),
}

impl Credential {
    /// `request` with this credential attached (a session also sends its CSRF token, as a
    /// well-behaved same-site client does on every request).
    pub fn apply(&self, request: RequestBuilder) -> RequestBuilder {
        match self {
            Credential::Anonymous => request,
            Credential::Basic(header) => request.header(AUTHORIZATION, header),
            Credential::Session { cookie, csrf_token } => request
                .header(COOKIE, cookie)
                .header(CSRF_HEADER, csrf_token),
            Credential::Bearer(token) => request.header(AUTHORIZATION, format!("Bearer {token}")),
            Credential::ApiKey(key) => request.header(API_KEY_HEADER, key),
        }
    }
}

/// What `POST /session/login` gave: the cookie to send back, the raw `Set-Cookie`, the CSRF token.
#[derive(Debug, Clone)]
pub struct Session {
    pub cookie: String,
    pub set_cookie: String,
    pub csrf_token: String,
}

impl Session {
    pub fn credential(&self) -> Credential {
        Credential::Session {
            cookie: self.cookie.clone(),
            csrf_token: self.csrf_token.clone(),
        }
    }
}

/// Starts an instance with [`test_config`] on a clock stopped at [`T0`].
pub async fn start() -> anyhow::Result<Instance> {
    start_with(test_config()).await
}

/// Starts an instance with `config` on a clock stopped at [`T0`].
pub async fn start_with(config: Config) -> anyhow::Result<Instance> {
    let clock = ManualClock::at(T0);
    let state = AppState::new(config, Arc::new(clock.clone())).await?;
    start_state(state, clock)
}

/// Serves a state the test built (or altered) itself.
pub fn start_state(state: AppState, clock: ManualClock) -> anyhow::Result<Instance> {
    let for_server = state.clone();
    let server = support::server::spawn(move |l| auth::app::run(l, for_server))?;
    Ok(Instance {
        server,
        state,
        clock,
        http: reqwest::Client::new(),
    })
}

impl Instance {
    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    /// A request to `path` carrying `credential`.
    pub fn request(&self, method: Method, path: &str, credential: &Credential) -> RequestBuilder {
        credential.apply(self.http.request(method, self.url(path)))
    }

    pub fn account_id(&self, username: &str) -> anyhow::Result<u64> {
        Ok(self
            .state
            .accounts
            .find(username)?
            .ok_or_else(|| anyhow::anyhow!("no account {username}"))?
            .id)
    }

    /// `Authorization: Basic` for `user`: nothing to ask the server.
    pub fn basic(&self, user: User) -> Credential {
        Credential::Basic(auth::basic::encode(user.username, user.password))
    }

    /// `POST /session/login` as `user`.
    pub async fn session_login(&self, user: User) -> anyhow::Result<Session> {
        let response = self
            .http
            .post(self.url("/session/login"))
            .json(&login_body(user.username, user.password))
            .send()
            .await?;
        anyhow::ensure!(
            response.status() == 200,
            "session login as {} answered {}",
            user.username,
            response.status()
        );
        let set_cookie = response
            .headers()
            .get(SET_COOKIE)
            .ok_or_else(|| anyhow::anyhow!("the session login set no cookie"))?
            .to_str()?
            .to_owned();
        let cookie = set_cookie
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        let body: SessionLogin = response.json().await?;
        Ok(Session {
            cookie,
            set_cookie,
            csrf_token: body.csrf_token,
        })
    }

    /// `POST /jwt/token` as `user`: the access token.
    pub async fn jwt_token(&self, user: User) -> anyhow::Result<String> {
        let response = self.token_request(user.username, user.password).await?;
        anyhow::ensure!(
            response.status() == 200,
            "token request as {} answered {}",
            user.username,
            response.status()
        );
        let body: auth::jwt_bearer::TokenResponse = response.json().await?;
        Ok(body.access_token)
    }

    /// `POST /jwt/token` with any username and password, answered as it comes.
    pub async fn token_request(&self, username: &str, password: &str) -> anyhow::Result<Response> {
        Ok(self
            .http
            .post(self.url("/jwt/token"))
            .json(&login_body(username, password))
            .send()
            .await?)
    }

    /// `POST /jwt/api-keys` as `user` (authenticated by a fresh JWT), answered as it comes.
    pub async fn api_key_request(&self, user: User, scopes: &[String]) -> anyhow::Result<Response> {
        let token = self.jwt_token(user).await?;
        Ok(self
            .request(Method::POST, "/jwt/api-keys", &Credential::Bearer(token))
            .json(&serde_json::json!({ "name": format!("{}'s key", user.username), "scopes": scopes }))
            .send()
            .await?)
    }

    /// A new API key of `user` with `scopes`.
    pub async fn api_key(&self, user: User, scopes: &[String]) -> anyhow::Result<CreatedKey> {
        let response = self.api_key_request(user, scopes).await?;
        anyhow::ensure!(
            response.status() == 201,
            "creating a key for {} answered {}",
            user.username,
            response.status()
        );
        Ok(response.json().await?)
    }

    /// Logs `user` in through `mechanism` (an API key gets every scope the role may grant).
    pub async fn credential(&self, mechanism: Mechanism, user: User) -> anyhow::Result<Credential> {
        Ok(match mechanism {
            Mechanism::Basic => self.basic(user),
            Mechanism::Session => self.session_login(user).await?.credential(),
            Mechanism::Jwt => Credential::Bearer(self.jwt_token(user).await?),
            Mechanism::ApiKey => {
                Credential::ApiKey(self.api_key(user, &grantable_scopes(user.role)).await?.key)
            }
        })
    }

    /// The status of `GET {prefix}/me` with `credential`.
    pub async fn me(&self, mechanism: Mechanism, credential: &Credential) -> anyhow::Result<u16> {
        let path = format!("{}/me", mechanism.prefix());
        Ok(self
            .request(Method::GET, &path, credential)
            .send()
            .await?
            .status()
            .as_u16())
    }
}

pub fn login_body(username: &str, password: &str) -> serde_json::Value {
    serde_json::json!({ "username": username, "password": password })
}

/// The response's `WWW-Authenticate`, if any.
pub fn challenge_of(response: &Response) -> Option<String> {
    header(response, WWW_AUTHENTICATE.as_str())
}

pub fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Reads an error response: checks it is problem+json and returns the body.
pub async fn problem(response: Response) -> anyhow::Result<Problem> {
    let content_type = header(&response, CONTENT_TYPE.as_str()).unwrap_or_default();
    anyhow::ensure!(
        content_type == PROBLEM_JSON,
        "a {} came as {content_type:?}, not {PROBLEM_JSON}",
        response.status()
    );
    Ok(response.json().await?)
}
