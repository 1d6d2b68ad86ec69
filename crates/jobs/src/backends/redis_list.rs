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
//! delete-on-ack; `redis_stream.rs` is the stream version behind the same trait, to diff. What the
//! two share (the delayed set, the dead-letter hash, retry, dead-letter and replay) is in
//! `redis_common.rs`; this file holds only what makes it a list.

use std::time::Duration;

use redis::AsyncCommands;

use super::redis_common::{self, Common, Every, Shape};
use crate::job::{Delivery, QueueError, millis, now_ms};

/// The ready end of the list is its left: producers `LPUSH`, workers take from the right.
const PUSH: &str = "redis.call('LPUSH', KEYS[2], job)";

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

/// The key names only the list uses (the delayed set and dead letters are in [`Common`]).
#[derive(Debug, Clone)]
struct Keys {
    ready: String,
    inflight: String,
    leases: String,
}

/// A reliable queue on Redis lists.
pub struct RedisList {
    common: Common,
    keys: Keys,
    visibility: Duration,
    /// The reaper runs every half visibility timeout, from whichever worker gets there first.
    reaper: Every,
    promote: redis::Script,
    reap: redis::Script,
}

impl std::fmt::Debug for RedisList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisList")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl RedisList {
    /// The same queue with workers blocking at most `block` for a job (default
    /// [`DEFAULT_BLOCK`](super::redis_common::DEFAULT_BLOCK)).
    pub fn with_block(mut self, block: Duration) -> Self {
        self.common.block = block;
        self
    }

    /// A queue under `prefix` (e.g. `jobs:mail`); in-flight jobs are reclaimed after `visibility`.
    pub async fn connect(
        url: &str,
        prefix: &str,
        visibility: Duration,
    ) -> Result<Self, QueueError> {
        let key = |suffix: &str| format!("{prefix}:{suffix}");
        Ok(Self {
            common: Common::connect(url, prefix).await?,
            keys: Keys {
                ready: key("ready"),
                inflight: key("inflight"),
                leases: key("leases"),
            },
            visibility,
            reaper: Every::new(visibility / 2, false),
            promote: redis_common::promote_script(PUSH),
            reap: redis::Script::new(REAP),
        })
    }

    /// Moves stalled jobs back to `ready` now; returns how many. Workers call this every half
    /// visibility timeout; tests and the demo may call it directly.
    pub async fn reap(&self) -> Result<u64, QueueError> {
        let mut conn = self.common.conn().await?;
        let reclaimed: u64 = self
            .reap
            .key(&self.keys.inflight)
            .key(&self.keys.ready)
            .key(&self.keys.leases)
            .arg(now_ms())
            .arg(millis(self.visibility))
            .invoke_async(&mut conn)
            .await?;
        Ok(reclaimed)
    }
}

#[async_trait::async_trait]
impl Shape for RedisList {
    fn common(&self) -> &Common {
        &self.common
    }

    fn push(&self, pipe: &mut redis::Pipeline, payload: &[u8]) {
        pipe.lpush(&self.keys.ready, payload).ignore();
    }

    fn settle(&self, pipe: &mut redis::Pipeline, delivery: &Delivery) -> Result<(), QueueError> {
        // The receipt is the exact list element: LREM needs it byte for byte.
        let member = redis_common::receipt::<Vec<u8>>(delivery)?;
        pipe.lrem(&self.keys.inflight, 1, member)
            .ignore()
            .zrem(&self.keys.leases, member)
            .ignore();
        Ok(())
    }

    fn name(&self) -> &'static str {
        "redis"
    }

    async fn take(&self) -> Result<Option<Delivery>, QueueError> {
        let block = self.common.promote(&self.promote, &self.keys.ready).await?;
        if self.reaper.due() {
            self.reap().await?;
        }
        let mut conn = self.common.conn().await?;
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
        let deadline = now_ms() + millis(self.visibility);
        let () = conn.zadd(&self.keys.leases, &payload, deadline).await?;
        Ok(Some(Delivery {
            payload: payload.clone(),
            receipt: Box::new(payload),
        }))
    }

    async fn waiting(&self) -> Result<u64, QueueError> {
        let mut conn = self.common.conn().await?;
        let (ready, inflight, delayed): (u64, u64, u64) = redis::pipe()
            .llen(&self.keys.ready)
            .llen(&self.keys.inflight)
            .zcard(&self.common.delayed)
            .query_async(&mut conn)
            .await?;
        Ok(ready + inflight + delayed)
    }

    async fn crash(&self) {
        // Nothing: the state is in Redis, not in this client. That is the point.
    }

    async fn remove(&self) -> Result<(), QueueError> {
        let mut conn = self.common.conn().await?;
        let (k, c) = (&self.keys, &self.common);
        let () = conn
            .del(&[&k.ready, &k.inflight, &k.leases, &c.delayed, &c.dead])
            .await?;
        Ok(())
    }
}
