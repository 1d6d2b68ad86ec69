//! The demo: response time, throughput, the crash matrix, retries and dead letters, and the bare
//! broker's ceiling, each measured in this run against real services where they are reachable.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::web;
use anyhow::Context as _;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde_json::json;
use support::demo::DemoArgs;
use support::measure::measure;
use support::narrate::Narrator;
use support::report::{Cell, Table, Unit};
use support::{Plan, Report, Service, Services, Settings};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::backoff::Backoff;
use crate::bare::{self, AckMode};
use crate::config::{BackendKind, JobsConfig, QUEUE_PREFIX};
use crate::job::{Job, Queue, Task};
use crate::mail::{BOUNCE_MARKER, MailSink};
use crate::backends::redis_stream::{RedisStream, WORKER_GROUP};
use crate::runner::JobRunner;
use crate::status::Status;
use crate::backends::synchronous::Synchronous;
use crate::worker::{Crash, CrashPoint, WorkerOptions, WorkerPool};
use crate::{AppState, run};

/// Latency of the demo's mail service.
const MAIL_LATENCY: Duration = Duration::from_millis(200);
/// Requests in flight at once when measuring response time.
const CLIENTS: usize = 4;
/// Enqueues in flight at once when measuring throughput.
const PRODUCERS: usize = 64;

/// One run's queue name for `what` on this run: under the crate's prefix, unique per run.
fn queue_name(run: &str, what: &str) -> String {
    format!("{QUEUE_PREFIX}.demo.{run}.{what}")
}

/// The queue backends this run can use.
fn available(services: &Services) -> Vec<BackendKind> {
    BackendKind::ALL
        .into_iter()
        .filter(|k| match k {
            BackendKind::InProcess => true,
            BackendKind::Redis | BackendKind::RedisStream => services.is_up(Service::Redis),
            BackendKind::RabbitMq => services.is_up(Service::RabbitMq),
        })
        .collect()
}

/// Runs the demo and returns its report.
pub async fn demo(settings: &Settings, args: &DemoArgs) -> anyhow::Result<Report> {
    let mut n = Narrator::new(
        "jobs",
        "Background jobs: faster responses, and what each queue promises when a worker dies",
        args,
    );
    let services = Services::probe_only(settings, &[Service::Redis, Service::RabbitMq]).await;
    n.services(
        &services,
        &[
            (Service::Redis, "the Redis reliable-queue rows are left out"),
            (
                Service::RabbitMq,
                "the RabbitMQ rows and the bare-broker ceiling are left out",
            ),
        ],
    );
    if settings.require_services && services.up().len() < 2 {
        anyhow::bail!("BF_REQUIRE_SERVICES=1 and Redis or RabbitMQ is unreachable");
    }
    let kinds = available(&services);
    let mut config = JobsConfig::new(settings.clone());
    config.visibility_timeout = Duration::from_millis(args.pick(500, 300));
    let run = Uuid::new_v4().simple().to_string()[..8].to_owned();
    let sink = MailSink::start(MAIL_LATENCY)?;

    let response = response_time(&mut n, args, &config, &kinds, &sink, &run).await?;
    let throughput = throughput(&mut n, args, &config, &kinds, &sink, &run).await?;
    let crashes = crash_matrix(&mut n, &config, &kinds, &sink, &run).await?;
    if kinds.contains(&BackendKind::RedisStream) {
        log_vs_queue(&mut n, args, &config, &sink, &run).await?;
    }
    retries(&mut n, args, &config, &kinds, &sink, &run).await?;
    let ceiling = if services.is_up(Service::RabbitMq) {
        Some(bare_ceiling(&mut n, args, &config, &sink, &run).await?)
    } else {
        None
    };
    summary(&mut n, &response, &throughput, &crashes, ceiling.as_ref());
    n.finish(args.json.as_deref())
}

/// A server with one backend behind it, its workers, and the pieces to tear it down.
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
                let pool = WorkerPool::start(queue.clone(), runner.clone(), options(config, None));
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
            // No drain: the measured sign-ups left a backlog of 200 ms emails that would take
            // minutes to send, and the mail sink is only a workload here.
            pool.shutdown_within(Duration::ZERO).await;
        }
        self.queue.delete().await?;
        Ok(())
    }
}

