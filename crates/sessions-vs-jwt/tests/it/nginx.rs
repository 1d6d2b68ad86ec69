//! Claims about two instances behind a real nginx (rendered from `deploy/nginx.conf`, on a free
//! loopback port, killed on drop): the load balancer the demo's "Two instances" table measures.
//! Without nginx these tests are skipped with a printed reason (under `BF_REQUIRE_SERVICES=1`
//! they fail); the Redis one also needs Redis.

use sessions_vs_jwt::nginx::{self, Nginx, Routing};
use sessions_vs_jwt::users::UserStore;
use support::Service;
use support::clock::ManualClock;
use support::testkit::{present, require};

use crate::common::{self, ALICE, Instance, bearer_get, credentials, session_me, set_cookie};

/// Requests per claim: enough that "about half" cannot happen by luck, few enough to be quick.
const REQUESTS: u64 = 40;

/// Two instances of one deployment (shared users, Redis when given, one HS256 secret), and an
/// nginx in front of them.
struct Deployment {
    instances: Vec<Instance>,
    lb: Nginx,
    http: reqwest::Client,
    _clock: ManualClock,
}

impl Deployment {
    async fn start(
        routing: Routing,
        redis: Option<(deadpool_redis::Pool, String)>,
    ) -> anyhow::Result<Self> {
        let clock = ManualClock::starting_now();
        let users = UserStore::seeded(common::config().hash_cost).await?;
        let a = common::start(common::config(), &clock, Some(users.clone()), redis.clone()).await?;
        let b = common::start(common::config(), &clock, Some(users), redis).await?;
        let lb = Nginx::start(routing, [a.server.addr, b.server.addr]).await?;
        Ok(Self {
            instances: vec![a, b],
            lb,
            http: reqwest::Client::new(),
            _clock: clock,
        })
    }

    /// Logs in through nginx under a session prefix; the cookie `(name, value)`.
    async fn session_login(&self, prefix: &str) -> anyhow::Result<(String, String)> {
        let resp = self
            .http
            .post(self.lb.url(&format!("{prefix}/login")))
            .json(&credentials(ALICE))
            .send()
            .await?;
        anyhow::ensure!(resp.status() == 200, "login answered {}", resp.status());
        let (name, value, _) = set_cookie(&resp).ok_or_else(|| anyhow::anyhow!("no Set-Cookie"))?;
        Ok((name, value))
    }

    /// Logs in through nginx for a JWT; the access token.
    async fn jwt_login(&self) -> anyhow::Result<String> {
        let resp = self
            .http
            .post(self.lb.url("/jwt/login"))
            .json(&credentials(ALICE))
            .send()
            .await?;
        anyhow::ensure!(resp.status() == 200, "login answered {}", resp.status());
        let pair: sessions_vs_jwt::jwt_auth::TokenPair = resp.json().await?;
        Ok(pair.access_token)
    }

    /// How many of [`REQUESTS`] `GET {prefix}/me` through nginx with the cookie answered 200.
    async fn session_successes(
        &self,
        prefix: &str,
        cookie: &(String, String),
    ) -> anyhow::Result<u64> {
        let mut ok = 0;
        for _ in 0..REQUESTS {
            if session_me(&self.lb.base_url(), &self.http, prefix, cookie).await? == 200 {
                ok += 1;
            }
        }
        Ok(ok)
    }

    /// How many of [`REQUESTS`] `GET path` through nginx with the token answered 200.
    async fn bearer_successes(&self, path: &str, token: &str) -> anyhow::Result<u64> {
        let mut ok = 0;
        for _ in 0..REQUESTS {
            if bearer_get(&self.http, self.lb.url(path), token)
                .await?
                .status()
                == 200
            {
                ok += 1;
            }
        }
        Ok(ok)
    }

    /// Kills the instance that holds this memory session (asked directly, not through nginx).
    async fn kill_the_instance_holding(&mut self, cookie: &(String, String)) -> anyhow::Result<()> {
        let mut holder = None;
        for (i, instance) in self.instances.iter().enumerate() {
            if session_me(&instance.server.base_url, &self.http, "/memory", cookie).await? == 200 {
                holder = Some(i);
            }
        }
        let i = holder.ok_or_else(|| anyhow::anyhow!("no instance holds the session"))?;
        self.instances.remove(i).server.kill().await;
        Ok(())
    }
}

