//! Two tiers across instances: pub/sub invalidation evicts the other instance's local copy.

use std::sync::Arc;
use std::time::Duration;

use caching_strategies::Strategy;
use caching_strategies::clock::SystemClock;
use caching_strategies::strategies::cache_aside::CacheAside;
use caching_strategies::strategies::invalidation::OnWrite;
use caching_strategies::tiers::moka::MokaTier;
use caching_strategies::tiers::redis::RedisTier;
use caching_strategies::tiers::two_tier::TwoTier;

use crate::common::{deps, edit, redis, store};

const LOCAL_TTL: Duration = Duration::from_secs(60);

/// Instance A updates a post; instance B, which had it in its local moka, gets the
/// invalidation message, evicts the key, and its next read is the new version.
#[tokio::test]
async fn pubsub_invalidation_evicts_the_other_instances_entry() -> anyhow::Result<()> {
    let (store, _db) = store("tt_pubsub").await?;
    let Some((remote, keys, url)) = redis("tt_pubsub").await? else {
        return Ok(());
    };
    let channel = keys.key("invalidate");
    let instance = |remote: RedisTier| {
        let (url, channel) = (url.clone(), channel.clone());
        async move { TwoTier::with_pubsub(MokaTier::new(100), remote, LOCAL_TTL, &url, &channel).await }
    };
    let tier_a = Arc::new(instance(remote.clone()).await?);
    let tier_b = Arc::new(instance(remote.clone()).await?);
    let a = CacheAside::new(
        deps(&store, tier_a, Arc::new(SystemClock)),
        OnWrite::Invalidate,
    );
    let b = CacheAside::new(
        deps(&store, tier_b.clone(), Arc::new(SystemClock)),
        OnWrite::Invalidate,
    );
    b.get_post(14).await?;
    let mut evictions = tier_b
        .evictions()
        .ok_or_else(|| anyhow::anyhow!("pub/sub is on"))?;

    let written = a.update_post(14, edit("from A")).await?;
    // Waits for the message itself; the timeout only keeps a broken build from hanging.
    let evicted = tokio::time::timeout(Duration::from_secs(10), evictions.recv()).await??;

    assert_eq!(evicted, "post:14");
    assert!(tier_b.local().get_now("post:14").is_none());
    assert_eq!(b.get_post(14).await?, written);
    Ok(())
}

/// Without pub/sub, B keeps serving its local copy after A's write has returned.
#[tokio::test]
async fn without_pubsub_the_other_instance_serves_the_old_value() -> anyhow::Result<()> {
    let (store, _db) = store("tt_nopubsub").await?;
    let Some((remote, _keys, _)) = redis("tt_nopubsub").await? else {
        return Ok(());
    };
    let a = CacheAside::new(
        deps(
            &store,
            Arc::new(TwoTier::without_pubsub(
                MokaTier::new(100),
                remote.clone(),
                LOCAL_TTL,
            )),
            Arc::new(SystemClock),
        ),
        OnWrite::Invalidate,
    );
    let b = CacheAside::new(
        deps(
            &store,
            Arc::new(TwoTier::without_pubsub(
                MokaTier::new(100),
                remote,
                LOCAL_TTL,
            )),
            Arc::new(SystemClock),
        ),
        OnWrite::Invalidate,
    );
    let old = b.get_post(15).await?;

    let written = a.update_post(15, edit("from A")).await?;
    let seen_by_b = b.get_post(15).await?;

    assert_eq!(seen_by_b, old);
    assert!(seen_by_b.version < written.version);
    Ok(())
}
