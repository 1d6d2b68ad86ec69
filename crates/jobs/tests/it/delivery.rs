//! Normal operation: every job once, duplicates once, delays, priorities, shutdown, bad payloads.
//! Each claim that every backend makes runs over all of them ([`on_every_backend`]).

use std::time::Duration;

use jobs::BackendKind;
use jobs::job::{Job, QueueError, Task, now_ms};
use jobs::status::Status;

use crate::{Harness, eventually, on_backends, on_every_backend};

fn welcome(i: usize) -> Job {
    Job::new(Task::WelcomeEmail {
        to: format!("user{i}@example.com"),
    })
}

async fn every_job_runs_exactly_once(kind: BackendKind) -> anyhow::Result<()> {
    let Some(h) = Harness::new(kind, "exactly_once").await? else {
        return Ok(());
    };
    // Arrange: idempotency off, so a double delivery would show as a double email.
    h.runner.set_idempotent(false);
    let jobs: Vec<Job> = (0..20).map(welcome).collect();
    // Act
    let pool = h.workers(&h.queue, 4);
    for job in &jobs {
        h.queue.enqueue(job).await?;
    }
    for job in &jobs {
        assert_eq!(h.finished(job.id).await?, Status::Succeeded);
    }
    pool.shutdown().await;
    // Assert: one email per job, and nothing left behind in the queue.
    for job in &jobs {
        assert_eq!(h.sink.state.delivered(job.id), 1, "{}", kind.label());
    }
    assert_eq!(h.queue.pending().await?, 0, "{}", kind.label());
    h.finish().await
}

/// Each enqueued job's side effect happens exactly once under normal operation, on every backend
/// (in-process, the Redis list, the Redis Stream with XADD/XREADGROUP/XACK, RabbitMQ).
#[actix_web::test]
async fn every_backend_runs_every_job_exactly_once() -> anyhow::Result<()> {
    on_every_backend(every_job_runs_exactly_once).await
}

async fn duplicate_delivery_sends_once(kind: BackendKind) -> anyhow::Result<()> {
    let Some(h) = Harness::new(kind, "duplicate").await? else {
        return Ok(());
    };
    // Arrange: the same job (same id) enqueued twice, as a producer retrying a publish would.
    let job = welcome(1);
    h.queue.enqueue(&job).await?;
    h.queue.enqueue(&job).await?;
    // Act: a single worker, so the two deliveries run one after the other.
    let pool = h.workers(&h.queue, 1);
    h.finished(job.id).await?;
    eventually("the duplicate delivery was not consumed", || async {
        Ok(h.queue.pending().await? == 0)
    })
    .await?;
    pool.shutdown().await;
    // Assert: both deliveries were consumed, and the email went out once.
    assert_eq!(h.sink.state.delivered(job.id), 1, "{}", kind.label());
    h.finish().await
}

/// Idempotency: a second delivery of the same job id does not send a second email, on every
/// backend.
#[actix_web::test]
async fn a_duplicate_delivery_of_a_job_id_sends_the_email_once() -> anyhow::Result<()> {
    on_every_backend(duplicate_delivery_sends_once).await
}

async fn delayed_job_waits(kind: BackendKind) -> anyhow::Result<()> {
    let Some(h) = Harness::new(kind, "delayed").await? else {
        return Ok(());
    };
    // Arrange
    let job = welcome(1).delayed(Duration::from_millis(400));
    let pool = h.workers(&h.queue, 2);
    // Act
    h.queue.enqueue(&job).await?;
    h.finished(job.id).await?;
    pool.shutdown().await;
    // Assert: the first attempt started no earlier than the job's run-at time.
    let record = h
        .runner
        .statuses
        .get(job.id)
        .ok_or_else(|| anyhow::anyhow!("no record"))?;
    assert!(
        record.attempts[0] >= job.run_at_ms,
        "{} ran early",
        kind.label()
    );
    h.finish().await
}

/// Scheduled jobs do not run before their time, on every backend.
#[actix_web::test]
async fn a_delayed_job_does_not_run_before_its_time() -> anyhow::Result<()> {
    on_every_backend(delayed_job_waits).await
}

/// RabbitMQ priorities: with a backlog, the high-priority job is delivered before older low ones.
/// (The other backends do not implement priorities; the README says so.)
#[actix_web::test]
async fn higher_priority_jobs_run_first_on_rabbitmq() -> anyhow::Result<()> {
    let Some(mut h) = Harness::new(BackendKind::RabbitMq, "priority").await? else {
        return Ok(());
    };
    // Arrange: prefetch 1 so the broker, not the client buffer, picks the order.
    h.config.prefetch = 1;
    h.queue.delete().await?;
    h.queue = h.reopen().await?;
    let low: Vec<Job> = (0..5).map(|i| welcome(i).with_priority(0)).collect();
    let high = welcome(99).with_priority(9);
    for job in &low {
        h.queue.enqueue(job).await?;
    }
    h.queue.enqueue(&high).await?;
    // Act
    let pool = h.workers(&h.queue, 1);
    for job in low.iter().chain([&high]) {
        h.finished(job.id).await?;
    }
    pool.shutdown().await;
    // Assert: the high-priority job started before every low-priority one.
    let started = |job: &Job| {
        h.runner
            .statuses
            .get(job.id)
            .map(|r| r.attempts[0])
            .unwrap_or(u64::MAX)
    };
    let first_low = low.iter().map(started).min().unwrap_or(0);
    assert!(
        started(&high) <= first_low,
        "high {} vs first low {first_low}",
        started(&high)
    );
    h.finish().await
}

