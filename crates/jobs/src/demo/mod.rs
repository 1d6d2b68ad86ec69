//! The demo: response time, throughput, the crash matrix, log versus queue, retries and dead
//! letters, and the bare broker's ceiling, each measured in this run against real services where
//! they are reachable.
//!
//! Each section is one file that measures, prints its table, records its typed figures with
//! `n.figures(..)` and returns them; [`closing`] writes "What you just saw" from those figures
//! alone. The sections run in the order [`demo`] lists them.

mod bare_ceiling;
pub mod closing;
mod crash_matrix;
mod response_time;
mod retries;
mod stream_replay;
mod throughput;
mod thumbnails;

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use support::demo::{DemoArgs, RunIds};
use support::narrate::Narrator;
use support::{Report, Service, Settings};
use uuid::Uuid;

pub use bare_ceiling::{Ceiling, CeilingRow};
pub use closing::Figures;
pub use crash_matrix::{CrashMatrix, CrashRow, Scenario};
pub use response_time::{ResponseRow, ResponseTime};
pub use retries::{Retries, RetryRow};
pub use stream_replay::{ListHeld, StreamHeld, StreamReplay};
pub use throughput::{Throughput, ThroughputRow};
pub use thumbnails::Thumbnails;

use crate::backends::synchronous::Synchronous;
use crate::config::{BackendKind, JobsConfig, QUEUE_PREFIX};
use crate::job::{Job, Queue, Task};
use crate::mail::{DEFAULT_LATENCY, MailSink};
use crate::runner::JobRunner;
use crate::status::Status;
use crate::worker::WorkerPool;
use crate::{AppState, run};

/// Latency of the demo's mail service.
const MAIL_LATENCY: Duration = DEFAULT_LATENCY;

/// What every section gets: the options, the configuration, the backends this run can reach,
/// the mail service, and the run's allocator of queue names.
pub struct Context {
    pub args: DemoArgs,
    pub config: JobsConfig,
    pub kinds: Vec<BackendKind>,
    pub sink: MailSink,
    pub ids: RunIds,
}

impl Context {
    /// This run's name for queue `label`: under the crate's prefix, unique to the run, so two
    /// runs (or the leftovers of a failed one) never share a queue.
    pub fn queue(&self, label: &str) -> String {
        self.ids.name(&format!("{QUEUE_PREFIX}_{label}"))
    }

    /// Whether this run can use `kind`.
    pub fn has(&self, kind: BackendKind) -> bool {
        self.kinds.contains(&kind)
    }
}

/// Runs the demo and returns its report.
pub async fn demo(settings: &Settings, args: &DemoArgs) -> anyhow::Result<Report> {
    let mut n = Narrator::new(
        "jobs",
        "Background jobs: faster responses, and what each queue promises when a worker dies",
        args,
    );
    let services = n
        .probe(
            settings,
            &[
                (Service::Redis, "the Redis reliable-queue rows are left out"),
                (
                    Service::RabbitMq,
                    "the RabbitMQ rows and the bare-broker ceiling are left out",
                ),
            ],
        )
        .await?;
    let mut config = JobsConfig::new(settings.clone());
    config.visibility_timeout = Duration::from_millis(args.pick(500, 300));
    // Quick runs block shorter in BLMOVE / XREADGROUP, so stopping a Redis pool (which waits
    // for the blocked command to end) does not cost a tenth of a second each time.
    config.redis_block = Duration::from_millis(args.pick(100, 20));
    let ctx = Context {
        args: args.clone(),
        config,
        kinds: BackendKind::available(&services),
        sink: MailSink::start(MAIL_LATENCY)?,
        // The demo changes no seeded rows: the allocator is here for its names.
        ids: RunIds::new(0..0),
    };

    let response = response_time::run(&mut n, &ctx).await?;
    let thumbnails = thumbnails::run(&mut n, &ctx).await?;
    let throughput = throughput::run(&mut n, &ctx).await?;
    let crashes = crash_matrix::run(&mut n, &ctx).await?;
    let stream = if ctx.has(BackendKind::RedisStream) {
        Some(stream_replay::run(&mut n, &ctx).await?)
    } else {
        None
    };
    let retries = retries::run(&mut n, &ctx).await?;
    let ceiling = if ctx.has(BackendKind::RabbitMq) {
        Some(bare_ceiling::run(&mut n, &ctx).await?)
    } else {
        None
    };
    closing::run(
        &mut n,
        &Figures {
            workers: ctx.config.workers,
            response,
            thumbnails,
            throughput,
            crashes,
            stream,
            retries,
            ceiling,
        },
    )?;
    n.finish(args.json.as_deref())
}

/// A server with one backend behind it (`None`: synchronous), its workers, and the pieces to
/// tear it down.
struct Running {
    server: support::server::RunningServer,
    pool: Option<WorkerPool>,
    queue: Arc<dyn Queue>,
}

impl Running {
    async fn start(
        config: &JobsConfig,
        backend: Option<BackendKind>,
        runner: &Arc<JobRunner>,
        name: &str,
    ) -> anyhow::Result<Self> {
        let (queue, pool) = match backend {
            None => (
                Arc::new(Synchronous::new(runner.clone())) as Arc<dyn Queue>,
                None,
            ),
            Some(kind) => {
                let queue = kind.open(config, name).await?;
                let pool =
                    WorkerPool::start(queue.clone(), runner.clone(), config.worker_options());
                (queue, Some(pool))
            }
        };
        let state = web::Data::new(AppState::new(queue.clone(), runner.clone()));
        let server = support::server::spawn(|l| run(l, state))?;
        Ok(Self {
            server,
            pool,
            queue,
        })
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.server.stop().await;
        if let Some(pool) = self.pool {
            // Aborted, not drained or shut down: the measured sign-ups left a backlog of 200 ms
            // emails that would take minutes to send, the mail sink is only a workload here, and
            // the queue is deleted next. (Even a zero-deadline shutdown waits for the emails in
            // flight.)
            pool.kill().await;
        }
        self.queue.delete().await?;
        Ok(())
    }
}

/// Enqueues `count` no-op jobs, `producers` at a time, and waits until all have finished.
async fn drain_batch(
    queue: Arc<dyn Queue>,
    runner: Arc<JobRunner>,
    count: u64,
    producers: usize,
) -> anyhow::Result<()> {
    let ids: Vec<Uuid> = futures_util::stream::iter(0..count)
        .map(|_| {
            let (queue, runner) = (queue.clone(), runner.clone());
            async move {
                let job = Job::new(Task::Noop);
                runner.statuses.queued(job.id, job.task.kind());
                queue.enqueue(&job).await.map(|()| job.id)
            }
        })
        .buffer_unordered(producers)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let mut waiting: FuturesUnordered<_> = ids
        .iter()
        .map(|id| runner.statuses.wait_finished(*id))
        .collect();
    while let Some(status) = waiting.next().await {
        anyhow::ensure!(status == Status::Succeeded, "a no-op job ended {status:?}");
    }
    Ok(())
}

/// Milliseconds of a duration, as a figure.
fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Microseconds of a duration, as a figure.
fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
