//! Section: a job that always fails walks its backoff schedule into the dead-letter queue, and
//! a replay runs it once the mail service recovers.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;
use support::narrate::Narrator;
use support::report::{Chart, Table, Unit};

use super::{Context, ms};
use crate::backoff::Backoff;
use crate::config::BackendKind;
use crate::job::{Job, Task};
use crate::mail::BOUNCE_MARKER;
use crate::runner::JobRunner;
use crate::status::Status;
use crate::worker::WorkerPool;

/// One backend's walk through the schedule.
#[derive(Debug, Clone, Serialize)]
pub struct RetryRow {
    pub backend: BackendKind,
    pub attempts: u64,
    pub scheduled_ms: f64,
    /// From the first attempt's start to the last one's.
    pub observed_ms: f64,
    pub dead_letters: u64,
    /// How the replayed job ended (`None`: the dead letter was not found, or it never finished).
    pub after_replay: Option<Status>,
}

/// What the section measured.
#[derive(Debug, Clone, Serialize)]
pub struct Retries {
    pub max_attempts: u32,
    /// The delay before attempt 2, 3, …, as computed before the job ran.
    pub schedule_ms: Vec<f64>,
    pub rows: Vec<RetryRow>,
}

pub async fn run(n: &mut Narrator, ctx: &Context) -> anyhow::Result<Retries> {
    let (args, sink) = (&ctx.args, &ctx.sink);
    n.section("Retries with backoff, the dead-letter queue, and a replay");
    let backoff = Backoff {
        base: Duration::from_millis(args.pick(100, 10)),
        factor: 2.0,
        max: Duration::from_secs(2),
        jitter: 0.2,
        max_attempts: args.pick(5, 3),
    };
    let mut config = ctx.config.clone();
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
                    ms(*d),
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
        .column("after replay", Unit::Text)
        .chart(
            Chart::bars()
                .of(&["scheduled wait", "observed first→last"])
                .titled("Retries with backoff: the wait scheduled and observed"),
        );
    let scheduled: f64 = schedule.iter().copied().map(ms).sum();
    let mut rows = Vec::new();
    for &kind in &ctx.kinds {
        // The same job (same id, same schedule) on each backend.
        let runner = Arc::new(JobRunner::new(sink.send_url()));
        let queue = kind.open(&config, &ctx.queue("retries")).await?;
        let pool = WorkerPool::start(queue.clone(), runner.clone(), config.worker_options());
        sink.state.set_bouncing(true);
        runner.statuses.queued(job.id, job.task.kind());
        queue.enqueue(&job).await?;
        let status = tokio::time::timeout(
            Duration::from_secs(30),
            runner.statuses.wait_finished(job.id),
        )
        .await
        .context("the failing job never reached the dead-letter queue")?;
        anyhow::ensure!(status == Status::Dead, "the failing job ended {status:?}");
        let record = runner.statuses.get(job.id).context("no record")?;
        let dead = queue.dead_letters().await?;
        if rows.is_empty()
            && let Some(entry) = dead.first()
        {
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
                .map(|(w, d)| format!("{} ms (scheduled {:.0})", w[1] - w[0], ms(*d)))
                .collect();
            n.say(&format!(
                "Observed gaps between attempts: {}.",
                gaps.join(", ")
            ));
        }
        // The mail service recovers; POST /dead-letters/{id}/replay does this.
        sink.state.set_bouncing(false);
        runner.statuses.queued(job.id, job.task.kind());
        let after_replay = if queue.replay(job.id).await? {
            tokio::time::timeout(
                Duration::from_secs(10),
                runner.statuses.wait_finished(job.id),
            )
            .await
            .ok()
        } else {
            None
        };
        let observed = record
            .attempts
            .last()
            .zip(record.attempts.first())
            .map_or(0, |(l, f)| l - f);
        let row = RetryRow {
            backend: kind,
            attempts: record.attempts.len() as u64,
            scheduled_ms: scheduled,
            observed_ms: observed as f64,
            dead_letters: dead.len() as u64,
            after_replay,
        };
        table.row(
            kind.label(),
            [
                row.attempts.into(),
                row.scheduled_ms.into(),
                row.observed_ms.into(),
                row.dead_letters.into(),
                after_replay
                    .map_or_else(
                        || "not finished".to_owned(),
                        |s| format!("{s:?}").to_lowercase(),
                    )
                    .into(),
            ],
        );
        rows.push(row);
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
    let figures = Retries {
        max_attempts: backoff.max_attempts,
        schedule_ms: schedule.iter().copied().map(ms).collect(),
        rows,
    };
    n.figures(&figures)?;
    Ok(figures)
}
