//! What the two Redis backends share: the connection pool, the delayed sorted set, the
//! dead-letter hash, and every settle path built on them (retry, dead-letter, replay).
//!
//! The list queue (`redis_list.rs`) and the stream (`redis_stream.rs`) differ in exactly two
//! places: how a job becomes *ready* (`LPUSH` onto a list, or `XADD` onto a log) and how a
//! delivery is *settled* (`LREM` from the in-flight list plus `ZREM` of its lease, or `XACK` in
//! the consumer group). Each backend says that much by implementing [`Shape`]; the functions here
//! do the rest once, so the two files show only what is really different between a queue and a
//! log. Neither backend imports the other.
//!
//! ```text
//! <prefix>:delayed   ZSET  job → run-at (ms); delayed jobs and retries, moved to ready when due
//! <prefix>:dead      HASH  job id → DeadLetter as JSON: the dead-letter queue
//! ```
//!
//! Every settle is one `MULTI`/`EXEC` pipeline: "ack this delivery and schedule its retry" (or
//! "ack and bury it") happens entirely or not at all, so a crash between the two can neither lose
//! the job nor leave it both in flight and scheduled.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use deadpool_redis::{Config, Connection, Pool, Runtime};
use redis::AsyncCommands;
use uuid::Uuid;

use crate::job::{DeadLetter, Delivery, Job, Queue, QueueError, now_ms};

/// How long a worker blocks (`BLMOVE`, `XREADGROUP`) before looking at timers again, by default.
/// A blocked command also holds its pooled connection: a command sent on that connection after
/// a worker stopped mid-block (shutdown) waits for the block to end, so shorter blocks make
/// shutdown quicker at the price of more idle round trips.
pub const DEFAULT_BLOCK: Duration = Duration::from_millis(100);
/// Shortest block, so a worker never spins on Redis.
const MIN_BLOCK: Duration = Duration::from_millis(2);
/// Most delayed jobs promoted per call.
pub(crate) const PROMOTE_BATCH: u32 = 100;
/// Most connections in the pool: every worker blocks on one, producers need others.
const POOL_SIZE: usize = 64;

/// The keys both shapes keep beside their ready list or log, and the pool that reaches them.
#[derive(Clone)]
pub(crate) struct Common {
    pub(crate) pool: Pool,
    pub(crate) delayed: String,
    pub(crate) dead: String,
    /// The longest a worker blocks waiting for a job.
    pub(crate) block: Duration,
}

impl std::fmt::Debug for Common {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Common")
            .field("delayed", &self.delayed)
            .field("dead", &self.dead)
            .finish_non_exhaustive()
    }
}

impl Common {
    /// A pool for `url`, checked with a `PING` so a missing Redis fails now, not at the first
    /// job; keys under `prefix`.
    pub(crate) async fn connect(url: &str, prefix: &str) -> Result<Self, QueueError> {
        let mut config = Config::from_url(url);
        config.pool = Some(deadpool_redis::PoolConfig::new(POOL_SIZE));
        let pool = config.create_pool(Some(Runtime::Tokio1))?;
        let mut conn = pool.get().await?;
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(Self {
            pool,
            delayed: format!("{prefix}:delayed"),
            dead: format!("{prefix}:dead"),
            block: DEFAULT_BLOCK,
        })
    }

    pub(crate) async fn conn(&self) -> Result<Connection, QueueError> {
        Ok(self.pool.get().await?)
    }

    /// Runs a pipeline built by a settle path.
    async fn run(&self, pipe: &redis::Pipeline) -> Result<(), QueueError> {
        let mut conn = self.conn().await?;
        let () = pipe.query_async(&mut conn).await?;
        Ok(())
    }

    /// Moves due jobs from `delayed` to the ready end with `promote` (a [`promote_script`]);
    /// returns how long a worker may block before the next delayed job is due.
    pub(crate) async fn promote(
        &self,
        promote: &redis::Script,
        ready: &str,
    ) -> Result<Duration, QueueError> {
        let mut conn = self.conn().await?;
        let next_due: i64 = promote
            .key(&self.delayed)
            .key(ready)
            .arg(now_ms())
            .arg(PROMOTE_BATCH)
            .invoke_async(&mut conn)
            .await?;
        let block = self.block.max(MIN_BLOCK);
        Ok(u64::try_from(next_due).map_or(block, |due| {
            Duration::from_millis(due.saturating_sub(now_ms())).clamp(MIN_BLOCK, block)
        }))
    }

