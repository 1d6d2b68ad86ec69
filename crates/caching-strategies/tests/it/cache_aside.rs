//! Cache-aside: hits skip the store, misses load once, TTLs expire, writes invalidate.

use std::sync::Arc;
use std::time::Duration;

use caching_strategies::Strategy;
use caching_strategies::clock::SystemClock;
use caching_strategies::strategies::Ttl;
use caching_strategies::strategies::cache_aside::CacheAside;
use caching_strategies::strategies::invalidation::OnWrite;

use crate::common::{POST_TTL, deps, edit, manual_clock, moka, redis, store};

/// A hit is answered from the cache: the store's query counter does not move.
#[tokio::test]
async fn cache_aside_serves_a_hit_without_touching_the_store() -> anyhow::Result<()> {
    let (store, _db) = store("ca_hit").await?;
    let strategy = CacheAside::new(deps(&store, moka(), manual_clock()), OnWrite::Invalidate);
    strategy.get_post(1).await?;
    let before = store.queries();

    let post = strategy.get_post(1).await?;

    assert_eq!(post.id, 1);
    assert_eq!(store.queries(), before, "a hit must not query the store");
    Ok(())
}

/// A miss costs exactly one store read, and the value read is then cached.
#[tokio::test]
async fn cache_aside_miss_loads_once() -> anyhow::Result<()> {
    let (store, _db) = store("ca_miss").await?;
    let strategy = CacheAside::new(deps(&store, moka(), manual_clock()), OnWrite::Invalidate);
    let before = store.queries();

    for _ in 0..5 {
        strategy.get_post(2).await?;
    }

    assert_eq!(store.queries() - before, 1);
    Ok(())
}

/// Once the TTL has passed (on a clock the test moves), the next read goes back to the store.
#[tokio::test]
async fn cache_aside_reloads_after_ttl_expiry() -> anyhow::Result<()> {
    let (store, _db) = store("ca_ttl").await?;
    let clock = manual_clock();
    let strategy = CacheAside::new(deps(&store, moka(), clock.clone()), OnWrite::Invalidate);
    strategy.get_post(3).await?;
    let before = store.queries();

    clock.advance(POST_TTL - Duration::from_millis(1));
    strategy.get_post(3).await?;
    let while_fresh = store.queries() - before;
    clock.advance(Duration::from_millis(2));
    strategy.get_post(3).await?;

    assert_eq!(while_fresh, 0, "still fresh one millisecond before the TTL");
    assert_eq!(store.queries() - before, 1, "expired: one reload");
    Ok(())
}

/// Jitter spreads TTLs of keys filled at the same moment over base ± jitter, instead of one instant.
#[test]
fn ttl_jitter_spreads_expiries_within_the_window() {
    let ttl = Ttl {
        base: Duration::from_secs(100),
        jitter: 0.1,
    };
    let ttls: Vec<Duration> = (0..200)
        .map(|i| ttl.for_key(&format!("post:{i}"), 42))
        .collect();
    let distinct: std::collections::HashSet<_> = ttls.iter().collect();

    assert!(
        ttls.iter()
            .all(|t| *t >= Duration::from_secs(90) && *t <= Duration::from_secs(110))
    );
    assert!(
        distinct.len() > 150,
        "only {} distinct TTLs",
        distinct.len()
    );
    assert_eq!(
        Ttl::fixed(Duration::from_secs(5)).for_key("k", 1),
        Duration::from_secs(5)
    );
}

/// Invalidate-on-update: once the write returns, no read returns the old version (moka and Redis).
#[tokio::test]
async fn invalidate_on_update_never_serves_the_old_value_after_the_write_returns()
-> anyhow::Result<()> {
    let (store, _db) = store("ca_inval").await?;
    let mut tiers = vec![moka()];
    let redis = redis("ca_inval").await?;
    if let Some((tier, _, _)) = &redis {
        tiers.push(Arc::new(tier.clone()));
    }
    for tier in tiers {
        for policy in [OnWrite::Invalidate, OnWrite::Update] {
            let strategy =
                CacheAside::new(deps(&store, tier.clone(), Arc::new(SystemClock)), policy);
            let id = 4;
            strategy.get_post(id).await?;
            for round in 0..5 {
                let written = strategy.update_post(id, edit(&format!("v{round}"))).await?;

                let read = strategy.get_post(id).await?;

                assert_eq!(read, written, "{} / {policy}", tier.name());
            }
        }
    }
    Ok(())
}

/// A like for a post that does not exist is a 404-kind error, and nothing is written.
#[tokio::test]
async fn liking_a_missing_post_is_not_found_and_writes_nothing() -> anyhow::Result<()> {
    let (store, _db) = store("ca_like").await?;
    let strategy = CacheAside::new(deps(&store, moka(), manual_clock()), OnWrite::Invalidate);
    let top_before = store.top_posts().await?;

    let result = strategy.like(9_999, 1).await;

    assert!(matches!(
        result,
        Err(caching_strategies::Error::NotFound(9_999))
    ));
    assert_eq!(store.top_posts().await?, top_before);
    Ok(())
}
