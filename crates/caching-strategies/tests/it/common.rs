//! Shared set-up: a small seeded store per test, tiers, strategies.

use std::sync::Arc;
use std::time::Duration;

use caching_strategies::clock::{Clock, ManualClock};
use caching_strategies::model::PostUpdate;
use caching_strategies::moka_tier::MokaTier;
use caching_strategies::redis_tier::{self, RedisTier};
use caching_strategies::store::{Seed, Store};
use caching_strategies::strategy::{Deps, Ttl, Ttls};
use caching_strategies::tier::Tier;
use support::Service;
use support::testkit::{TestDatabase, TestKeys, TestSqlite};

/// Small data: the claims are about counts and versions, not speed.
pub const SEED: Seed = Seed {
    posts: 20,
    likes: 200,
};

pub const POST_TTL: Duration = Duration::from_secs(60);

/// Keeps the test's database alive; dropping it removes the database.
#[allow(dead_code)]
pub enum DbGuard {
    Postgres(TestDatabase),
    Sqlite(TestSqlite),
}

/// A seeded store of its own: PostgreSQL when reachable (required in CI), SQLite otherwise.
pub async fn store(label: &str) -> anyhow::Result<(Store, DbGuard)> {
    let settings = support::Settings::from_env()?;
    // Under BF_REQUIRE_SERVICES, `require` fails the test when PostgreSQL is down; otherwise a
    // missing PostgreSQL means SQLite, not a skip (the claims hold on both).
    let postgres = if settings.require_services {
        support::testkit::require(Service::Postgres).await
    } else {
        let up = support::services::probe(Service::Postgres, &settings.database_url).await;
        (up == support::services::Status::Up).then(|| settings.database_url.clone())
    };
    let (store, guard) = match postgres {
        Some(url) => {
            let db = TestDatabase::create(&url, label)?;
            (Store::postgres(&db.url, 4)?, DbGuard::Postgres(db))
        }
        None => {
            let file = TestSqlite::new(label);
            (Store::sqlite(&file.path, 4)?, DbGuard::Sqlite(file))
        }
    };
    store.migrate().await?;
    store.seed(SEED).await?;
    Ok((store, guard))
}

/// One seeded store per backend this machine has: SQLite always, PostgreSQL when reachable
/// (required in CI). For claims that must hold on the embedded default *and* on the server.
pub async fn every_store(label: &str) -> anyhow::Result<Vec<(Store, DbGuard)>> {
    let file = TestSqlite::new(label);
    let sqlite = Store::sqlite(&file.path, 4)?;
    let mut stores = vec![(sqlite, DbGuard::Sqlite(file))];
    if let Some(url) = support::testkit::require(Service::Postgres).await {
        let db = TestDatabase::create(&url, label)?;
        stores.push((Store::postgres(&db.url, 4)?, DbGuard::Postgres(db)));
    }
    for (store, _) in &stores {
        store.migrate().await?;
        store.seed(SEED).await?;
    }
    Ok(stores)
}

/// A Redis tier under the test's own key prefix, or `None` (skipped) when Redis is unreachable.
pub async fn redis(label: &str) -> anyhow::Result<Option<(RedisTier, TestKeys, String)>> {
    let Some(url) = support::testkit::require(Service::Redis).await else {
        return Ok(None);
    };
    let keys = TestKeys::new(&url, label);
    let pool = redis_tier::pool(&url, 8, Duration::from_millis(500))?;
    Ok(Some((
        RedisTier::new(pool, keys.prefix.clone(), Duration::from_millis(500)),
        keys,
        url,
    )))
}

pub fn moka() -> Arc<dyn Tier> {
    Arc::new(MokaTier::new(1000))
}

pub fn manual_clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(1_700_000_000_000))
}

pub fn deps(store: &Store, tier: Arc<dyn Tier>, clock: Arc<dyn Clock>) -> Deps {
    Deps {
        store: store.clone(),
        tier,
        clock,
        ttls: Ttls {
            post: Ttl::fixed(POST_TTL),
            top: Ttl::fixed(Duration::from_secs(10)),
        },
    }
}

pub fn edit(title: &str) -> PostUpdate {
    PostUpdate {
        title: title.to_owned(),
        body: "edited".to_owned(),
    }
}
