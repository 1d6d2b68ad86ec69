//! Section: throughput and end-to-end latency of no-op jobs, same worker count on every backend.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use support::Plan;
use support::measure::measure;
use support::narrate::Narrator;
use support::report::{Chart, Table, Unit};

use super::{Context, MAIL_LATENCY, drain_batch, us};
use crate::config::BackendKind;
use crate::job::{Job, Task};
use crate::runner::JobRunner;
use crate::status::Status;
use crate::worker::WorkerPool;

/// Enqueues in flight at once when measuring throughput.
pub const PRODUCERS: usize = 64;
/// Jobs in flight at once when measuring end-to-end latency.
const IN_FLIGHT: usize = 16;

/// One backend's row.
#[derive(Debug, Clone, Serialize)]
pub struct ThroughputRow {
    pub backend: BackendKind,
    pub e2e_p50_us: f64,
    pub e2e_p99_us: f64,
    pub jobs_per_s: f64,
}

/// What the section measured.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    pub workers: usize,
    pub batch: u64,
    pub rows: Vec<ThroughputRow>,
}

impl Throughput {
    pub fn fastest(&self) -> Option<&ThroughputRow> {
        self.rows
            .iter()
            .max_by(|a, b| a.jobs_per_s.total_cmp(&b.jobs_per_s))
    }

    pub fn slowest(&self) -> Option<&ThroughputRow> {
        self.rows
            .iter()
            .min_by(|a, b| a.jobs_per_s.total_cmp(&b.jobs_per_s))
    }
}

/// How many emails per second `workers` workers can send when each takes `mail_latency_ms`: the
/// rate a queue has to keep up with for the welcome email.
pub fn email_rate(workers: usize, mail_latency_ms: f64) -> f64 {
    workers as f64 * 1e3 / mail_latency_ms.max(1e-9)
}

/// The sentence comparing the slowest backend with what the email workload needs, either way.
pub fn headroom_sentence(figures: &Throughput, mail_latency_ms: f64) -> Option<String> {
    let slowest = figures.slowest()?;
    let needed = email_rate(figures.workers, mail_latency_ms);
    let ratio = slowest.jobs_per_s / needed.max(1e-9);
    let which = if figures.rows.len() > 1 {
        "slowest backend"
    } else {
        "only backend"
    };
    Some(if ratio >= 1.0 {
        format!(
            "Even the {which} here ({}, {:.0} jobs/s) is {ratio:.0}× the {needed:.0} \
             emails/s that {} workers sending {mail_latency_ms:.0} ms emails can use: the queue is \
             not the bottleneck, the workers and what they call are.",
            slowest.backend.label(),
            slowest.jobs_per_s,
            figures.workers
        )
    } else {
        format!(
            "The {which} here ({}, {:.0} jobs/s) is below the {needed:.0} emails/s that {} \
             workers sending {mail_latency_ms:.0} ms emails could use: on this machine, in this \
             run, that queue is the bottleneck.",
            slowest.backend.label(),
            slowest.jobs_per_s,
            figures.workers
        )
    })
}

pub async fn run(n: &mut Narrator, ctx: &Context) -> anyhow::Result<Throughput> {
    let (args, config, sink) = (&ctx.args, &ctx.config, &ctx.sink);
    n.section("Throughput and end-to-end latency, same worker count");
    let batch = args.pick(10_000u64, 200);
    n.say(&format!(
        "No-op jobs, {} workers on every backend. End-to-end latency is enqueue to done, with \
         {IN_FLIGHT} jobs in flight; throughput is a batch of {batch} jobs enqueued {PRODUCERS} at a \
         time and drained, divided by the time until the last one finished.",
        config.workers
    ));
    sink.state.set_latency(Duration::ZERO);
    let mut table = Table::new("backend")
        .column("e2e p50", Unit::Micros)
        .column("e2e p99", Unit::Micros)
        .column("throughput", Unit::PerSecond)
        .chart(
            Chart::bars()
                .log()
                .of(&["throughput", "e2e p50", "e2e p99"])
                .titled("Job throughput and end-to-end latency"),
        );
    let mut rows = Vec::new();
    for &kind in &ctx.kinds {
        let runner = Arc::new(JobRunner::new(sink.send_url()));
        let queue = kind.open(config, &ctx.queue("throughput")).await?;
        let pool = WorkerPool::start(queue.clone(), runner.clone(), config.worker_options());
        let latency = measure(
            Plan::iterations(args.pick(2000, 100))
                .warmup(args.pick(50, 20))
                .concurrency(IN_FLIGHT),
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
        pool.shutdown().await;
        queue.delete().await?;
        anyhow::ensure!(drained.ok == 1, "the {} batch failed", kind.label());
        let row = ThroughputRow {
            backend: kind,
            e2e_p50_us: us(latency.p50),
            e2e_p99_us: us(latency.p99),
            jobs_per_s: batch as f64 / drained.p50.as_secs_f64().max(1e-9),
        };
        table.row(
            kind.label(),
            [
                row.e2e_p50_us.into(),
                row.e2e_p99_us.into(),
                row.jobs_per_s.into(),
            ],
        );
        rows.push(row);
    }
    n.table(table);
    let figures = Throughput {
        workers: config.workers,
        batch,
        rows,
    };
    let mut text =
        "In-process is a memory hand-off; Redis costs a few round trips per job (BLMOVE, \
                    the lease, the ack transaction; XREADGROUP and XACK on the stream); RabbitMQ \
                    costs a confirmed persistent publish and an ack."
            .to_owned();
    if let Some(headroom) = headroom_sentence(&figures, super::ms(MAIL_LATENCY)) {
        text.push(' ');
        text.push_str(&headroom);
    }
    n.say(&text);
    n.figures(&figures)?;
    Ok(figures)
}
