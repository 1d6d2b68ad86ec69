//! The Memcached tier: a shared cache like Redis, over a much smaller protocol.
//!
//! Every instance that talks to the same server sees the same entries, and a hit is one network
//! round trip plus decoding, as with [`RedisTier`](crate::tiers::redis::RedisTier). The client is
//! [`async_memcached`] 0.9 (Shopify's, tokio-native, plain TCP, the text and meta protocols): it
//! has no pool of its own, so this file keeps a small one, and it closes a connection whose
//! operation was cancelled, which is what makes a timeout around each call safe (0.6 returned the
//! cancelled call's reply as the answer to the next request on that connection).
//!
//! **What Memcached can do atomically, and what it cannot.** Its values are opaque byte strings
//! (no hashes, lists or streams) and it runs no scripts, so the Redis tier's one-step Lua
//! "compare the version, then write" is not available. What it has instead:
//! - `add`: store only if the key is absent;
//! - `cas` (here the meta protocol's `mg … c` then `ms … C<token>`): store only if the item is
//!   unchanged since it was read; every write gives the item a new token;
//! - `delete`, `incr`/`decr`, and a TTL in whole seconds on every item.
//!
//! So [`Tier::fill_if_not_older`] is an *optimistic* loop: read the entry and its token, compare
//! versions here in the client, then write with the token (or `add` when there was nothing).
//! Another writer that lands in between changes the token, the write is refused (`EX`, or `NS`
//! for a lost `add`), and the loop reads again. The rule still holds (nothing older replaces
//! something newer), but under contention a call can take several round trips, and after
//! [`CAS_ATTEMPTS`] lost races it gives up with an error, which a reader treats as a miss.
//!
//! **What this tier cannot be.** Memcached has no pub/sub, so it cannot be the shared layer of
//! a [`TwoTier`](crate::tiers::two_tier::TwoTier): the invalidation broadcast that tells other
//! instances to drop their local copies needs another channel (Redis pub/sub, a message broker,
//! or version checks on every local read). And it keeps nothing across a restart and replicates
//! nothing, which makes a restart the one outage that cannot serve stale data (it comes back
//! empty), while a partition still can: unlike the Redis tier, this one keeps **no repair
//! journal**, so an invalidation that fails while the server is unreachable but alive leaves the
//! old value until its TTL. [`Tier::ensure_writable`] pings after a failure, so write-through
//! refuses writes (503) while the server is unreachable rather than acknowledge one that readers
//! may not see.
//!
//! TTLs: Memcached counts in whole seconds (and reads more than 30 days as an absolute Unix
//! time), so the physical TTL is rounded up to a second and capped. Freshness is the entry's
//! logical expiry as everywhere else, so a test moving a manual clock needs no sleep.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use async_memcached::{AsciiProtocol as _, Client, MetaProtocol as _, Status};
use async_trait::async_trait;
use tokio::sync::Semaphore;

use crate::error::Error;
use crate::model::Entry;
use crate::tiers::{Health, Tier, may_replace};

/// How many lost compare-and-swap races a versioned write tolerates before it gives up. Each
/// loss means another write succeeded, so N concurrent writers of one key lose at most N − 1.
pub const CAS_ATTEMPTS: usize = 16;
/// Memcached reads a TTL above 30 days as an absolute Unix timestamp, not a duration.
const MAX_RELATIVE_TTL_SECS: u64 = 30 * 24 * 3600;

/// Connections to one server: idle ones kept for reuse, at most `size` in use at once.
///
/// A pool of a dozen lines rather than a crate: async-memcached has none, and the one rule that
/// matters is here: a connection whose operation did not complete (a timeout cancelled it) is
/// closed by the client and must not go back into the pool. A shortcut, said plainly: an idle
/// connection the server has dropped (a restart) is only found out by the next call on it, which
/// fails (a miss, to the strategy) and discards it; a production pool would check on checkout.
struct Pool {
    address: String,
    idle: Mutex<Vec<Client>>,
    permits: Semaphore,
}

