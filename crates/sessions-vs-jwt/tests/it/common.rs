//! Starting instances with a manual clock, and reading cookies without a cookie jar (so tests
//! can look at, keep and replay exactly what the server sent).

use std::io::Write as _;
use std::sync::Arc;

use reqwest::header::{COOKIE, SET_COOKIE};
use sessions_vs_jwt::config::{Config, JwtAlgorithm};
use sessions_vs_jwt::jwt_auth::TokenPair;
use sessions_vs_jwt::users::{DEMO_USERS, UserStore};
use sessions_vs_jwt::{AppState, Parts, app};
use support::Settings;
use support::clock::ManualClock;
use support::server::RunningServer;

pub const ALICE: (&str, &str) = DEMO_USERS[0];

/// A test configuration: plain-HTTP cookies, cheap hashing, a fixed HS256 secret.
pub fn config() -> Config {
    let mut config = Config::new(Settings::default())
        .for_localhost()
        .with_cheap_hashing();
    config.jwt.hs256_secret = b"a test secret of thirty-two bytes".to_vec();
    config
}

pub fn eddsa_config() -> Config {
    let mut config = config();
    config.jwt.algorithm = JwtAlgorithm::EdDsa;
    config
}

pub struct Instance {
    pub server: RunningServer,
    pub state: AppState,
    pub http: reqwest::Client,
}

impl Instance {
    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
    }
}

/// Starts one instance. `redis`: a pool and the test's key prefix.
pub async fn start(
    config: Config,
    clock: &ManualClock,
    users: Option<UserStore>,
    redis: Option<(deadpool_redis::Pool, String)>,
) -> anyhow::Result<Instance> {
    let users = match users {
        Some(users) => users,
        None => UserStore::seeded(config.hash_cost).await?,
    };
    let (redis, namespace) = match redis {
        Some((pool, ns)) => (Some(pool), ns),
        None => (None, app::KEY_NAMESPACE.to_owned()),
    };
    let state = AppState::new(Parts {
        config,
        clock: Arc::new(clock.clone()),
        users,
        redis,
        namespace,
        keys: None,
    })?;
    let for_server = state.clone();
    let server = support::server::spawn(move |l| app::run(l, for_server))?;
    Ok(Instance {
        server,
        state,
        http: reqwest::Client::new(),
    })
}

/// A Redis pool for `url`, with a fresh key prefix deleted when the returned guard drops.
pub fn redis(
    url: &str,
    label: &str,
) -> anyhow::Result<(deadpool_redis::Pool, support::testkit::TestKeys)> {
    Ok((
        app::redis_pool(url)?,
        support::testkit::TestKeys::new(url, label),
    ))
}

pub fn credentials(user: (&str, &str)) -> serde_json::Value {
    serde_json::json!({ "username": user.0, "password": user.1 })
}

/// `(name, value)` of the first `Set-Cookie`, and the raw header for attribute checks.
pub fn set_cookie(resp: &reqwest::Response) -> Option<(String, String, String)> {
    let raw = resp.headers().get(SET_COOKIE)?.to_str().ok()?.to_owned();
    let pair = raw.split(';').next()?;
    let (name, value) = pair.split_once('=')?;
    Some((name.to_owned(), value.to_owned(), raw))
}

/// Logs in under a session prefix (`/memory` or `/redis`) and returns the cookie `(name, value)`.
pub async fn session_login(
    instance: &Instance,
    prefix: &str,
    planted: Option<(&str, &str)>,
) -> anyhow::Result<(String, String)> {
    let mut req = instance
        .http
        .post(instance.url(&format!("{prefix}/login")))
        .json(&credentials(ALICE));
    if let Some((name, value)) = planted {
        req = req.header(COOKIE, format!("{name}={value}"));
    }
    let resp = req.send().await?;
    anyhow::ensure!(resp.status() == 200, "login answered {}", resp.status());
    let (name, value, _) = set_cookie(&resp).ok_or_else(|| anyhow::anyhow!("no Set-Cookie"))?;
    Ok((name, value))
}

