//! Section: the crash matrix. Kill the worker at a chosen point, restart, count the emails.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;
use support::narrate::Narrator;
use support::report::{Chart, Table, Unit};
use tokio::sync::mpsc;

use super::{Context, ms};
use crate::config::{BackendKind, JobsConfig};
use crate::job::{Job, Queue, Task};
use crate::mail::MailSink;
use crate::runner::JobRunner;
use crate::worker::{Crash, CrashPoint, WorkerPool};

/// Jobs queued behind the one the worker holds in the backlog scenario.
const BEHIND: u64 = 4;

/// Where the worker dies, and whether the job id is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// Killed after taking the job, before the email.
    BeforeEffect,
    /// Killed after the email, before the ack.
    AfterEffect,
    /// The same, with the idempotency key on.
    AfterEffectIdempotent,
    /// Killed before the email with more jobs queued behind.
    WithBacklog,
}

impl Scenario {
    pub const ALL: [Scenario; 4] = [
        Scenario::BeforeEffect,
        Scenario::AfterEffect,
        Scenario::AfterEffectIdempotent,
        Scenario::WithBacklog,
    ];

    /// The row label after the backend.
    pub fn label(self) -> String {
        match self {
            Scenario::BeforeEffect => "killed before ack (before the email)".to_owned(),
            Scenario::AfterEffect => "killed after the email, before ack".to_owned(),
            Scenario::AfterEffectIdempotent => "… same, with the idempotency key".to_owned(),
            Scenario::WithBacklog => format!("killed with {BEHIND} more jobs queued"),
        }
    }

    fn point(self) -> CrashPoint {
        match self {
            Scenario::BeforeEffect | Scenario::WithBacklog => CrashPoint::BeforeSideEffect,
            Scenario::AfterEffect | Scenario::AfterEffectIdempotent => CrashPoint::AfterSideEffect,
        }
    }

    fn jobs(self) -> u64 {
        match self {
            Scenario::WithBacklog => 1 + BEHIND,
            Scenario::BeforeEffect | Scenario::AfterEffect | Scenario::AfterEffectIdempotent => 1,
        }
    }

    fn idempotent(self) -> bool {
        self == Scenario::AfterEffectIdempotent
    }
}

/// The outcome of one crash scenario on one backend.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CrashRow {
    pub backend: BackendKind,
    pub scenario: Scenario,
    pub jobs: u64,
    pub lost: u64,
    pub once: u64,
    pub twice: u64,
}

/// What the section measured.
#[derive(Debug, Clone, Serialize)]
pub struct CrashMatrix {
    pub visibility_timeout_ms: f64,
    pub rows: Vec<CrashRow>,
}

impl CrashMatrix {
    /// The backends that lost at least one job, in the order they ran.
    pub fn losers(&self) -> Vec<BackendKind> {
        let mut losers: Vec<BackendKind> = Vec::new();
        for row in self.rows.iter().filter(|r| r.lost > 0) {
            if !losers.contains(&row.backend) {
                losers.push(row.backend);
            }
        }
        losers
    }

