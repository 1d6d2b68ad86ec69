//! Where cached entries live. Every strategy talks to a [`Tier`], so the same strategy code runs
//! over an in-process cache ([`MokaTier`](crate::tiers::moka::MokaTier)), a shared one
//! ([`RedisTier`](crate::tiers::redis::RedisTier), or [`MemcachedTier`](crate::tiers::memcached::MemcachedTier)
//! beside it), or both ([`TwoTier`](crate::tiers::two_tier::TwoTier)).
//!
//! The calls are split by *intent*, because a two-tier cache must tell other instances about
//! writes but not about reads:
//! - `fill` / `fill_if_not_older`: a reader puts back what it loaded (no broadcast);
//! - `put` / `delete`: a writer changes the truth (a two-tier cache broadcasts an invalidation).
//!
//! A tier error means "the cache is not there right now". Strategies treat it as a miss and go
//! to the store: a cache makes a backend faster, it must not make it fail. A *write* that fails
//! is different: the cache may come back holding the old value, so a shared tier remembers what
//! it owes (see [`RedisTier`](crate::tiers::redis::RedisTier)'s repair journal).
//!
//! One file per tier: [`moka`], [`redis`], [`memcached`], [`two_tier`] (moka in front of Redis:
//! Memcached has no pub/sub to carry the invalidations, see [`memcached`]).

pub mod memcached;
pub mod moka;
pub mod redis;
pub mod two_tier;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::Error;
use crate::model::Entry;

/// One cache tier.
#[async_trait]
pub trait Tier: Send + Sync {
    /// `moka`, `redis`, `two-tier`: used in route prefixes and tables.
    fn name(&self) -> &'static str;

    /// The entry under `key`, if any (fresh or not: freshness is the caller's call).
    async fn get(&self, key: &str) -> Result<Option<Arc<Entry>>, Error>;

    /// A reader stores what it loaded.
    async fn fill(&self, key: &str, entry: Entry, ttl: Duration) -> Result<(), Error>;

    /// A reader stores what it loaded *unless* the cache already holds a newer version (a value
    /// or a tombstone), atomically. Returns whether it stored. This is the cache-aside race fix.
    async fn fill_if_not_older(
        &self,
        key: &str,
        entry: Entry,
        ttl: Duration,
    ) -> Result<bool, Error>;

    /// A writer stores the new value.
    async fn put(&self, key: &str, entry: Entry, ttl: Duration) -> Result<(), Error>;

    /// A writer stores the new value unless a newer one is already there (concurrent writers).
    async fn put_if_not_older(&self, key: &str, entry: Entry, ttl: Duration)
    -> Result<bool, Error>;

    /// A writer removes the key.
    async fn delete(&self, key: &str) -> Result<(), Error>;

    /// Whether a write made now would reach this tier: `Err` when it has lost its server or
    /// still owes it writes from an outage. Free on a healthy tier; a tier that has been failing
    /// spends one round trip to find out. Strategies that must not acknowledge a write the cache
    /// cannot see (write-through) ask before they touch the store.
    async fn ensure_writable(&self) -> Result<(), Error> {
        Ok(())
    }
}

/// Whether `incoming` may replace `current` under the version rule: never go backwards.
/// A tombstone at version 2 refuses a value at version 1 and accepts version 2.
pub fn may_replace(current: Option<&Entry>, incoming: &Entry) -> bool {
    current.is_none_or(|c| c.version <= incoming.version)
}