async fn shutdown_keeps_accepted_jobs(kind: BackendKind) -> anyhow::Result<()> {
    let Some(h) = Harness::new(kind, "shutdown").await? else {
        return Ok(());
    };
    // Arrange: a slow mail service and more jobs than the workers can finish before shutdown.
    h.sink.state.set_latency(Duration::from_millis(20));
    let jobs: Vec<Job> = (0..30).map(welcome).collect();
    for job in &jobs {
        h.queue.enqueue(job).await?;
    }
    let pool = h.workers(&h.queue, 2);
    h.finished(jobs[0].id).await?;
    // Act: graceful shutdown mid-backlog, then a new process picks up where it left off.
    pool.shutdown().await;
    let backlog = jobs
        .iter()
        .filter(|j| h.runner.statuses.get(j.id).map(|r| r.status) != Some(Status::Succeeded))
        .count();
    let restarted = h.reopen().await?;
    let pool = h.workers(&restarted, 2);
    for job in &jobs {
        h.finished(job.id).await?;
    }
    pool.shutdown().await;
    // Assert: the shutdown really left accepted jobs unrun (else the claim is empty), and every
    // accepted job still sent its email exactly once.
    assert!(backlog > 0, "{}: no backlog at shutdown", kind.label());
    for job in &jobs {
        assert_eq!(h.sink.state.delivered(job.id), 1, "{}", kind.label());
    }
    restarted.crash().await;
    h.finish().await
}

/// In-process graceful shutdown: new jobs are refused, and every job already accepted is
/// finished before the workers stop (the backlog is drained, not dropped).
#[actix_web::test]
async fn graceful_shutdown_loses_no_accepted_work() -> anyhow::Result<()> {
    let Some(h) = Harness::new(BackendKind::InProcess, "drain").await? else {
        return Ok(());
    };
    // Arrange: a backlog accepted before any worker runs (nothing has had a chance to run it:
    // the test runtime is single-threaded and the workers have not been polled yet).
    h.runner.set_idempotent(false);
    h.sink.state.set_latency(Duration::from_millis(5));
    let jobs: Vec<Job> = (0..30).map(welcome).collect();
    for job in &jobs {
        h.queue.enqueue(job).await?;
    }
    let pool = h.workers(&h.queue, 2);
    let backlog = h.queue.pending().await?;
    // Act: shut down at once, with a generous deadline.
    let left = pool.shutdown_within(Duration::from_secs(20)).await;
    let late = h.queue.enqueue(&welcome(99)).await;
    // Assert: the backlog existed, nothing is left, every email went out once, and the closed
    // queue refused the late job.
    assert!(backlog > 0, "no backlog at shutdown");
    assert_eq!(left, 0);
    for job in &jobs {
        assert_eq!(h.sink.state.delivered(job.id), 1);
    }
    assert!(matches!(late, Err(QueueError::Closed)), "{late:?}");
    h.finish().await
}

/// Graceful shutdown on a broker loses no accepted job: the workers stop with a backlog still
/// queued, and a restarted pool finishes it (the Redis list, the Redis Stream, RabbitMQ; the
/// in-process queue drains instead, in its sibling above).
#[actix_web::test]
async fn graceful_shutdown_loses_no_accepted_job() -> anyhow::Result<()> {
    on_backends(
        &[
            BackendKind::Redis,
            BackendKind::RedisStream,
            BackendKind::RabbitMq,
        ],
        shutdown_keeps_accepted_jobs,
    )
    .await
}

async fn malformed_goes_to_dead_letters(kind: BackendKind) -> anyhow::Result<()> {
    let Some(h) = Harness::new(kind, "malformed").await? else {
        return Ok(());
    };
    // Arrange: garbage, then a good job behind it.
    h.queue
        .enqueue_raw(b"{\"kind\": \"not a job".to_vec())
        .await?;
    let good = welcome(1);
    h.queue.enqueue(&good).await?;
    // Act
    let pool = h.workers(&h.queue, 1);
    let status = h.finished(good.id).await?;
    pool.shutdown().await;
    // Assert: the worker survived, and the bad payload is parked with its reason.
    assert_eq!(status, Status::Succeeded);
    let dead = h.queue.dead_letters().await?;
    assert_eq!(dead.len(), 1, "{}: {dead:?}", kind.label());
    assert!(
        dead[0].reason.starts_with("malformed payload"),
        "{}: {}",
        kind.label(),
        dead[0].reason
    );
    assert!(dead[0].id.is_none() && dead[0].at_ms <= now_ms() + 1000);
    h.finish().await
}

/// A malformed payload goes to the dead-letter queue with the reason; the worker keeps working
/// (every backend).
#[actix_web::test]
async fn a_malformed_payload_is_dead_lettered_with_its_reason() -> anyhow::Result<()> {
    on_every_backend(malformed_goes_to_dead_letters).await
}
