//! BullMQ's job format in Redis, written from Rust: a Rust producer adds a job that a real BullMQ
//! `Worker` (Node.js) processes, and reads back the result and attempts that BullMQ keeps.
//!
//! A BullMQ queue `q` under prefix `bull` is a family of Redis keys, `bull:q:<suffix>`:
//!
//! ```text
//! bull:q:id          a counter: the next job id (INCR)
//! bull:q:<id>        a hash, the job: name, data (JSON text), opts (JSON text), timestamp,
//!                    delay, priority; then BullMQ adds processedOn, finishedOn, returnvalue
//!                    (JSON), failedReason, stacktrace (a JSON list), atm (attempts made),
//!                    ats (attempts started)
//! bull:q:wait        a list of waiting job ids (LPUSH in, the worker takes from the right)
//! bull:q:active      a list of the ids being processed; bull:q:<id>:lock holds the worker's token
//! bull:q:delayed     a sorted set of delayed ids (and retries with backoff)
//! bull:q:completed   a sorted set of finished ids, scored by finishedOn
//! bull:q:failed      a sorted set of ids that used all their attempts
//! bull:q:marker      a sorted set a worker blocks on (BZPOPMIN): "something is ready"
//! bull:q:events      a stream of what happened (added, waiting, active, completed, …)
//! bull:q:meta        a hash: paused, concurrency, opts.maxLenEvents
//! ```
//!
//! Adding a job is what BullMQ's own `addStandardJob` Lua script does for a plain job (no parent,
//! no delay, no priority, no deduplication), in one Lua script of our own so that it is atomic as
//! BullMQ's is: `INCR id`, `HSET` the job hash, `LPUSH` the id onto `wait`, `ZADD marker 0 "0"`
//! unless the queue is paused or at its concurrency limit (so a blocked worker wakes now, not at
//! its next poll), and the `added` and `waiting` events.
//!
//! **Why this crate does not also consume BullMQ jobs.** Producing needs five keys and a format that
//! BullMQ reads back with `Job.fromJSON`: data, not behaviour. Consuming is behaviour, and BullMQ
//! keeps all of it in Lua scripts that the Node.js library loads: `moveToActive` (11 keys: takes
//! the id from `wait` or the priority set, promotes due delayed jobs, applies the rate limiter,
//! writes a lock token with a TTL the worker must keep extending), `moveToFinished` (14 keys:
//! checks the token, stores the result, computes the retry and backoff, trims `completed` and
//! `failed` per `removeOnComplete`, releases parents of a flow, emits events, fetches the next
//! job), and a stalled-job checker that moves an active job whose lock lapsed back to `wait`.
//! Their arguments are msgpack-packed arrays whose layout changes between releases (the script
//! names carry their key counts because they change). A Rust worker re-implementing them would be
//! a fork of BullMQ's internals that its workers and dashboards trust blindly: one step wrong and
//! a Node worker's stalled checker steals the Rust worker's job (a test in `tests/it/bullmq.rs`
//! shows exactly that for a job taken without the lock), or a job is counted complete twice. The sound way is the one BullMQ's own ports take: run BullMQ's scripts, vendored per
//! version, through an official client library; a queue meant to be shared across languages is
//! better served by a protocol that is specified (AMQP with Celery's message, above, or the
//! crate's own Redis list and stream backends).
//!
//! Simplifications: jobs get numeric ids from the counter (BullMQ also accepts custom ids, then
//! checks for a duplicate); no delayed, prioritised, LIFO or flow jobs; `removeOnComplete` and
//! `removeOnFail` are left unset, so finished jobs stay until the test deletes its prefix.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use super::InteropError;

/// BullMQ's default key prefix.
pub const DEFAULT_PREFIX: &str = "bull";
/// BullMQ's default cap on the events stream (`opts.maxLenEvents` in the meta hash).
const MAX_EVENTS: u32 = 10_000;

/// The plain-job part of BullMQ's `addStandardJob`. KEYS: wait, meta, id, events, marker, active.
/// ARGV: the job key's prefix (`bull:q:`), name, timestamp, data JSON, opts JSON, default max events.
const ADD_JOB: &str = r#"
local jobId = tostring(redis.call("INCR", KEYS[3]))
local maxEvents = redis.call("HGET", KEYS[2], "opts.maxLenEvents")
if not maxEvents then
  maxEvents = ARGV[6]
  redis.call("HSET", KEYS[2], "opts.maxLenEvents", maxEvents)
end
local jobKey = ARGV[1] .. jobId
redis.call("HSET", jobKey, "name", ARGV[2], "data", ARGV[4], "opts", ARGV[5],
  "timestamp", ARGV[3], "delay", 0, "priority", 0)
redis.call("XADD", KEYS[4], "MAXLEN", "~", maxEvents, "*", "event", "added",
  "jobId", jobId, "name", ARGV[2])
local attrs = redis.call("HMGET", KEYS[2], "paused", "concurrency")
local held = attrs[1] ~= false
if not held and attrs[2] then
  held = redis.call("LLEN", KEYS[6]) >= tonumber(attrs[2])
end
redis.call("LPUSH", KEYS[1], jobId)
if not held then
  redis.call("ZADD", KEYS[5], 0, "0")
end
redis.call("XADD", KEYS[4], "MAXLEN", "~", maxEvents, "*", "event", "waiting", "jobId", jobId)
return jobId
"#;

