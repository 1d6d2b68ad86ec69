//! Redis Stream with a consumer group: a log that stands in for Kafka, used as a job queue.
//!
//! Keys, all under one prefix:
//!
//! ```text
//! <prefix>:log       STREAM  producers XADD; the group `workers` reads with XREADGROUP, acks with XACK
//! <prefix>:delayed   ZSET    job → run-at (ms); delayed jobs and retries, XADDed when due
//! <prefix>:dead      HASH    job id → {reason, payload}: the dead-letter queue
//! ```
//!
//! The difference from `redis_list.rs` is the shape of the storage. A list is a *queue*: taking
//! a job removes it, and once acked it is gone. A stream is a *log*: `XADD` appends an entry with
//! an ever-growing id, and reading never removes anything. What a consumer group keeps is an
//! **offset** (its `last-delivered-id`) plus a **pending entries list** (PEL): ids delivered to a
//! named consumer and not yet `XACK`ed. That gives the same reliability as the list queue:
//!
//! - `XREADGROUP … >` hands the next entry to this consumer *and* records it in the PEL, in one
//!   command, so there is no moment at which a crash loses it (the `BLMOVE` of the list queue);
//! - `XACK` removes it from the PEL (the entry itself stays in the log);
//! - `XAUTOCLAIM` gives entries idle in the PEL longer than the visibility timeout to another
//!   consumer: a dead worker's jobs come back. No lease bookkeeping or Lua reaper is needed: the
//!   PEL records the delivery time, which is why Redis added streams for exactly this.
//!
//! And it gives what a queue cannot: **replay**. Entries are kept after they are consumed, so a
//! second consumer group created at offset `0` reads the whole history (a new service, a fixed
//! bug, an audit), each group at its own pace, without touching the first group's offsets. That
//! is Kafka's model: topic = stream, consumer group = consumer group, offset = last-delivered-id.
//! What Kafka adds, and production would need: partitions (one stream is one ordered log on one
//! Redis node; Kafka splits a topic so consumers in a group scale out, ordered per key) and
//! retention by size or age (here the log grows until `XADD … MAXLEN ~ n` or `XTRIM` cuts it;
//! this module never trims, so its demo and tests can show the whole history).
//!
//! Shortcuts, said plainly: every opened instance is a new consumer name, and dead consumers
//! stay listed in the group (production runs `XGROUP DELCONSUMER` for consumers with an empty
//! PEL); delayed jobs use a sorted set beside the stream because streams have no delivery time.

use std::time::Duration;

use redis::AsyncCommands;
use redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamId, StreamInfoGroupsReply,
    StreamRangeReply, StreamReadOptions, StreamReadReply,
};
use uuid::Uuid;

use super::redis_common::{self, Common, Every, Shape};
use crate::job::{Delivery, QueueError, millis};

/// The consumer group the workers share.
pub const WORKER_GROUP: &str = "workers";
/// The field of a stream entry that holds the job's JSON.
const FIELD: &str = "job";
/// Entries read per round trip when replaying the log.
const REPLAY_BATCH: usize = 500;

/// A due job becomes ready by being appended to the log (`*`: Redis picks the next entry id).
fn push_line() -> String {
    format!("redis.call('XADD', KEYS[2], '*', '{FIELD}', job)")
}

/// The key only the stream uses (the delayed set and dead letters are in [`Common`]).
#[derive(Debug, Clone)]
struct Keys {
    log: String,
}

/// A consumer group's position in the log, as `XINFO GROUPS` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupOffset {
    /// The id of the last entry delivered to the group: its offset.
    pub last_delivered_id: String,
    /// Delivered to a consumer, not yet acknowledged.
    pub pending: usize,
    /// Entries in the log the group has not been given yet.
    pub lag: usize,
}

