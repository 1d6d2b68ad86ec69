//! A job that always fails walks its backoff schedule, lands in the dead-letter queue, and replays.

use jobs::BackendKind;
use jobs::job::{Job, Task};
use jobs::mail::BOUNCE_MARKER;
use jobs::status::Status;

use crate::{Harness, on_every_backend};

async fn failing_job_walks_the_schedule(kind: BackendKind) -> anyhow::Result<()> {
    let Some(h) = Harness::new(kind, "retries").await? else {
        return Ok(());
    };
    // Arrange: a recipient the mail service always refuses while bouncing is on.
    let job = Job::new(Task::WelcomeEmail {
        to: format!("{BOUNCE_MARKER}@example.com"),
    });
    let schedule = h.config.backoff.schedule(job.id);
    let pool = h.workers(&h.queue, 2);
    // Act
    h.queue.enqueue(&job).await?;
    let status = h.finished(job.id).await?;
    // Assert: max_attempts attempts, each gap at least the scheduled delay, then dead.
    assert_eq!(status, Status::Dead);
    let record = h
        .runner
        .statuses
        .get(job.id)
        .ok_or_else(|| anyhow::anyhow!("no record"))?;
    assert_eq!(
        record.attempts.len(),
        h.config.backoff.max_attempts as usize
    );
    for (gap, delay) in record
        .attempts
        .windows(2)
        .map(|w| w[1] - w[0])
        .zip(&schedule)
    {
        // Millisecond timestamps: allow the 1 ms the scheduled delay loses to truncation.
        assert!(
            gap + 1 >= delay.as_millis() as u64,
            "{}: gap {gap} ms < scheduled {delay:?}",
            kind.label()
        );
    }
    let dead = h.queue.dead_letters().await?;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, Some(job.id));
    assert!(
        dead[0].reason.contains(&format!(
            "gave up after {} attempts",
            h.config.backoff.max_attempts
        )),
        "{}",
        dead[0].reason
    );

    // Act again: the mail service recovers, and the dead letter is replayed.
    h.sink.state.set_bouncing(false);
    // The status is reset first: the replayed job may finish before `replay` returns.
    h.runner.statuses.queued(job.id, "welcome_email");
    assert!(h.queue.replay(job.id).await?);
    let status = h.finished(job.id).await?;
    pool.shutdown().await;
    // Assert: it ran, and the dead-letter queue is empty.
    assert_eq!(status, Status::Succeeded);
    assert_eq!(h.sink.state.delivered(job.id), 1);
    assert!(h.queue.dead_letters().await?.is_empty());
    h.finish().await
}

/// A job that always fails is retried no sooner than its backoff schedule says, dead-lettered
/// after N attempts, and runs when replayed: on every backend (in-process timers, the Redis
/// list's and the Redis Stream's delayed sorted set, RabbitMQ's TTL retry queue and DLQ).
#[actix_web::test]
async fn every_backend_retries_on_schedule_then_dead_letters_then_replays() -> anyhow::Result<()> {
    on_every_backend(failing_job_walks_the_schedule).await
}
