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

/// What a BullMQ test needs before its worker starts, or `None` (skipped with a reason).
struct Prepared {
    redis: String,
    node: std::path::PathBuf,
    prefix: String,
    keys: TestKeys,
}

async fn prepare(label: &str) -> Option<Prepared> {
    let redis = require(Service::Redis).await?;
    let node = bullmq_node()?;
    let keys = TestKeys::new(&redis, label);
    // TestKeys' prefix ends with ':', which BullMQ adds itself between prefix and queue name.
    let prefix = keys.prefix.trim_end_matches(':').to_owned();
    Some(Prepared {
        redis,
        node,
        prefix,
        keys,
    })
}

impl Prepared {
    /// The Rust view of the queue `emails` under this test's prefix.
    async fn queue(&self) -> anyhow::Result<BullQueue> {
        Ok(BullQueue::connect(&self.redis, &self.prefix, QUEUE).await?)
    }

    /// Starts the BullMQ worker, with its stalled-job check every `stalled_ms`.
    async fn start(self, stalled_ms: u64) -> anyhow::Result<Setup> {
        let mut command = Command::new(&self.node);
        command
            .arg("worker.mjs")
            .args([self.redis.as_str(), self.prefix.as_str(), QUEUE])
            .arg(stalled_ms.to_string())
            .current_dir(interop_dir("bullmq"));
        let worker = Peer::start(command, "ready").await?;
        Ok(Setup {
            queue: self.queue().await?,
            worker,
            _keys: self.keys,
        })
    }
}

/// The BullMQ queue every test uses (under its own prefix).
const QUEUE: &str = "emails";
/// BullMQ's default stalled-job check interval.
const STALLED_DEFAULT_MS: u64 = 30_000;

async fn setup(label: &str) -> anyhow::Result<Option<Setup>> {
    match prepare(label).await {
        Some(prepared) => Ok(Some(prepared.start(STALLED_DEFAULT_MS).await?)),
        None => Ok(None),
    }
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

/// Why this crate has no Rust BullMQ consumer: taking a job the obvious way (move its id from
/// `wait` to `active`, as BullMQ's `moveToActive` does, but without BullMQ's lock token) looks
/// like a stalled job to every real BullMQ worker. Its stalled-job check moves the job back to
/// `wait` (counting `stc`, the stalled counter) and runs it again: the job runs twice.
#[tokio::test]
async fn a_job_taken_from_bullmq_without_its_lock_is_taken_back_and_run_by_a_real_worker()
-> anyhow::Result<()> {
    let Some(prepared) = prepare("bullmq_stalled").await else {
        return Ok(());
    };
    let queue = prepared.queue().await?;
    let id = queue
        .add(
            "add",
            &json!({"x": 20, "y": 22}),
            &JobOptions {
                attempts: 1,
                backoff: None,
            },
        )
        .await?;
    // The naive Rust consumer: takes the id, as moveToActive would, and never writes a lock.
    let mut redis = redis::Client::open(prepared.redis.as_str())?
        .get_multiplexed_async_connection()
        .await?;
    let taken: Option<String> = redis::cmd("LMOVE")
        .arg(queue.key("wait"))
        .arg(queue.key("active"))
        .arg("RIGHT")
        .arg("LEFT")
        .query_async(&mut redis)
        .await?;
    assert_eq!(
        taken.as_deref(),
        Some(id.as_str()),
        "the Rust side took the job"
    );
    assert_eq!(
        queue.job(&id).await?.map(|j| j.state),
        Some(JobState::Active)
    );

    // A real BullMQ worker joins, checking for stalled jobs every 100 ms.
    let s = prepared.start(100).await?;
    let job = s.finished(&id).await?;

    let stalled_counter: Option<String> = redis::cmd("HGET")
        .arg(queue.key(&id))
        .arg("stc")
        .query_async(&mut redis)
        .await?;
    assert_eq!(job.state, JobState::Completed);
    assert_eq!(
        job.return_value,
        Some(json!({"sum": 42, "attempt": 1, "processedBy": "bullmq"})),
        "BullMQ ran the job the Rust side had taken"
    );
    assert_eq!(
        stalled_counter.as_deref(),
        Some("1"),
        "counted as stalled once"
    );
    Ok(())
}
