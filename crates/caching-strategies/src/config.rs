//! Typed configuration, built once in `main` (or a test) and passed down.

use std::path::PathBuf;
use std::time::Duration;

use support::Settings;

use crate::store::Seed;
use crate::strategies::write_back::FlushPolicy;
use crate::strategies::{Ttl, Ttls};

/// Every Redis key this crate writes starts with this.
pub const REDIS_PREFIX: &str = "caching:";
/// Suffix of the pub/sub channel that carries invalidations (after the tier's key prefix).
pub const INVALIDATION_CHANNEL: &str = "invalidate";
/// The PostgreSQL schema the demo's and `serve`'s store live in, apart from other tables of the
/// same database.
pub const POSTGRES_SCHEMA: &str = "caching_strategies";
/// The SQLite file the demo uses when PostgreSQL is unreachable (in the temp directory).
pub const SQLITE_FILE: &str = "caching-strategies-demo.sqlite3";

#[derive(Debug, Clone)]
pub struct Config {
    pub settings: Settings,
    pub ttls: Ttls,
    /// How long a two-tier cache keeps a local copy: the bound on cross-instance staleness when
    /// an invalidation message is lost (or when there is no pub/sub at all).
    pub local_ttl: Duration,
    pub moka_capacity: u64,
    /// Root prefix for Redis keys; each mounted strategy adds its own name after it.
    pub redis_prefix: String,
    /// Upper bound on one Redis call, so a vanished Redis costs this, not a hang.
    pub redis_timeout: Duration,
    pub redis_pool_size: usize,
    /// The same two bounds for the Memcached tier's connections.
    pub memcached_timeout: Duration,
    pub memcached_pool_size: usize,
    pub db_pool_size: usize,
    pub seed: Seed,
    pub sqlite_path: PathBuf,
    pub flush: FlushPolicy,
}

impl Config {
    /// The defaults the demo and `serve` use.
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            ttls: Ttls {
                post: Ttl {
                    base: Duration::from_secs(60),
                    jitter: 0.1,
                },
                top: Ttl {
                    base: Duration::from_secs(10),
                    jitter: 0.1,
                },
            },
            local_ttl: Duration::from_secs(2),
            moka_capacity: 100_000,
            redis_prefix: REDIS_PREFIX.to_owned(),
            redis_timeout: Duration::from_millis(500),
            redis_pool_size: 16,
            memcached_timeout: Duration::from_millis(500),
            memcached_pool_size: 16,
            db_pool_size: 8,
            // Enough likes that the GROUP BY behind "top posts" costs tens of milliseconds.
            seed: Seed {
                posts: 1_000,
                likes: 150_000,
            },
            sqlite_path: std::env::temp_dir().join(SQLITE_FILE),
            flush: FlushPolicy {
                every: Duration::from_millis(200),
                max_batch: 100,
            },
        }
    }
}
