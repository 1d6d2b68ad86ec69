//! Redis reliable queue: jobs move atomically from `ready` to `inflight`, and stalled ones come back.
//!
//! Keys, all under one prefix (so a test or a tenant owns its own):
//!
//! ```text
//! <prefix>:ready      LIST  producers LPUSH, workers BLMOVE RIGHT→LEFT into inflight (FIFO)
//! <prefix>:inflight   LIST  jobs a worker holds; removed by ack, retry or dead-letter
//! <prefix>:leases     ZSET  inflight job → deadline (ms); the visibility timeout
//! <prefix>:delayed    ZSET  job → run-at (ms); delayed jobs and retries, promoted when due
//! <prefix>:dead       HASH  job id → {reason, payload}: the dead-letter queue
//! ```
//!
//! `BLMOVE` is the whole trick: taking a job and recording that someone holds it is one atomic
//! command, so there is no moment at which a crash loses it. (`BRPOP` would be at-most-once: the
//! job leaves Redis and lives only in the worker.) A reaper gives every in-flight job a lease and
//! moves jobs whose lease expired (their worker died, or is stuck) back to `ready`. That is SQS's
//! visibility timeout, and what Sidekiq Pro's `super_fetch` and BullMQ's stalled-job check do.
//! The cost of the timeout: a crashed worker's job waits that long before anyone retries it, and
//! a job slower than the timeout runs twice (so handlers must be idempotent anyway).
//!
//! A Redis Stream with a consumer group is the other reliable shape (`XADD`, `XREADGROUP`, `XACK`,
//! and `XAUTOCLAIM` reclaiming entries idle longer than the timeout). It also stands in for a
//! log-based broker such as Kafka: the stream is an append-only log that is kept after reading,
//! each consumer group has its own offset (last delivered id) into it, and a new group, or one
//! reset with `XGROUP SETID`, replays history. This file uses lists because a job queue wants
//! delete-on-ack; `redis_stream.rs` is the stream version behind the same trait, to diff.

use std::time::{Duration, Instant};

use deadpool_redis::{Config, Pool, Runtime};
use redis::AsyncCommands;
use uuid::Uuid;

use crate::job::{DeadLetter, Delivery, Job, Queue, QueueError, now_ms};
use crate::redis_dead_letters;

/// How long a worker blocks in `BLMOVE` before looking at timers again.
const BLOCK: Duration = Duration::from_millis(100);
/// Most delayed jobs promoted per call.
const PROMOTE_BATCH: u32 = 100;

/// Shortest block, so a worker never spins on Redis.
const MIN_BLOCK: Duration = Duration::from_millis(2);
/// Most connections in the pool: every worker blocks on one in `BLMOVE`, producers need others.
const POOL_SIZE: usize = 64;

/// Moves due jobs from `delayed` to `ready` in one step; returns the run-at time of the next
/// delayed job still waiting (-1 when none), so the worker blocks no longer than that.
const PROMOTE: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, job in ipairs(due) do
  redis.call('ZREM', KEYS[1], job)
  redis.call('LPUSH', KEYS[2], job)
end
local next = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #next == 0 then return -1 end
return tonumber(next[2])
";

/// Gives lease-less in-flight jobs a lease; moves those whose lease expired back to `ready`
/// (to its consuming end, so they run next).
const REAP: &str = r"
local now = tonumber(ARGV[1])
local visibility = tonumber(ARGV[2])
local reclaimed = 0
for _, job in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  local deadline = redis.call('ZSCORE', KEYS[3], job)
  if not deadline then
    redis.call('ZADD', KEYS[3], now + visibility, job)
  elseif tonumber(deadline) <= now then
    redis.call('LREM', KEYS[1], 1, job)
    redis.call('ZREM', KEYS[3], job)
    redis.call('RPUSH', KEYS[2], job)
    reclaimed = reclaimed + 1
  end
end
return reclaimed
";

