//! Claims about cookie sessions, checked for both stores (memory always, Redis when reachable).

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, COOKIE};
use sessions_vs_jwt::config::CookieConfig;
use sessions_vs_jwt::memory_session::{MEMORY_COOKIE, MemoryStore};
use sessions_vs_jwt::session::{HOST_PREFIX, SESSION_ID_BYTES, Sessions, new_session_id};
use sessions_vs_jwt::users::UserStore;
use support::Service;
use support::clock::ManualClock;
use support::problem::PROBLEM_JSON;
use support::testkit::require;

use crate::common::{self, Instance, session_login, session_me};

/// Starts an instance with Redis when `redis` is true (returns `None` to skip when it is down).
async fn instance(
    redis: bool,
    clock: &ManualClock,
    label: &str,
) -> anyhow::Result<Option<(Instance, Option<support::testkit::TestKeys>)>> {
    if !redis {
        return Ok(Some((
            common::start(common::config(), clock, None, None).await?,
            None,
        )));
    }
    let Some(url) = require(Service::Redis).await else {
        return Ok(None);
    };
    let (pool, keys) = common::redis(&url, label)?;
    let instance = common::start(
        common::config(),
        clock,
        None,
        Some((pool, keys.prefix.clone())),
    )
    .await?;
    Ok(Some((instance, Some(keys))))
}

async fn survives_then_logout_kills_it(prefix: &str, redis: bool) -> anyhow::Result<()> {
    let clock = ManualClock::starting_now();
    let Some((app, _keys)) = instance(redis, &clock, "survive").await? else {
        return Ok(());
    };
    let cookie = session_login(&app, prefix, None).await?;

    let first = session_me(&app.server.base_url, &app.http, prefix, &cookie).await?;
    clock.advance(Duration::from_secs(5 * 60));
    let second = session_me(&app.server.base_url, &app.http, prefix, &cookie).await?;
    let logout = app
        .http
        .post(app.url(&format!("{prefix}/logout")))
        .header(COOKIE, format!("{}={}", cookie.0, cookie.1))
        .send()
        .await?;
    // The attacker (or a back button) replays the very cookie value the browser just dropped.
    let replayed = session_me(&app.server.base_url, &app.http, prefix, &cookie).await?;

    assert_eq!((first, second), (200, 200));
    assert_eq!(logout.status(), 204);
    assert_eq!(
        replayed, 401,
        "the old cookie must be useless right after logout"
    );
    Ok(())
}

/// A memory session survives across requests, and logout makes its cookie useless at once.
#[actix_web::test]
async fn memory_session_survives_requests_and_dies_at_logout() -> anyhow::Result<()> {
    survives_then_logout_kills_it("/memory", false).await
}

/// A Redis session survives across requests, and logout makes its cookie useless at once.
#[actix_web::test]
async fn redis_session_survives_requests_and_dies_at_logout() -> anyhow::Result<()> {
    survives_then_logout_kills_it("/redis", true).await
}

async fn id_rotates_at_login(prefix: &str, redis: bool) -> anyhow::Result<()> {
    let clock = ManualClock::starting_now();
    let Some((app, _keys)) = instance(redis, &clock, "fixation").await? else {
        return Ok(());
    };
    // An attacker's own valid session, planted in the victim's browser before they log in.
    let planted = session_login(&app, prefix, None).await?;

    let victim = session_login(&app, prefix, Some((&planted.0, &planted.1))).await?;
    let planted_after = session_me(&app.server.base_url, &app.http, prefix, &planted).await?;
    let victim_me = session_me(&app.server.base_url, &app.http, prefix, &victim).await?;

    assert_ne!(victim.1, planted.1, "login must issue a new session id");
    assert_eq!(
        planted_after, 401,
        "the pre-login id must be dead after login"
    );
    assert_eq!(victim_me, 200);
    Ok(())
}

/// Logging in always issues a new session id and kills the one the browser brought (fixation).
#[actix_web::test]
async fn memory_session_id_changes_at_login() -> anyhow::Result<()> {
    id_rotates_at_login("/memory", false).await
}

/// The same fixation defence holds for Redis sessions.
#[actix_web::test]
async fn redis_session_id_changes_at_login() -> anyhow::Result<()> {
    id_rotates_at_login("/redis", true).await
}

