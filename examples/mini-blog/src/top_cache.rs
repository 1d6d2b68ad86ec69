//! `GET /api/articles/top`'s cache: the caching-strategies topic's tiers, reused as they are.
//!
//! Ranking articles by favourites is an aggregate over the whole favourites table: the kind of
//! read worth caching, because every visitor asks for the same answer. The cache is
//! caching-strategies' [`TwoTier`] (moka in front of Redis, with pub/sub invalidation across
//! instances) when Redis answers, and its [`MokaTier`] alone when not, behind the same
//! [`Tier`] trait, so this file does not care which.
//!
//! What is cached is the *anonymous* view (nobody's `favorited`, nobody's `following`): one
//! document for every visitor. A logged-in reader's flags are filled in per request by
//! [`crate::top`], with two small indexed queries, so a personal view never lands in a shared cache.
//!
//! **Never stale on the next request, on any instance.** Every write that can change the list
//! (a favourite, an unfavourite, an article created, edited or deleted, an author's profile
//! edited) calls [`TopCache::invalidate`] after its transaction commits, before it answers.
//! Invalidation does two things:
//! - it bumps a **generation** counter (`INCR` in Redis, shared by every instance; an atomic in
//!   this process without Redis), and every read first asks for the current generation: a
//!   cached copy made under an older one is not served. That one round trip is what makes the
//!   very next request right on *another* instance too: pub/sub alone cannot, because its
//!   message is delivered asynchronously and the next request may arrive first (the test
//!   `across_two_instances_sharing_redis…` failed exactly so before the counter existed).
//! - it writes a *tombstone* at the new generation, which the two-tier cache publishes, so
//!   every instance also drops its local copy (memory, and the next reader goes to Redis).
//!
//! The generation is also the entry's version, which closes cache-aside's race: a reader that
//! began loading under generation *g* and stores its result after a write bumped it to *g + 1*
//! is refused by `fill_if_not_older`, since its version is older than the tombstone's.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use caching_strategies::model::{CacheValue, Entry};
use caching_strategies::tiers::Tier;
use caching_strategies::tiers::moka::MokaTier;
use caching_strategies::tiers::redis::{RedisTier, pool};
use caching_strategies::tiers::two_tier::TwoTier;
use serde::{Deserialize, Serialize};

use crate::model::ArticleListItem;

/// The one key this cache uses.
const KEY: &str = "top-articles";

/// One ranked article, with the ids a personalised view needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ranked {
    pub article_id: i64,
    pub author_id: i64,
    pub item: ArticleListItem,
}

/// Whether an answer came from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cache,
    Database,
}

impl Source {
    /// The `X-Cache` header value.
    pub fn header(self) -> &'static str {
        match self {
            Source::Cache => "hit",
            Source::Database => "miss",
        }
    }
}

/// The counter every write bumps and every read checks.
enum Generation {
    /// This process only.
    Local(AtomicI64),
    /// Shared by every instance on the same Redis and namespace.
    Redis {
        pool: deadpool_redis::Pool,
        key: String,
    },
}

impl Generation {
    /// The current generation; `None` when Redis cannot say (then nothing cached is trusted).
    async fn current(&self) -> Option<i64> {
        match self {
            Generation::Local(n) => Some(n.load(Ordering::SeqCst)),
            Generation::Redis { pool, key } => {
                let mut conn = pool.get().await.ok()?;
                let value: Option<i64> = redis::cmd("GET")
                    .arg(key)
                    .query_async(&mut conn)
                    .await
                    .ok()?;
                Some(value.unwrap_or(0))
            }
        }
    }

