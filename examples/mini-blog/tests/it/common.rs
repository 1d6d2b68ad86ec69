//! Fixtures: a running server over a fresh database, and a client that speaks Conduit.

use std::sync::Arc;

use anyhow::Context as _;
use auth::passwords::PasswordCost;
use mini_blog::state::{AppState, CacheChoice, QueueChoice};
use mini_blog::{Config, db};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::Settings;
use support::server::RunningServer;
use support::testkit::{TestBackend, every_backend, unique_name};

/// A server over one backend's fresh database.
pub struct Fixture {
    pub server: RunningServer,
    pub state: Arc<AppState>,
    pub client: reqwest::Client,
    pub backend: support::db::Backend,
    // Last, so the database outlives the pool that uses it.
    _database: Option<TestBackend>,
}

/// What a test changes from the defaults.
#[derive(Debug, Clone)]
pub struct Options {
    pub cache: CacheChoice,
    pub queue: QueueChoice,
    pub config: Config,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            cache: CacheChoice::LocalOnly,
            queue: QueueChoice::InProcess,
            config: test_config(),
        }
    }
}

/// The defaults with a cheap password hash (tests measure nothing) and names of their own.
pub fn test_config() -> Config {
    let name = unique_name("miniblog");
    Config {
        password_cost: PasswordCost::CHEAP,
        jwt_secret: b"a test secret of at least 32 bytes!!".to_vec(),
        cache_namespace: name.clone(),
        queue_name: name,
        ..Config::default()
    }
}

/// A server per backend (SQLite always, PostgreSQL when it answers), default options.
pub async fn every() -> anyhow::Result<Vec<Fixture>> {
    every_with(Options::default()).await
}

pub async fn every_with(options: Options) -> anyhow::Result<Vec<Fixture>> {
    let mut fixtures = Vec::new();
    for backend in every_backend("miniblog").await? {
        // Names of its own per server: two servers on one queue would take each other's jobs.
        let mut options = options.clone();
        let fresh = test_config();
        options.config.queue_name = fresh.queue_name;
        options.config.cache_namespace = fresh.cache_namespace;
        fixtures.push(Fixture::start(backend, options).await?);
    }
    Ok(fixtures)
}

/// One server on SQLite: for claims about HTTP, not storage.
pub async fn sqlite() -> anyhow::Result<Fixture> {
    let backend = every_backend("miniblog")
        .await?
        .into_iter()
        .next()
        .context("no SQLite backend")?;
    Fixture::start(backend, Options::default()).await
}

impl Fixture {
    pub async fn start(database: TestBackend, options: Options) -> anyhow::Result<Self> {
        let db = db::open(&database.target, 4).await?;
        Self::on(db, options, Some(database)).await
    }

    /// A second server on the same database as `self` (two instances behind a balancer).
    pub async fn another(&self, options: Options) -> anyhow::Result<Self> {
        Self::on(self.state.db.clone(), options, None).await
    }

    async fn on(
        db: db::Db,
        options: Options,
        database: Option<TestBackend>,
    ) -> anyhow::Result<Self> {
        let settings = Settings::from_env()?;
        let backend = db.backend();
        let state =
            AppState::build(&settings, options.config, db, options.cache, options.queue).await?;
        let server = {
            let state = state.clone();
            support::server::spawn(move |listener| mini_blog::run(listener, state, 1))?
        };
        Ok(Self {
            server,
            state,
            client: reqwest::Client::new(),
            backend,
            _database: database,
        })
    }

    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    /// Sends `body` (if any) to `path` with `token` (if any); returns the status and the JSON
    /// body (`Null` when there is none).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.header("Authorization", format!("Token {token}"));
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).with_context(|| format!("{path}: not JSON: {text}"))?
        };
        Ok((status, value))
    }

    pub async fn get(
        &self,
        path: &str,
        token: Option<&str>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        self.call(Method::GET, path, token, None).await
    }

    /// Registers `name` (email `name@example.com`, password `password123`); returns the token.
    pub async fn register(&self, name: &str) -> anyhow::Result<String> {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/users",
                None,
                Some(json!({"user": {"username": name, "email": format!("{name}@example.com"), "password": "password123"}})),
            )
            .await?;
        anyhow::ensure!(
            status == StatusCode::CREATED,
            "register {name}: {status} {body}"
        );
        token_of(&body)
    }

    /// Creates an article; returns its slug.
    pub async fn article(&self, token: &str, title: &str, tags: &[&str]) -> anyhow::Result<String> {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/articles",
                Some(token),
                Some(json!({"article": {"title": title, "description": "d", "body": "b", "tagList": tags}})),
            )
            .await?;
        anyhow::ensure!(
            status == StatusCode::CREATED,
            "create {title}: {status} {body}"
        );
        body["article"]["slug"]
            .as_str()
            .map(str::to_owned)
            .context("no slug")
    }

    /// Stops the server and the job worker (and deletes the queue it made).
    pub async fn stop(self) {
        self.server.stop().await;
        self.state.notifier.shutdown(true).await;
    }
}

pub fn token_of(body: &Value) -> anyhow::Result<String> {
    body["user"]["token"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no token in {body}"))
}

/// `errors.<key>[0]`.
pub fn first_error<'a>(body: &'a Value, key: &str) -> &'a str {
    body["errors"][key][0].as_str().unwrap_or_default()
}
