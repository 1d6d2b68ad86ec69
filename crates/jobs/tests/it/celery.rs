//! A queue is a protocol: real Celery (Python) and this crate's Rust code share one RabbitMQ
//! queue and Celery's Redis result backend, in both directions.
//!
//! Celery to Rust: `interop/celery/client.py` calls `apply_async` and then `AsyncResult.get()`;
//! the Rust [`CeleryWorker`] consumes the message, runs the task and stores the result. Rust to
//! Celery: [`CeleryClient`] publishes, a real `celery worker` runs the task, and the Rust
//! [`ResultBackend`] reads what Celery stored. Each test has its own queue (deleted afterwards)
//! and its own result-key prefix (deleted by [`TestKeys`]).

use std::time::Duration;

use jobs::interop::celery::{
    CeleryClient, CeleryWorker, Outcome, Received, ResultBackend, State, TaskMessage,
};
use serde_json::{Map, Value, json};
use support::Service;
use support::testkit::{TestKeys, require, unique_name};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use crate::peers::{CeleryQueueCleanup, PEER_WAIT, Peer, celery_python, interop_dir, run_json};

/// Everything a Celery test needs, or `None` (skipped with a printed reason).
struct Setup {
    amqp: String,
    redis: String,
    python: std::path::PathBuf,
    queue: String,
    keys: TestKeys,
    _queue_cleanup: CeleryQueueCleanup,
}

async fn setup(label: &str) -> Option<Setup> {
    let amqp = require(Service::RabbitMq).await?;
    let redis = require(Service::Redis).await?;
    let python = celery_python()?;
    let queue = unique_name(label);
    Some(Setup {
        keys: TestKeys::new(&redis, label),
        _queue_cleanup: CeleryQueueCleanup {
            url: amqp.clone(),
            queue: queue.clone(),
        },
        amqp,
        redis,
        python,
        queue,
    })
}

impl Setup {
    /// A Python command in `interop/celery` with the test's broker, backend and key prefix.
    fn python(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.python);
        command
            .args(args)
            .current_dir(interop_dir("celery"))
            .env("AMQP_URL", &self.amqp)
            .env("REDIS_URL", &self.redis)
            .env("CELERY_KEY_PREFIX", &self.keys.prefix);
        command
    }

    async fn results(&self) -> anyhow::Result<ResultBackend> {
        Ok(ResultBackend::connect(&self.redis, &self.keys.prefix).await?)
    }

    /// The Rust worker with this test's tasks, running until the returned token is cancelled.
    async fn rust_worker(
        &self,
    ) -> anyhow::Result<(
        CancellationToken,
        std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
    )> {
        let worker = CeleryWorker::connect(&self.amqp, &self.queue, self.results().await?)
            .await?
            .task("rust.add", |m| {
                let sum: i64 = m.args.iter().filter_map(Value::as_i64).sum();
                Outcome::Success(json!({"sum": sum, "processed_by": "rust"}))
            })
            .task("rust.flaky", |m| {
                let fail_times = m.args.first().and_then(Value::as_u64).unwrap_or(0);
                if u64::from(m.retries) < fail_times {
                    Outcome::Retry {
                        countdown: Duration::from_millis(100),
                        reason: format!("failing on purpose, retry {}", m.retries),
                    }
                } else {
                    Outcome::Success(json!({"retries": m.retries}))
                }
            })
            .task("rust.when", |m| {
                Outcome::Success(json!({
                    "eta": m.eta.map(jobs::interop::celery::iso8601),
                    "ran_at": jobs::interop::celery::iso8601(chrono::Utc::now()),
                }))
            })
            .task("rust.fail", |m| Outcome::Failure {
                exc_type: "ValueError".into(),
                message: m.args.first().and_then(Value::as_str).unwrap_or("").into(),
            });
        let received = worker.received();
        let stop = CancellationToken::new();
        let running = stop.clone();
        tokio::spawn(async move {
            if let Err(e) = worker.run(running).await {
                eprintln!("the Rust Celery worker stopped: {e}");
            }
        });
        Ok((stop, received))
    }

    /// Runs `client.py`: `apply_async` then `AsyncResult(id).get()`; returns its JSON line.
    async fn apply_async(
        &self,
        task: &str,
        args: Value,
        countdown: Option<f64>,
    ) -> anyhow::Result<Value> {
        let args = args.to_string();
        let countdown = countdown.map(|c| c.to_string());
        let mut argv = vec!["client.py", self.queue.as_str(), task, args.as_str()];
        if let Some(c) = &countdown {
            argv.push(c);
        }
        run_json(self.python(&argv)).await
    }

    /// A real Celery worker on this test's queue, ready to consume.
    async fn celery_worker(&self) -> anyhow::Result<Peer> {
        let node = format!("{}@%h", self.queue);
        let command = self.python(&[
            "-m",
            "celery",
            "-A",
            "interop_tasks",
            "worker",
            "--pool",
            "solo",
            "-Q",
            &self.queue,
            "-n",
            &node,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "INFO",
        ]);
        // Celery logs "<node> ready." once its consumer is attached to the queue.
        Peer::start(command, " ready.").await
    }
}

