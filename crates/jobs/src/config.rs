//! Typed configuration, built once in `main` (or a test) and passed down.

use std::sync::Arc;
use std::time::Duration;

use support::{Service, Services, Settings};

use crate::backends::in_process::{self, InProcess};
use crate::backends::rabbitmq::RabbitQueue;
use crate::backends::redis_list::RedisList;
use crate::backends::redis_stream::RedisStream;
use crate::backoff::Backoff;
use crate::job::{Queue, QueueError};
use crate::worker::WorkerOptions;

/// Prefix of every Redis key and RabbitMQ queue this crate creates outside tests.
pub const QUEUE_PREFIX: &str = "jobs";

/// Everything the jobs service needs to know.
#[derive(Debug, Clone)]
pub struct JobsConfig {
    pub settings: Settings,
    /// Workers per pool (the same for every backend, so throughput is comparable).
    pub workers: usize,
    pub backoff: Backoff,
    /// Redis (list and stream): how long an in-flight job may go without an ack before it is handed to another worker.
    pub visibility_timeout: Duration,
    /// Redis (list and stream): the longest a worker blocks waiting for a job.
    pub redis_block: Duration,
    /// RabbitMQ: unacknowledged deliveries per consumer.
    pub prefetch: u16,
    /// In-process: jobs waiting before enqueue answers "full" (503).
    pub in_process_capacity: usize,
}

impl JobsConfig {
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            workers: 4,
            backoff: Backoff::default(),
            visibility_timeout: Duration::from_secs(5),
            redis_block: crate::backends::redis_common::DEFAULT_BLOCK,
            prefetch: 32,
            in_process_capacity: in_process::DEFAULT_CAPACITY,
        }
    }
}

impl JobsConfig {
    /// A worker pool as this configuration describes it, with no crash point.
    pub fn worker_options(&self) -> WorkerOptions {
        WorkerOptions {
            workers: self.workers,
            backoff: self.backoff,
            crash: None,
        }
    }
}

/// The backends that keep jobs in a queue (the synchronous baseline keeps none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    InProcess,
    Redis,
    /// A Redis Stream and a consumer group: the log-based shape (Kafka's).
    RedisStream,
    RabbitMq,
}

/// Figures name a backend by its table label.
impl serde::Serialize for BackendKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.label())
    }
}

impl BackendKind {
    pub const ALL: [BackendKind; 4] = [
        BackendKind::InProcess,
        BackendKind::Redis,
        BackendKind::RedisStream,
        BackendKind::RabbitMq,
    ];

    /// The backends whose service answered the probe (in-process always), in [`Self::ALL`]'s order.
    pub fn available(services: &Services) -> Vec<BackendKind> {
        Self::ALL
            .into_iter()
            .filter(|k| match k {
                BackendKind::InProcess => true,
                BackendKind::Redis | BackendKind::RedisStream => services.is_up(Service::Redis),
                BackendKind::RabbitMq => services.is_up(Service::RabbitMq),
            })
            .collect()
    }

    /// The name in tables.
    pub fn label(self) -> &'static str {
        match self {
            BackendKind::InProcess => "in-process",
            BackendKind::Redis => "redis",
            BackendKind::RedisStream => "redis-stream",
            BackendKind::RabbitMq => "rabbitmq",
        }
    }

    /// Opens queue `name` on this backend: a new in-memory queue, a Redis key prefix, or three
    /// RabbitMQ queues on a new connection. Opening the same name twice on Redis or RabbitMQ
    /// reaches the same jobs (a restarted worker process does exactly that).
    pub async fn open(self, config: &JobsConfig, name: &str) -> Result<Arc<dyn Queue>, QueueError> {
        Ok(match self {
            BackendKind::InProcess => {
                Arc::new(InProcess::with_capacity(config.in_process_capacity))
            }
            BackendKind::Redis => Arc::new(
                RedisList::connect(&config.settings.redis_url, name, config.visibility_timeout)
                    .await?
                    .with_block(config.redis_block),
            ),
            BackendKind::RedisStream => Arc::new(
                RedisStream::connect(&config.settings.redis_url, name, config.visibility_timeout)
                    .await?
                    .with_block(config.redis_block),
            ),
            BackendKind::RabbitMq => Arc::new(
                RabbitQueue::connect(&config.settings.amqp_url, name, config.prefetch).await?,
            ),
        })
    }
}
