//! The shared tier: Redis through a deadpool-redis connection pool.
//!
//! Every instance sees the same entries (a write on one is visible to all), entries survive an
//! application restart, and a hit costs one network round trip plus decoding. When Redis goes
//! away, each call fails fast (a timeout bounds it), the strategy falls back to the store, and
//! this tier logs the change of state once, not once per request.
//!
//! **Writes during an outage.** Reads are the easy half of losing Redis. The hard half is a
//! write: the store takes the new title, the invalidation (`DEL`, or the versioned tombstone)
//! cannot reach Redis, and Redis, which kept its data through a partition, a paused server or a
//! failover to a replica, still holds the old title. When it answers again every reader gets the
//! old value until the entry's TTL runs out, although the write was acknowledged with a 200.
//!
//! This tier keeps a **repair journal**: every write-side call that fails (`put`, `delete`,
//! `put_if_not_older`, a pub/sub announcement) records what it owed Redis, one entry per key,
//! the newest winning. Redis is not trusted again until the journal is applied: every call
//! first replays it (a `DEL` for a plain invalidation, the tombstone through the same
//! never-go-backwards script for a versioned one, then the announcement), and while that fails
//! the call fails too, so the strategy keeps reading the store. A background task retries every
//! [`REPAIR_RETRY`] so that other instances, which never saw the failure, are not left reading
//! the old value until this instance happens to make a call.
//!
//! What it does not cover, said plainly: the journal lives in this process, so an instance that
//! crashes with repairs pending leaves those keys stale until their TTL (which is why TTLs stay
//! finite), and another instance can read the old value during the retry period after Redis
//! returns. A service that cannot accept either moves to a new key generation kept in the store,
//! or refuses the write, as [`WriteThrough`](crate::strategies::write_through::WriteThrough) does here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use deadpool_redis::{Pool, PoolConfig, Runtime, Timeouts};
use redis::FromRedisValue;

use crate::error::Error;
use crate::model::Entry;
use crate::tiers::{Health, Tier};

/// Stores `version|json` under `KEYS[1]` unless the stored version is newer, with a TTL, in one
/// atomic step: Redis runs a script without interleaving other commands. (Production would load
/// it once and call it by SHA with `EVALSHA`; sending it each time keeps this readable.)
///
/// Why a script: the rule is "compare, then write", and done from the client as a `GET` followed
/// by a `SET` it has a gap in which another instance's write (the writer's tombstone, say) can
/// land, and the `SET` then overwrites it with an older version: the very race the versioned fill
/// exists to stop. `WATCH`/`MULTI` would close the gap too, but a contended key makes the
/// transaction fail and the client retry; the script cannot fail that way. It reads the version
/// from the `version|` prefix rather than decoding the JSON, so it does not depend on the shape
/// of [`Entry`] (and a value without the prefix counts as older, so it is replaced).
const SET_IF_NOT_OLDER: &str = r"
local current = redis.call('GET', KEYS[1])
if current then
  local v = tonumber(string.match(current, '^(-?%d+)|'))
  if v and v > tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
";

/// How often a journal with pending repairs is retried in the background.
pub const REPAIR_RETRY: Duration = Duration::from_millis(100);

/// What a failed write owed Redis for one key.
///
/// Only the *effect* is kept, not the write: whatever was cached under the key is out of date,
/// and the fix is always to remove it (or, for the versioned strategies, to leave a tombstone no
/// older fill may pass). That makes a repair idempotent and safe to replay late or twice, and it
/// is why the newer value itself is never replayed: by the time Redis returns, the store may
/// already hold something newer still, and the next reader loads that.
#[derive(Debug, Clone, Default)]
struct Repair {
    /// `Some`: put this tombstone unless Redis holds something newer; `None`: delete the key.
    tombstone: Option<(Entry, Duration)>,
    /// A pub/sub message (channel, payload) that did not go out.
    announce: Option<(String, String)>,
}

/// The failed writes not yet applied, by full Redis key. `generation` counts changes, so a
/// replay removes only the entries it applied and not one recorded while it ran.
///
/// One entry per key, the newest winning: an outage of any length costs at most one entry per
/// key written during it, and the replay is as many round trips as keys, not as writes.
/// `retrying` says a background retry task is already running, so a burst of failed writes
/// starts one task, not one each.
#[derive(Debug, Default)]
struct Journal {
    pending: HashMap<String, (u64, Repair)>,
    generation: u64,
    retrying: bool,
}

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

/// A Redis-backed tier. Keys are `prefix + key`.
#[derive(Debug, Clone)]
pub struct RedisTier {
    pool: Pool,
    prefix: String,
    timeout: Duration,
    health: Arc<Health>,
    /// `None` for a tier that forgets failed writes (the behaviour the journal fixes, kept so the
    /// demo can show both).
    journal: Option<Arc<Mutex<Journal>>>,
    /// One replay at a time: concurrent callers wait for it instead of repeating it.
    replaying: Arc<tokio::sync::Mutex<()>>,
}

