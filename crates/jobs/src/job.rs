//! The job envelope and the one trait every backend implements.
//!
//! A [`Job`] is what travels through a queue: an id (the idempotency key), the task, which
//! attempt this is, when it was enqueued, when it may run, and a priority. It is JSON on the wire
//! so that `redis-cli` and the RabbitMQ management UI show something a person can read.
//!
//! The [`Queue`] trait is deliberately small: enqueue, consume, and the three ways a delivery can
//! end (ack, retry later, dead-letter). Each backend file implements it, so `synchronous.rs`,
//! `in_process.rs`, `redis_list.rs`, `redis_stream.rs` and `rabbitmq.rs` (all in `backends/`) can be
//! read side by side.

use std::any::Any;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The work itself. Tagged JSON: `{"kind":"welcome_email","to":"ada@example.com"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Task {
    /// I/O-bound: POST to the mail service and wait for its answer.
    WelcomeEmail { to: String },
    /// CPU-bound: decode an image, resize it, encode the result.
    Thumbnail {
        width: u32,
        height: u32,
        max_side: u32,
    },
    /// Nothing at all: measures the queue, not the work.
    Noop,
    /// Another application's task, by name, with its arguments: the queue carries it like any
    /// other job, and that application's own worker runs it (the capstone's follower
    /// notifications). [`JobRunner`](crate::runner::JobRunner) knows only the tasks above and
    /// refuses it, so a job sent to the wrong worker is dead-lettered, not silently dropped.
    Named {
        name: String,
        args: serde_json::Value,
    },
}

impl Task {
    /// A short name for tables and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Task::WelcomeEmail { .. } => "welcome_email",
            Task::Thumbnail { .. } => "thumbnail",
            Task::Noop => "noop",
            Task::Named { .. } => "named",
        }
    }
}

/// One job as it travels through a queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Unique per job and stable across retries and redeliveries: the idempotency key.
    pub id: Uuid,
    pub task: Task,
    /// Which attempt this delivery is, starting at 1.
    pub attempt: u32,
    /// Unix time in milliseconds when the job was first enqueued (end-to-end latency starts here).
    pub enqueued_at_ms: u64,
    /// Unix time in milliseconds before which the job must not run (0: at once).
    pub run_at_ms: u64,
    /// 0 (lowest) to [`MAX_PRIORITY`]; honoured by the RabbitMQ backend only.
    pub priority: u8,
}

/// Highest priority a job may ask for (RabbitMQ's `x-max-priority` of the main queue).
pub const MAX_PRIORITY: u8 = 9;

impl Job {
    /// A new job to run as soon as possible, attempt 1, priority 0.
    pub fn new(task: Task) -> Self {
        Self {
            id: Uuid::now_v7(),
            task,
            attempt: 1,
            enqueued_at_ms: now_ms(),
            run_at_ms: 0,
            priority: 0,
        }
    }

    /// The same job, not to run before `delay` from now.
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.run_at_ms = now_ms() + millis(delay);
        self
    }

    /// The same job with a priority (clamped to [`MAX_PRIORITY`]).
    pub fn with_priority(mut self, priority: u8) -> Self {
        self.priority = priority.min(MAX_PRIORITY);
        self
    }

    /// The next attempt of this job, due after `delay`.
    pub fn next_attempt(&self, delay: Duration) -> Self {
        Self {
            attempt: self.attempt + 1,
            run_at_ms: now_ms() + millis(delay),
            ..self.clone()
        }
    }

    /// The same job as a fresh first attempt (replaying a dead letter).
    pub fn replayed(&self) -> Self {
        Self {
            attempt: 1,
            run_at_ms: 0,
            ..self.clone()
        }
    }

    /// How long until the job may run (zero when it is due).
    pub fn delay_left(&self) -> Duration {
        Duration::from_millis(self.run_at_ms.saturating_sub(now_ms()))
    }

    /// The wire format.
    pub fn encode(&self) -> Vec<u8> {
        // A struct of strings and integers always serialises.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses the wire format; a malformed payload is an error, never a panic.
    pub fn decode(payload: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(payload)
    }
}

/// A job taken from a queue and not yet settled. `receipt` is whatever the backend needs to
/// settle it (the list element for Redis, the AMQP acker for RabbitMQ), opaque to the worker.
pub struct Delivery {
    pub payload: Vec<u8>,
    pub receipt: Box<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("payload", &String::from_utf8_lossy(&self.payload))
            .finish_non_exhaustive()
    }
}

/// An entry of the dead-letter queue: what was received, and why it was given up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The job id, when the payload was readable enough to have one.
    pub id: Option<Uuid>,
    pub reason: String,
    /// The payload exactly as received (it may be malformed).
    pub payload: String,
    /// Unix time in milliseconds when it was dead-lettered.
    pub at_ms: u64,
}

impl DeadLetter {
    /// A dead letter for `payload`, reading the job id if it can.
    pub fn new(payload: &[u8], reason: &str) -> Self {
        Self {
            id: Job::decode(payload).ok().map(|j| j.id),
            reason: reason.to_owned(),
            payload: String::from_utf8_lossy(payload).into_owned(),
            at_ms: now_ms(),
        }
    }
}

/// Why one attempt of a job failed: the job's own failure kinds. Every variant is retried; after
/// the last attempt the job is dead-lettered with this as its reason.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The mail service answered, with a status that is not a success (a bounce, an outage).
    #[error("mail service answered {0}")]
    MailRefused(u16),
    /// The mail service could not be reached, or did not answer in time.
    #[error("mail service unreachable: {0}")]
    MailUnreachable(#[source] reqwest::Error),
    /// The image could not be decoded, resized or encoded.
    #[error("thumbnail failed: {0}")]
    Image(#[from] image::ImageError),
    /// The blocking thread that ran the resize panicked or was cancelled.
    #[error("thumbnail thread failed: {0}")]
    WorkerThread(#[from] tokio::task::JoinError),
    /// A [`Task::Named`] job reached this runner, which does not know the task.
    #[error("no handler for the task {0:?} here")]
    UnknownTask(String),
}

/// A queue operation failed: what failed, typed, so callers can answer each case on purpose.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Redis is unreachable or refused a command.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// No Redis connection could be had from the pool (Redis is unreachable, or the pool is
    /// exhausted for longer than its timeout).
    #[error("redis pool: {0}")]
    Pool(#[from] deadpool_redis::PoolError),
    /// The Redis URL could not be turned into a pool.
    #[error("redis pool configuration: {0}")]
    PoolConfig(#[from] deadpool_redis::CreatePoolError),
    /// RabbitMQ is unreachable, or the channel or connection failed.
    #[error("rabbitmq: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("the broker refused the message (publisher confirm was a nack)")]
    Nacked,
    /// The queue stopped accepting jobs (graceful shutdown), or its consumer stream ended.
    #[error("the queue is closed")]
    Closed,
    /// The bounded in-process queue is at capacity: backpressure, the caller should retry later.
    #[error("the queue is full")]
    Full,
    /// A record could not be written as JSON (a dead-letter entry).
    #[error("encoding a queue record: {0}")]
    Encode(#[source] serde_json::Error),
    /// A stored payload or record could not be read back (a dead letter being replayed).
    #[error("decoding a stored payload: {0}")]
    Decode(#[source] serde_json::Error),
    /// A delivery was settled on a backend other than the one that handed it out.
    #[error("a delivery from another backend")]
    ForeignDelivery,
    /// The backend has no queue to put raw bytes on (the synchronous baseline).
    #[error("the {0} backend has no queue")]
    NoQueue(&'static str),
    /// The synchronous backend ran the job in the caller and it failed.
    #[error("the job failed: {0}")]
    JobFailed(#[from] JobError),
}

/// The contract every backend implements. A worker calls `consume`, runs the job, then settles
/// the delivery exactly one way: `ack` (done), `retry` (run again later) or `dead_letter` (give up).
#[async_trait::async_trait]
pub trait Queue: Send + Sync {
    /// The backend's name in tables.
    fn name(&self) -> &'static str;

    /// Puts a job on the queue (honouring `run_at_ms` and `priority` where supported). Returns
    /// once the backend has it: in memory, in Redis, or confirmed by RabbitMQ.
    async fn enqueue(&self, job: &Job) -> Result<(), QueueError>;

    /// Puts raw bytes on the queue: how a buggy producer or an old version sends a bad payload.
    async fn enqueue_raw(&self, payload: Vec<u8>) -> Result<(), QueueError>;

    /// Waits a short while for the next delivery; `None` when nothing came.
    async fn consume(&self) -> Result<Option<Delivery>, QueueError>;

    /// The job is done: forget it.
    async fn ack(&self, delivery: Delivery) -> Result<(), QueueError>;

    /// The job failed and will run again: settle `delivery` and schedule `next` after `delay`.
    async fn retry(
        &self,
        delivery: Delivery,
        next: &Job,
        delay: Duration,
    ) -> Result<(), QueueError>;

    /// Give up: move the delivery to the dead-letter queue with `reason`.
    async fn dead_letter(&self, delivery: Delivery, reason: &str) -> Result<(), QueueError>;

    /// What is in the dead-letter queue (without removing it).
    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, QueueError>;

    /// Moves the dead letter of job `id` back onto the queue as a fresh first attempt.
    /// `false` when there is no such dead letter.
    async fn replay(&self, id: Uuid) -> Result<bool, QueueError>;

    /// Jobs waiting, delayed or in flight, as far as the backend can tell.
    async fn pending(&self) -> Result<u64, QueueError>;

    /// Graceful shutdown, first step: refuse new jobs (`enqueue` answers [`QueueError::Closed`]),
    /// while retries of jobs already accepted are still taken. Brokers need nothing here: a
    /// stopping worker process simply stops consuming, and producers elsewhere carry on.
    async fn close(&self) {}

    /// Whether graceful shutdown must finish the queued jobs before the workers stop. True only
    /// where the queue dies with the process (in-process): a broker keeps the backlog for the
    /// next process, so its workers stop at once.
    fn drains_on_shutdown(&self) -> bool {
        false
    }

    /// Graceful shutdown, after the workers settled what they held: hand back anything the
    /// client took from the broker but never gave to a worker (RabbitMQ's prefetched messages).
    async fn release(&self) {}

    /// What a process crash does to this client: the in-process queue loses its memory, the
    /// RabbitMQ connection drops (the broker requeues unacknowledged messages), Redis notices
    /// nothing (stalled jobs wait in the in-flight list for their visibility timeout).
    async fn crash(&self);

    /// Removes every queue or key this instance created (tests and demos clean up after themselves).
    async fn delete(&self) -> Result<(), QueueError>;
}

impl std::fmt::Debug for dyn Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, millis)
}

/// A duration in whole milliseconds, saturating.
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