fn options(config: &JobsConfig, crash: Option<Crash>) -> WorkerOptions {
    WorkerOptions {
        workers: config.workers,
        backoff: config.backoff,
        crash,
    }
}

async fn response_time(
    n: &mut Narrator,
    args: &DemoArgs,
    config: &JobsConfig,
    kinds: &[BackendKind],
    sink: &MailSink,
    run: &str,
) -> anyhow::Result<Table> {
    n.section("Response time: send the welcome email in the handler, or enqueue it");
    n.say(&format!(
        "POST /signup, {CLIENTS} clients at once. The mail service answers after {} ms. \
         Synchronously, the handler waits for it and answers 201; with a queue, it stores the job \
         and answers 202 Accepted with a job id and a Location to poll (GET /jobs/{{id}}), while \
         {} workers send the emails in the background.",
        MAIL_LATENCY.as_millis(),
        config.workers
    ));
    sink.state.set_latency(MAIL_LATENCY);
    let client = reqwest::Client::new();
    let counter = AtomicU64::new(0);
    let mut table = Table::latency("sign-up, email sent by")
        .column("status", Unit::Text)
        .column("speed-up (p50)", Unit::Ratio);
    let mut sync_p50 = None;
    let modes: Vec<Option<BackendKind>> = std::iter::once(None)
        .chain(kinds.iter().copied().map(Some))
        .collect();
    for mode in modes {
        let runner = Arc::new(JobRunner::new(sink.send_url()));
        let label = mode.map_or("synchronous", BackendKind::label);
        let running = Running::start(config, mode, &runner, &queue_name(run, "signup")).await?;
        let url = running.server.url("/signup");
        let plan = match mode {
            None => Plan::iterations(args.pick(40, 8)).warmup(CLIENTS as u64),
            Some(_) => Plan::iterations(args.pick(2000, 200)).warmup(50),
        }
        .concurrency(CLIENTS)
        .budget(Duration::from_secs(args.pick(10, 3)));
        let status = std::sync::Mutex::new(0u16);
        let m = measure(plan, |_| {
            let email = format!(
                "user{}@example.com",
                counter.fetch_add(1, Ordering::Relaxed)
            );
            let request = client.post(&url).json(&json!({ "email": email })).send();
            let status = &status;
            async move {
                let response = request.await?;
                if let Ok(mut s) = status.lock() {
                    *s = response.status().as_u16();
                }
                response.error_for_status().map(|_| ())
            }
        })
        .await;
        let code = status.lock().map(|s| *s).unwrap_or_default();
        let p50 = m.p50.as_secs_f64();
        let base = *sync_p50.get_or_insert(p50);
        table.row_measured(
            label,
            &m,
            [Cell::from(code.to_string()), Cell::from(base / p50)],
        );
        running.stop().await?;
    }
    n.table(table.clone());
    n.say(
        "The synchronous row is the mail service's latency plus the request; the queue rows are \
         the cost of handing the job over: a channel send, a Redis LPUSH or XADD, or a RabbitMQ publish \
         waited for until the broker confirmed it. The user no longer waits for the email.",
    );
    thumbnails(n, args, config, sink).await?;
    Ok(table)
}

/// The CPU-bound job: the same comparison for POST /thumbnails.
async fn thumbnails(
    n: &mut Narrator,
    args: &DemoArgs,
    config: &JobsConfig,
    sink: &MailSink,
) -> anyhow::Result<()> {
    let (width, height, max_side) = args.pick((1600u32, 1200u32, 200u32), (480, 360, 100));
    n.say(&format!(
        "The CPU-bound job: POST /thumbnails draws a {width}×{height} PNG (standing in for the \
         upload), decodes it, resizes it to fit {max_side}×{max_side} with a Lanczos filter and \
         encodes the result, on a blocking thread (spawn_blocking) in both cases: synchronously \
         the handler awaits it, enqueued (in-process) a worker does."
    ));
    let client = reqwest::Client::new();
    let body = json!({ "width": width, "height": height, "max_side": max_side });
    let mut table = Table::latency("thumbnail, made by")
        .column("status", Unit::Text)
        .ratio_against("p50", "synchronous");
    for mode in [None, Some(BackendKind::InProcess)] {
        let runner = Arc::new(JobRunner::new(sink.send_url()));
        let running = Running::start(config, mode, &runner, "thumbnails").await?;
        let url = running.server.url("/thumbnails");
        let plan = match mode {
            None => Plan::iterations(args.pick(20, 3)).warmup(1),
            Some(_) => Plan::iterations(args.pick(40, 6)).warmup(1),
        }
        .budget(Duration::from_secs(args.pick(10, 3)));
        let status = std::sync::Mutex::new(0u16);
        let m = measure(plan, |_| {
            let request = client.post(&url).json(&body).send();
            let status = &status;
            async move {
                let response = request.await?;
                if let Ok(mut s) = status.lock() {
                    *s = response.status().as_u16();
                }
                response.error_for_status().map(|_| ())
            }
        })
        .await;
        let code = status.lock().map(|s| *s).unwrap_or_default();
        table.row_measured(
            mode.map_or("synchronous", BackendKind::label),
            &m,
            [Cell::from(code.to_string())],
        );
        running.stop().await?;
    }
    n.table(table);
    Ok(())
}

