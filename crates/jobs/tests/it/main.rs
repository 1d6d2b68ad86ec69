//! One integration-test binary for the jobs crate; each module is one concept.

mod crashes;
mod delivery;
mod http;
mod log;
mod retries;

use std::sync::Arc;
use std::time::Duration;

use jobs::backoff::Backoff;
use jobs::mail::MailSink;
use jobs::runner::JobRunner;
use jobs::worker::{WorkerOptions, WorkerPool};
use jobs::{BackendKind, JobsConfig, Queue};
use support::Service;
use support::testkit::{TestKeys, require, unique_name};

/// A queue of one backend with its own names, a mail sink and a runner; cleaned up by `finish`.
pub struct Harness {
    pub kind: BackendKind,
    pub config: JobsConfig,
    pub name: String,
    pub queue: Arc<dyn Queue>,
    pub runner: Arc<JobRunner>,
    pub sink: MailSink,
    _keys: Option<TestKeys>,
}

impl Harness {
    /// `None` (the test is skipped with a printed reason) when the backend's service is down.
    pub async fn new(kind: BackendKind, label: &str) -> anyhow::Result<Option<Self>> {
        let mut settings = support::Settings::from_env()?;
        let mut keys = None;
        let name = match kind {
            BackendKind::InProcess => unique_name(label),
            BackendKind::Redis | BackendKind::RedisStream => {
                let Some(url) = require(Service::Redis).await else {
                    return Ok(None);
                };
                let k = TestKeys::new(&url, label);
                let name = k.key("jobs");
                settings.redis_url = url;
                keys = Some(k);
                name
            }
            BackendKind::RabbitMq => {
                let Some(url) = require(Service::RabbitMq).await else {
                    return Ok(None);
                };
                settings.amqp_url = url;
                unique_name(label)
            }
        };
        let mut config = JobsConfig::new(settings);
        config.visibility_timeout = Duration::from_millis(300);
        config.backoff = Backoff {
            base: Duration::from_millis(30),
            factor: 2.0,
            max: Duration::from_secs(1),
            jitter: 0.2,
            max_attempts: 3,
        };
        let sink = MailSink::start(Duration::ZERO)?;
        let runner = Arc::new(JobRunner::new(sink.send_url()));
        let queue = kind.open(&config, &name).await?;
        Ok(Some(Self {
            kind,
            config,
            name,
            queue,
            runner,
            sink,
            _keys: keys,
        }))
    }

    /// Opens the same queue again, as a restarted worker process would.
    pub async fn reopen(&self) -> anyhow::Result<Arc<dyn Queue>> {
        Ok(self.kind.open(&self.config, &self.name).await?)
    }

    /// Starts `workers` workers on `queue`.
    pub fn workers(&self, queue: &Arc<dyn Queue>, workers: usize) -> WorkerPool {
        WorkerPool::start(
            queue.clone(),
            self.runner.clone(),
            WorkerOptions {
                workers,
                backoff: self.config.backoff,
                crash: None,
            },
        )
    }

    /// Deletes the queues and keys.
    pub async fn finish(self) -> anyhow::Result<()> {
        self.queue.delete().await?;
        Ok(())
    }
}

/// Waits for job `id` to finish, failing the test after a generous bound instead of hanging.
pub async fn finished(h: &Harness, id: uuid::Uuid) -> anyhow::Result<jobs::status::Status> {
    tokio::time::timeout(Duration::from_secs(20), h.runner.statuses.wait_finished(id))
        .await
        .map_err(|_| anyhow::anyhow!("job {id} did not finish on {}", h.kind.label()))
}