async fn timeouts(prefix: &str, redis: bool) -> anyhow::Result<()> {
    let clock = ManualClock::starting_now();
    let Some((app, _keys)) = instance(redis, &clock, "timeouts").await? else {
        return Ok(());
    };
    let policy = CookieConfig::default();
    let base = app.server.base_url.clone();

    // Idle: one second short of the idle timeout is fine; untouched for the full timeout is not.
    let idle = session_login(&app, prefix, None).await?;
    clock.advance(policy.idle_timeout - Duration::from_secs(1));
    let just_in_time = session_me(&base, &app.http, prefix, &idle).await?;
    clock.advance(policy.idle_timeout);
    let after_idle = session_me(&base, &app.http, prefix, &idle).await?;

    // Absolute: used every 20 minutes (never idle), it still dies at the absolute timeout.
    let active = session_login(&app, prefix, None).await?;
    let step = Duration::from_secs(20 * 60);
    let mut elapsed = Duration::ZERO;
    let mut alive_until_absolute = true;
    while elapsed + step < policy.absolute_timeout {
        clock.advance(step);
        elapsed += step;
        alive_until_absolute &= session_me(&base, &app.http, prefix, &active).await? == 200;
    }
    clock.advance(policy.absolute_timeout - elapsed);
    let after_absolute = session_me(&base, &app.http, prefix, &active).await?;

    assert_eq!(just_in_time, 200);
    assert_eq!(after_idle, 401, "an idle session must expire");
    assert!(
        alive_until_absolute,
        "an active session must live until the absolute timeout"
    );
    assert_eq!(
        after_absolute, 401,
        "an active session must still die at the absolute timeout"
    );
    Ok(())
}

/// Idle and absolute timeouts both expire memory sessions (controlled clock, no sleeping).
#[actix_web::test]
async fn memory_sessions_expire_when_idle_and_when_too_old() -> anyhow::Result<()> {
    timeouts("/memory", false).await
}

/// Idle and absolute timeouts both expire Redis sessions.
#[actix_web::test]
async fn redis_sessions_expire_when_idle_and_when_too_old() -> anyhow::Result<()> {
    timeouts("/redis", true).await
}

/// The cookie is HttpOnly and SameSite=Lax; over HTTPS it is also Secure and `__Host-` prefixed.
#[actix_web::test]
async fn cookie_is_httponly_lax_and_secure_with_host_prefix_when_configured() -> anyhow::Result<()>
{
    let users = UserStore::seeded(sessions_vs_jwt::config::HashCost::CHEAP).await?;
    let clock = std::sync::Arc::new(ManualClock::starting_now());
    let secure = CookieConfig::default();
    let localhost = CookieConfig {
        secure: false,
        ..CookieConfig::default()
    };

    let https = Sessions::new(
        MemoryStore::default(),
        MEMORY_COOKIE,
        &secure,
        clock.clone(),
        users.clone(),
    )
    .cookie(new_session_id())
    .to_string();
    let http = Sessions::new(
        MemoryStore::default(),
        MEMORY_COOKIE,
        &localhost,
        clock,
        users,
    )
    .cookie(new_session_id())
    .to_string();

    assert!(
        https.starts_with(&format!("{HOST_PREFIX}{MEMORY_COOKIE}=")),
        "{https}"
    );
    for attribute in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(https.contains(attribute), "{attribute} missing in {https}");
    }
    assert!(
        !https.contains("Domain"),
        "__Host- cookies must not carry Domain: {https}"
    );
    assert!(http.starts_with(&format!("{MEMORY_COOKIE}=")), "{http}");
    assert!(
        http.contains("HttpOnly") && http.contains("SameSite=Lax"),
        "{http}"
    );
    assert!(
        !http.contains("Secure"),
        "plain-HTTP localhost cookies cannot be Secure: {http}"
    );
    Ok(())
}

/// Session ids carry 256 random bits and do not repeat.
#[test]
fn session_ids_are_256_bits_and_unique() -> anyhow::Result<()> {
    use base64::Engine as _;
    let ids: Vec<String> = (0..10_000).map(|_| new_session_id()).collect();
    let unique: std::collections::HashSet<&String> = ids.iter().collect();
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&ids[0])?;

    assert_eq!(decoded.len(), SESSION_ID_BYTES);
    assert!(decoded.len() * 8 >= 128, "OWASP asks for at least 128 bits");
    assert_eq!(unique.len(), ids.len());
    Ok(())
}