/// The key names of one queue.
#[derive(Debug, Clone)]
struct Keys {
    ready: String,
    inflight: String,
    leases: String,
    delayed: String,
    dead: String,
}

/// A reliable queue in Redis.
pub struct RedisQueue {
    pool: Pool,
    keys: Keys,
    visibility: Duration,
    last_reap: std::sync::Mutex<Instant>,
    promote: redis::Script,
    reap: redis::Script,
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueue")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl RedisQueue {
    /// A queue under `prefix` (e.g. `jobs:mail`); in-flight jobs are reclaimed after `visibility`.
    pub async fn connect(
        url: &str,
        prefix: &str,
        visibility: Duration,
    ) -> Result<Self, QueueError> {
        let mut config = Config::from_url(url);
        config.pool = Some(deadpool_redis::PoolConfig::new(POOL_SIZE));
        let pool = config
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|e| QueueError::Other(e.to_string()))?;
        // Fail now, not at the first job, when Redis is not there.
        let mut conn = pool.get().await?;
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        let key = |suffix: &str| format!("{prefix}:{suffix}");
        Ok(Self {
            pool,
            keys: Keys {
                ready: key("ready"),
                inflight: key("inflight"),
                leases: key("leases"),
                delayed: key("delayed"),
                dead: key("dead"),
            },
            visibility,
            last_reap: std::sync::Mutex::new(Instant::now()),
            promote: redis::Script::new(PROMOTE),
            reap: redis::Script::new(REAP),
        })
    }

    /// Moves stalled jobs back to `ready` now; returns how many. Workers call this every half
    /// visibility timeout; tests and the demo may call it directly.
    pub async fn reap(&self) -> Result<u64, QueueError> {
        let mut conn = self.pool.get().await?;
        let reclaimed: u64 = self
            .reap
            .key(&self.keys.inflight)
            .key(&self.keys.ready)
            .key(&self.keys.leases)
            .arg(now_ms())
            .arg(crate::job::millis(self.visibility))
            .invoke_async(&mut conn)
            .await?;
        Ok(reclaimed)
    }

    fn reap_due(&self) -> bool {
        let mut last = self
            .last_reap
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.elapsed() >= self.visibility / 2 {
            *last = Instant::now();
            true
        } else {
            false
        }
    }

    /// Removes a delivery from `inflight` and `leases` and runs `then` in the same transaction.
    async fn settle(
        &self,
        delivery: &Delivery,
        then: impl FnOnce(&mut redis::Pipeline),
    ) -> Result<(), QueueError> {
        let member = receipt(delivery)?;
        let mut pipe = redis::pipe();
        pipe.atomic()
            .lrem(&self.keys.inflight, 1, member)
            .ignore()
            .zrem(&self.keys.leases, member)
            .ignore();
        then(&mut pipe);
        let mut conn = self.pool.get().await?;
        let () = pipe.query_async(&mut conn).await?;
        Ok(())
    }
}

fn receipt(delivery: &Delivery) -> Result<&Vec<u8>, QueueError> {
    delivery
        .receipt
        .downcast_ref::<Vec<u8>>()
        .ok_or_else(|| QueueError::Other("a delivery from another backend".to_owned()))
}

#[async_trait::async_trait]
impl Queue for RedisQueue {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn enqueue(&self, job: &Job) -> Result<(), QueueError> {
        let mut conn = self.pool.get().await?;
        if job.run_at_ms > now_ms() {
            let () = conn
                .zadd(&self.keys.delayed, job.encode(), job.run_at_ms)
                .await?;
        } else {
            let () = conn.lpush(&self.keys.ready, job.encode()).await?;
        }
        Ok(())
    }

    async fn enqueue_raw(&self, payload: Vec<u8>) -> Result<(), QueueError> {
        let mut conn = self.pool.get().await?;
        let () = conn.lpush(&self.keys.ready, payload).await?;
        Ok(())
    }