    /// Which backends lost jobs, said from the rows.
    pub fn lost_sentence(&self) -> String {
        let losers = self.losers();
        match losers.as_slice() {
            [] => "Lost: nothing, on any backend, this run.".to_owned(),
            [BackendKind::InProcess] => "Lost: only the in-process queue, because the job existed \
                                         only in the dead process."
                .to_owned(),
            many => format!(
                "Lost: {}. A reliable queue should not appear here; if it does, its timeout or \
                 this run's deadline was too short for the machine.",
                many.iter()
                    .map(|k| k.label())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// The row of `backend` in `scenario`, if it ran.
    pub fn row(&self, backend: BackendKind, scenario: Scenario) -> Option<&CrashRow> {
        self.rows
            .iter()
            .find(|r| r.backend == backend && r.scenario == scenario)
    }
}

pub async fn run(n: &mut Narrator, ctx: &Context) -> anyhow::Result<CrashMatrix> {
    let sink = &ctx.sink;
    // Quick runs wait less for Redis to reclaim a stalled job (the jobs here take milliseconds,
    // far under either timeout, so neither runs a healthy job twice).
    let mut config = ctx.config.clone();
    config.visibility_timeout = Duration::from_millis(ctx.args.pick(500, 100));
    let config = &config;
    let idle = Idle {
        poll: Duration::from_millis(ctx.args.pick(50, 20)),
        at_least: Duration::from_millis(ctx.args.pick(200, 60)),
    };
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
    let mut table = Table::new("backend · crash point")
        .column("jobs", Unit::Count)
        .column("lost", Unit::Count)
        .column("run once", Unit::Count)
        .column("run twice", Unit::Count)
        .chart(
            Chart::bars()
                .of(&["lost", "run once", "run twice"])
                .titled("Crash matrix: emails lost, sent once, sent twice"),
        );
    let mut rows = Vec::new();
    for &kind in &ctx.kinds {
        for scenario in Scenario::ALL {
            let name = ctx.queue(&format!("crash_{}_{scenario:?}", kind.label()));
            let row = crash_once(config, kind, sink, &name, scenario, idle).await?;
            table.row(
                format!("{} · {}", kind.label(), scenario.label()),
                [
                    row.jobs.into(),
                    row.lost.into(),
                    row.once.into(),
                    row.twice.into(),
                ],
            );
            rows.push(row);
        }
    }
    n.table(table);
    let figures = CrashMatrix {
        visibility_timeout_ms: ms(config.visibility_timeout),
        rows,
    };
    n.say(&format!(
        "Read it by column. {} Run twice: a reliable queue redelivers a job whose ack never came, \
         even when its email was already sent: at-least-once delivery. The idempotency row shows \
         the fix: the worker records each finished job id and skips a job it has seen, so the \
         redelivery costs a lookup, not a second email.",
        figures.lost_sentence()
    ));
    n.figures(&figures)?;
    Ok(figures)
}

async fn crash_once(
    config: &JobsConfig,
    kind: BackendKind,
    sink: &MailSink,
    name: &str,
    scenario: Scenario,
    idle: Idle,
) -> anyhow::Result<CrashRow> {
    let runner = Arc::new(JobRunner::new(sink.send_url()));
    runner.set_idempotent(scenario.idempotent());
    let queue = kind.open(config, name).await?;
    let jobs: Vec<Job> = (0..scenario.jobs())
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
    // The doomed worker: its own connection, one worker, stops at the crash point on its first job.
    let doomed = if kind == BackendKind::InProcess {
        queue.clone()
    } else {
        kind.open(config, name).await?
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut one = config.worker_options();
    one.workers = 1;
    one.crash = Some(Crash {
        at: scenario.point(),
        reached: tx,
    });
    let pool = WorkerPool::start(doomed.clone(), runner.clone(), one);
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .context("the worker never reached its crash point")?;
    pool.kill().await;
    doomed.crash().await;
    // The restarted process: for the in-process backend a new, empty queue.
    let fresh = kind.open(config, name).await?;
    let mut one = config.worker_options();
    one.workers = 1;
    let pool = WorkerPool::start(fresh.clone(), runner.clone(), one);
    settle(&runner, &jobs, &fresh, config.visibility_timeout, idle).await;
    pool.shutdown().await;
    fresh.delete().await?;
    let mut row = CrashRow {
        backend: kind,
        scenario,
        jobs: scenario.jobs(),
        lost: 0,
        once: 0,
        twice: 0,
    };
    for job in &jobs {
        match sink.state.delivered(job.id) {
            0 => row.lost += 1,
            1 => row.once += 1,
            _ => row.twice += 1,
        }
    }
    Ok(row)
}

/// How `settle` decides that nothing will come back: the queue empty on three polls `poll` apart,
/// and at least `at_least` after the restart (time for a broker to requeue what the dead
/// connection held).
#[derive(Debug, Clone, Copy)]
struct Idle {
    poll: Duration,
    at_least: Duration,
}

/// Waits until every job finished, or nothing is left that could finish one (bounded either way:
/// a job still missing at the deadline counts as lost in the table).
async fn settle(
    runner: &JobRunner,
    jobs: &[Job],
    queue: &Arc<dyn Queue>,
    visibility: Duration,
    idle: Idle,
) {
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
        // An empty queue three polls in a row (and past `at_least`) means nothing will come
        // back: that is how a lost job looks.
        idle_polls = if queue.pending().await.unwrap_or(1) == 0 {
            idle_polls + 1
        } else {
            0
        };
        if idle_polls >= 3 && started.elapsed() > idle.at_least {
            return;
        }
        tokio::time::sleep(idle.poll).await;
    }
}
