//! The one trait every strategy implements, and what the strategies share.
//!
//! A strategy answers four calls: read a post (cheap), read the top posts (expensive), update a
//! post, like a post. How it answers (whether it looks in a cache first, who fills the cache,
//! when the store hears about a write) is the whole difference between the files that implement
//! it, so they can be read side by side.
//!
//! One file per strategy, in the order to read them: [`no_cache`] (the baseline),
//! [`cache_aside`] with [`invalidation`] (the default, its race and the fix), then
//! [`read_through`], [`write_through`] and [`write_back`], each best diffed against cache-aside.
//! Every one of them runs over any [`Tier`] (moka, Redis, Memcached or two-tier).

pub mod cache_aside;
pub mod invalidation;
pub mod no_cache;
pub mod read_through;
pub mod write_back;
pub mod write_through;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::clock::Clock;
use crate::error::Error;
use crate::model::{CacheValue, Post, PostUpdate, TopPost};
use crate::store::Store;
use crate::tiers::Tier;

/// Longest title an update may set.
pub const MAX_TITLE: usize = 200;
/// Longest body an update may set.
pub const MAX_BODY: usize = 10_000;

/// A caching strategy over the store.
#[async_trait]
pub trait Strategy: Send + Sync {
    /// `cache-aside`, `read-through`, ...: used in route prefixes and tables.
    fn name(&self) -> String;

    async fn get_post(&self, id: i64) -> Result<Post, Error>;

    async fn top_posts(&self) -> Result<Vec<TopPost>, Error>;

    /// Returns the post as updated; when the call returns, the write is *acknowledged* (which,
    /// for write-back, does not mean it is in the store yet).
    async fn update_post(&self, id: i64, update: PostUpdate) -> Result<Post, Error>;

    async fn like(&self, id: i64, user_id: i64) -> Result<(), Error>;
}

/// A time-to-live with jitter: `base` ± `jitter` × `base`.
///
/// Jitter matters when many keys are filled at once (a deploy, a cold start): with one fixed TTL
/// they all expire in the same instant and the store takes every reload together. Spreading the
/// expiries spreads the reloads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ttl {
    pub base: Duration,
    /// Fraction of `base`, 0.0 to 1.0.
    pub jitter: f64,
}

impl Ttl {
    pub fn fixed(base: Duration) -> Self {
        Self { base, jitter: 0.0 }
    }

    /// The TTL for `key` filled at `now_ms`: a hash of both picks the point in the jitter window,
    /// so it is spread across keys and fills but reproducible (no random source to seed in tests).
    pub fn for_key(&self, key: &str, now_ms: u64) -> Duration {
        let mut hasher = DefaultHasher::new();
        (key, now_ms).hash(&mut hasher);
        let unit = (hasher.finish() % 10_000) as f64 / 10_000.0;
        let factor = 1.0 + self.jitter.clamp(0.0, 1.0) * (2.0 * unit - 1.0);
        self.base.mul_f64(factor)
    }
}

/// TTLs per kind of value: a post can live long (updates invalidate it); the top-posts list
/// is never invalidated (every like would), so its TTL *is* its staleness bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ttls {
    pub post: Ttl,
    pub top: Ttl,
}

/// What a caching strategy is built from.
#[derive(Clone)]
pub struct Deps {
    pub store: Store,
    pub tier: Arc<dyn Tier>,
    pub clock: Arc<dyn Clock>,
    pub ttls: Ttls,
}

impl Deps {
    /// The logical expiry (on `clock`) and the physical TTL handed to the tier for a fill of
    /// `key` now. The physical TTL is twice the logical one: long enough that a test moving a
    /// manual clock sees a logically expired entry, short enough that memory is reclaimed.
    pub(crate) fn expiry(&self, ttl: Ttl, key: &str, now_ms: u64) -> (u64, Duration) {
        let ttl = ttl.for_key(key, now_ms);
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        (now_ms.saturating_add(ms), ttl * 2)
    }

    /// The fresh cached value under `key`, if any. A tier error counts as a miss: the tier has
    /// logged it, and the caller goes to the store.
    pub(crate) async fn cached(&self, key: &str, now_ms: u64) -> Option<CacheValue> {
        match self.tier.get(key).await {
            Ok(Some(entry)) if entry.is_fresh(now_ms) => entry.value.clone(),
            _ => None,
        }
    }

    pub(crate) async fn load_post(&self, id: i64) -> Result<Post, Error> {
        self.store.get_post(id).await?.ok_or(Error::NotFound(id))
    }
}

/// Rejects an update before any strategy touches the store or the cache.
pub(crate) fn validate(update: &PostUpdate) -> Result<(), Error> {
    if update.title.trim().is_empty() {
        return Err(Error::Invalid {
            field: "title",
            message: "must not be blank",
        });
    }
    if update.title.chars().count() > MAX_TITLE {
        return Err(Error::Invalid {
            field: "title",
            message: "must be at most 200 characters",
        });
    }
    if update.body.chars().count() > MAX_BODY {
        return Err(Error::Invalid {
            field: "body",
            message: "must be at most 10000 characters",
        });
    }
    Ok(())
}

/// Records a like in the store; 404 when the post does not exist. Every strategy likes the same
/// way: the top-posts list is not invalidated per like (that would make it uncacheable), so its
/// TTL is how stale it may get.
pub(crate) async fn like_in_store(store: &Store, id: i64, user_id: i64) -> Result<(), Error> {
    if store.like(id, user_id).await? {
        Ok(())
    } else {
        Err(Error::NotFound(id))
    }
}

/// A value of the wrong kind under a key is a bug, not a client error.
pub(crate) fn wrong_kind(key: &str) -> Error {
    Error::Unexpected(anyhow::anyhow!(
        "cache key {key} held a value of the wrong kind"
    ))
}
