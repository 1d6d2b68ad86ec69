//! Stampede protection: coalescing turns N concurrent cold requests into one load.

use std::sync::Arc;

use caching_strategies::Strategy;
use caching_strategies::strategies::cache_aside::CacheAside;
use caching_strategies::strategies::invalidation::OnWrite;
use caching_strategies::strategies::read_through::ReadThrough;
use futures_util::future::join_all;

use std::time::Duration;

use support::Plan;
use support::measure::measure;

use crate::common::{deps, every_store, manual_clock, moka, redis, store};

const CONCURRENT: usize = 200;

/// Read-through (moka `try_get_with`): 200 concurrent requests for one cold key, one store read.
#[tokio::test]
async fn read_through_turns_concurrent_cold_requests_into_one_load() -> anyhow::Result<()> {
    let (store, _db) = store("rt_coalesce").await?;
    let mut tiers = vec![moka()];
    let redis = redis("rt_coalesce").await?;
    if let Some((tier, _, _)) = &redis {
        tiers.push(Arc::new(tier.clone()));
    }
    for tier in tiers {
        let strategy = ReadThrough::new(deps(&store, tier.clone(), manual_clock()));
        let before = store.queries();

        let results = join_all((0..CONCURRENT).map(|_| strategy.get_post(5))).await;

        assert!(results.iter().all(|r| r.as_ref().is_ok_and(|p| p.id == 5)));
        assert_eq!(store.queries() - before, 1, "tier {}", tier.name());
        let top = join_all((0..CONCURRENT).map(|_| strategy.top_posts())).await;
        assert!(top.iter().all(Result::is_ok));
        assert_eq!(store.queries() - before, 2, "one top-posts load too");
    }
    Ok(())
}

/// Plain cache-aside has no such protection: every concurrent miss goes to the store.
#[tokio::test]
async fn cache_aside_without_coalescing_loads_once_per_concurrent_miss() -> anyhow::Result<()> {
    let (store, _db) = store("ca_stampede").await?;
    // The stampede's stated load cost: a local read can finish (and fill the cache) while
    // join_all is still starting the later requests, which would then hit. With the load costing
    // more than starting 200 requests does, every request is in flight before the first load
    // returns, which is the situation this claim is about.
    let slow = store.with_read_latency(caching_strategies::demo::STAMPEDE_LOAD_LATENCY);
    let strategy = CacheAside::new(deps(&slow, moka(), manual_clock()), OnWrite::Invalidate);
    let before = store.queries();

    let results = join_all((0..CONCURRENT).map(|_| strategy.get_post(6))).await;

    assert!(results.iter().all(Result::is_ok));
    assert_eq!(store.queries() - before, CONCURRENT as u64);
    Ok(())
}

/// The demo's stampede, as the demo runs it (1,000 requests kept in flight by the measuring
/// loop, each store read costing the stated extra latency): plain cache-aside loads once per
/// request and read-through once in all, on the embedded SQLite store as on PostgreSQL. Without
/// the stated latency a local SQLite read finishes before most requests look in the cache, and
/// the "stampede" would be two loads: the lesson must not depend on which store answered.
#[tokio::test]
async fn a_stampede_on_a_costly_load_misses_per_request_unless_coalesced_on_every_backend()
-> anyhow::Result<()> {
    const REQUESTS: u64 = 1_000;
    for (store, _guard) in every_store("stampede_backends").await? {
        let slow = store.with_read_latency(caching_strategies::demo::STAMPEDE_LOAD_LATENCY);
        let plain: Arc<dyn Strategy> = Arc::new(CacheAside::new(
            deps(&slow, moka(), manual_clock()),
            OnWrite::Invalidate,
        ));
        let coalescing: Arc<dyn Strategy> =
            Arc::new(ReadThrough::new(deps(&slow, moka(), manual_clock())));
        for (strategy, expected) in [(plain, REQUESTS), (coalescing, 1)] {
            let before = store.queries();
            let plan = Plan::iterations(REQUESTS)
                .warmup(0)
                .concurrency(REQUESTS as usize)
                .budget(Duration::from_secs(30));
            let m = measure(plan, |_| {
                let strategy = Arc::clone(&strategy);
                async move { strategy.get_post(7).await.map(drop) }
            })
            .await;

            assert_eq!(m.errors, 0);
            assert_eq!(
                store.queries() - before,
                expected,
                "{} on {}",
                strategy.name(),
                store.backend().name()
            );
        }
    }
    Ok(())
}

/// A coalesced load that fails fails for every waiter, with the same kind of error.
#[tokio::test]
async fn a_coalesced_miss_for_a_missing_post_is_not_found_for_every_caller() -> anyhow::Result<()> {
    let (store, _db) = store("rt_missing").await?;
    let strategy = ReadThrough::new(deps(&store, moka(), manual_clock()));

    let results = join_all((0..20).map(|_| strategy.get_post(424_242))).await;

    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(caching_strategies::Error::NotFound(424_242))))
    );
    Ok(())
}