    /// Jobs waiting in the delayed set.
    pub(crate) async fn delayed_len(&self) -> Result<u64, QueueError> {
        let mut conn = self.conn().await?;
        Ok(conn.zcard(&self.delayed).await?)
    }
}

/// A Lua script that moves due jobs from the delayed set (`KEYS[1]`) to the ready end
/// (`KEYS[2]`) with `push` (a line using the variable `job`), in one step, and returns the run-at
/// time of the next delayed job still waiting (-1 when none), so the worker blocks no longer than
/// that. One script per shape, because only the push differs.
pub(crate) fn promote_script(push: &str) -> redis::Script {
    redis::Script::new(&format!(
        r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, job in ipairs(due) do
  redis.call('ZREM', KEYS[1], job)
  {push}
end
local next = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #next == 0 then return -1 end
return tonumber(next[2])
"
    ))
}

/// What differs between the list queue and the stream; everything else is in this module,
/// including their one `Queue` implementation below.
#[async_trait::async_trait]
pub(crate) trait Shape: Send + Sync {
    /// The backend's name in tables and routes.
    fn name(&self) -> &'static str;

    fn common(&self) -> &Common;

    /// Adds "this payload is ready to run now" to `pipe` (`LPUSH` or `XADD`).
    fn push(&self, pipe: &mut redis::Pipeline, payload: &[u8]);

    /// Adds "this delivery is settled" to `pipe` (`LREM` + `ZREM`, or `XACK`).
    fn settle(&self, pipe: &mut redis::Pipeline, delivery: &Delivery) -> Result<(), QueueError>;

    /// `Queue::consume`: how a worker takes the next ready job (`BLMOVE` or `XREADGROUP`).
    async fn take(&self) -> Result<Option<Delivery>, QueueError>;

    /// `Queue::pending`: jobs accepted and not yet settled.
    async fn waiting(&self) -> Result<u64, QueueError>;

    /// `Queue::crash`: what a killed worker loses (nothing, for both: the state is in Redis).
    async fn crash(&self);

    /// `Queue::delete`: every key of this queue.
    async fn remove(&self) -> Result<(), QueueError>;
}

/// Both Redis backends are one `Queue`: the shape says how a job becomes ready and how a delivery
/// is settled, and the functions below do the rest once.
#[async_trait::async_trait]
impl<T: Shape> Queue for T {
    fn name(&self) -> &'static str {
        Shape::name(self)
    }

    async fn enqueue(&self, job: &Job) -> Result<(), QueueError> {
        enqueue(self, job).await
    }

    async fn enqueue_raw(&self, payload: Vec<u8>) -> Result<(), QueueError> {
        enqueue_raw(self, &payload).await
    }

    async fn consume(&self) -> Result<Option<Delivery>, QueueError> {
        self.take().await
    }

    async fn ack(&self, delivery: Delivery) -> Result<(), QueueError> {
        ack(self, &delivery).await
    }

    /// The next attempt's time is in `next.run_at_ms` (the backoff put it there); `_delay` is
    /// the same wait, relative, for brokers that schedule by TTL.
    async fn retry(
        &self,
        delivery: Delivery,
        next: &Job,
        _delay: Duration,
    ) -> Result<(), QueueError> {
        retry(self, &delivery, next).await
    }

    async fn dead_letter(&self, delivery: Delivery, reason: &str) -> Result<(), QueueError> {
        dead_letter(self, &delivery, reason).await
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, QueueError> {
        dead_letters(self).await
    }

    async fn replay(&self, id: Uuid) -> Result<bool, QueueError> {
        replay(self, id).await
    }

    async fn pending(&self) -> Result<u64, QueueError> {
        self.waiting().await
    }

    async fn crash(&self) {
        Shape::crash(self).await;
    }

    async fn delete(&self) -> Result<(), QueueError> {
        self.remove().await
    }
}

/// `enqueue`: a job not yet due waits in the delayed set, scored by its run-at time.
pub(crate) async fn enqueue(shape: &impl Shape, job: &Job) -> Result<(), QueueError> {
    let mut pipe = redis::pipe();
    if job.run_at_ms > now_ms() {
        pipe.zadd(&shape.common().delayed, job.encode(), job.run_at_ms)
            .ignore();
    } else {
        shape.push(&mut pipe, &job.encode());
    }
    shape.common().run(&pipe).await
}

/// `enqueue_raw`: the bytes go straight to the ready end, unparsed.
pub(crate) async fn enqueue_raw(shape: &impl Shape, payload: &[u8]) -> Result<(), QueueError> {
    let mut pipe = redis::pipe();
    shape.push(&mut pipe, payload);
    shape.common().run(&pipe).await
}

