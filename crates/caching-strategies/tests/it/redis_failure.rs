//! Redis lost while the service runs: requests still succeed, from the store, and a write made
//! during the outage is not served stale once Redis returns.

use std::sync::Arc;
use std::time::Duration;

use caching_strategies::Strategy;
use caching_strategies::clock::SystemClock;
use caching_strategies::fault::Link;
use caching_strategies::strategies::cache_aside::CacheAside;
use caching_strategies::strategies::invalidation::OnWrite;
use caching_strategies::strategies::read_through::ReadThrough;
use caching_strategies::strategies::write_back::{FlushPolicy, WriteBack};
use caching_strategies::strategies::write_through::WriteThrough;
use caching_strategies::tiers::redis::{self as redis_tier, RedisTier};
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

/// A Redis tier reached through a link the test can cut and mend, under the test's own prefix.
struct LinkedRedis {
    link: Link,
    tier: RedisTier,
    url: String,
    _keys: support::testkit::TestKeys,
}

async fn linked_redis(label: &str) -> anyhow::Result<Option<LinkedRedis>> {
    let Some(url) = support::testkit::require(Service::Redis).await else {
        return Ok(None);
    };
    let link = Link::to_redis(&url).await?;
    let keys = support::testkit::TestKeys::new(&url, label);
    let pool = redis_tier::pool(&link.redis_url(), 4, Duration::from_millis(300))?;
    let tier = RedisTier::new(pool, keys.prefix.clone(), Duration::from_millis(300));
    Ok(Some(LinkedRedis {
        link,
        tier,
        url,
        _keys: keys,
    }))
}

/// The strategies whose writes go through during an outage, each over `tier`.
fn strategies_that_write_through_an_outage(
    store: &caching_strategies::store::Store,
    tier: &RedisTier,
) -> Vec<Box<dyn Strategy>> {
    let tier: Arc<dyn caching_strategies::Tier> = Arc::new(tier.clone());
    let deps = || deps(store, Arc::clone(&tier), Arc::new(SystemClock));
    vec![
        Box::new(CacheAside::new(deps(), OnWrite::Invalidate)),
        Box::new(CacheAside::new(deps(), OnWrite::Update)),
        Box::new(CacheAside::new(deps(), OnWrite::Invalidate).versioned()),
        Box::new(ReadThrough::new(deps())),
    ]
}

/// The failure this journal exists for: a post cached in Redis, the link cut (Redis keeps its
/// data), the post updated (acknowledged), the link mended. Every strategy whose writes go
/// through an outage serves the new title on the very next read, because the invalidation it
/// could not send was replayed before Redis was trusted again.
#[tokio::test]
async fn a_write_during_a_redis_outage_is_not_served_stale_after_redis_returns()
-> anyhow::Result<()> {
    let (store, _db) = store("outage_write").await?;
    let Some(redis) = linked_redis("outage_write").await? else {
        return Ok(());
    };
    for (n, strategy) in strategies_that_write_through_an_outage(&store, &redis.tier)
        .into_iter()
        .enumerate()
    {
        let id = 1 + n as i64;
        strategy.get_post(id).await?;
        let before = store.queries();
        strategy.get_post(id).await?;
        assert_eq!(
            store.queries(),
            before,
            "{}: cached in Redis",
            strategy.name()
        );

        redis.link.cut();
        let title = format!("written while Redis was away ({})", strategy.name());
        let updated = strategy.update_post(id, edit(&title)).await?;
        assert_eq!(updated.title, title, "the write is acknowledged");
        assert!(redis.tier.pending_repairs() > 0, "{}", strategy.name());
        redis.link.mend();

        assert_eq!(
            strategy.get_post(id).await?.title,
            title,
            "{}: the first read after Redis returns",
            strategy.name()
        );
        assert_eq!(redis.tier.pending_repairs(), 0);
    }
    Ok(())
}

/// The same outage without the journal (the behaviour before it): the acknowledged write is
/// invisible once Redis answers again, and the old title is served until the entry's TTL.
#[tokio::test]
async fn without_the_repair_journal_the_old_value_is_served_after_redis_returns()
-> anyhow::Result<()> {
    let (store, _db) = store("outage_forget").await?;
    let Some(redis) = linked_redis("outage_forget").await? else {
        return Ok(());
    };
    let forgetful = redis.tier.clone().forgetting_failed_writes();
    let strategy = CacheAside::new(
        deps(&store, Arc::new(forgetful), Arc::new(SystemClock)),
        OnWrite::Invalidate,
    );
    let old = strategy.get_post(9).await?;

    redis.link.cut();
    strategy.update_post(9, edit("lost invalidation")).await?;
    redis.link.mend();

    assert_eq!(strategy.get_post(9).await?.title, old.title, "stale");
    Ok(())
}

/// Another instance never saw the failure, so only the background retry can repair Redis for
/// it: within a bounded wait after Redis returns (no call from the writing instance needed),
/// the other instance reads the new title straight from Redis.
#[tokio::test]
async fn the_repair_reaches_other_instances_without_a_call_from_the_writer() -> anyhow::Result<()> {
    let (store, _db) = store("outage_other").await?;
    let Some(redis) = linked_redis("outage_other").await? else {
        return Ok(());
    };
    let writer = CacheAside::new(
        deps(&store, Arc::new(redis.tier.clone()), Arc::new(SystemClock)),
        OnWrite::Invalidate,
    );
    // The other instance reaches the same Redis directly, under the same prefix.
    let direct = redis_tier::pool(&redis.url, 4, Duration::from_millis(300))?;
    let other_tier = RedisTier::new(direct, redis.tier.redis_key(""), Duration::from_millis(300));
    let other = CacheAside::new(
        deps(&store, Arc::new(other_tier), Arc::new(SystemClock)),
        OnWrite::Invalidate,
    );
    writer.get_post(11).await?;

    redis.link.cut();
    writer.update_post(11, edit("seen everywhere")).await?;
    redis.link.mend();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while redis.tier.pending_repairs() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the journal was not replayed within 5 s of Redis returning"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(other.get_post(11).await?.title, "seen everywhere");
    Ok(())
}

/// Write-through promises that reads see the last acknowledged write, which it cannot keep
/// with its cache unreachable: the write is refused (503) and the store is left untouched.
#[tokio::test]
async fn write_through_refuses_a_write_while_its_redis_is_unreachable() -> anyhow::Result<()> {
    let (store, _db) = store("wt_outage").await?;
    let Some(redis) = linked_redis("wt_outage").await? else {
        return Ok(());
    };
    let strategy = WriteThrough::new(deps(
        &store,
        Arc::new(redis.tier.clone()),
        Arc::new(SystemClock),
    ));
    let old = strategy.get_post(12).await?;

    redis.link.cut();
    // The first failure is discovered by a read; the write then knows before it starts.
    strategy.get_post(12).await?;
    let refused = strategy.update_post(12, edit("refused")).await;

    assert!(matches!(
        refused,
        Err(caching_strategies::Error::CacheUnavailable(_))
    ));
    assert_eq!(store.get_post(12).await?.map(|p| p.title), Some(old.title));

    redis.link.mend();
    let accepted = strategy.update_post(12, edit("accepted")).await?;
    assert_eq!(strategy.get_post(12).await?, accepted);
    Ok(())
}
