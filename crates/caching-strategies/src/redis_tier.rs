//! The shared tier: Redis through a deadpool-redis connection pool.
//!
//! Every instance sees the same entries (a write on one is visible to all), entries survive an
//! application restart, and a hit costs one network round trip plus decoding. When Redis goes
//! away, each call fails fast (a timeout bounds it), the strategy falls back to the store, and
//! this tier logs the change of state once, not once per request.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use deadpool_redis::{Pool, PoolConfig, Runtime, Timeouts};
use redis::FromRedisValue;

use crate::error::Error;
use crate::model::Entry;
use crate::tier::Tier;

/// Stores `version|json` under `KEYS[1]` unless the stored version is newer, with a TTL, in one
/// atomic step: Redis runs a script without interleaving other commands. (Production would load
/// it once and call it by SHA with `EVALSHA`; sending it each time keeps this readable.)
const SET_IF_NOT_OLDER: &str = r"
local current = redis.call('GET', KEYS[1])
if current then
  local v = tonumber(string.match(current, '^(-?%d+)|'))
  if v and v > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
";

/// Builds a pool whose every wait is bounded, so a dead Redis costs `timeout`, not forever.
pub fn pool(url: &str, size: usize, timeout: Duration) -> anyhow::Result<Pool> {
    let mut config = deadpool_redis::Config::from_url(url);
    let mut pool = PoolConfig::new(size);
    pool.timeouts = Timeouts {
        wait: Some(timeout),
        create: Some(timeout),
        recycle: Some(timeout),
    };
    config.pool = Some(pool);
    config
        .create_pool(Some(Runtime::Tokio1))
        .context("Failed to build the Redis pool")
}

/// Whether Redis answered last time, kept per tier (an atomic flag, not a global), so the log
/// line about losing it is written once per outage.
#[derive(Debug)]
struct Health {
    up: AtomicBool,
    failures: AtomicU64,
}

impl Health {
    fn observe<T>(&self, result: &Result<T, String>) {
        match result {
            Ok(_) => {
                if !self.up.load(Ordering::Relaxed) && !self.up.swap(true, Ordering::Relaxed) {
                    tracing::info!("Redis answers again: the shared cache is back in use");
                }
            }
            Err(why) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                if self.up.swap(false, Ordering::Relaxed) {
                    tracing::warn!(%why, "Redis unreachable: requests fall back to the store (slower, not failing) until it answers again");
                }
            }
        }
    }
}

/// A Redis-backed tier. Keys are `prefix + key`.
#[derive(Debug, Clone)]
pub struct RedisTier {
    pool: Pool,
    prefix: String,
    timeout: Duration,
    health: Arc<Health>,
}

impl RedisTier {
    pub fn new(pool: Pool, prefix: impl Into<String>, timeout: Duration) -> Self {
        Self {
            pool,
            prefix: prefix.into(),
            timeout,
            health: Arc::new(Health {
                up: AtomicBool::new(true),
                failures: AtomicU64::new(0),
            }),
        }
    }

    /// The pool (the demo measures a bare `GET` on it, to compare with a tier hit).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The full Redis key for `key`.
    pub fn redis_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Whether the last call reached Redis.
    pub fn is_up(&self) -> bool {
        self.health.up.load(Ordering::Relaxed)
    }

    /// Calls that failed and fell back.
    pub fn failures(&self) -> u64 {
        self.health.failures.load(Ordering::Relaxed)
    }

    async fn call<T: FromRedisValue>(&self, cmd: redis::Cmd) -> Result<T, Error> {
        let attempt = async {
            let mut conn = self.pool.get().await.map_err(|e| e.to_string())?;
            cmd.query_async::<T>(&mut conn)
                .await
                .map_err(|e| e.to_string())
        };
        let result = match tokio::time::timeout(self.timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {} ms", self.timeout.as_millis())),
        };
        self.health.observe(&result);
        result.map_err(Error::CacheUnavailable)
    }

    fn encode(entry: &Entry) -> Result<Vec<u8>, Error> {
        let mut out = format!("{}|", entry.version).into_bytes();
        serde_json::to_writer(&mut out, entry)
            .map_err(|e| Error::Unexpected(anyhow::anyhow!("encoding a cache entry: {e}")))?;
        Ok(out)
    }

    /// Decodes `version|json`. A value this code cannot read is treated as a miss.
    pub fn decode(raw: &[u8]) -> Option<Entry> {
        let bar = raw.iter().position(|b| *b == b'|')?;
        serde_json::from_slice(&raw[bar + 1..]).ok()
    }

    async fn set_if_not_older(
        &self,
        key: &str,
        entry: &Entry,
        ttl: Duration,
    ) -> Result<bool, Error> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(SET_IF_NOT_OLDER)
            .arg(1)
            .arg(self.redis_key(key))
            .arg(entry.version)
            .arg(Self::encode(entry)?)
            .arg(ttl.as_millis().max(1) as u64);
        let stored: i64 = self.call(cmd).await?;
        Ok(stored == 1)
    }
}

#[async_trait]
impl Tier for RedisTier {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn get(&self, key: &str) -> Result<Option<Arc<Entry>>, Error> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.redis_key(key));
        let raw: Option<Vec<u8>> = self.call(cmd).await?;
        Ok(raw.as_deref().and_then(Self::decode).map(Arc::new))
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
        self.set_if_not_older(key, &entry, ttl).await
    }

    async fn put(&self, key: &str, entry: Entry, ttl: Duration) -> Result<(), Error> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.redis_key(key))
            .arg(Self::encode(&entry)?)
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64);
        self.call::<()>(cmd).await
    }

    async fn put_if_not_older(
        &self,
        key: &str,
        entry: Entry,
        ttl: Duration,
    ) -> Result<bool, Error> {
        self.set_if_not_older(key, &entry, ttl).await
    }

    async fn delete(&self, key: &str) -> Result<(), Error> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.redis_key(key));
        self.call::<()>(cmd).await
    }
}