/// A checked-out connection; back to the pool on drop, unless it was closed.
struct Conn<'a> {
    client: Option<Client>,
    pool: &'a Pool,
    _permit: tokio::sync::SemaphorePermit<'a>,
}

impl Conn<'_> {
    fn client(&mut self) -> Result<&mut Client, async_memcached::Error> {
        self.client
            .as_mut()
            .ok_or(async_memcached::Error::ConnectionClosed)
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        if let Some(client) = self.client.take()
            && !client.is_closed()
            && let Ok(mut idle) = self.pool.idle.lock()
        {
            idle.push(client);
        }
    }
}

impl Pool {
    async fn get(&self) -> Result<Conn<'_>, async_memcached::Error> {
        let permit = self.permits.acquire().await.map_err(|_| {
            async_memcached::Error::Connect(std::io::Error::other("the pool is closed"))
        })?;
        let reused = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let client = match reused {
            Some(client) => client,
            None => Client::new(&self.address).await?,
        };
        Ok(Conn {
            client: Some(client),
            pool: self,
            _permit: permit,
        })
    }
}

/// A Memcached-backed tier. Keys are `prefix + key`.
#[derive(Clone)]
pub struct MemcachedTier {
    pool: Arc<Pool>,
    prefix: String,
    timeout: Duration,
    health: Arc<Health>,
}

