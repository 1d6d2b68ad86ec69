//! A log keeps what was consumed: a new consumer group replays it, the old one is untouched.

use std::time::Duration;

use jobs::BackendKind;
use jobs::backends::redis_stream::{RedisStream, WORKER_GROUP};
use jobs::job::{Job, Task};
use jobs::status::Status;

use crate::Harness;

/// Replay: after the workers consumed every job, a new group reads the whole log from offset 0,
/// in order, and the workers' group keeps its offset, its (empty) PEL and its zero lag.
#[actix_web::test]
async fn a_new_consumer_group_replays_the_whole_log_and_leaves_the_first_untouched()
-> anyhow::Result<()> {
    let Some(h) = Harness::new(BackendKind::RedisStream, "log_replay").await? else {
        return Ok(());
    };
    // Arrange: ten jobs, all run and acked by the workers' group.
    let jobs: Vec<Job> = (0..10)
        .map(|i| {
            Job::new(Task::WelcomeEmail {
                to: format!("log{i}@example.com"),
            })
        })
        .collect();
    for job in &jobs {
        h.queue.enqueue(job).await?;
    }
    let pool = h.workers(&h.queue, 2);
    for job in &jobs {
        assert_eq!(h.finished(job.id).await?, Status::Succeeded);
    }
    pool.shutdown().await;
    let log = RedisStream::connect(
        &h.config.settings.redis_url,
        &h.name,
        Duration::from_secs(5),
    )
    .await?;
    let before = log.offset(WORKER_GROUP).await?;
    // Act: a second group, say an audit service started today, reads from the start.
    let replayed = log.replay_group("audit").await?;
    // Assert: every job, in enqueue order, still in the log; the workers' offsets unchanged.
    let ids: Vec<_> = replayed
        .iter()
        .map(|p| Job::decode(p).map(|j| j.id))
        .collect::<Result<_, _>>()?;
    let expected: Vec<_> = jobs.iter().map(|j| j.id).collect();
    assert_eq!(ids, expected);
    assert_eq!(log.log_len().await?, 10);
    assert_eq!(log.range_from("-").await?.len(), 10);
    let after = log.offset(WORKER_GROUP).await?;
    assert_eq!(before, after);
    let after = after.ok_or_else(|| anyhow::anyhow!("the workers' group is gone"))?;
    assert_eq!((after.pending, after.lag), (0, 0));
    assert_eq!(h.queue.pending().await?, 0);
    h.finish().await
}
