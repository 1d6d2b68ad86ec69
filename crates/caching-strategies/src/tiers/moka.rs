//! The in-process tier: a moka cache inside this process.
//!
//! Fastest (a hit is a hash lookup and an `Arc` clone, no I/O, no serialisation), but each
//! instance has its own copy (a write on one instance leaves the others stale) and it is gone
//! on restart.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use moka::Expiry;
use moka::ops::compute::Op;

use crate::error::Error;
use crate::model::Entry;
use crate::tiers::{Tier, may_replace};

/// What moka stores: the entry and how long moka itself keeps it (the physical TTL).
#[derive(Debug, Clone)]
struct Stored {
    entry: Arc<Entry>,
    ttl: Duration,
}

/// Per-entry expiry: each entry carries its own TTL (that is how TTL jitter reaches moka).
struct PerEntryTtl;

impl Expiry<String, Stored> for PerEntryTtl {
    fn expire_after_create(&self, _: &String, value: &Stored, _: Instant) -> Option<Duration> {
        Some(value.ttl)
    }

    fn expire_after_update(
        &self,
        _: &String,
        value: &Stored,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// An in-process cache tier.
#[derive(Clone)]
pub struct MokaTier {
    cache: moka::future::Cache<String, Stored>,
}

impl std::fmt::Debug for MokaTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MokaTier")
            .field("entries", &self.cache.entry_count())
            .finish()
    }
}

impl MokaTier {
    /// A cache of at most `capacity` entries (moka evicts by TinyLFU beyond that).
    pub fn new(capacity: u64) -> Self {
        Self {
            cache: moka::future::Cache::builder()
                .max_capacity(capacity)
                .expire_after(PerEntryTtl)
                .build(),
        }
    }

    /// A lookup that never waits: moka's `get` completes on its first poll, so this is the true
    /// cost of an in-process hit, without an executor round trip. Used by the demo's ns figure.
    pub fn get_now(&self, key: &str) -> Option<Arc<Entry>> {
        use futures_util::FutureExt as _;
        self.cache
            .get(key)
            .now_or_never()
            .flatten()
            .map(|s| s.entry)
    }

    /// Drops one key (a pub/sub invalidation from another instance lands here).
    pub async fn invalidate(&self, key: &str) {
        self.cache.invalidate(key).await;
    }

    async fn store_if_not_older(&self, key: &str, entry: Entry, ttl: Duration) -> bool {
        // `and_compute_with` holds moka's per-key lock across the compare and the write, so a
        // concurrent writer cannot slip in between: the check and the store are one step.
        let result = self
            .cache
            .entry(key.to_owned())
            .and_compute_with(|current| {
                let op = if may_replace(current.as_ref().map(|c| c.value().entry.as_ref()), &entry)
                {
                    Op::Put(Stored {
                        entry: Arc::new(entry),
                        ttl,
                    })
                } else {
                    Op::Nop
                };
                std::future::ready(op)
            })
            .await;
        !matches!(result, moka::ops::compute::CompResult::Unchanged(_))
            && !matches!(result, moka::ops::compute::CompResult::StillNone(_))
    }
}

#[async_trait]
impl Tier for MokaTier {
    fn name(&self) -> &'static str {
        "moka"
    }

    async fn get(&self, key: &str) -> Result<Option<Arc<Entry>>, Error> {
        Ok(self.cache.get(key).await.map(|s| s.entry))
    }

    async fn fill(&self, key: &str, entry: Entry, ttl: Duration) -> Result<(), Error> {
        self.put(key, entry, ttl).await
    }

    async fn fill_if_not_older(
        &self,
        key: &str,
        entry: Entry,
        ttl: Duration,
    ) -> Result<bool, Error> {
        Ok(self.store_if_not_older(key, entry, ttl).await)
    }

    async fn put(&self, key: &str, entry: Entry, ttl: Duration) -> Result<(), Error> {
        let stored = Stored {
            entry: Arc::new(entry),
            ttl,
        };
        self.cache.insert(key.to_owned(), stored).await;
        Ok(())
    }

    async fn put_if_not_older(
        &self,
        key: &str,
        entry: Entry,
        ttl: Duration,
    ) -> Result<bool, Error> {
        Ok(self.store_if_not_older(key, entry, ttl).await)
    }

    async fn delete(&self, key: &str) -> Result<(), Error> {
        self.cache.invalidate(key).await;
        Ok(())
    }
}