impl std::fmt::Debug for MemcachedTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemcachedTier")
            .field("address", &self.pool.address)
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl MemcachedTier {
    /// A tier over the server at `address` (`host:port`), with at most `size` connections and
    /// every call bounded by `timeout`. Connects once to fail early on a wrong address.
    pub async fn connect(
        address: &str,
        prefix: impl Into<String>,
        size: usize,
        timeout: Duration,
    ) -> Result<Self, Error> {
        let tier = Self {
            pool: Arc::new(Pool {
                // The client parses its address as a URL: a bare `host:port` does not parse.
                address: if address.contains("://") {
                    address.to_owned()
                } else {
                    format!("tcp://{address}")
                },
                idle: Mutex::new(Vec::new()),
                permits: Semaphore::new(size.max(1)),
            }),
            prefix: prefix.into(),
            timeout,
            health: Arc::new(Health::new("Memcached")),
        };
        tier.version().await.map_err(|e| {
            Error::Unexpected(anyhow::anyhow!(
                "Memcached at {address} did not answer: {e}"
            ))
        })?;
        Ok(tier)
    }

    /// The full Memcached key for `key`. Memcached keys may not hold spaces or control
    /// characters (the text protocol is line- and space-delimited), so those become `_`.
    pub fn memcached_key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
            .chars()
            .map(|c| {
                if c.is_whitespace() || c.is_control() {
                    '_'
                } else {
                    c
                }
            })
            .collect()
    }

    /// Whether the last call reached the server.
    pub fn is_up(&self) -> bool {
        self.health.is_up()
    }

    /// Calls that failed.
    pub fn failures(&self) -> u64 {
        self.health.failures()
    }

    /// The server's version string (`1.6.18`): a round trip that touches no key.
    pub async fn version(&self) -> Result<String, Error> {
        self.call(async {
            let mut conn = self.pool.get().await?;
            conn.client()?.version().await
        })
        .await
    }

    /// A bare `get` of a full key on the tier's pool: the raw bytes, no decoding. The demo
    /// times it next to a tier hit, as it does a bare Redis `GET`.
    pub async fn raw_get(&self, memcached_key: &str) -> Result<Option<Vec<u8>>, Error> {
        self.call(async {
            let mut conn = self.pool.get().await?;
            Ok(conn
                .client()?
                .get(memcached_key)
                .await?
                .and_then(|v| v.data))
        })
        .await
    }

    /// A bare `set` of raw bytes under a full key with a TTL in seconds (the demo stores a value
    /// over the item size limit with it, to show the refusal).
    pub async fn raw_set(
        &self,
        memcached_key: &str,
        value: &[u8],
        ttl_secs: u64,
    ) -> Result<(), Error> {
        self.call(async {
            let mut conn = self.pool.get().await?;
            conn.client()?
                .set(memcached_key, value, Some(ttl_secs as i64), None)
                .await
        })
        .await
    }

    /// The server's `stats` (every value as text: `threads`, `limit_maxbytes`, `evictions`, ...).
    pub async fn stats(&self) -> Result<std::collections::HashMap<String, String>, Error> {
        self.call(async {
            let mut conn = self.pool.get().await?;
            Ok(conn.client()?.stats().await?.into_iter().collect())
        })
        .await
    }

    /// Runs one operation under the timeout; any failure is "the cache is not there".
    async fn call<T>(
        &self,
        op: impl Future<Output = Result<T, async_memcached::Error>>,
    ) -> Result<T, Error> {
        self.try_call(op).await.map_err(Failure::into_error)
    }

    /// Runs one operation under the timeout and records whether the server answered. A refusal
    /// (`NOT_STORED`, `EXISTS`, `NOT_FOUND`, an error line) is an answer, not an outage, and is
    /// kept apart so the callers that expect one can act on it.
    async fn try_call<T>(
        &self,
        op: impl Future<Output = Result<T, async_memcached::Error>>,
    ) -> Result<T, Failure> {
        let result = match tokio::time::timeout(self.timeout, op).await {
            Ok(Ok(value)) => Ok(value),
            // Anything the server said, `SERVER_ERROR object too large` included, is an answer.
            Ok(Err(async_memcached::Error::Protocol(status))) => Err(Failure::Refused(status)),
            Ok(Err(e)) => Err(Failure::Unreachable(e.to_string())),
            Err(_) => Err(Failure::Unreachable(format!(
                "no answer within {} ms",
                self.timeout.as_millis()
            ))),
        };
        match &result {
            Ok(_) | Err(Failure::Refused(_)) => self.health.answered(),
            Err(Failure::Unreachable(why)) => self.health.unreachable(why),
        }
        result
    }

    fn encode(entry: &Entry) -> Result<Vec<u8>, Error> {
        serde_json::to_vec(entry)
            .map_err(|e| Error::Unexpected(anyhow::anyhow!("encoding a cache entry: {e}")))
    }

    /// A value this code cannot read is a miss, not an error (see `RedisTier::decode`).
    fn decode(raw: &[u8]) -> Option<Entry> {
        serde_json::from_slice(raw).ok()
    }

    async fn set(&self, key: &str, entry: &Entry, ttl: Duration) -> Result<(), Error> {
        let (key, value) = (self.memcached_key(key), Self::encode(entry)?);
        self.call(async {
            let mut conn = self.pool.get().await?;
            conn.client()?
                .set(&key, value.as_slice(), Some(ttl_secs(ttl) as i64), None)
                .await
        })
        .await
    }

    /// Stores `entry` unless the server holds a newer version: the optimistic loop described in
    /// the module docs. `Ok(false)`: a newer entry (value or tombstone) is there.
    async fn store_if_not_older(
        &self,
        key: &str,
        entry: &Entry,
        ttl: Duration,
    ) -> Result<bool, Error> {
        let (key, value) = (self.memcached_key(key), Self::encode(entry)?);
        let ttl_flag = format!("T{}", ttl_secs(ttl));
        for _ in 0..CAS_ATTEMPTS {
            // `v`: the value, `c`: its compare-and-swap token.
            let current = self
                .call(async {
                    let mut conn = self.pool.get().await?;
                    conn.client()?
                        .meta_get(&key, false, None, Some(&["v", "c"]))
                        .await
                })
                .await?;
            let condition = match &current {
                Some(found) => {
                    let stored = found.data.as_deref().and_then(Self::decode);
                    if !may_replace(stored.as_ref(), entry) {
                        return Ok(false);
                    }
                    match found.cas {
                        Some(token) => format!("C{token}"),
                        // Without a token there is nothing to compare against: refuse rather
                        // than write blindly over what may be newer.
                        None => return Ok(false),
                    }
                }
                // `ME`: mode add, store only if still absent.
                None => "ME".to_owned(),
            };
            let flags = [ttl_flag.as_str(), condition.as_str()];
            let written = self
                .try_call(async {
                    let mut conn = self.pool.get().await?;
                    conn.client()?
                        .meta_set(&key, value.as_slice(), false, None, Some(&flags))
                        .await
                })
                .await;
            match written {
                Ok(_) => return Ok(true),
                // Lost the race: another write changed the item (EX), it went away (NF), or
                // another `add` got there first (NS). Read again.
                Err(Failure::Refused(Status::Exists | Status::NotFound | Status::NotStored)) => {
                    continue;
                }
                Err(failure) => return Err(failure.into_error()),
            }
        }
        Err(Error::CacheUnavailable(format!(
            "{CAS_ATTEMPTS} compare-and-swap attempts lost to concurrent writers"
        )))
    }
}

