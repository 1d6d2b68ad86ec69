//! Redis lost while the service runs: requests still succeed, from the store.

use std::sync::Arc;
use std::time::Duration;

use caching_strategies::Strategy;
use caching_strategies::cache_aside::CacheAside;
use caching_strategies::clock::SystemClock;
use caching_strategies::fault::Link;
use caching_strategies::invalidation::OnWrite;
use caching_strategies::read_through::ReadThrough;
use caching_strategies::redis_tier::{self, RedisTier};
use caching_strategies::write_back::{FlushPolicy, WriteBack};
use support::Service;

use crate::common::{deps, edit, store};

/// Redis (reached through a link the test cuts) disappears mid-run: reads and writes keep
/// succeeding from the store, and the tier reports it is down.
#[tokio::test]
async fn requests_still_succeed_from_the_store_when_redis_is_lost_mid_run() -> anyhow::Result<()> {
    let (store, _db) = store("redis_lost").await?;
    let Some(url) = support::testkit::require(Service::Redis).await else {
        return Ok(());
    };
    let link = Link::to_redis(&url).await?;
    let keys = support::testkit::TestKeys::new(&url, "redis_lost");
    let pool = redis_tier::pool(&link.redis_url(), 4, Duration::from_millis(300))?;
    let tier = RedisTier::new(pool, keys.prefix.clone(), Duration::from_millis(300));
    let cache_aside = CacheAside::new(
        deps(&store, Arc::new(tier.clone()), Arc::new(SystemClock)),
        OnWrite::Invalidate,
    );
    let read_through =
        ReadThrough::new(deps(&store, Arc::new(tier.clone()), Arc::new(SystemClock)));
    cache_aside.get_post(16).await?;
    let before = store.queries();
    cache_aside.get_post(16).await?;
    assert_eq!(
        store.queries(),
        before,
        "served from Redis while the link is up"
    );

    link.cut();

    for _ in 0..3 {
        assert_eq!(cache_aside.get_post(16).await?.id, 16);
        assert_eq!(read_through.get_post(17).await?.id, 17);
    }
    let updated = cache_aside
        .update_post(16, edit("while Redis is away"))
        .await?;
    assert_eq!(cache_aside.get_post(16).await?, updated);
    assert!(store.queries() - before >= 7, "the reads went to the store");
    assert!(!tier.is_up());
    assert!(tier.failures() > 0);
    Ok(())
}

/// Write-back cannot acknowledge a write it has nowhere to keep: with Redis gone the update is
/// refused (503 over HTTP) instead of being acknowledged and silently lost.
#[tokio::test]
async fn write_back_refuses_writes_when_its_redis_is_gone() -> anyhow::Result<()> {
    let (store, _db) = store("wb_redis_lost").await?;
    let Some(url) = support::testkit::require(Service::Redis).await else {
        return Ok(());
    };
    let link = Link::to_redis(&url).await?;
    let keys = support::testkit::TestKeys::new(&url, "wb_redis_lost");
    let pool = redis_tier::pool(&link.redis_url(), 4, Duration::from_millis(300))?;
    let tier = RedisTier::new(pool, keys.prefix.clone(), Duration::from_millis(300));
    let policy = FlushPolicy {
        every: Duration::from_secs(3600),
        max_batch: 10_000,
    };
    let strategy = WriteBack::spawn(deps(&store, Arc::new(tier), Arc::new(SystemClock)), policy);
    strategy.update_post(18, edit("while Redis is up")).await?;

    link.cut();
    let refused = strategy.update_post(18, edit("while Redis is away")).await;

    assert!(matches!(
        refused,
        Err(caching_strategies::Error::CacheUnavailable(_))
    ));
    assert_eq!(
        strategy
            .stats()
            .acked
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    Ok(())
}