impl RedisTier {
    pub fn new(pool: Pool, prefix: impl Into<String>, timeout: Duration) -> Self {
        Self {
            pool,
            prefix: prefix.into(),
            timeout,
            health: Arc::new(Health::new("Redis")),
            journal: Some(Arc::new(Mutex::new(Journal::default()))),
            replaying: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// The same tier without a repair journal: an invalidation that fails is simply lost, and
    /// Redis is trusted again the moment it answers. Only for showing what the journal prevents.
    pub fn forgetting_failed_writes(mut self) -> Self {
        self.journal = None;
        self
    }

    /// Failed writes recorded and not yet applied to Redis.
    pub fn pending_repairs(&self) -> usize {
        self.journal
            .as_ref()
            .and_then(|j| j.lock().ok().map(|j| j.pending.len()))
            .unwrap_or(0)
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
        self.health.is_up()
    }

    /// Calls that failed and fell back.
    pub fn failures(&self) -> u64 {
        self.health.failures()
    }

    /// Runs `cmd` once the journal is applied: Redis is not trusted before that. Every command
    /// goes through here, reads included: a `GET` answered before the replay would return the
    /// value the failed invalidation should have removed, to this instance's own reader.
    async fn call<T: FromRedisValue>(&self, cmd: redis::Cmd) -> Result<T, Error> {
        self.replay().await?;
        self.call_now(cmd).await
    }

    /// Runs `cmd` without looking at the journal (the replay itself uses this).
    async fn call_now<T: FromRedisValue>(&self, cmd: redis::Cmd) -> Result<T, Error> {
        // The timeout covers getting a connection as well as the command: with Redis gone, the
        // pool's connect is what hangs (a dropped SYN waits for the kernel's retries).
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
        match &result {
            Ok(_) => self.health.answered(),
            Err(why) => self.health.unreachable(why),
        }
        result.map_err(Error::CacheUnavailable)
    }

    /// Records what a failed write owed Redis for `key` (a full Redis key), merged with what
    /// was already pending for it: the newest tombstone wins, an announcement is kept.
    fn record(
        &self,
        key: String,
        tombstone: Option<(Entry, Duration)>,
        announce: Option<(String, String)>,
    ) {
        let Some(journal) = &self.journal else { return };
        // A std mutex, not a tokio one: nothing awaits while it is held, and it is held for a
        // map insert. (A poisoned lock means a panic mid-insert; dropping the repair then is no
        // worse than the tier without a journal.)
        let Ok(mut j) = journal.lock() else { return };
        j.generation += 1;
        let generation = j.generation;
        let slot = j
            .pending
            .entry(key)
            .or_insert_with(|| (0, Repair::default()));
        slot.0 = generation;
        match (&slot.1.tombstone, tombstone) {
            (Some((old, _)), Some((new, ttl))) if new.version >= old.version => {
                slot.1.tombstone = Some((new, ttl));
            }
            (None, Some(new)) => slot.1.tombstone = Some(new),
            _ => {}
        }
        if announce.is_some() {
            slot.1.announce = announce;
        }
        if !j.retrying {
            j.retrying = true;
            drop(j);
            self.spawn_retry();
        }
    }

    /// Retries the journal every [`REPAIR_RETRY`] until it is empty, so that Redis is repaired
    /// soon after it returns even if this instance makes no call. Without it, another instance
    /// (which never saw the failure and trusts Redis at once) would read the old value for as
    /// long as this instance happened to stay idle.
    fn spawn_retry(&self) {
        let tier = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(REPAIR_RETRY).await;
                let _ = tier.replay().await;
                let Some(journal) = &tier.journal else { return };
                let Ok(mut j) = journal.lock() else { return };
                if j.pending.is_empty() {
                    j.retrying = false;
                    return;
                }
            }
        });
    }

    /// Applies every pending repair. Ok when the journal is empty afterwards.
    async fn replay(&self) -> Result<(), Error> {
        let Some(journal) = &self.journal else {
            return Ok(());
        };
        // The common case, Redis healthy and nothing owed, costs one uncontended lock.
        if journal.lock().map(|j| j.pending.is_empty()).unwrap_or(true) {
            return Ok(());
        }
        // A tokio mutex here, because the holder awaits Redis: callers arriving during a replay
        // wait for it rather than sending the same repairs again.
        let _one_at_a_time = self.replaying.lock().await;
        // Copied out of the std mutex, which must not be held across the awaits below; a write
        // that fails meanwhile is recorded with a newer generation and survives this replay.
        let snapshot: Vec<(String, u64, Repair)> = match journal.lock() {
            Ok(j) => j
                .pending
                .iter()
                .map(|(key, (generation, repair))| (key.clone(), *generation, repair.clone()))
                .collect(),
            Err(_) => return Ok(()),
        };
        // In any order, and stopping at the first failure: each repair is idempotent, so what
        // was applied before a failure is simply applied again next time.
        for (key, generation, repair) in snapshot {
            match &repair.tombstone {
                // The versioned path stays versioned: a plain DEL would let a slow reader's
                // older fill back in, the very race the tombstone exists to stop.
                Some((entry, ttl)) => {
                    self.call_now::<i64>(self.set_if_not_older_cmd(&key, entry, *ttl)?)
                        .await?;
                }
                None => {
                    let mut cmd = redis::cmd("DEL");
                    cmd.arg(&key);
                    self.call_now::<()>(cmd).await?;
                }
            }
            // After the key is repaired, not before: another instance that evicts on this message
            // and reloads from Redis must find the key gone, not the old value.
            if let Some((channel, message)) = &repair.announce {
                let mut cmd = redis::cmd("PUBLISH");
                cmd.arg(channel).arg(message);
                self.call_now::<()>(cmd).await?;
            }
            if let Ok(mut j) = journal.lock()
                && j.pending.get(&key).is_some_and(|(g, _)| *g == generation)
            {
                j.pending.remove(&key);
            }
        }
        tracing::info!("Redis repaired: the writes it missed while unreachable are applied");
        Ok(())
    }

    /// Publishes `message` on `channel` on behalf of a write to `key`; if it cannot, the
    /// announcement joins the key's repair and goes out when Redis answers again.
    pub async fn announce(&self, key: &str, channel: &str, message: String) -> Result<(), Error> {
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(channel).arg(&message);
        let result = self.call::<()>(cmd).await;
        if result.is_err() {
            self.record(
                self.redis_key(key),
                None,
                Some((channel.to_owned(), message)),
            );
        }
        result
    }

    /// `version|json`: the version in front, readable by [`SET_IF_NOT_OLDER`] without a JSON
    /// parser in Lua.
    fn encode(entry: &Entry) -> Result<Vec<u8>, Error> {
        let mut out = format!("{}|", entry.version).into_bytes();
        serde_json::to_writer(&mut out, entry)
            .map_err(|e| Error::Unexpected(anyhow::anyhow!("encoding a cache entry: {e}")))?;
        Ok(out)
    }

    /// Decodes `version|json`. A value this code cannot read is treated as a miss, not an error:
    /// after a deploy that changes [`Entry`], old entries are reloaded from the store instead of
    /// failing requests until they expire.
    pub fn decode(raw: &[u8]) -> Option<Entry> {
        let bar = raw.iter().position(|b| *b == b'|')?;
        serde_json::from_slice(&raw[bar + 1..]).ok()
    }

    fn set_if_not_older_cmd(
        &self,
        redis_key: &str,
        entry: &Entry,
        ttl: Duration,
    ) -> Result<redis::Cmd, Error> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(SET_IF_NOT_OLDER)
            .arg(1)
            .arg(redis_key)
            .arg(entry.version)
            .arg(Self::encode(entry)?)
            .arg(ttl.as_millis().max(1) as u64);
        Ok(cmd)
    }

    async fn set_if_not_older(
        &self,
        key: &str,
        entry: &Entry,
        ttl: Duration,
    ) -> Result<bool, Error> {
        let cmd = self.set_if_not_older_cmd(&self.redis_key(key), entry, ttl)?;
        let stored: i64 = self.call(cmd).await?;
        Ok(stored == 1)
    }

    async fn set(&self, key: &str, entry: &Entry, ttl: Duration) -> Result<(), Error> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.redis_key(key))
            .arg(Self::encode(entry)?)
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64);
        self.call::<()>(cmd).await
    }

    /// What a failed write owes: a versioned entry keeps its version (as a tombstone, so no
    /// older fill can follow it in); an unversioned one only needs the key gone. Never the value
    /// itself: see [`Repair`].
    fn owed(entry: &Entry, ttl: Duration, versioned: bool) -> Option<(Entry, Duration)> {
        versioned.then(|| (Entry::tombstone(entry.version, entry.expires_at_ms), ttl))
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
        // A failed fill owes nothing: the next reader misses and loads, which is correct.
        self.set(key, &entry, ttl).await
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
        let result = self.set(key, &entry, ttl).await;
        if result.is_err() {
            // A tombstone is the versioned invalidation; a plain value only needs the old gone.
            let versioned = entry.value.is_none();
            self.record(
                self.redis_key(key),
                Self::owed(&entry, ttl, versioned),
                None,
            );
        }
        result
    }

    async fn put_if_not_older(
        &self,
        key: &str,
        entry: Entry,
        ttl: Duration,
    ) -> Result<bool, Error> {
        let result = self.set_if_not_older(key, &entry, ttl).await;
        if result.is_err() {
            self.record(self.redis_key(key), Self::owed(&entry, ttl, true), None);
        }
        result
    }

    async fn delete(&self, key: &str) -> Result<(), Error> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.redis_key(key));
        let result = self.call::<()>(cmd).await;
        if result.is_err() {
            self.record(self.redis_key(key), None, None);
        }
        result
    }

    async fn ensure_writable(&self) -> Result<(), Error> {
        if self.journal.is_none() || (self.is_up() && self.pending_repairs() == 0) {
            return Ok(());
        }
        // Degraded: one round trip decides (it replays the journal first). A `PING` rather than
        // trusting the flag: the flag only changes when a call is made, and Redis may have come
        // back since the last one failed.
        self.call::<()>(redis::cmd("PING")).await
    }
}