/// Why a call failed: the server refused it (it answered), or it did not answer.
#[derive(Debug)]
enum Failure {
    Refused(Status),
    Unreachable(String),
}

impl Failure {
    fn into_error(self) -> Error {
        match self {
            Self::Refused(status) => {
                Error::CacheUnavailable(format!("memcached refused: {status}"))
            }
            Self::Unreachable(why) => Error::CacheUnavailable(why),
        }
    }
}

/// A physical TTL in whole seconds: rounded up (a 1.5 s TTL must not become 1 s), at least one
/// (0 means "never expires"), at most 30 days (beyond that Memcached reads a timestamp).
pub fn ttl_secs(ttl: Duration) -> u64 {
    let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    secs.clamp(1, MAX_RELATIVE_TTL_SECS)
}

#[async_trait]
impl Tier for MemcachedTier {
    fn name(&self) -> &'static str {
        "memcached"
    }

    async fn get(&self, key: &str) -> Result<Option<Arc<Entry>>, Error> {
        let key = self.memcached_key(key);
        let raw = self.raw_get(&key).await?;
        Ok(raw.as_deref().and_then(Self::decode).map(Arc::new))
    }

    async fn fill(&self, key: &str, entry: Entry, ttl: Duration) -> Result<(), Error> {
        self.set(key, &entry, ttl).await
    }

    async fn fill_if_not_older(
        &self,
        key: &str,
        entry: Entry,
        ttl: Duration,
    ) -> Result<bool, Error> {
        self.store_if_not_older(key, &entry, ttl).await
    }

    async fn put(&self, key: &str, entry: Entry, ttl: Duration) -> Result<(), Error> {
        self.set(key, &entry, ttl).await
    }

    async fn put_if_not_older(
        &self,
        key: &str,
        entry: Entry,
        ttl: Duration,
    ) -> Result<bool, Error> {
        self.store_if_not_older(key, &entry, ttl).await
    }

    async fn delete(&self, key: &str) -> Result<(), Error> {
        let key = self.memcached_key(key);
        let result = self
            .try_call(async {
                let mut conn = self.pool.get().await?;
                conn.client()?.delete(&key).await
            })
            .await;
        match result {
            // Deleting what is not there is the outcome a delete wants.
            Ok(()) | Err(Failure::Refused(Status::NotFound)) => Ok(()),
            Err(failure) => Err(failure.into_error()),
        }
    }

    async fn ensure_writable(&self) -> Result<(), Error> {
        if self.is_up() {
            return Ok(());
        }
        // The flag only changes when a call is made; the server may be back since the last one
        // failed, and one round trip decides.
        self.version().await.map(drop)
    }
}