fn snapshot(received: &std::sync::Mutex<Vec<Received>>) -> Vec<Received> {
    received.lock().map(|r| r.clone()).unwrap_or_default()
}

/// Prints the message as it was on the wire (headers with their AMQP type letters, then the
/// body), for a reader running the test with `--nocapture`; the README quotes one such run.
fn show(received: &Received) {
    println!(
        "--- {} as received by the Rust worker",
        received.message.task
    );
    for (name, value) in &received.properties {
        println!("property {name:<20} {value}");
    }
    for (name, kind, value) in &received.headers {
        println!("header {name:<22} {kind} {value}");
    }
    println!("body {}", String::from_utf8_lossy(&received.body));
}

/// Celery → Rust: `apply_async` in Python enqueues, the Rust worker runs the task from the same
/// queue, and Python's `AsyncResult(id).get()` returns the Rust result from Celery's backend.
#[tokio::test]
async fn celery_apply_async_is_run_by_the_rust_worker_and_get_returns_its_result()
-> anyhow::Result<()> {
    let Some(s) = setup("celery_to_rust").await else {
        return Ok(());
    };
    let (stop, received) = s.rust_worker().await?;

    let answer = s.apply_async("rust.add", json!([2, 3]), None).await?;

    stop.cancel();
    assert_eq!(answer["state"], "SUCCESS", "{answer}");
    assert_eq!(answer["result"], json!({"sum": 5, "processed_by": "rust"}));
    let seen = snapshot(&received);
    assert_eq!(seen.len(), 1, "one message consumed");
    let message = &seen[0].message;
    assert_eq!(
        Value::from(message.id.clone()),
        answer["id"],
        "the task id is the header id"
    );
    assert_eq!(
        (message.task.as_str(), message.lang.as_str()),
        ("rust.add", "py")
    );
    assert_eq!((message.retries, message.eta), (0, None));
    assert_eq!(message.root_id, message.id, "a task alone is its own root");
    let names: Vec<&str> = seen[0].headers.iter().map(|(n, _, _)| n.as_str()).collect();
    for header in [
        "lang",
        "task",
        "id",
        "root_id",
        "parent_id",
        "group",
        "retries",
        "eta",
        "expires",
        "timelimit",
        "argsrepr",
        "kwargsrepr",
        "origin",
    ] {
        assert!(
            names.contains(&header),
            "header {header} missing from {names:?}"
        );
    }
    show(&seen[0]);
    Ok(())
}

/// Celery → Rust, retries: the Rust worker retries the way Celery's `self.retry` does (a new
/// message, same id, `retries + 1`, an ETA), and `get()` waits through the retries for the end.
#[tokio::test]
async fn a_rust_retry_is_a_new_celery_message_with_the_same_id_and_one_more_retry()
-> anyhow::Result<()> {
    let Some(s) = setup("celery_rust_retry").await else {
        return Ok(());
    };
    let (stop, received) = s.rust_worker().await?;

    let answer = s.apply_async("rust.flaky", json!([2]), None).await?;

    stop.cancel();
    assert_eq!(answer["state"], "SUCCESS", "{answer}");
    assert_eq!(answer["result"], json!({"retries": 2}));
    let seen = snapshot(&received);
    let retries: Vec<u32> = seen.iter().map(|r| r.message.retries).collect();
    assert_eq!(
        retries,
        [0, 1, 2],
        "three messages, counted in their headers"
    );
    assert!(seen.iter().all(|r| answer["id"] == r.message.id.as_str()));
    let states: Vec<State> = seen.iter().map(|r| r.state).collect();
    assert_eq!(states, [State::Retry, State::Retry, State::Success]);
    for retry in &seen[1..] {
        let (eta, ran) = (
            retry.message.eta.expect("a retry has an ETA"),
            retry.ran_at.expect("ran"),
        );
        assert!(
            ran >= eta,
            "retry {} ran at {ran}, before its ETA {eta}",
            retry.message.retries
        );
    }
    show(&seen[1]);
    Ok(())
}

/// Celery → Rust, ETA: `apply_async(countdown=1)` puts an `eta` header on the message, and the
/// Rust worker holds the message until then.
#[tokio::test]
async fn a_celery_countdown_is_an_eta_header_the_rust_worker_waits_for() -> anyhow::Result<()> {
    let Some(s) = setup("celery_rust_eta").await else {
        return Ok(());
    };
    let (stop, received) = s.rust_worker().await?;

    let answer = s.apply_async("rust.when", json!([]), Some(1.0)).await?;

    stop.cancel();
    assert_eq!(answer["state"], "SUCCESS", "{answer}");
    let seen = snapshot(&received);
    assert_eq!(seen.len(), 1);
    let eta = seen[0]
        .message
        .eta
        .expect("countdown becomes an eta header");
    let ran = seen[0].ran_at.expect("ran");
    assert!(ran >= eta, "ran at {ran}, before its ETA {eta}");
    assert_eq!(
        answer["result"]["eta"],
        json!(jobs::interop::celery::iso8601(eta))
    );
    Ok(())
}