    async fn consume(&self) -> Result<Option<Delivery>, QueueError> {
        let mut conn = self.pool.get().await?;
        let next_due: i64 = self
            .promote
            .key(&self.keys.delayed)
            .key(&self.keys.ready)
            .arg(now_ms())
            .arg(PROMOTE_BATCH)
            .invoke_async(&mut conn)
            .await?;
        if self.reap_due() {
            drop(conn);
            self.reap().await?;
            conn = self.pool.get().await?;
        }
        let block = u64::try_from(next_due).map_or(BLOCK, |due| {
            Duration::from_millis(due.saturating_sub(now_ms())).clamp(MIN_BLOCK, BLOCK)
        });
        // The atomic hand-over: the job is never only in this process's memory.
        let taken: Option<Vec<u8>> = redis::cmd("BLMOVE")
            .arg(&self.keys.ready)
            .arg(&self.keys.inflight)
            .arg("RIGHT")
            .arg("LEFT")
            .arg(block.as_secs_f64())
            .query_async(&mut conn)
            .await?;
        let Some(payload) = taken else {
            return Ok(None);
        };
        // The lease starts now. A crash between BLMOVE and this ZADD leaves a lease-less job in
        // `inflight`; the reaper gives it one, so it is still reclaimed one timeout later.
        let deadline = now_ms() + crate::job::millis(self.visibility);
        let () = conn.zadd(&self.keys.leases, &payload, deadline).await?;
        Ok(Some(Delivery {
            payload: payload.clone(),
            receipt: Box::new(payload),
        }))
    }

    async fn ack(&self, delivery: Delivery) -> Result<(), QueueError> {
        self.settle(&delivery, |_| {}).await
    }

    async fn retry(
        &self,
        delivery: Delivery,
        next: &Job,
        _delay: Duration,
    ) -> Result<(), QueueError> {
        let (key, payload, due) = (self.keys.delayed.clone(), next.encode(), next.run_at_ms);
        self.settle(&delivery, |pipe| {
            pipe.zadd(key, payload, due).ignore();
        })
        .await
    }

    async fn dead_letter(&self, delivery: Delivery, reason: &str) -> Result<(), QueueError> {
        let (field, value) = redis_dead_letters::entry(&delivery.payload, reason)?;
        let key = self.keys.dead.clone();
        self.settle(&delivery, |pipe| {
            pipe.hset(key, field, value).ignore();
        })
        .await
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, QueueError> {
        redis_dead_letters::list(&self.pool, &self.keys.dead).await
    }

    async fn replay(&self, id: Uuid) -> Result<bool, QueueError> {
        let Some(job) = redis_dead_letters::job_to_replay(&self.pool, &self.keys.dead, id).await?
        else {
            return Ok(false);
        };
        let mut conn = self.pool.get().await?;
        let () = redis::pipe()
            .atomic()
            .hdel(&self.keys.dead, id.to_string())
            .ignore()
            .lpush(&self.keys.ready, job.encode())
            .ignore()
            .query_async(&mut conn)
            .await?;
        Ok(true)
    }

    async fn pending(&self) -> Result<u64, QueueError> {
        let mut conn = self.pool.get().await?;
        let (ready, inflight, delayed): (u64, u64, u64) = redis::pipe()
            .llen(&self.keys.ready)
            .llen(&self.keys.inflight)
            .zcard(&self.keys.delayed)
            .query_async(&mut conn)
            .await?;
        Ok(ready + inflight + delayed)
    }

    async fn crash(&self) {
        // Nothing: the state is in Redis, not in this client. That is the point.
    }

    async fn delete(&self) -> Result<(), QueueError> {
        let mut conn = self.pool.get().await?;
        let k = &self.keys;
        let () = conn
            .del(&[&k.ready, &k.inflight, &k.leases, &k.delayed, &k.dead])
            .await?;
        Ok(())
    }
}
