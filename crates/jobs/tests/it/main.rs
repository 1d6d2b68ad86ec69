//! One integration-test binary for the jobs crate; each module is one concept.
//!
//! Claims that every queue backend makes are written once, as an `async fn(BackendKind)`, and run
//! over [`BackendKind::ALL`] by [`on_every_backend`]; a backend whose service is down is skipped
//! with a printed reason (or fails the run under `BF_REQUIRE_SERVICES=1`). Every wait is bounded
//! ([`finished`], [`eventually`]) and fails with a message instead of hanging the suite.

mod bullmq;
mod celery;
mod crashes;
mod delivery;
mod http;
mod log;
mod peers;
mod retries;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use jobs::backends::rabbitmq::queue_names;
use jobs::backoff::Backoff;
use jobs::mail::MailSink;
use jobs::runner::JobRunner;
use jobs::status::{Status, Statuses};
use jobs::worker::{WorkerOptions, WorkerPool};
use jobs::{BackendKind, JobsConfig, Queue};
use support::Service;
use support::testkit::{TestKeys, require, unique_name};

/// The longest any test waits for one thing to happen before it fails.
pub const WAIT: Duration = Duration::from_secs(20);
/// How often a bounded poll looks again.
const POLL: Duration = Duration::from_millis(10);

/// A queue of one backend with its own names, a mail sink and a runner. `finish` deletes the
/// queues; if a test fails before it gets there, dropping the harness still does (Redis keys via
/// [`TestKeys`], RabbitMQ queues via [`RabbitCleanup`]).
pub struct Harness {
    pub kind: BackendKind,
    pub config: JobsConfig,
    pub name: String,
    pub queue: Arc<dyn Queue>,
    pub runner: Arc<JobRunner>,
    pub sink: MailSink,
    _keys: Option<TestKeys>,
    rabbit: Option<RabbitCleanup>,
}

impl Harness {
    /// `None` (the test is skipped with a printed reason) when the backend's service is down.
    pub async fn new(kind: BackendKind, label: &str) -> anyhow::Result<Option<Self>> {
        let mut settings = support::Settings::from_env()?;
        let (mut keys, mut rabbit) = (None, None);
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
                let name = unique_name(label);
                rabbit = Some(RabbitCleanup {
                    url: url.clone(),
                    name: name.clone(),
                });
                settings.amqp_url = url;
                name
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
            rabbit,
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

    /// Waits (bounded) for job `id` to reach `succeeded` or `dead`.
    pub async fn finished(&self, id: uuid::Uuid) -> anyhow::Result<Status> {
        finished(&self.runner.statuses, id)
            .await
            .with_context(|| format!("on {}", self.kind.label()))
    }

    /// Deletes the queues and keys.
    pub async fn finish(mut self) -> anyhow::Result<()> {
        self.queue.delete().await?;
        // Deleted already: nothing for the drop guard to do.
        self.rabbit = None;
        Ok(())
    }
}

/// Deletes a test's three RabbitMQ queues when dropped, so a test that fails midway (an assert
/// panics, a `?` returns early) leaves no queues behind on the broker. `Drop` cannot await, so it
/// runs the deletion on a thread with its own small runtime and waits for it.
struct RabbitCleanup {
    url: String,
    name: String,
}

impl Drop for RabbitCleanup {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        let deleting = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                use lapin::options::QueueDeleteOptions;
                let Ok(connection) =
                    lapin::Connection::connect(&url, lapin::ConnectionProperties::default()).await
                else {
                    return;
                };
                if let Ok(channel) = connection.create_channel().await {
                    let (main, retry, dead) = queue_names(&name);
                    for queue in [main, retry, dead] {
                        let _ = channel
                            .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                            .await;
                    }
                }
                let _ = connection.close(200, "test cleanup".into()).await;
            });
        });
        let _ = deleting.join();
    }
}

/// Runs `claim` on every queue backend in turn; an error names the backend it happened on.
pub async fn on_every_backend<F, Fut>(claim: F) -> anyhow::Result<()>
where
    F: Fn(BackendKind) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    on_backends(&BackendKind::ALL, claim).await
}

/// Runs `claim` on each of `kinds` in turn.
pub async fn on_backends<F, Fut>(kinds: &[BackendKind], claim: F) -> anyhow::Result<()>
where
    F: Fn(BackendKind) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    for &kind in kinds {
        claim(kind)
            .await
            .with_context(|| format!("on {}", kind.label()))?;
    }
    Ok(())
}

/// Waits for job `id` to reach `succeeded` or `dead`, failing after [`WAIT`] instead of hanging.
pub async fn finished(statuses: &Statuses, id: uuid::Uuid) -> anyhow::Result<Status> {
    tokio::time::timeout(WAIT, statuses.wait_finished(id))
        .await
        .map_err(|_| anyhow::anyhow!("job {id} did not finish within {WAIT:?}"))
}

/// Polls `check` until it is true, failing with `what` after [`WAIT`].
pub async fn eventually<F, Fut>(what: &str, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if check().await? {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "{what}: not within {WAIT:?}");
        tokio::time::sleep(POLL).await;
    }
}