/// Celery → Rust, failure: a Rust failure is stored as Celery stores an exception, and Python's
/// `get()` raises it as the named Python exception with the message.
#[tokio::test]
async fn a_rust_failure_is_raised_by_celery_as_the_python_exception() -> anyhow::Result<()> {
    let Some(s) = setup("celery_rust_fail").await else {
        return Ok(());
    };
    let (stop, _received) = s.rust_worker().await?;

    let answer = s
        .apply_async("rust.fail", json!(["no such user"]), None)
        .await?;

    stop.cancel();
    assert_eq!(answer["state"], "FAILURE", "{answer}");
    assert_eq!(answer["error"], "ValueError");
    assert_eq!(answer["message"], "no such user");
    Ok(())
}

/// Rust → Celery: the Rust producer publishes a protocol-2 message, a real Celery worker runs the
/// Python task, and the Rust side reads the result from Celery's Redis backend.
#[tokio::test]
async fn a_task_sent_from_rust_is_run_by_a_real_celery_worker() -> anyhow::Result<()> {
    let Some(s) = setup("rust_to_celery").await else {
        return Ok(());
    };
    let client = CeleryClient::connect(&s.amqp).await?;
    client.declare(&s.queue).await?;
    let results = s.results().await?;
    let worker = s.celery_worker().await?;

    let id = client
        .send(
            &s.queue,
            &TaskMessage::new("py.add", vec![json!(2), json!(3)], Map::new()),
        )
        .await?;
    let meta = results.wait(&id, PEER_WAIT).await;

    client.close().await;
    let meta =
        meta.map_err(|e| anyhow::anyhow!("{e}; the Celery worker said:\n{}", worker.output()))?;
    assert_eq!(meta.status, State::Success, "{meta:?}");
    assert_eq!(meta.result, json!({"sum": 5, "processed_by": "celery"}));
    assert_eq!(meta.task_id, id);
    assert!(meta.date_done.is_some(), "a finished task has date_done");
    // What Celery stored, as stored: the README quotes one.
    let mut redis = redis::Client::open(s.redis.as_str())?
        .get_multiplexed_async_connection()
        .await?;
    let stored: String = redis::cmd("GET")
        .arg(results.key(&id))
        .query_async(&mut redis)
        .await?;
    println!("--- GET {}\n{stored}", results.key(&id));
    Ok(())
}

/// Rust → Celery, retries, ETA and expiry: the real Celery worker counts its retries from the
/// Rust message's `retries` header, holds a message with a Rust-written `eta` until then, and
/// revokes one whose `expires` has passed.
#[tokio::test]
async fn a_real_celery_worker_honours_retries_eta_and_expires_sent_from_rust() -> anyhow::Result<()>
{
    let Some(s) = setup("rust_to_celery_eta").await else {
        return Ok(());
    };
    let client = CeleryClient::connect(&s.amqp).await?;
    client.declare(&s.queue).await?;
    let results = s.results().await?;
    let worker = s.celery_worker().await?;
    let now = chrono::Utc::now();

    let flaky = client
        .send(
            &s.queue,
            &TaskMessage::new("py.flaky", vec![json!(2)], Map::new()),
        )
        .await?;
    let eta = now + chrono::Duration::milliseconds(800);
    let when = client
        .send(
            &s.queue,
            &TaskMessage::new("py.when", vec![], Map::new()).with_eta(eta),
        )
        .await?;
    let expired = client
        .send(
            &s.queue,
            &TaskMessage::new("py.add", vec![json!(1), json!(1)], Map::new())
                .with_expires(now - chrono::Duration::seconds(1)),
        )
        .await?;
    let outcomes = async {
        Ok::<_, anyhow::Error>((
            results.wait(&flaky, PEER_WAIT).await?,
            results.wait(&when, PEER_WAIT).await?,
            results.wait(&expired, PEER_WAIT).await?,
        ))
    }
    .await;

    client.close().await;
    let (flaky, when, expired) = outcomes
        .map_err(|e| anyhow::anyhow!("{e}; the Celery worker said:\n{}", worker.output()))?;
    assert_eq!(
        (flaky.status, &flaky.result),
        (State::Success, &json!({"retries": 2}))
    );
    assert_eq!(when.status, State::Success, "{when:?}");
    let ran_at = when.result["ran_at"]
        .as_f64()
        .expect("ran_at is a Unix time");
    let eta_secs = eta.timestamp_micros() as f64 / 1e6;
    assert!(
        ran_at >= eta_secs,
        "ran at {ran_at}, before its ETA {eta_secs}"
    );
    assert_eq!(expired.status, State::Revoked, "{expired:?}");
    Ok(())
}
