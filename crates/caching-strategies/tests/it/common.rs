//! Shared set-up: a small seeded store per test, tiers, strategies.

use std::sync::Arc;
use std::time::Duration;

use caching_strategies::clock::{Clock, ManualClock};
use caching_strategies::model::PostUpdate;
use caching_strategies::store::{Seed, Store};
use caching_strategies::strategies::{Deps, Ttl, Ttls};
use caching_strategies::tiers::Tier;
use caching_strategies::tiers::moka::MokaTier;
use caching_strategies::tiers::redis::{self as redis_tier, RedisTier};
use support::Service;
use support::testkit::{TestBackend, TestKeys, every_backend};

/// Small data: the claims are about counts and versions, not speed.
pub const SEED: Seed = Seed {
    posts: 20,
    likes: 200,
};

pub const POST_TTL: Duration = Duration::from_secs(60);

/// A seeded store of its own: PostgreSQL when reachable (required in CI), SQLite otherwise. The
/// returned backend keeps the test's database alive; dropping it removes the database or file.
pub async fn store(label: &str) -> anyhow::Result<(Store, TestBackend)> {
    // `every_backend` creates the databases without blocking the runtime; PostgreSQL, when it is
    // there, comes last. The SQLite file of a run that has PostgreSQL is never opened.
    let backend = every_backend(label)
        .await?
        .pop()
        .ok_or_else(|| anyhow::anyhow!("no backend at all"))?;
    let store = seeded(&backend).await?;
    Ok((store, backend))
}

/// One seeded store per backend this machine has: SQLite always, PostgreSQL when reachable
/// (required in CI). For claims that must hold on the embedded default *and* on the server.
pub async fn every_store(label: &str) -> anyhow::Result<Vec<(Store, TestBackend)>> {
    let mut stores = Vec::new();
    for backend in every_backend(label).await? {
        stores.push((seeded(&backend).await?, backend));
    }
    Ok(stores)
}

async fn seeded(backend: &TestBackend) -> anyhow::Result<Store> {
    let store = Store::open(&backend.target, 4).await?;
    store.seed(SEED).await?;
    Ok(store)
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