async fn throughput(
    n: &mut Narrator,
    args: &DemoArgs,
    config: &JobsConfig,
    kinds: &[BackendKind],
    sink: &MailSink,
    run: &str,
) -> anyhow::Result<Table> {
    n.section("Throughput and end-to-end latency, same worker count");
    let batch = args.pick(10_000u64, 500);
    n.say(&format!(
        "No-op jobs, {} workers on every backend. End-to-end latency is enqueue to done, with 16 \
         jobs in flight; throughput is a batch of {batch} jobs enqueued {PRODUCERS} at a time and \
         drained, divided by the time until the last one finished.",
        config.workers
    ));
    sink.state.set_latency(Duration::ZERO);
    let mut table = Table::new("backend")
        .column("e2e p50", Unit::Micros)
        .column("e2e p99", Unit::Micros)
        .column("throughput", Unit::PerSecond);
    for &kind in kinds {
        let runner = Arc::new(JobRunner::new(sink.send_url()));
        let queue = kind.open(config, &queue_name(run, "throughput")).await?;
        let pool = WorkerPool::start(queue.clone(), runner.clone(), options(config, None));
        let latency = measure(
            Plan::iterations(args.pick(2000, 200))
                .warmup(50)
                .concurrency(16),
            |_| {
                let (queue, runner) = (queue.clone(), runner.clone());
                async move {
                    let job = Job::new(Task::Noop);
                    runner.statuses.queued(job.id, job.task.kind());
                    queue.enqueue(&job).await?;
                    match runner.statuses.wait_finished(job.id).await {
                        Status::Succeeded => anyhow::Ok(()),
                        other => anyhow::bail!("job ended {other:?}"),
                    }
                }
            },
        )
        .await;
        let drained = measure(
            Plan::iterations(1)
                .warmup(0)
                .budget(Duration::from_secs(60)),
            |_| drain_batch(queue.clone(), runner.clone(), batch, PRODUCERS),
        )
        .await;
        let rate = batch as f64 / drained.p50.as_secs_f64().max(1e-9);
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        table.row(
            kind.label(),
            [us(latency.p50).into(), us(latency.p99).into(), rate.into()],
        );
        pool.shutdown().await;
        queue.delete().await?;
    }
    n.table(table.clone());
    n.say(
        "In-process is a memory hand-off; Redis costs a few round trips per job (BLMOVE, the \
         lease, the ack transaction; XREADGROUP and XACK on the stream); RabbitMQ costs a confirmed persistent publish and an ack. \
         All of them are far above what a 200 ms email needs: the queue is rarely the bottleneck, \
         the workers and what they call are.",
    );
    Ok(table)
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

/// The outcome of one crash scenario.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    jobs: u64,
    lost: u64,
    once: u64,
    twice: u64,
}

