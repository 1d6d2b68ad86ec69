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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

/// Whether a shared tier's server answered last time, kept per tier (an atomic flag, not a
/// global), so the log line about losing it is written once per outage: `swap` returns the
/// previous state, and only the call that flips it logs, however many requests fail at the
/// same moment. The Redis and Memcached tiers both keep one.
#[derive(Debug)]
pub(crate) struct Health {
    /// `Redis`, `Memcached`: for the log lines.
    server: &'static str,
    up: AtomicBool,
    failures: AtomicU64,
}

impl Health {
    pub(crate) fn new(server: &'static str) -> Self {
        Self {
            server,
            up: AtomicBool::new(true),
            failures: AtomicU64::new(0),
        }
    }

    /// The server answered (a refusal is an answer too).
    pub(crate) fn answered(&self) {
        // A load first: on the hot path the flag is already up, and a load writes nothing.
        if !self.up.load(Ordering::Relaxed) && !self.up.swap(true, Ordering::Relaxed) {
            tracing::info!(
                server = self.server,
                "the cache server answers again: the shared cache is back in use"
            );
        }
    }

    /// The server did not answer, for `why`.
    pub(crate) fn unreachable(&self, why: &str) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        if self.up.swap(false, Ordering::Relaxed) {
            tracing::warn!(server = self.server, %why, "the cache server is unreachable: requests fall back to the store (slower, not failing) until it answers again");
        }
    }

    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    pub(crate) fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
}
