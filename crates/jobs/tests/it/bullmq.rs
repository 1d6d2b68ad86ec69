//! A queue is a protocol, on Redis: the Rust producer writes a job into BullMQ's keys and a real
//! BullMQ `Worker` (Node.js, `interop/bullmq/worker.mjs`) processes it; the result, the attempts
//! and the failures are read back from Redis as BullMQ keeps them. Each test has its own key
//! prefix, deleted by [`TestKeys`] afterwards.

use jobs::interop::bullmq::{Backoff, BullQueue, JobOptions, JobRecord, JobState};
use serde_json::json;
use support::Service;
use support::testkit::{TestKeys, require};
use tokio::process::Command;

use crate::peers::{PEER_WAIT, Peer, bullmq_node, interop_dir};

/// A BullMQ worker on a queue of its own, and the Rust view of that queue.
struct Setup {
    queue: BullQueue,
    worker: Peer,
    _keys: TestKeys,
}

async fn setup(label: &str) -> anyhow::Result<Option<Setup>> {
    let Some(redis) = require(Service::Redis).await else {
        return Ok(None);
    };
    let Some(node) = bullmq_node() else {
        return Ok(None);
    };
    let keys = TestKeys::new(&redis, label);
    // TestKeys' prefix ends with ':', which BullMQ adds itself between prefix and queue name.
    let prefix = keys.prefix.trim_end_matches(':').to_owned();
    let mut command = Command::new(node);
    command
        .arg("worker.mjs")
        .args([redis.as_str(), prefix.as_str(), "emails"])
        .current_dir(interop_dir("bullmq"));
    let worker = Peer::start(command, "ready").await?;
    let queue = BullQueue::connect(&redis, &prefix, "emails").await?;
    Ok(Some(Setup {
        queue,
        worker,
        _keys: keys,
    }))
}

impl Setup {
    /// Waits (bounded by [`PEER_WAIT`]) until job `id` is completed or failed, then returns it.
    async fn finished(&self, id: &str) -> anyhow::Result<JobRecord> {
        let deadline = std::time::Instant::now() + PEER_WAIT;
        loop {
            let job = self.queue.job(id).await?;
            if let Some(job) = &job
                && matches!(job.state, JobState::Completed | JobState::Failed)
            {
                return Ok(job.clone());
            }
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "job {id} did not finish within {PEER_WAIT:?}; last seen {job:?}; the worker said:\n{}",
                self.worker.output()
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

/// Prints the job hash as BullMQ left it, for a reader running with `--nocapture`.
fn show(job: &JobRecord) {
    println!("--- BullMQ job {} ({:?})", job.id, job.state);
    for (field, value) in &job.fields {
        println!("{field:<12} {value}");
    }
}

/// Rust → BullMQ: a job added from Rust is taken by a real BullMQ worker; its first attempt
/// fails and BullMQ retries it after the backoff; the hash shows both attempts and the result.
#[tokio::test]
async fn a_job_added_from_rust_is_processed_by_a_real_bullmq_worker_with_its_attempts_in_redis()
-> anyhow::Result<()> {
    let Some(s) = setup("bullmq_retry").await? else {
        return Ok(());
    };
    let data = json!({"x": 2, "y": 3, "failTimes": 1});
    let opts = JobOptions {
        attempts: 3,
        backoff: Some(Backoff {
            kind: "fixed",
            delay: 50,
        }),
    };

    let id = s.queue.add("add", &data, &opts).await?;
    let job = s.finished(&id).await?;

    show(&job);
    assert_eq!(job.state, JobState::Completed);
    assert_eq!(
        job.return_value,
        Some(json!({"sum": 5, "attempt": 2, "processedBy": "bullmq"}))
    );
    assert_eq!((job.attempts_made, job.attempts_started), (2, 2));
    assert_eq!(job.stacktrace.len(), 1, "one failed attempt recorded");
    assert_eq!((job.name.as_str(), &job.data), ("add", &data));
    assert_eq!(job.opts["attempts"], 3);
    Ok(())
}

/// Rust → BullMQ, exhausted attempts: a job that fails every attempt ends in BullMQ's `failed`
/// set with its attempts counted and the last error as `failedReason`.
#[tokio::test]
async fn a_job_from_rust_that_fails_every_attempt_lands_in_bullmqs_failed_set() -> anyhow::Result<()>
{
    let Some(s) = setup("bullmq_failed").await? else {
        return Ok(());
    };
    let opts = JobOptions {
        attempts: 2,
        backoff: None,
    };

    let id = s
        .queue
        .add("add", &json!({"x": 1, "y": 1, "failTimes": 9}), &opts)
        .await?;
    let job = s.finished(&id).await?;

    assert_eq!(job.state, JobState::Failed);
    assert_eq!(job.attempts_made, 2);
    assert_eq!(job.stacktrace.len(), 2, "each failed attempt recorded");
    let reason = job.failed_reason.clone().unwrap_or_default();
    assert!(reason.contains("failing on purpose, attempt 2"), "{reason}");
    assert_eq!(job.return_value, None);
    Ok(())
}