/// A wrong password is a 401 problem, and so is an unknown user (indistinguishably).
#[actix_web::test]
async fn wrong_password_and_unknown_user_get_the_same_401_problem() -> anyhow::Result<()> {
    let clock = ManualClock::starting_now();
    let app = common::start(common::config(), &clock, None, None).await?;
    let attempt = |user: &str, password: &str| {
        app.http
            .post(app.url("/memory/login"))
            .json(&serde_json::json!({ "username": user, "password": password }))
            .send()
    };

    let wrong = attempt("alice", "guess").await?;
    let unknown = attempt("mallory", "guess").await?;
    let wrong_type = wrong.headers().get(CONTENT_TYPE).cloned();
    let wrong_body: serde_json::Value = wrong.json().await?;
    let unknown_body: serde_json::Value = unknown.json().await?;

    assert_eq!(wrong_body["status"], 401);
    assert_eq!(
        wrong_type.as_ref().and_then(|v| v.to_str().ok()),
        Some(PROBLEM_JSON)
    );
    assert_eq!(
        wrong_body, unknown_body,
        "the answer must not reveal which usernames exist"
    );
    Ok(())
}

/// A malformed login body is a 400 or 422 problem, never a 500.
#[actix_web::test]
async fn malformed_login_body_is_a_client_error_problem() -> anyhow::Result<()> {
    let clock = ManualClock::starting_now();
    let app = common::start(common::config(), &clock, None, None).await?;

    let truncated = app
        .http
        .post(app.url("/memory/login"))
        .header(CONTENT_TYPE, "application/json")
        .body("{\"username\": ")
        .send()
        .await?;
    let missing_field = app
        .http
        .post(app.url("/jwt/login"))
        .json(&serde_json::json!({ "username": "alice" }))
        .send()
        .await?;

    assert_eq!(truncated.status(), 400);
    assert_eq!(missing_field.status(), 422);
    Ok(())
}

/// The Redis per-user index outlives every session it lists, so a password change still finds
/// a long-lived session after a short-lived one was saved.
#[actix_web::test]
async fn redis_user_index_lives_as_long_as_its_longest_session() -> anyhow::Result<()> {
    use sessions_vs_jwt::redis_session::{RedisStore, USER_SESSIONS_KEY};
    use sessions_vs_jwt::session::{SessionRecord, SessionStore};
    let Some(url) = require(Service::Redis).await else {
        return Ok(());
    };
    let (pool, keys) = common::redis(&url, "index_ttl")?;
    let store = RedisStore::new(pool.clone(), &keys.prefix);
    let user = sessions_vs_jwt::users::User {
        id: "u1".to_owned(),
        username: "alice".to_owned(),
    };
    let record = SessionRecord {
        user,
        created_at: 0,
        last_seen: 0,
    };

    store
        .save("long", &record, Duration::from_secs(3600))
        .await?;
    store.save("short", &record, Duration::from_secs(5)).await?;
    let mut conn = pool.get().await?;
    let ttl: i64 = redis::cmd("TTL")
        .arg(keys.key(&format!("{USER_SESSIONS_KEY}u1")))
        .query_async(&mut conn)
        .await?;
    let removed = store.remove_user("u1").await?;

    assert!(ttl > 3000, "the index TTL shrank to {ttl} s");
    assert_eq!(removed, 2);
    Ok(())
}

/// A wrong method on a login or a refresh is a 405 with `Allow`, an unknown path a 404, both
/// problem+json (`GET /jwt/refresh` once came back as an empty 404).
#[actix_web::test]
async fn a_wrong_method_is_405_with_allow_and_an_unknown_path_is_a_problem_404()
-> anyhow::Result<()> {
    let instance =
        common::start(common::config(), &ManualClock::starting_now(), None, None).await?;
    for (path, method, allow) in [
        ("/jwt/refresh", reqwest::Method::GET, "POST, OPTIONS"),
        ("/memory/login", reqwest::Method::PUT, "POST, OPTIONS"),
        ("/memory/me", reqwest::Method::DELETE, "GET, HEAD, OPTIONS"),
        (
            sessions_vs_jwt::jwt::JWKS_PATH,
            reqwest::Method::POST,
            "GET, HEAD, OPTIONS",
        ),
    ] {
        support::testkit::assert_routing(
            &instance.server.base_url,
            path,
            method,
            allow,
            "/nowhere",
        )
        .await?;
    }
    Ok(())
}