/// How a failed attempt is delayed before the next (BullMQ's `backoff` option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Backoff {
    /// `fixed` or `exponential`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Milliseconds (the base, for exponential).
    pub delay: u64,
}

/// The job options this producer sets, stored as the `opts` JSON BullMQ reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct JobOptions {
    /// Attempts in total, the first included (BullMQ's default is 1: no retry).
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
}

/// Where a job is, by the set or list BullMQ keeps its id in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Waiting,
    Active,
    Delayed,
    Completed,
    Failed,
    /// The hash exists but the id is in none of the above (between two script steps, never
    /// observed outside one since each step is a script).
    Unknown,
}

/// A job as BullMQ keeps it, read back from Redis.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    pub id: String,
    pub name: String,
    pub state: JobState,
    pub data: Value,
    pub opts: Value,
    /// `atm`: attempts that finished (failed or succeeded).
    pub attempts_made: u32,
    /// `ats`: attempts a worker started.
    pub attempts_started: u32,
    /// `returnvalue`, parsed.
    pub return_value: Option<Value>,
    pub failed_reason: Option<String>,
    /// `stacktrace`: one entry per failed attempt.
    pub stacktrace: Vec<String>,
    /// The hash as stored, field by field, for showing it.
    pub fields: Vec<(String, String)>,
}

/// One pipelined read of a job: its hash, then its score in `completed`, `failed` and `delayed`,
/// then its position in `active` and `wait`.
type Lookup = (
    Vec<(String, String)>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<i64>,
    Option<i64>,
);

/// A BullMQ queue, seen from Rust: add jobs, read jobs.
#[derive(Clone)]
pub struct BullQueue {
    conn: redis::aio::ConnectionManager,
    prefix: String,
    name: String,
}

impl std::fmt::Debug for BullQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BullQueue")
            .field("prefix", &self.prefix)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl BullQueue {
    /// The queue `name` under key prefix `prefix` (BullMQ's `prefix` option; [`DEFAULT_PREFIX`]).
    pub async fn connect(url: &str, prefix: &str, name: &str) -> Result<Self, InteropError> {
        let client = redis::Client::open(url)?;
        let conn = redis::aio::ConnectionManager::new(client).await?;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
            name: name.to_owned(),
        })
    }

    /// `<prefix>:<name>:<suffix>`, the key scheme of every BullMQ key.
    pub fn key(&self, suffix: &str) -> String {
        format!("{}:{}:{suffix}", self.prefix, self.name)
    }

    /// Adds a job as BullMQ's `queue.add(name, data, opts)` would; returns its id.
    pub async fn add(
        &self,
        name: &str,
        data: &Value,
        opts: &JobOptions,
    ) -> Result<String, InteropError> {
        let opts = serde_json::to_string(opts).map_err(|e| InteropError::malformed("opts", e))?;
        let timestamp = crate::job::now_ms();
        let mut conn = self.conn.clone();
        let id: String = redis::Script::new(ADD_JOB)
            .key(self.key("wait"))
            .key(self.key("meta"))
            .key(self.key("id"))
            .key(self.key("events"))
            .key(self.key("marker"))
            .key(self.key("active"))
            .arg(self.key(""))
            .arg(name)
            .arg(timestamp)
            .arg(data.to_string())
            .arg(opts)
            .arg(MAX_EVENTS)
            .invoke_async(&mut conn)
            .await?;
        Ok(id)
    }

    /// Job `id` as BullMQ keeps it, or `None` if there is no such hash.
    pub async fn job(&self, id: &str) -> Result<Option<JobRecord>, InteropError> {
        let mut conn = self.conn.clone();
        let (fields, completed, failed, delayed, active, waiting): Lookup = redis::pipe()
            .hgetall(self.key(id))
            .zscore(self.key("completed"), id)
            .zscore(self.key("failed"), id)
            .zscore(self.key("delayed"), id)
            .cmd("LPOS")
            .arg(self.key("active"))
            .arg(id)
            .cmd("LPOS")
            .arg(self.key("wait"))
            .arg(id)
            .query_async(&mut conn)
            .await?;
        if fields.is_empty() {
            return Ok(None);
        }
        let state = if completed.is_some() {
            JobState::Completed
        } else if failed.is_some() {
            JobState::Failed
        } else if delayed.is_some() {
            JobState::Delayed
        } else if active.is_some() {
            JobState::Active
        } else if waiting.is_some() {
            JobState::Waiting
        } else {
            JobState::Unknown
        };
        let map: HashMap<&str, &str> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let json = |field: &'static str| -> Result<Option<Value>, InteropError> {
            map.get(field)
                .map(|text| {
                    serde_json::from_str(text).map_err(|e| InteropError::malformed(field, e))
                })
                .transpose()
        };
        let count = |field: &str| map.get(field).and_then(|n| n.parse().ok()).unwrap_or(0);
        let stacktrace = match json("stacktrace")? {
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|item| {
                    item.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| item.to_string())
                })
                .collect(),
            _ => Vec::new(),
        };
        Ok(Some(JobRecord {
            id: id.to_owned(),
            name: map.get("name").copied().unwrap_or_default().to_owned(),
            state,
            data: json("data")?.unwrap_or(Value::Null),
            opts: json("opts")?.unwrap_or(Value::Null),
            attempts_made: count("atm"),
            attempts_started: count("ats"),
            return_value: json("returnvalue")?,
            failed_reason: map.get("failedReason").map(|s| (*s).to_owned()),
            stacktrace,
            fields,
        }))
    }
}
