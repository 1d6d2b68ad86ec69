//! Claims about Redis failing under a running instance: the README's "Redis down means 503".
//! The Redis here is the test's own `redis-server` (`common::OwnRedis`), killed mid-test; the
//! machine's Redis, which every other test shares, is never touched.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, RETRY_AFTER};
use sessions_vs_jwt::app;
use sessions_vs_jwt::error::RETRY_AFTER_SECS;
use support::clock::ManualClock;
use support::problem::PROBLEM_JSON;
use support::testkit::unique_name;

use crate::common::{self, OwnRedis, jwt_login, session_login};

/// Long enough for a refused connection (immediate on loopback), short enough that a request
/// stuck on a dead Redis fails the test instead of hanging it.
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);

/// Asserts the answer is a 503 problem+json that says when to retry.
async fn assert_unavailable(what: &str, resp: reqwest::Response) -> anyhow::Result<()> {
    let status = resp.status();
    let header = |name| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (content_type, retry_after) = (header(CONTENT_TYPE), header(RETRY_AFTER));
    let body: support::Problem = resp.json().await?;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}");
    assert_eq!(content_type.as_deref(), Some(PROBLEM_JSON), "{what}");
    assert_eq!(retry_after, Some(RETRY_AFTER_SECS.to_string()), "{what}");
    assert_eq!(body.status, 503, "{what}");
    Ok(())
}

/// With its Redis gone, an instance answers 503 (problem+json, `Retry-After`) to a Redis-session
/// request and to a JWT request that needs the denylist, rather than a 401 that would tell the
/// client to log in again (it could not: logging in needs Redis too). A verify-only JWT needs
/// no Redis and keeps working.
#[actix_web::test]
async fn redis_going_down_answers_503_for_redis_sessions_and_the_jwt_denylist() -> anyhow::Result<()>
{
    let Some(mut redis) = OwnRedis::start().await? else {
        return Ok(());
    };
    let pool = app::redis_pool(&redis.url)?;
    let namespace = format!("{}:", unique_name("outage"));
    let clock = ManualClock::starting_now();
    let instance = common::start(common::config(), &clock, None, Some((pool, namespace))).await?;
    let cookie = session_login(&instance, "/redis", None).await?;
    let token = jwt_login(&instance).await?.access_token;
    let http = reqwest::Client::builder()
        .timeout(REQUEST_DEADLINE)
        .build()?;
    let session_me = || {
        http.get(instance.url("/redis/me"))
            .header(COOKIE, format!("{}={}", cookie.0, cookie.1))
            .send()
    };
    let bearer_me = |path: &str| http.get(instance.url(path)).bearer_auth(&token).send();
    assert_eq!(session_me().await?.status(), 200, "before the outage");
    assert_eq!(
        bearer_me("/jwt/me").await?.status(),
        200,
        "before the outage"
    );

    redis.kill()?;
    let session = session_me().await?;
    let checked = bearer_me("/jwt/me").await?;
    let plain = bearer_me("/jwt-plain/me").await?;
    let login = http
        .post(instance.url("/redis/login"))
        .json(&common::credentials(common::ALICE))
        .send()
        .await?;

    assert_unavailable("GET /redis/me", session).await?;
    assert_unavailable("GET /jwt/me", checked).await?;
    assert_unavailable("POST /redis/login", login).await?;
    assert_eq!(plain.status(), 200, "verify-only needs no Redis");
    Ok(())
}