    /// The next generation, after bumping it.
    async fn bump(&self) -> Result<i64, String> {
        match self {
            Generation::Local(n) => Ok(n.fetch_add(1, Ordering::SeqCst) + 1),
            Generation::Redis { pool, key } => {
                let mut conn = pool.get().await.map_err(|e| e.to_string())?;
                redis::cmd("INCR")
                    .arg(key)
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    }
}

/// The top-articles cache of one instance.
pub struct TopCache {
    tier: Arc<dyn Tier>,
    generation: Generation,
    /// `moka + Redis (pub/sub)` or `moka only`: for the demo's and the server's first line.
    pub description: &'static str,
    ttl: Duration,
    /// How many times the ranking was computed from the database (the demo and tests count).
    computed: AtomicU64,
}

impl std::fmt::Debug for TopCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopCache")
            .field("tier", &self.description)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl TopCache {
    /// moka alone: this instance's memory, nothing shared.
    pub fn local(ttl: Duration) -> Self {
        Self {
            tier: Arc::new(MokaTier::new(16)),
            generation: Generation::Local(AtomicI64::new(0)),
            description: "moka only",
            ttl,
            computed: AtomicU64::new(0),
        }
    }

    /// moka in front of Redis at `redis_url`, keys under `namespace`, invalidations published
    /// on `namespace:invalidate` and heard by every instance with the same namespace.
    pub async fn shared(
        redis_url: &str,
        namespace: &str,
        local_ttl: Duration,
        ttl: Duration,
    ) -> anyhow::Result<Self> {
        let timeout = Duration::from_millis(500);
        let pool = pool(redis_url, 8, timeout)?;
        let remote = RedisTier::new(pool.clone(), namespace, timeout);
        let tier = TwoTier::with_pubsub(
            MokaTier::new(16),
            remote,
            local_ttl,
            redis_url,
            &format!("{namespace}:invalidate"),
        )
        .await?;
        Ok(Self {
            tier: Arc::new(tier),
            generation: Generation::Redis {
                pool,
                key: format!("{namespace}:top-generation"),
            },
            description: "moka + Redis (pub/sub invalidation)",
            ttl,
            computed: AtomicU64::new(0),
        })
    }

    /// The cached ranking, if there is a fresh one of the current generation. A cache that is
    /// down is a miss.
    pub async fn get(&self) -> Option<Vec<Ranked>> {
        let generation = self.generation.current().await?;
        let entry = self.tier.get(KEY).await.ok()??;
        if !entry.is_fresh(now_ms()) || entry.version != generation {
            return None;
        }
        match &entry.value {
            Some(CacheValue::Document(document)) => serde_json::from_value(document.clone()).ok(),
            _ => None,
        }
    }

    /// When a reader is about to compute the ranking: the generation its result will carry
    /// (`None`: Redis cannot say, so the result will not be stored).
    pub async fn begin_load(&self) -> Option<i64> {
        self.computed.fetch_add(1, Ordering::Relaxed);
        self.generation.current().await
    }

    /// Stores a ranking computed from a read that began at `version`, unless a write has
    /// invalidated the list since (see the module docs).
    pub async fn fill(&self, version: Option<i64>, ranking: &[Ranked]) {
        let Some(version) = version else {
            return;
        };
        let Ok(document) = serde_json::to_value(ranking) else {
            return;
        };
        let entry = Entry::document(document, version, now_ms() + millis(self.ttl));
        // A failed fill costs the next reader a miss, nothing more.
        let _ = self.tier.fill_if_not_older(KEY, entry, self.ttl).await;
    }

    /// A write changed what the ranking shows: replace it with a tombstone, here and (through
    /// the two-tier cache's pub/sub) in every instance's local copy.
    pub async fn invalidate(&self) {
        let generation = match self.generation.bump().await {
            Ok(generation) => generation,
            Err(e) => {
                // Then a tombstone no fill can beat, for its TTL: until it expires the list is
                // computed from the database on every read, slower but never stale.
                tracing::warn!(error = %e, "top-articles generation not bumped");
                i64::MAX
            }
        };
        let tombstone = Entry::tombstone(generation, now_ms() + millis(self.ttl));
        if let Err(e) = self.tier.put(KEY, tombstone, self.ttl).await {
            // The Redis tier keeps a repair journal and replays the invalidation when it is
            // back; until then readers go to the database (its `get` fails, a miss).
            tracing::warn!(error = %e, "top-articles invalidation did not reach the cache");
        }
    }

    /// How many times the ranking was computed from the database.
    pub fn computed(&self) -> u64 {
        self.computed.load(Ordering::Relaxed)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
