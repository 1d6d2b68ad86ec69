//! The cache-aside race, reproduced step by step (channels, not sleeps), and its fix.
//!
//! 1. a reader misses and loads version N from the store, then is held before it fills;
//! 2. a writer updates the store to N+1 and invalidates the key;
//! 3. the reader resumes and fills the cache with version N.

use std::sync::Arc;

use caching_strategies::Strategy;
use caching_strategies::strategies::cache_aside::CacheAside;
use caching_strategies::strategies::invalidation::OnWrite;
use caching_strategies::tiers::Tier;

use crate::common::{deps, edit, manual_clock, moka, redis, store};

/// Runs the interleaving above and returns (version cached afterwards, version in the store).
async fn run_race(strategy: Arc<CacheAside>, id: i64) -> anyhow::Result<(i64, i64)> {
    let (loaded, resume) = strategy.pause_next_fill();
    let reader = {
        let strategy = Arc::clone(&strategy);
        tokio::spawn(async move { strategy.get_post(id).await })
    };
    loaded.await?; // the reader holds the old version
    let written = strategy.update_post(id, edit("newer")).await?;
    let _ = resume.send(());
    let stale_read = reader.await??;
    assert!(
        stale_read.version < written.version,
        "the reader loaded before the write"
    );
    let cached = strategy.get_post(id).await?;
    Ok((cached.version, written.version))
}

async fn tiers(label: &str) -> anyhow::Result<(Vec<Arc<dyn Tier>>, Option<impl Sized>)> {
    let mut tiers = vec![moka()];
    let redis = redis(label).await?;
    if let Some((tier, _, _)) = &redis {
        tiers.push(Arc::new(tier.clone()) as Arc<dyn Tier>);
    }
    Ok((tiers, redis))
}

/// Without the fix, the slow reader's old value wins: the cache serves a version older than
/// the acknowledged write, on moka and on Redis.
#[tokio::test]
async fn the_cache_aside_race_puts_back_a_value_older_than_the_write() -> anyhow::Result<()> {
    let (store, _db) = store("race_on").await?;
    let (tiers, _keys) = tiers("race_on").await?;
    for tier in tiers {
        let strategy = Arc::new(CacheAside::new(
            deps(&store, tier.clone(), manual_clock()),
            OnWrite::Invalidate,
        ));

        let (cached, stored) = run_race(strategy, 7).await?;

        assert!(
            cached < stored,
            "{}: cached v{cached}, store v{stored}",
            tier.name()
        );
        store.update_post(7, edit("reset"), 0).await?; // next tier starts from a newer version
    }
    Ok(())
}

/// With tombstones and version-checked fills, the same interleaving leaves the cache fresh.
#[tokio::test]
async fn the_versioned_fill_refuses_the_stale_value() -> anyhow::Result<()> {
    let (store, _db) = store("race_fix").await?;
    let (tiers, _keys) = tiers("race_fix").await?;
    for tier in tiers {
        let strategy = Arc::new(
            CacheAside::new(
                deps(&store, tier.clone(), manual_clock()),
                OnWrite::Invalidate,
            )
            .versioned(),
        );

        let (cached, stored) = run_race(strategy, 8).await?;

        assert_eq!(cached, stored, "{}", tier.name());
    }
    Ok(())
}