/// Between 30 % and 70 % of [`REQUESTS`]: "about half".
fn about_half(successes: u64) -> bool {
    (REQUESTS * 3 / 10..=REQUESTS * 7 / 10).contains(&successes)
}

/// nginx's default round robin sends every other request to the instance that never saw the
/// memory session; a JWT verifies on both.
#[actix_web::test]
async fn through_nginx_round_robin_memory_sessions_fail_on_about_half_the_requests_and_jwts_on_none()
-> anyhow::Result<()> {
    if !present(nginx::missing()) {
        return Ok(());
    }
    let lb = Deployment::start(Routing::RoundRobin, None).await?;
    let cookie = lb.session_login("/memory").await?;
    let token = lb.jwt_login().await?;

    let memory = lb.session_successes("/memory", &cookie).await?;
    let jwt = lb.bearer_successes("/jwt-plain/me", &token).await?;

    assert!(
        about_half(memory),
        "memory sessions: {memory} of {REQUESTS}"
    );
    assert_eq!(jwt, REQUESTS, "verify-only JWTs");
    Ok(())
}

/// With the state in the shared Redis, round robin does not matter: Redis sessions and
/// denylist-checked JWTs succeed on every request.
#[actix_web::test]
async fn through_nginx_round_robin_redis_sessions_and_checked_jwts_never_fail() -> anyhow::Result<()>
{
    if !present(nginx::missing()) {
        return Ok(());
    }
    let Some(url) = require(Service::Redis).await else {
        return Ok(());
    };
    let (pool, keys) = common::redis(&url, "nginx_round_robin")?;
    let lb = Deployment::start(Routing::RoundRobin, Some((pool, keys.prefix.clone()))).await?;
    let cookie = lb.session_login("/redis").await?;
    let token = lb.jwt_login().await?;

    let redis = lb.session_successes("/redis", &cookie).await?;
    let checked = lb.bearer_successes("/jwt/me", &token).await?;
    let plain = lb.bearer_successes("/jwt-plain/me", &token).await?;

    assert_eq!(redis, REQUESTS, "Redis sessions");
    assert_eq!(checked, REQUESTS, "JWTs with the denylist check");
    assert_eq!(plain, REQUESTS, "verify-only JWTs");
    Ok(())
}

/// `ip_hash` pins this client (127.0.0.1) to one instance, the one its login created the memory
/// session on.
#[actix_web::test]
async fn through_nginx_sticky_routing_memory_sessions_succeed_on_every_request()
-> anyhow::Result<()> {
    if !present(nginx::missing()) {
        return Ok(());
    }
    let lb = Deployment::start(Routing::Sticky, None).await?;
    let cookie = lb.session_login("/memory").await?;

    let memory = lb.session_successes("/memory", &cookie).await?;

    assert_eq!(memory, REQUESTS, "memory sessions");
    Ok(())
}

/// When the pinned instance dies, nginx moves the client to the other one (failover): the memory
/// session died with its instance, a JWT verifies on the survivor.
#[actix_web::test]
async fn after_the_sticky_instance_is_killed_memory_sessions_fail_and_jwts_still_succeed()
-> anyhow::Result<()> {
    if !present(nginx::missing()) {
        return Ok(());
    }
    let mut lb = Deployment::start(Routing::Sticky, None).await?;
    let cookie = lb.session_login("/memory").await?;
    let token = lb.jwt_login().await?;
    let before = lb.session_successes("/memory", &cookie).await?;

    lb.kill_the_instance_holding(&cookie).await?;
    let memory = lb.session_successes("/memory", &cookie).await?;
    let jwt = lb.bearer_successes("/jwt-plain/me", &token).await?;

    assert_eq!(before, REQUESTS, "memory sessions before the kill");
    assert_eq!(memory, 0, "memory sessions after the kill");
    assert_eq!(jwt, REQUESTS, "verify-only JWTs after the kill");
    Ok(())
}
