//! A worker killed (its task aborted) while it holds a job: who still has the job?

use std::sync::Arc;

use jobs::job::{Job, Task};
use jobs::status::Status;
use jobs::worker::{Crash, CrashPoint, WorkerOptions, WorkerPool};
use jobs::{BackendKind, Queue};
use tokio::sync::mpsc;

use crate::{Harness, WAIT, on_backends};

/// Starts one worker that stops at `at` on its first job; returns once it is there.
async fn worker_stuck_at(
    h: &Harness,
    queue: &Arc<dyn Queue>,
    at: CrashPoint,
) -> anyhow::Result<WorkerPool> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let pool = WorkerPool::start(
        queue.clone(),
        h.runner.clone(),
        WorkerOptions {
            workers: 1,
            backoff: h.config.backoff,
            crash: Some(Crash { at, reached: tx }),
        },
    );
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .ok()
        .flatten()
        .ok_or_else(|| anyhow::anyhow!("the worker never reached {at:?} within {WAIT:?}"))?;
    Ok(pool)
}

async fn killed_before_ack_is_redelivered(kind: BackendKind) -> anyhow::Result<()> {
    let Some(h) = Harness::new(kind, "crash_redeliver").await? else {
        return Ok(());
    };
    // Arrange: a separate connection for the doomed worker, as a separate process would have.
    let job = Job::new(Task::WelcomeEmail {
        to: "ada@example.com".into(),
    });
    h.queue.enqueue(&job).await?;
    let doomed = h.reopen().await?;
    let pool = worker_stuck_at(&h, &doomed, CrashPoint::BeforeSideEffect).await?;
    // Act: kill it, then start a fresh worker process.
    pool.kill().await;
    doomed.crash().await;
    let fresh = h.reopen().await?;
    let pool = h.workers(&fresh, 1);
    let status = h.finished(job.id).await?;
    pool.shutdown().await;
    // Assert: nothing lost, the email went out once.
    assert_eq!(status, Status::Succeeded);
    assert_eq!(h.sink.state.delivered(job.id), 1);
    fresh.crash().await;
    h.finish().await
}

/// The backends that keep a job outside the worker process.
const RELIABLE: [BackendKind; 3] = [
    BackendKind::Redis,
    BackendKind::RedisStream,
    BackendKind::RabbitMq,
];

/// A job held by a killed worker comes back: the Redis list's reaper after the visibility
/// timeout, the Redis Stream's XAUTOCLAIM from the dead consumer's PEL, RabbitMQ's requeue when
/// the worker's connection dies.
#[actix_web::test]
async fn reliable_backends_redeliver_a_job_whose_worker_was_killed_before_ack() -> anyhow::Result<()>
{
    on_backends(&RELIABLE, killed_before_ack_is_redelivered).await
}

/// In-process: the job lived only in the dead worker's memory, so it is gone.
#[actix_web::test]
async fn in_process_loses_a_job_whose_worker_was_killed() -> anyhow::Result<()> {
    let Some(h) = Harness::new(BackendKind::InProcess, "crash_lost").await? else {
        return Ok(());
    };
    // Arrange
    let job = Job::new(Task::WelcomeEmail {
        to: "ada@example.com".into(),
    });
    h.queue.enqueue(&job).await?;
    let pool = worker_stuck_at(&h, &h.queue, CrashPoint::BeforeSideEffect).await?;
    // Act: kill the worker; a new worker on the same queue finds nothing to do.
    pool.kill().await;
    let pool = h.workers(&h.queue, 1);
    let pending = h.queue.pending().await?;
    pool.shutdown().await;
    // Assert: nothing pending, no email, the job never finished.
    assert_eq!(pending, 0);
    assert_eq!(h.sink.state.delivered(job.id), 0);
    assert_ne!(
        h.runner.statuses.get(job.id).map(|r| r.status),
        Some(Status::Succeeded)
    );
    h.finish().await
}

async fn redelivery_after_the_effect(kind: BackendKind) -> anyhow::Result<()> {
    for idempotent in [false, true] {
        let Some(h) = Harness::new(kind, "crash_after_effect").await? else {
            return Ok(());
        };
        // Arrange
        h.runner.set_idempotent(idempotent);
        let job = Job::new(Task::WelcomeEmail {
            to: "ada@example.com".into(),
        });
        h.queue.enqueue(&job).await?;
        let doomed = h.reopen().await?;
        let pool = worker_stuck_at(&h, &doomed, CrashPoint::AfterSideEffect).await?;
        // Act: the worker dies after the email, before the ack; a new process takes over.
        pool.kill().await;
        doomed.crash().await;
        let fresh = h.reopen().await?;
        let pool = h.workers(&fresh, 1);
        h.finished(job.id).await?;
        pool.shutdown().await;
        // Assert
        let expected = if idempotent { 1 } else { 2 };
        assert_eq!(
            h.sink.state.delivered(job.id),
            expected,
            "{}: idempotent = {idempotent}",
            kind.label()
        );
        fresh.crash().await;
        h.finish().await?;
    }
    Ok(())
}

/// After the email but before the ack: redelivery sends it twice, unless the job id is checked
/// (on every backend that redelivers).
#[actix_web::test]
async fn the_idempotency_key_turns_a_redelivery_after_the_effect_into_a_no_op() -> anyhow::Result<()>
{
    on_backends(&RELIABLE, redelivery_after_the_effect).await
}