/// A job queue on a Redis Stream and a consumer group.
pub struct RedisStream {
    common: Common,
    keys: Keys,
    /// This instance's consumer name in the group (one per process, as a worker host would have).
    consumer: String,
    visibility: Duration,
    /// `XAUTOCLAIM` runs every half visibility timeout, and on the first consume.
    claimer: Every,
    promote: redis::Script,
}

impl std::fmt::Debug for RedisStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStream")
            .field("keys", &self.keys)
            .field("consumer", &self.consumer)
            .finish_non_exhaustive()
    }
}

impl RedisStream {
    /// The same queue with workers blocking at most `block` for a job (default
    /// [`DEFAULT_BLOCK`](super::redis_common::DEFAULT_BLOCK)).
    pub fn with_block(mut self, block: Duration) -> Self {
        self.common.block = block;
        self
    }

    /// The stream under `prefix`; entries idle unacked longer than `visibility` are reclaimed.
    pub async fn connect(
        url: &str,
        prefix: &str,
        visibility: Duration,
    ) -> Result<Self, QueueError> {
        let queue = Self {
            common: Common::connect(url, prefix).await?,
            keys: Keys {
                log: format!("{prefix}:log"),
            },
            consumer: format!("consumer-{}", Uuid::new_v4().simple()),
            visibility,
            // Claim on the first consume: a restarted process picks up its predecessor's jobs.
            claimer: Every::new(visibility / 2, true),
            promote: redis_common::promote_script(&push_line()),
        };
        // The workers' group starts at offset 0, so jobs added before it existed are not skipped.
        queue.create_group(WORKER_GROUP, "0").await?;
        Ok(queue)
    }