async fn crash_matrix(
    n: &mut Narrator,
    config: &JobsConfig,
    kinds: &[BackendKind],
    sink: &MailSink,
    run: &str,
) -> anyhow::Result<Table> {
    n.section("Crash matrix: kill the worker, count the emails");
    n.say(&format!(
        "A worker takes a welcome-email job and is aborted (its task killed, its connection \
         dropped) at a chosen point; then a new worker process starts on the same queue. The mail \
         service's record says, per job, whether the email went out zero times (lost), once, or \
         twice. Redis reclaims a stalled job after its visibility timeout ({} ms here); RabbitMQ \
         requeues unacked messages when the connection closes; the in-process queue dies with \
         the process.",
        config.visibility_timeout.as_millis()
    ));
    sink.state.set_latency(Duration::ZERO);
    let scenarios: [(&str, CrashPoint, u64, bool); 4] = [
        (
            "killed before ack (before the email)",
            CrashPoint::BeforeSideEffect,
            1,
            false,
        ),
        (
            "killed after the email, before ack",
            CrashPoint::AfterSideEffect,
            1,
            false,
        ),
        (
            "… same, with the idempotency key",
            CrashPoint::AfterSideEffect,
            1,
            true,
        ),
        (
            "killed with 4 more jobs queued",
            CrashPoint::BeforeSideEffect,
            5,
            false,
        ),
    ];
    let mut table = Table::new("backend · crash point")
        .column("jobs", Unit::Count)
        .column("lost", Unit::Count)
        .column("run once", Unit::Count)
        .column("run twice", Unit::Count);
    for &kind in kinds {
        for (i, (label, point, jobs, idempotent)) in scenarios.iter().enumerate() {
            let name = queue_name(run, &format!("crash{i}"));
            let tally = crash_once(config, kind, sink, &name, *point, *jobs, *idempotent).await?;
            table.row(
                format!("{} · {label}", kind.label()),
                [
                    tally.jobs.into(),
                    tally.lost.into(),
                    tally.once.into(),
                    tally.twice.into(),
                ],
            );
        }
    }
    n.table(table.clone());
    n.say(
        "Read it by column. Lost: only the in-process queue, because the job existed only in the \
         dead process. Run twice: the reliable queues redeliver a job whose ack never came, even \
         when its email was already sent: at-least-once delivery. The idempotency row shows the \
         fix: the worker records each finished job id and skips a job it has seen, so the \
         redelivery costs a lookup, not a second email.",
    );
    Ok(table)
}

