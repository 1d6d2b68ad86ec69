//! The Memcached tier: the claims the other tiers make (a hit, a miss, TTL expiry, delete, the
//! versioned fill), and cache-aside running over it unchanged. Each test starts its own
//! `memcached` on a free loopback port and skips, saying why, when it is not installed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use caching_strategies::Strategy;
use caching_strategies::memcached_server::MemcachedServer;
use caching_strategies::model::{Entry, keys};
use caching_strategies::strategies::cache_aside::CacheAside;
use caching_strategies::strategies::invalidation::OnWrite;
use caching_strategies::tiers::Tier;
use caching_strategies::tiers::memcached::MemcachedTier;

use crate::common::{deps, manual_clock, store};

const TTL: Duration = Duration::from_secs(60);
/// Memcached's clock ticks in whole seconds, so a 1 s TTL ends within two; the wait gives up
/// well after that instead of hanging.
const EXPIRY_WAIT: Duration = Duration::from_secs(5);

/// A server of the test's own and a tier on it, or `None` (skipped) without `memcached`. The
/// server is killed when the returned handle is dropped.
async fn memcached(label: &str) -> anyhow::Result<Option<(MemcachedServer, MemcachedTier)>> {
    let server = match MemcachedServer::start().await {
        Ok(server) => server,
        Err(e) if e.is_absent() => {
            support::testkit::present(Some(e.to_string()));
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    let tier = MemcachedTier::connect(
        &server.address(),
        format!("{label}:"),
        4,
        Duration::from_millis(500),
    )
    .await?;
    Ok(Some((server, tier)))
}

fn entry(version: i64) -> Entry {
    Entry::document(serde_json::json!({ "version": version }), version, u64::MAX)
}

/// A filled key is a hit: the tier returns the entry it was given.
#[tokio::test]
async fn memcached_tier_returns_what_was_filled() -> anyhow::Result<()> {
    let Some((_server, tier)) = memcached("mc_hit").await? else {
        return Ok(());
    };
    tier.fill("k", entry(3), TTL).await?;

    let got = tier.get("k").await?;

    assert_eq!(got.as_deref(), Some(&entry(3)));
    Ok(())
}

/// A key never filled is a miss (`None`), not an error.
#[tokio::test]
async fn memcached_tier_misses_a_key_it_never_held() -> anyhow::Result<()> {
    let Some((_server, tier)) = memcached("mc_miss").await? else {
        return Ok(());
    };

    let got = tier.get("never").await?;

    assert!(got.is_none());
    Ok(())
}

/// Memcached drops an entry once its physical TTL has passed (whole seconds: a 1 s TTL).
#[tokio::test]
async fn memcached_tier_forgets_an_entry_after_its_ttl() -> anyhow::Result<()> {
    let Some((_server, tier)) = memcached("mc_ttl").await? else {
        return Ok(());
    };
    tier.fill("short", entry(1), Duration::from_secs(1)).await?;
    let held = tier.get("short").await?.is_some();

    let started = Instant::now();
    while tier.get("short").await?.is_some() && started.elapsed() < EXPIRY_WAIT {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert!(held, "the entry was there right after the fill");
    assert!(
        tier.get("short").await?.is_none(),
        "still there {EXPIRY_WAIT:?} after a 1 s TTL"
    );
    Ok(())
}

/// A deleted key is a miss, and deleting a key that is not there is not an error.
#[tokio::test]
async fn memcached_tier_delete_removes_the_key() -> anyhow::Result<()> {
    let Some((_server, tier)) = memcached("mc_delete").await? else {
        return Ok(());
    };
    tier.put("gone", entry(1), TTL).await?;

    tier.delete("gone").await?;
    tier.delete("gone").await?;

    assert!(tier.get("gone").await?.is_none());
    Ok(())
}

/// The race fix holds without a script: a tombstone at version 2 refuses a fill at version 1
/// (compare-and-swap in the client), accepts version 2, and an absent key takes any version.
#[tokio::test]
async fn memcached_versioned_fill_never_replaces_a_newer_version() -> anyhow::Result<()> {
    let Some((_server, tier)) = memcached("mc_versioned").await? else {
        return Ok(());
    };
    let absent_took = tier.fill_if_not_older("v", entry(1), TTL).await?;
    tier.put("v", Entry::tombstone(2, u64::MAX), TTL).await?;

    let older_took = tier.fill_if_not_older("v", entry(1), TTL).await?;
    let held_after_older = tier.get("v").await?;
    let same_took = tier.fill_if_not_older("v", entry(2), TTL).await?;

    assert!(absent_took, "an absent key is filled (add)");
    assert!(
        !older_took,
        "version 1 must not replace the version-2 tombstone"
    );
    assert_eq!(
        held_after_older.as_deref(),
        Some(&Entry::tombstone(2, u64::MAX))
    );
    assert!(same_took, "version 2 may replace the version-2 tombstone");
    assert_eq!(tier.get("v").await?.as_deref(), Some(&entry(2)));
    Ok(())
}

/// Concurrent versioned writers of one key, each with its own version, leave the newest: every
/// lost compare-and-swap race is read again, and no older write lands after a newer one.
#[tokio::test]
async fn memcached_concurrent_versioned_writes_leave_the_newest_version() -> anyhow::Result<()> {
    let Some((_server, tier)) = memcached("mc_concurrent").await? else {
        return Ok(());
    };
    let tier = Arc::new(tier);
    let writers = 8;
    // A barrier, not a sleep: every writer starts its first read at the same moment.
    let start = Arc::new(tokio::sync::Barrier::new(writers));
    let tasks: Vec<_> = (1..=writers as i64)
        .map(|version| {
            let (tier, start) = (Arc::clone(&tier), Arc::clone(&start));
            tokio::spawn(async move {
                start.wait().await;
                tier.put_if_not_older("contended", entry(version), TTL)
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }

    let held = tier.get("contended").await?;

    assert_eq!(held.as_deref(), Some(&entry(writers as i64)));
    Ok(())
}

/// Cache-aside runs over Memcached unchanged: the first read loads from the store, the second is
/// served from Memcached with no store query.
#[tokio::test]
async fn cache_aside_over_memcached_serves_the_second_read_without_the_store() -> anyhow::Result<()>
{
    let Some((_server, tier)) = memcached("mc_cache_aside").await? else {
        return Ok(());
    };
    let (store, _db) = store("mc_cache_aside").await?;
    let tier: Arc<dyn Tier> = Arc::new(tier);
    let strategy = CacheAside::new(
        deps(&store, tier.clone(), manual_clock()),
        OnWrite::Invalidate,
    );
    let before = store.queries();

    let first = strategy.get_post(1).await?;
    let after_first = store.queries();
    let second = strategy.get_post(1).await?;

    assert_eq!(after_first - before, 1, "the miss loads once");
    assert_eq!(
        store.queries(),
        after_first,
        "the hit must not query the store"
    );
    assert_eq!(first, second);
    assert!(
        tier.get(&keys::post(1)).await?.is_some(),
        "the entry is in Memcached"
    );
    Ok(())
}
