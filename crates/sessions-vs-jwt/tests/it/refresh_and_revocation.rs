//! Claims about taking credentials back: refresh rotation with reuse detection, the `jti`
//! denylist, and a password change, for the in-memory token store and for Redis.

use reqwest::header::COOKIE;
use sessions_vs_jwt::jwt::TokenRejection;
use support::Service;
use support::clock::ManualClock;
use support::testkit::{TestKeys, require};

use crate::common::{self, ALICE, Instance, bearer_get, jwt_login, session_login, session_me};

async fn instance(
    redis: bool,
    clock: &ManualClock,
    label: &str,
) -> anyhow::Result<Option<(Instance, Option<TestKeys>)>> {
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
    let app = common::start(
        common::config(),
        clock,
        None,
        Some((pool, keys.prefix.clone())),
    )
    .await?;
    Ok(Some((app, Some(keys))))
}

async fn refresh(app: &Instance, token: &str) -> anyhow::Result<reqwest::Response> {
    Ok(app
        .http
        .post(app.url("/jwt/refresh"))
        .json(&serde_json::json!({ "refresh_token": token }))
        .send()
        .await?)
}

async fn rotation(redis: bool) -> anyhow::Result<()> {
    let clock = ManualClock::starting_now();
    let Some((app, _keys)) = instance(redis, &clock, "rotation").await? else {
        return Ok(());
    };
    let first = jwt_login(&app).await?;

    let second: sessions_vs_jwt::jwt_auth::TokenPair =
        refresh(&app, &first.refresh_token).await?.json().await?;
    // A thief replays the first refresh token, which the client already exchanged.
    let replay = refresh(&app, &first.refresh_token).await?;
    let replay_status = replay.status();
    let replay_body: serde_json::Value = replay.json().await?;
    // The legitimate client's current token dies with the family.
    let legit_after = refresh(&app, &second.refresh_token).await?;

    assert_ne!(
        second.refresh_token, first.refresh_token,
        "every use must rotate the token"
    );
    assert_eq!(replay_status, 401);
    assert_eq!(replay_body["type"], "/problems/refresh-token-reused");
    assert_eq!(
        legit_after.status(),
        401,
        "reuse must revoke the whole family"
    );
    Ok(())
}

/// Refresh tokens rotate on every use; reusing an old one is refused and revokes the family.
#[actix_web::test]
async fn refresh_reuse_revokes_the_family_in_memory() -> anyhow::Result<()> {
    rotation(false).await
}

/// The same rotation and reuse detection with the family state in Redis.
#[actix_web::test]
async fn refresh_reuse_revokes_the_family_in_redis() -> anyhow::Result<()> {
    rotation(true).await
}

/// A refresh family ends at its absolute lifetime, however often it was rotated.
#[actix_web::test]
async fn refresh_family_expires_at_its_absolute_lifetime() -> anyhow::Result<()> {
    let clock = ManualClock::starting_now();
    let app = common::start(common::config(), &clock, None, None).await?;
    let pair = jwt_login(&app).await?;

    clock.advance(app.state.config.jwt.refresh_ttl);
    let late = refresh(&app, &pair.refresh_token).await?;

    assert_eq!(late.status(), 401);
    Ok(())
}

async fn denylist(redis: bool) -> anyhow::Result<()> {
    let clock = ManualClock::starting_now();
    let Some((app, _keys)) = instance(redis, &clock, "denylist").await? else {
        return Ok(());
    };
    let pair = jwt_login(&app).await?;
    let before = bearer_get(&app.http, app.url("/jwt/me"), &pair.access_token).await?;

    let logout = app
        .http
        .post(app.url("/jwt/logout"))
        .bearer_auth(&pair.access_token)
        .send()
        .await?;
    let checked = bearer_get(&app.http, app.url("/jwt/me"), &pair.access_token).await?;
    let checked_status = checked.status();
    let checked_body: serde_json::Value = checked.json().await?;
    let plain = bearer_get(&app.http, app.url("/jwt-plain/me"), &pair.access_token).await?;
    let refreshed = refresh(&app, &pair.refresh_token).await?;

    assert_eq!(before.status(), 200);
    assert_eq!(logout.status(), 204);
    assert_eq!(checked_status, 401, "a denylisted jti must be refused");
    assert_eq!(checked_body["reason"], TokenRejection::Revoked.code());
    // The lesson in one line: without the lookup, the logged-out token still works.
    assert_eq!(
        plain.status(),
        200,
        "a verify-only check cannot know about the logout"
    );
    assert_eq!(
        refreshed.status(),
        401,
        "logout ends the refresh family too"
    );
    Ok(())
}

/// After logout the token's `jti` is denylisted (in memory); only the stateless route still accepts it.
#[actix_web::test]
async fn denylisted_jti_is_rejected_in_memory() -> anyhow::Result<()> {
    denylist(false).await
}

/// After logout the token's `jti` is denylisted in Redis until its `exp`.
#[actix_web::test]
async fn denylisted_jti_is_rejected_in_redis() -> anyhow::Result<()> {
    denylist(true).await
}

/// A password change kills sessions and checked tokens at once; a plain JWT lives until `exp`.
#[actix_web::test]
async fn password_change_revokes_sessions_and_checked_tokens_but_not_plain_jwts()
-> anyhow::Result<()> {
    let clock = ManualClock::starting_now();
    let Some((app, _keys)) = instance(true, &clock, "password").await? else {
        return Ok(());
    };
    let base = app.server.base_url.clone();
    let memory = session_login(&app, "/memory", None).await?;
    let redis = session_login(&app, "/redis", None).await?;
    let pair = jwt_login(&app).await?;

    let change = app
        .http
        .post(app.url("/account/password"))
        .json(&serde_json::json!({
            "username": ALICE.0, "old_password": ALICE.1, "new_password": "a brand new passphrase"
        }))
        .send()
        .await?;
    let memory_after = session_me(&base, &app.http, "/memory", &memory).await?;
    let redis_after = session_me(&base, &app.http, "/redis", &redis).await?;
    let checked = bearer_get(&app.http, app.url("/jwt/me"), &pair.access_token).await?;
    let plain = bearer_get(&app.http, app.url("/jwt-plain/me"), &pair.access_token).await?;
    let refreshed = refresh(&app, &pair.refresh_token).await?;
    clock.advance(app.state.config.jwt.access_ttl + app.state.config.jwt.leeway);
    let plain_after_exp =
        bearer_get(&app.http, app.url("/jwt-plain/me"), &pair.access_token).await?;
    let old_password = app
        .http
        .post(app.url("/memory/login"))
        .header(COOKIE, "unused=1")
        .json(&common::credentials(ALICE))
        .send()
        .await?;

    assert_eq!(change.status(), 200);
    assert_eq!((memory_after, redis_after), (401, 401));
    assert_eq!(checked.status(), 401);
    assert_eq!(
        plain.status(),
        200,
        "a plain JWT outlives the password change..."
    );
    assert_eq!(plain_after_exp.status(), 401, "...until its exp");
    assert_eq!(
        refreshed.status(),
        401,
        "refresh families die with the old password"
    );
    assert_eq!(old_password.status(), 401);
    Ok(())
}