#[allow(clippy::too_many_arguments)]
async fn crash_once(
    config: &JobsConfig,
    kind: BackendKind,
    sink: &MailSink,
    name: &str,
    point: CrashPoint,
    count: u64,
    idempotent: bool,
) -> anyhow::Result<Tally> {
    let runner = Arc::new(JobRunner::new(sink.send_url()));
    runner.set_idempotent(idempotent);
    let queue = kind.open(config, name).await?;
    let jobs: Vec<Job> = (0..count)
        .map(|i| {
            Job::new(Task::WelcomeEmail {
                to: format!("crash{i}@example.com"),
            })
        })
        .collect();
    for job in &jobs {
        runner.statuses.queued(job.id, job.task.kind());
        queue.enqueue(job).await?;
    }
    // The doomed worker: its own connection, one worker, stops at `point` on its first job.
    let doomed = if kind == BackendKind::InProcess {
        queue.clone()
    } else {
        kind.open(config, name).await?
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut one = options(
        config,
        Some(Crash {
            at: point,
            reached: tx,
        }),
    );
    one.workers = 1;
    let pool = WorkerPool::start(doomed.clone(), runner.clone(), one);
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .context("the worker never reached its crash point")?;
    pool.kill().await;
    doomed.crash().await;
    // The restarted process: for the in-process backend a new, empty queue.
    let fresh = kind.open(config, name).await?;
    let mut one = options(config, None);
    one.workers = 1;
    let pool = WorkerPool::start(fresh.clone(), runner.clone(), one);
    settle(&runner, &jobs, &fresh, config.visibility_timeout).await;
    pool.shutdown().await;
    fresh.delete().await?;
    let mut tally = Tally {
        jobs: count,
        ..Tally::default()
    };
    for job in &jobs {
        match sink.state.delivered(job.id) {
            0 => tally.lost += 1,
            1 => tally.once += 1,
            _ => tally.twice += 1,
        }
    }
    Ok(tally)
}

/// A queue forgets what it delivered; a log keeps it. The same batch through the Redis list
/// queue and the Redis Stream, then: what is still stored, and what a new reader can replay.
async fn log_vs_queue(
    n: &mut Narrator,
    args: &DemoArgs,
    config: &JobsConfig,
    sink: &MailSink,
    run: &str,
) -> anyhow::Result<Table> {
    n.section("Log versus queue: what is left after the jobs ran");
    let batch = args.pick(1000u64, 100);
    n.say(&format!(
        "{batch} no-op jobs through the Redis list queue and through the Redis Stream, all run \
         and acked by the workers. Then a new consumer group (say, an audit service started \
         today) asks the stream for everything from offset 0, and we check that the workers' \
         group kept its offset. The list queue has nothing to offer it: BLMOVE and the ack \
         removed each job. This is the Kafka model: a topic is kept, each group has its offset."
    ));
    sink.state.set_latency(Duration::ZERO);
    let mut table = Table::new("backend")
        .column("jobs run", Unit::Count)
        .column("still stored", Unit::Count)
        .column("replayed by a new group", Unit::Count)
        .column("replay time", Unit::Micros)
        .column("workers' offset kept", Unit::Text);
    for kind in [BackendKind::Redis, BackendKind::RedisStream] {
        let name = queue_name(run, "log");
        let runner = Arc::new(JobRunner::new(sink.send_url()));
        let queue = kind.open(config, &name).await?;
        let pool = WorkerPool::start(queue.clone(), runner.clone(), options(config, None));
        drain_batch(queue.clone(), runner.clone(), batch, PRODUCERS).await?;
        pool.shutdown().await;
        // `drain_batch` returned Ok only once every one of the batch's jobs had succeeded.
        let ran = batch;
        let (stored, replayed, took, kept) = if kind == BackendKind::RedisStream {
            let log =
                RedisStream::connect(&config.settings.redis_url, &name, config.visibility_timeout)
                    .await?;
            let before = log.offset(WORKER_GROUP).await?;
            let stored = log.log_len().await?;
            let count = AtomicU64::new(0);
            let m = measure(Plan::iterations(1).warmup(0), |_| async {
                let payloads = log.replay_group("audit").await?;
                count.store(payloads.len() as u64, Ordering::Relaxed);
                anyhow::Ok(())
            })
            .await;
            let kept = before == log.offset(WORKER_GROUP).await?;
            (
                stored,
                count.load(Ordering::Relaxed),
                Cell::from(m.p50.as_secs_f64() * 1e6),
                if kept { "yes" } else { "NO" },
            )
        } else {
            // What a list still holds is all a late reader could get: ready, in flight, delayed.
            let left = queue.pending().await?;
            (left, left, Cell::Empty, "n/a")
        };
        table.row(
            kind.label(),
            [
                Cell::from(ran),
                stored.into(),
                replayed.into(),
                took,
                Cell::from(kept),
            ],
        );
        queue.delete().await?;
    }
    n.table(table.clone());
    n.say(
        "Both ran every job once. Only the stream still holds them, so a group created after the \
         fact reads the whole history, while the workers' group keeps its own offset and lag. \
         Kafka adds what one stream lacks: partitions (parallel, ordered per key, across \
         machines) and retention by age or size; a stream is trimmed by hand (XADD MAXLEN, XTRIM).",
    );
    Ok(table)
}

/// Waits until every job finished, or nothing is left that could finish one.
async fn settle(runner: &JobRunner, jobs: &[Job], queue: &Arc<dyn Queue>, visibility: Duration) {
    let started = Instant::now();
    let deadline = visibility * 4 + Duration::from_secs(2);
    let mut idle_polls = 0;
    while started.elapsed() < deadline {
        let all_done = jobs.iter().all(|j| {
            runner
                .statuses
                .get(j.id)
                .is_some_and(|r| r.status.is_terminal())
        });
        if all_done {
            return;
        }
        // An empty queue three polls in a row (and past the first moments) means nothing will
        // come back: that is how a lost job looks.
        idle_polls = if queue.pending().await.unwrap_or(1) == 0 {
            idle_polls + 1
        } else {
            0
        };
        if idle_polls >= 3 && started.elapsed() > Duration::from_millis(200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn retries(
    n: &mut Narrator,
    args: &DemoArgs,
    config: &JobsConfig,
    kinds: &[BackendKind],
    sink: &MailSink,
    run: &str,
) -> anyhow::Result<()> {
    n.section("Retries with backoff, the dead-letter queue, and a replay");
    let backoff = Backoff {
        base: Duration::from_millis(args.pick(100, 20)),
        factor: 2.0,
        max: Duration::from_secs(2),
        jitter: 0.2,
        max_attempts: args.pick(5, 4),
    };
    let mut config = config.clone();
    config.backoff = backoff;
    sink.state.set_latency(Duration::ZERO);
    sink.state.set_bouncing(true);
    let job = Job::new(Task::WelcomeEmail {
        to: format!("{BOUNCE_MARKER}@example.com"),
    });
    let schedule = backoff.schedule(job.id);
    n.say(&format!(
        "The mail service refuses every message to {BOUNCE_MARKER}@example.com. The policy: \
         {} attempts, delays of {} ms × 2^(attempt-1), capped at {} ms, minus up to {:.0}% jitter \
         drawn from the job id. The schedule of this job, computed before it runs:",
        backoff.max_attempts,
        backoff.base.as_millis(),
        backoff.max.as_millis(),
        backoff.jitter * 100.0
    ));
    n.transcript(
        schedule
            .iter()
            .enumerate()
            .map(|(i, d)| {
                format!(
                    "attempt {} fails → wait {:>5.1} ms → attempt {}",
                    i + 1,
                    d.as_secs_f64() * 1e3,
                    i + 2
                )
            })
            .chain([format!(
                "attempt {} fails → dead-letter queue",
                backoff.max_attempts
            )])
            .collect(),
    );
    let mut table = Table::new("backend")
        .column("attempts", Unit::Count)
        .column("scheduled wait", Unit::Millis)
        .column("observed first→last", Unit::Millis)
        .column("dead letters", Unit::Count)
        .column("after replay", Unit::Text);
    let mut shown = false;
    for &kind in kinds {
        // The same job (same id, same schedule) on each backend.
        let runner = Arc::new(JobRunner::new(sink.send_url()));
        let queue = kind.open(&config, &queue_name(run, "retries")).await?;
        let pool = WorkerPool::start(queue.clone(), runner.clone(), options(&config, None));
        sink.state.set_bouncing(true);
        runner.statuses.queued(job.id, job.task.kind());
        queue.enqueue(&job).await?;
        let status = tokio::time::timeout(
            Duration::from_secs(30),
            runner.statuses.wait_finished(job.id),
        )
        .await
        .context("the failing job never reached the dead-letter queue")?;
        let record = runner.statuses.get(job.id).context("no record")?;
        let dead = queue.dead_letters().await?;
        if !shown && let Some(entry) = dead.first() {
            n.say(&format!(
                "The dead-letter entry on {} (GET /dead-letters):",
                kind.label()
            ));
            n.transcript(
                serde_json::to_string_pretty(entry)?
                    .lines()
                    .map(str::to_owned)
                    .collect(),
            );
            let gaps: Vec<String> = record
                .attempts
                .windows(2)
                .zip(&schedule)
                .map(|(w, d)| {
                    format!(
                        "{} ms (scheduled {:.0})",
                        w[1] - w[0],
                        d.as_secs_f64() * 1e3
                    )
                })
                .collect();
            n.say(&format!(
                "Observed gaps between attempts: {}.",
                gaps.join(", ")
            ));
            shown = true;
        }
        // The mail service recovers; POST /dead-letters/{id}/replay does this.
        sink.state.set_bouncing(false);
        runner.statuses.queued(job.id, job.task.kind());
        let replayed = queue.replay(job.id).await?;
        let after = if replayed {
            let s = tokio::time::timeout(
                Duration::from_secs(10),
                runner.statuses.wait_finished(job.id),
            )
            .await;
            format!("{:?}", s.unwrap_or(Status::Queued)).to_lowercase()
        } else {
            "not found".to_owned()
        };
        let observed = record
            .attempts
            .last()
            .zip(record.attempts.first())
            .map_or(0, |(l, f)| l - f);
        let scheduled: f64 = schedule.iter().map(Duration::as_secs_f64).sum::<f64>() * 1e3;
        anyhow::ensure!(status == Status::Dead, "the failing job ended {status:?}");
        table.row(
            kind.label(),
            [
                (record.attempts.len() as u64).into(),
                scheduled.into(),
                (observed as f64).into(),
                (dead.len() as u64).into(),
                after.into(),
            ],
        );
        pool.shutdown().await;
        queue.delete().await?;
    }
    sink.state.set_bouncing(true);
    n.table(table);
    n.say(
        "Sidekiq calls this the retry set and the Dead set; Celery, `autoretry_for` with \
         `retry_backoff` and `retry_jitter`; BullMQ, `attempts` with `backoff: exponential` and \
         failed jobs. RabbitMQ's retry waits in a TTL queue that dead-letters back into the work \
         queue; Redis's in a sorted set scored by run-at time.",
    );
    Ok(())
}

/// The ceiling rows and the job backend's row, measured in the same run.
struct Ceiling {
    table: Table,
    best_label: String,
    best_rate: f64,
    backend_rate: f64,
}

const BACKEND_ROW: &str = "job backend: no-op jobs, 4 workers";

async fn bare_ceiling(
    n: &mut Narrator,
    args: &DemoArgs,
    config: &JobsConfig,
    sink: &MailSink,
    run: &str,
) -> anyhow::Result<Ceiling> {
    n.section("The bare broker: RabbitMQ's own ceiling, and how acks and confirms set it");
    let count = args.pick(20_000u64, 1_000);
    let each = args.pick(2_000u64, 100);
    n.say(&format!(
        "Plain lapin loops with no job framework: {count} persistent messages to a durable queue \
         with pipelined publisher confirms (publish all, collect the confirms), prefetch {}, \
         consumed as they are published, acked three ways; time until the last ack. Then \
         publishing {each} messages waiting for each confirm before the next publish (publishing \
         only). Then the job backend with no-op jobs, measured the same way as the first three, \
         with the same prefetch and as many enqueues in flight.",
        bare::BARE_PREFETCH
    ));
    let url = &config.settings.amqp_url;
    let once = || {
        Plan::iterations(1)
            .warmup(0)
            .budget(Duration::from_secs(60))
    };
    let mut rows: Vec<(String, f64, Duration)> = Vec::new();
    for (label, mode) in [
        ("bare: ack each, awaited", AckMode::EachAwaited),
        ("bare: `multiple` acks per 64", AckMode::Multiple),
        ("bare: acks off the receive loop", AckMode::OffLoop),
    ] {
        let queue = queue_name(run, "bare");
        let m = measure(once(), |_| bare::pipelined(url, &queue, count, mode)).await;
        anyhow::ensure!(m.ok == 1, "the bare loop failed ({label})");
        rows.push((label.to_owned(), count as f64 / m.p50.as_secs_f64(), m.p50));
    }
    let queue = queue_name(run, "bare_each");
    let m = measure(once(), |_| bare::confirm_each(url, &queue, each)).await;
    anyhow::ensure!(m.ok == 1, "the confirm-each loop failed");
    rows.push((
        "bare: confirm each publish".to_owned(),
        each as f64 / m.p50.as_secs_f64(),
        m.p50,
    ));

    sink.state.set_latency(Duration::ZERO);
    let runner = Arc::new(JobRunner::new(sink.send_url()));
    // The same prefetch as the bare loops, and as many enqueues in flight, so the row differs
    // from them only by being a job queue.
    let mut ceiling_config = config.clone();
    ceiling_config.prefetch = bare::BARE_PREFETCH;
    let queue = BackendKind::RabbitMq
        .open(&ceiling_config, &queue_name(run, "ceiling"))
        .await?;
    let pool = WorkerPool::start(queue.clone(), runner.clone(), options(config, None));
    let producers = usize::from(bare::BARE_PREFETCH);
    let m = measure(once(), |_| {
        drain_batch(queue.clone(), runner.clone(), count, producers)
    })
    .await;
    pool.shutdown().await;
    queue.delete().await?;
    anyhow::ensure!(m.ok == 1, "the job backend batch failed");
    let backend_rate = count as f64 / m.p50.as_secs_f64();

    let (best_label, best_rate) = rows
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(l, r, _)| (l.clone(), *r))
        .unwrap_or_default();
    let mut table = Table::new("configuration")
        .column("messages/s", Unit::PerSecond)
        .column("time", Unit::Millis)
        .ratio_against("messages/s", best_label.clone());
    for (label, rate, time) in &rows {
        table.row(
            label.clone(),
            [(*rate).into(), (time.as_secs_f64() * 1e3).into()],
        );
    }
    table.row(
        BACKEND_ROW,
        [backend_rate.into(), (m.p50.as_secs_f64() * 1e3).into()],
    );
    n.table(table.clone());
    n.say(&format!(
        "The job backend reached {:.0}% of the best bare configuration ({best_label}). What \
         bounds it: every job still costs its own publisher confirm (pipelined only across the \
         {} enqueues in flight) and its own ack frame, plus a JSON encode and decode, a consumer \
         stream shared by the workers behind a mutex, and status updates. It can beat the \
         single-loop 'ack each' row because its {} workers await their acks concurrently; it \
         stays below `multiple` acks, which settle {} deliveries with one frame. A job queue \
         must not skip confirms; batching acks is possible but widens what a crash redelivers.",
        100.0 * backend_rate / best_rate.max(1e-9),
        bare::BARE_PREFETCH,
        config.workers,
        bare::ACK_BATCH
    ));
    Ok(Ceiling {
        table,
        best_label,
        best_rate,
        backend_rate,
    })
}

fn summary(
    n: &mut Narrator,
    response: &Table,
    throughput: &Table,
    crashes: &Table,
    ceiling: Option<&Ceiling>,
) {
    n.section("What you just saw");
    let p50 = |label: &str| response.value(label, "p50").unwrap_or(f64::NAN) / 1e3;
    let sync = p50("synchronous");
    let queued = p50("in-process");
    let fastest_rate = throughput
        .rows
        .iter()
        .filter_map(|r| {
            throughput
                .value(&r.label, "throughput")
                .map(|v| (r.label.clone(), v))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let lost = crashes.value("in-process · killed with 4 more jobs queued", "lost");
    let twice = crashes
        .value("redis · killed after the email, before ack", "run twice")
        .or_else(|| crashes.value("rabbitmq · killed after the email, before ack", "run twice"));
    let mut text = format!(
        "How do background jobs improve app performance? They take slow work off the request \
         path. With a {} ms mail service, a synchronous sign-up answered in {sync:.1} ms at the \
         median; enqueueing the email in-process answered in {queued:.2} ms, {:.0}× faster, and \
         the email still went out a moment later.",
        MAIL_LATENCY.as_millis(),
        sync / queued
    );
    if let Some((label, rate)) = fastest_rate {
        text.push_str(&format!(
            " The fastest backend here ({label}) moved {rate:.0} no-op jobs/s."
        ));
    }
    if let Some(lost) = lost {
        text.push_str(&format!(
            " But a queue in memory is a promise that ends with the process: killing it lost {lost:.0} of 5 jobs."
        ));
    }
    if let Some(twice) = twice {
        text.push_str(&format!(
            " Redis and RabbitMQ lose nothing, at the price of at-least-once delivery \
             ({twice:.0} email sent twice after a kill between the email and the ack) until \
             the job id is used as an idempotency key."
        ));
    }
    if let Some(c) = ceiling {
        text.push_str(&format!(
            " The RabbitMQ backend ran at {:.0}% of the bare broker's best configuration ({}, {:.0} msgs/s).",
            100.0 * c.backend_rate / c.best_rate.max(1e-9),
            c.best_label,
            c.best_rate
        ));
        let _ = &c.table;
    }
    text.push_str(
        " Pick the in-process queue for work you can afford to lose (cache warming, metrics); \
         Redis (Sidekiq, BullMQ, RQ) when you already run Redis and want retries, delays and \
         reclaim of stalled jobs; RabbitMQ (Celery's default broker) when you want the broker to \
         own delivery: confirms, acks, priorities, dead-letter exchanges. A log such as Kafka, or \
         a Redis Stream, when consumers need to replay history. Whatever the queue, make the \
         handler idempotent by job id.",
    );
    n.say(&text);
}

/// `serve`: the service on `port` with the best available backend, its workers and a mail sink.
pub async fn serve(settings: Settings, port: u16) -> anyhow::Result<()> {
    let config = JobsConfig::new(settings);
    let services =
        Services::probe_only(&config.settings, &[Service::Redis, Service::RabbitMq]).await;
    let kind = available(&services)
        .last()
        .copied()
        .unwrap_or(BackendKind::InProcess);
    let sink = MailSink::start(MAIL_LATENCY)?;
    let runner = Arc::new(JobRunner::new(sink.send_url()));
    let queue = kind.open(&config, QUEUE_PREFIX).await?;
    let pool = WorkerPool::start(queue.clone(), runner.clone(), options(&config, None));
    let state = web::Data::new(AppState::new(queue, runner));
    let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
    tracing::info!(
        backend = kind.label(),
        "serving on http://127.0.0.1:{port} (POST /signup, POST /thumbnails, GET /jobs/{{id}}, GET /dead-letters)"
    );
    run(listener, state)?.await?;
    pool.shutdown().await;
    Ok(())
}