/// `GET {prefix}/me` with a cookie; returns the status.
pub async fn session_me(
    base: &str,
    http: &reqwest::Client,
    prefix: &str,
    cookie: &(String, String),
) -> anyhow::Result<u16> {
    let resp = http
        .get(format!("{base}{prefix}/me"))
        .header(COOKIE, format!("{}={}", cookie.0, cookie.1))
        .send()
        .await?;
    Ok(resp.status().as_u16())
}

pub async fn jwt_login(instance: &Instance) -> anyhow::Result<TokenPair> {
    let resp = instance
        .http
        .post(instance.url("/jwt/login"))
        .json(&credentials(ALICE))
        .send()
        .await?;
    anyhow::ensure!(resp.status() == 200, "login answered {}", resp.status());
    Ok(resp.json().await?)
}

/// `GET path` with a bearer token; returns the response.
pub async fn bearer_get(
    http: &reqwest::Client,
    url: String,
    token: &str,
) -> anyhow::Result<reqwest::Response> {
    Ok(http.get(url).bearer_auth(token).send().await?)
}

/// A `redis-server` of the test's own, on a free loopback port, for a test that must see Redis
/// fail: the machine's Redis is shared with every other test and is never stopped. The child is
/// killed when this is dropped, so a failing assertion does not leave a server behind.
pub struct OwnRedis {
    /// `redis://127.0.0.1:<port>`.
    pub url: String,
    child: Option<std::process::Child>,
}

/// The binary [`OwnRedis`] runs.
pub const REDIS_SERVER: &str = "redis-server";
/// How long a fresh `redis-server` gets to answer `PING` (it usually takes a few milliseconds).
const REDIS_START_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

impl OwnRedis {
    /// Starts one. `None` (with a printed reason) when `redis-server` is not installed, like
    /// `support::testkit::require`; under `BF_REQUIRE_SERVICES=1` that is a failure instead.
    pub async fn start() -> anyhow::Result<Option<Self>> {
        let settings = Settings::from_env()?;
        // The free port is found by binding port 0 and letting go of it; another process could
        // take it in between, and then this server exits at once: try again on a new port.
        let mut last_error = None;
        for _ in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            let spawned = std::process::Command::new(REDIS_SERVER)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                // Nothing on disk: no snapshots, no append-only file.
                .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn();
            let child = match spawned {
                Ok(child) => child,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    let reason = format!("`{REDIS_SERVER}` is not installed ({err})");
                    anyhow::ensure!(
                        !settings.require_services,
                        "{reason}, and {}=1 requires it",
                        support::config::REQUIRE_SERVICES_VAR
                    );
                    let test = std::thread::current()
                        .name()
                        .unwrap_or("this test")
                        .to_owned();
                    // The real stderr, past the harness's capture, so the skip is visible.
                    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason}");
                    return Ok(None);
                }
                Err(err) => return Err(anyhow::Error::new(err).context("starting redis-server")),
            };
            let mut redis = Self {
                url: format!("redis://127.0.0.1:{port}"),
                child: Some(child),
            };
            match redis.wait_until_ready().await {
                Ok(()) => return Ok(Some(redis)),
                Err(err) => last_error = Some(err),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("redis-server did not start")))
    }

    /// Polls `PING` until it answers, the child exits, or the deadline passes.
    async fn wait_until_ready(&mut self) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + REDIS_START_DEADLINE;
        let client = redis::Client::open(self.url.as_str())?;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                anyhow::bail!("redis-server on {} exited at start: {status}", self.url);
            }
            if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
                let pong: redis::RedisResult<String> =
                    redis::cmd("PING").query_async(&mut conn).await;
                if pong.is_ok() {
                    return Ok(());
                }
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "redis-server on {} did not answer PING within {REDIS_START_DEADLINE:?}",
                self.url
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Kills the server (SIGKILL: a crash, not a clean shutdown) and waits until it is gone,
    /// so every connection to it is closed when this returns.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}
