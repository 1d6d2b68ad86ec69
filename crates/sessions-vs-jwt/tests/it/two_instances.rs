//! Claims about running two instances of the service: which mechanisms survive a load balancer.

use sessions_vs_jwt::users::UserStore;
use support::Service;
use support::clock::ManualClock;
use support::testkit::require;

use crate::common::{self, bearer_get, jwt_login, session_login, session_me};

/// A memory session exists only on the instance that created it.
#[actix_web::test]
async fn memory_sessions_are_not_visible_to_a_second_instance() -> anyhow::Result<()> {
    let clock = ManualClock::starting_now();
    let users = UserStore::seeded(common::config().hash_cost).await?;
    let a = common::start(common::config(), &clock, Some(users.clone()), None).await?;
    let b = common::start(common::config(), &clock, Some(users), None).await?;
    let cookie = session_login(&a, "/memory", None).await?;

    let on_a = session_me(&a.server.base_url, &a.http, "/memory", &cookie).await?;
    let on_b = session_me(&b.server.base_url, &b.http, "/memory", &cookie).await?;

    assert_eq!(on_a, 200);
    assert_eq!(on_b, 401, "instance B has never seen this session");
    Ok(())
}

/// A Redis session is visible to every instance that shares the Redis.
#[actix_web::test]
async fn redis_sessions_are_visible_to_a_second_instance() -> anyhow::Result<()> {
    let Some(url) = require(Service::Redis).await else {
        return Ok(());
    };
    let (pool, keys) = common::redis(&url, "two_instances")?;
    let clock = ManualClock::starting_now();
    let users = UserStore::seeded(common::config().hash_cost).await?;
    let redis = || Some((pool.clone(), keys.prefix.clone()));
    let a = common::start(common::config(), &clock, Some(users.clone()), redis()).await?;
    let b = common::start(common::config(), &clock, Some(users), redis()).await?;
    let cookie = session_login(&a, "/redis", None).await?;

    let on_b = session_me(&b.server.base_url, &b.http, "/redis", &cookie).await?;

    assert_eq!(on_b, 200);
    Ok(())
}

/// A JWT issued by one instance is accepted by another that shares the key.
#[actix_web::test]
async fn jwt_from_one_instance_is_accepted_by_the_other() -> anyhow::Result<()> {
    let clock = ManualClock::starting_now();
    let users = UserStore::seeded(common::config().hash_cost).await?;
    let a = common::start(common::config(), &clock, Some(users.clone()), None).await?;
    let b = common::start(common::config(), &clock, Some(users), None).await?;
    let pair = jwt_login(&a).await?;

    let on_b = bearer_get(&b.http, b.url("/jwt-plain/me"), &pair.access_token).await?;

    assert_eq!(on_b.status(), 200);
    Ok(())
}

/// A logout on one instance is honoured by the other: the denylist lives in the shared Redis.
#[actix_web::test]
async fn jwt_logged_out_on_one_instance_is_refused_by_the_other() -> anyhow::Result<()> {
    let Some(url) = require(Service::Redis).await else {
        return Ok(());
    };
    let (pool, keys) = common::redis(&url, "two_instances_logout")?;
    let clock = ManualClock::starting_now();
    let users = UserStore::seeded(common::config().hash_cost).await?;
    let redis = || Some((pool.clone(), keys.prefix.clone()));
    let a = common::start(common::config(), &clock, Some(users.clone()), redis()).await?;
    let b = common::start(common::config(), &clock, Some(users), redis()).await?;
    let pair = jwt_login(&a).await?;

    let logout = a
        .http
        .post(a.url("/jwt/logout"))
        .bearer_auth(&pair.access_token)
        .send()
        .await?;
    let on_b = bearer_get(&b.http, b.url("/jwt/me"), &pair.access_token).await?;

    assert_eq!(logout.status(), 204);
    assert_eq!(on_b.status(), 401);
    Ok(())
}