/// `ack`: settle and nothing else.
pub(crate) async fn ack(shape: &impl Shape, delivery: &Delivery) -> Result<(), QueueError> {
    let mut pipe = redis::pipe();
    pipe.atomic();
    shape.settle(&mut pipe, delivery)?;
    shape.common().run(&pipe).await
}

/// `retry`: settle this delivery and schedule the next attempt, atomically.
pub(crate) async fn retry(
    shape: &impl Shape,
    delivery: &Delivery,
    next: &Job,
) -> Result<(), QueueError> {
    let mut pipe = redis::pipe();
    pipe.atomic();
    shape.settle(&mut pipe, delivery)?;
    pipe.zadd(&shape.common().delayed, next.encode(), next.run_at_ms)
        .ignore();
    shape.common().run(&pipe).await
}

/// `dead_letter`: settle this delivery and record it in the dead-letter hash, atomically.
pub(crate) async fn dead_letter(
    shape: &impl Shape,
    delivery: &Delivery,
    reason: &str,
) -> Result<(), QueueError> {
    let entry = DeadLetter::new(&delivery.payload, reason);
    // Unreadable payloads have no id; they get a random field so none overwrites another.
    let field = entry.id.unwrap_or_else(Uuid::new_v4).to_string();
    let value = serde_json::to_string(&entry).map_err(QueueError::Encode)?;
    let mut pipe = redis::pipe();
    pipe.atomic();
    shape.settle(&mut pipe, delivery)?;
    pipe.hset(&shape.common().dead, field, value).ignore();
    shape.common().run(&pipe).await
}

/// `dead_letters`: every entry of the hash, oldest first. An entry this code cannot read (written
/// by another version) is skipped rather than failing the whole listing.
pub(crate) async fn dead_letters(shape: &impl Shape) -> Result<Vec<DeadLetter>, QueueError> {
    let mut conn = shape.common().conn().await?;
    let values: Vec<String> = conn.hvals(&shape.common().dead).await?;
    let mut entries: Vec<DeadLetter> = values
        .iter()
        .filter_map(|v| serde_json::from_str(v).ok())
        .collect();
    entries.sort_by_key(|e| e.at_ms);
    Ok(entries)
}

/// `replay`: the dead job, as a fresh first attempt, leaves the hash and becomes ready in one
/// transaction. `false` when there is no such entry.
pub(crate) async fn replay(shape: &impl Shape, id: Uuid) -> Result<bool, QueueError> {
    let common = shape.common();
    let mut conn = common.conn().await?;
    let value: Option<String> = conn.hget(&common.dead, id.to_string()).await?;
    let Some(value) = value else { return Ok(false) };
    let entry: DeadLetter = serde_json::from_str(&value).map_err(QueueError::Decode)?;
    let job = Job::decode(entry.payload.as_bytes())
        .map_err(QueueError::Decode)?
        .replayed();
    let mut pipe = redis::pipe();
    pipe.atomic().hdel(&common.dead, id.to_string()).ignore();
    shape.push(&mut pipe, &job.encode());
    let () = pipe.query_async(&mut conn).await?;
    Ok(true)
}

/// A chore a worker runs every so often from `consume` (the list's reaper, the stream's
/// `XAUTOCLAIM`): due when `every` has passed since it last ran.
#[derive(Debug)]
pub(crate) struct Every {
    every: Duration,
    last: Mutex<Instant>,
}

impl Every {
    /// Due first after `every`, or at once when `now` is true (a restarted process should pick
    /// up its predecessor's stalled jobs without waiting).
    pub(crate) fn new(every: Duration, now: bool) -> Self {
        let start = if now {
            Instant::now()
                .checked_sub(every)
                .unwrap_or_else(Instant::now)
        } else {
            Instant::now()
        };
        Self {
            every,
            last: Mutex::new(start),
        }
    }

    /// Whether the chore is due; if so, the clock restarts.
    pub(crate) fn due(&self) -> bool {
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.elapsed() >= self.every {
            *last = Instant::now();
            true
        } else {
            false
        }
    }
}

/// The receipt of `delivery` as the type this backend put there.
pub(crate) fn receipt<T: 'static>(delivery: &Delivery) -> Result<&T, QueueError> {
    delivery
        .receipt
        .downcast_ref::<T>()
        .ok_or(QueueError::ForeignDelivery)
}
