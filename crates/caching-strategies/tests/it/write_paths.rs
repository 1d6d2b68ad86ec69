//! Write-through and write-back: what an acknowledged write guarantees.

use std::sync::Arc;
use std::time::Duration;

use caching_strategies::Strategy;
use caching_strategies::clock::SystemClock;
use caching_strategies::strategies::write_back::{FlushPolicy, WriteBack};
use caching_strategies::strategies::write_through::WriteThrough;

use crate::common::{deps, edit, moka, redis, store};

/// Flushes only when asked, so the test decides what is flushed.
const MANUAL_FLUSH: FlushPolicy = FlushPolicy {
    every: Duration::from_secs(3600),
    max_batch: 10_000,
};

/// Write-through: every read after an acknowledged write returns that write or a newer one.
#[tokio::test]
async fn write_through_never_serves_a_value_older_than_the_last_acknowledged_write()
-> anyhow::Result<()> {
    let (store, _db) = store("wt").await?;
    let mut tiers = vec![moka()];
    let redis = redis("wt").await?;
    if let Some((tier, _, _)) = &redis {
        tiers.push(Arc::new(tier.clone()));
    }
    for tier in tiers {
        let strategy = WriteThrough::new(deps(&store, tier.clone(), Arc::new(SystemClock)));
        strategy.get_post(9).await?;
        for round in 0..10 {
            let acked = strategy.update_post(9, edit(&format!("r{round}"))).await?;
            let before = store.queries();

            let read = strategy.get_post(9).await?;

            assert!(read.version >= acked.version, "{}", tier.name());
            assert_eq!(read.title, acked.title);
            assert_eq!(store.queries(), before, "served from the cache it wrote");
        }
    }
    Ok(())
}

/// Write-back: abort the flusher and exactly the unflushed acknowledged writes are missing
/// from the store; the flushed ones are there.
#[tokio::test]
async fn write_back_loses_exactly_the_unflushed_writes_when_the_flusher_is_aborted()
-> anyhow::Result<()> {
    let (store, _db) = store("wb_abort").await?;
    let strategy = WriteBack::spawn(deps(&store, moka(), Arc::new(SystemClock)), MANUAL_FLUSH);
    let flushed_write = strategy.update_post(10, edit("flushed")).await?;
    strategy.update_post(11, edit("flushed too")).await?;
    strategy.flush().await?;
    let unflushed = [
        strategy.update_post(10, edit("lost")).await?,
        strategy.update_post(12, edit("lost too")).await?,
    ];

    let lost = strategy.abort();

    assert_eq!(lost, 2);
    let in_store = store
        .get_post(10)
        .await?
        .ok_or_else(|| anyhow::anyhow!("post 10"))?;
    assert_eq!(
        in_store.version, flushed_write.version,
        "the flushed write survived"
    );
    assert_eq!(in_store.title, "flushed");
    let post12 = store
        .get_post(12)
        .await?
        .ok_or_else(|| anyhow::anyhow!("post 12"))?;
    assert!(
        post12.version < unflushed[1].version,
        "the unflushed write is gone"
    );
    Ok(())
}

/// Write-back after a flush: nothing acknowledged is missing, and repeated edits of one post
/// between flushes reach the store as one row write (write coalescing).
#[tokio::test]
async fn write_back_loses_nothing_after_a_flush_and_coalesces_repeated_edits() -> anyhow::Result<()>
{
    let (store, _db) = store("wb_flush").await?;
    let strategy = WriteBack::spawn(deps(&store, moka(), Arc::new(SystemClock)), MANUAL_FLUSH);
    let mut last = None;
    for round in 0..5 {
        last = Some(strategy.update_post(13, edit(&format!("e{round}"))).await?);
    }
    let before = store.queries();

    let written = strategy.flush().await?;
    let lost = strategy.abort();

    assert_eq!((written, lost), (1, 0));
    assert_eq!(store.queries() - before, 1, "five edits, one row write");
    let in_store = store.get_post(13).await?;
    assert_eq!(in_store, last);
    Ok(())
}
