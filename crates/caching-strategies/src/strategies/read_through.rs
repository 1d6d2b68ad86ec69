//! Read-through: the cache owns the loader. Callers only ever ask the cache; on a miss the cache
//! calls the loader, stores the result and hands it to *every* caller waiting for that key.
//!
//! The "every caller" part is the point. moka's `try_get_with` runs one loader per key and parks
//! concurrent callers for the same key until it finishes (request coalescing, also called
//! single-flight), so a thousand simultaneous misses for a cold key cost one store read instead of
//! a thousand: the stampede demo measures both. Here moka coalesces in front of whichever tier
//! holds the data, so the same protection covers the Redis and two-tier variants (per instance:
//! ten instances still make up to ten loads; a Redis lock would coalesce across them).
//!
//! Writes go to the store and invalidate the key; readers reload through the coalesced path.

use async_trait::async_trait;

use crate::error::Error;
use crate::model::{CacheValue, Entry, Post, PostUpdate, TopPost, keys};
use crate::strategies::{Deps, Strategy, like_in_store, validate, wrong_kind};

/// How many loads may be in flight at once (distinct keys); far more than any test or demo uses.
const IN_FLIGHT_CAPACITY: u64 = 10_000;

pub struct ReadThrough {
    deps: Deps,
    /// Coalesces loads: one entry per key *being* loaded, removed as soon as the load finished
    /// (the value itself lives in the tier, with its TTL).
    in_flight: moka::future::Cache<String, CacheValue>,
}

impl ReadThrough {
    pub fn new(deps: Deps) -> Self {
        Self {
            deps,
            in_flight: moka::future::Cache::new(IN_FLIGHT_CAPACITY),
        }
    }

    /// The read-through core: tier hit, or one coalesced load that fills the tier.
    async fn get_or_load(
        &self,
        key: &str,
        load: impl Future<Output = Result<CacheValue, Error>>,
    ) -> Result<CacheValue, Error> {
        let now = self.deps.clock.now_ms();
        if let Some(value) = self.deps.cached(key, now).await {
            return Ok(value);
        }
        let ttl = if key == keys::TOP {
            self.deps.ttls.top
        } else {
            self.deps.ttls.post
        };
        let value = self
            .in_flight
            .try_get_with_by_ref(key, async {
                // Double-check: a caller whose tier lookup raced a load that has just finished
                // finds the value here instead of starting a second load.
                if let Some(value) = self.deps.cached(key, self.deps.clock.now_ms()).await {
                    return Ok(value);
                }
                let value = load.await?;
                let (expires, physical) = self.deps.expiry(ttl, key, now);
                let entry = Entry {
                    version: match &value {
                        CacheValue::Post(p) => p.version,
                        CacheValue::Top(_) | CacheValue::Document(_) => 0,
                    },
                    expires_at_ms: expires,
                    value: Some(value.clone()),
                };
                let _ = self.deps.tier.fill_if_not_older(key, entry, physical).await;
                Ok::<_, Error>(value)
            })
            .await
            .map_err(|shared| shared.share());
        self.in_flight.invalidate(key).await;
        value
    }
}

#[async_trait]
impl Strategy for ReadThrough {
    fn name(&self) -> String {
        "read-through".to_owned()
    }

    async fn get_post(&self, id: i64) -> Result<Post, Error> {
        let key = keys::post(id);
        let load = async { Ok(CacheValue::Post(self.deps.load_post(id).await?)) };
        match self.get_or_load(&key, load).await? {
            CacheValue::Post(post) => Ok(post),
            CacheValue::Top(_) | CacheValue::Document(_) => Err(wrong_kind(&key)),
        }
    }

    async fn top_posts(&self) -> Result<Vec<TopPost>, Error> {
        let load = async { Ok(CacheValue::Top(self.deps.store.top_posts().await?)) };
        match self.get_or_load(keys::TOP, load).await? {
            CacheValue::Top(top) => Ok(top),
            CacheValue::Post(_) | CacheValue::Document(_) => Err(wrong_kind(keys::TOP)),
        }
    }

    async fn update_post(&self, id: i64, update: PostUpdate) -> Result<Post, Error> {
        validate(&update)?;
        let now = i64::try_from(self.deps.clock.now_ms()).unwrap_or(i64::MAX);
        let post = self
            .deps
            .store
            .update_post(id, update, now)
            .await?
            .ok_or(Error::NotFound(id))?;
        let (expires, ttl) = self
            .deps
            .expiry(self.deps.ttls.post, &keys::post(id), now as u64);
        // A tombstone, not a delete, so a load that started before this write cannot refill v-1.
        let _ = self
            .deps
            .tier
            .put(
                &keys::post(id),
                Entry::tombstone(post.version, expires),
                ttl,
            )
            .await;
        Ok(post)
    }

    async fn like(&self, id: i64, user_id: i64) -> Result<(), Error> {
        like_in_store(&self.deps.store, id, user_id).await
    }
}