    /// Creates consumer group `group` at offset `from` (`0`: the start of the log, `$`: its end).
    /// `false` when the group already exists (its offset is left alone).
    pub async fn create_group(&self, group: &str, from: &str) -> Result<bool, QueueError> {
        let mut conn = self.common.conn().await?;
        let created: Result<(), redis::RedisError> = conn
            .xgroup_create_mkstream(&self.keys.log, group, from)
            .await;
        match created {
            Ok(()) => Ok(true),
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Where `group` is in the log.
    pub async fn offset(&self, group: &str) -> Result<Option<GroupOffset>, QueueError> {
        let mut conn = self.common.conn().await?;
        let info: StreamInfoGroupsReply = conn.xinfo_groups(&self.keys.log).await?;
        Ok(info
            .groups
            .into_iter()
            .find(|g| g.name == group)
            .map(|g| GroupOffset {
                last_delivered_id: g.last_delivered_id,
                pending: g.pending,
                lag: g.lag.unwrap_or(0),
            }))
    }

    /// Entries in the log, consumed or not.
    pub async fn log_len(&self) -> Result<u64, QueueError> {
        let mut conn = self.common.conn().await?;
        Ok(conn.xlen(&self.keys.log).await?)
    }

    /// Replays the log for consumer group `group`: creates it at offset 0 if new, then reads and
    /// acks every entry it has not seen, returning the payloads in log order. This is what a new
    /// downstream service (search indexer, analytics) does on its first start against Kafka.
    pub async fn replay_group(&self, group: &str) -> Result<Vec<Vec<u8>>, QueueError> {
        self.create_group(group, "0").await?;
        let mut conn = self.common.conn().await?;
        let options = StreamReadOptions::default()
            .group(group, "replayer")
            .count(REPLAY_BATCH);
        let mut payloads = Vec::new();
        loop {
            let reply: Option<StreamReadReply> = conn
                .xread_options(&[&self.keys.log], &[">"], &options)
                .await?;
            let entries: Vec<StreamId> = reply
                .into_iter()
                .flat_map(|r| r.keys)
                .flat_map(|k| k.ids)
                .collect();
            if entries.is_empty() {
                return Ok(payloads);
            }
            let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
            let _: usize = conn.xack(&self.keys.log, group, &ids).await?;
            payloads.extend(entries.iter().filter_map(|e| e.get::<Vec<u8>>(FIELD)));
        }
    }

    /// The log from entry id `from` on (`-` for the start), without any group: Kafka's "seek".
    pub async fn range_from(&self, from: &str) -> Result<Vec<Vec<u8>>, QueueError> {
        let mut conn = self.common.conn().await?;
        let reply: StreamRangeReply = conn.xrange(&self.keys.log, from, "+").await?;
        Ok(reply
            .ids
            .iter()
            .filter_map(|e| e.get::<Vec<u8>>(FIELD))
            .collect())
    }

    /// Takes over one entry another consumer left unacked longer than the visibility timeout.
    /// Workers call this every half timeout; tests may call it directly.
    pub async fn reclaim_one(&self) -> Result<Option<Delivery>, QueueError> {
        let mut conn = self.common.conn().await?;
        let reply: StreamAutoClaimReply = conn
            .xautoclaim_options(
                &self.keys.log,
                WORKER_GROUP,
                &self.consumer,
                millis(self.visibility),
                "0-0",
                StreamAutoClaimOptions::default().count(1),
            )
            .await?;
        Ok(reply.claimed.into_iter().next().map(delivery))
    }
}

/// A stream entry as a delivery: the payload, and the entry id as the receipt for `XACK`.
fn delivery(entry: StreamId) -> Delivery {
    Delivery {
        payload: entry.get::<Vec<u8>>(FIELD).unwrap_or_default(),
        receipt: Box::new(entry.id),
    }
}

#[async_trait::async_trait]
impl Shape for RedisStream {
    fn common(&self) -> &Common {
        &self.common
    }

    fn push(&self, pipe: &mut redis::Pipeline, payload: &[u8]) {
        pipe.xadd(&self.keys.log, "*", &[(FIELD, payload)]).ignore();
    }

    fn settle(&self, pipe: &mut redis::Pipeline, delivery: &Delivery) -> Result<(), QueueError> {
        // XACK only: the entry stays in the log, which is what makes replay possible.
        let id = redis_common::receipt::<String>(delivery)?;
        pipe.xack(&self.keys.log, WORKER_GROUP, &[id]).ignore();
        Ok(())
    }

    fn name(&self) -> &'static str {
        "redis-stream"
    }

    async fn take(&self) -> Result<Option<Delivery>, QueueError> {
        let block = self.common.promote(&self.promote, &self.keys.log).await?;
        // Stalled entries first: they have waited longest.
        if self.claimer.due()
            && let Some(reclaimed) = self.reclaim_one().await?
        {
            return Ok(Some(reclaimed));
        }
        let mut conn = self.common.conn().await?;
        // `>`: entries never delivered to this group. Delivery and the PEL record are one command.
        let options = StreamReadOptions::default()
            .group(WORKER_GROUP, &self.consumer)
            .count(1)
            .block(usize::try_from(block.as_millis()).unwrap_or(usize::MAX));
        let reply: Option<StreamReadReply> = conn
            .xread_options(&[&self.keys.log], &[">"], &options)
            .await?;
        Ok(reply
            .into_iter()
            .flat_map(|r| r.keys)
            .flat_map(|k| k.ids)
            .next()
            .map(delivery))
    }

    async fn waiting(&self) -> Result<u64, QueueError> {
        // Not the log's length (it keeps everything): the group's unread lag plus its PEL.
        let group = self.offset(WORKER_GROUP).await?;
        let delayed = self.common.delayed_len().await?;
        Ok(group.map_or(0, |g| (g.pending + g.lag) as u64) + delayed)
    }

    async fn crash(&self) {
        // Nothing: the log and the PEL are in Redis; the dead consumer's entries wait there.
    }

    async fn remove(&self) -> Result<(), QueueError> {
        let mut conn = self.common.conn().await?;
        let c = &self.common;
        let () = conn.del(&[&self.keys.log, &c.delayed, &c.dead]).await?;
        Ok(())
    }
}
