//! Claims about the consumer service: it processes each event once, refuses forgeries, and
//! answers before it processes.

use std::sync::Arc;
use std::time::Duration;

use support::clock::{Clock, SystemClock};
use tokio::sync::Semaphore;
use webhooks::config::Config;
use webhooks::consumer::{self, Consumer, ProcessedLog};
use webhooks::signature::{Secret, Signer};

/// Long enough never to be reached by a passing test; only a failing one waits it out.
const PATIENCE: Duration = Duration::from_secs(5);

struct Sent {
    status: reqwest::StatusCode,
    content_type: Option<String>,
}

async fn deliver(
    client: &reqwest::Client,
    url: &str,
    signer: &Signer,
    id: &str,
    body: &str,
) -> anyhow::Result<Sent> {
    let headers = signer.headers(id, SystemClock.now(), body.as_bytes());
    let mut request = client.post(url).body(body.to_owned());
    for (name, value) in headers.pairs() {
        request = request.header(name, value);
    }
    let response = request.send().await?;
    Ok(Sent {
        status: response.status(),
        content_type: response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    })
}

fn ids(log: &ProcessedLog) -> Vec<String> {
    log.snapshot().into_iter().map(|p| p.id).collect()
}

/// The worker processes in arrival order, so once a later marker event is processed, any
/// duplicate that had slipped into the queue before it would be in the log too.
#[tokio::test]
async fn a_valid_delivery_is_processed_once_even_when_delivered_three_times() -> anyhow::Result<()>
{
    // Arrange
    let secret = Secret::generate();
    let signer = Signer::new(secret.clone());
    let (state, log) = Consumer::new(vec![secret], Config::default().tolerance).start();
    let counted = state.clone();
    let server = support::server::spawn(|l| consumer::run(l, state))?;
    let client = reqwest::Client::new();
    let url = server.url(consumer::PATH);
    let body = r#"{"type":"order.paid","order":"ord_1"}"#;

    // Act
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(deliver(&client, &url, &signer, "evt_1", body).await?.status);
    }
    deliver(&client, &url, &signer, "evt_marker", "{}").await?;
    let processed = log.wait_for(2, PATIENCE).await;

    // Assert
    assert_eq!(statuses, vec![reqwest::StatusCode::OK; 3]);
    assert_eq!(ids(&log), ["evt_1", "evt_marker"]);
    assert_eq!(
        counted.duplicates(),
        ["evt_1", "evt_1"],
        "both repeats counted"
    );
    assert_eq!(processed[0].payload["order"], "ord_1");
    assert!(processed[0].received_at <= processed[0].processed_at);
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_forged_delivery_is_refused_with_401_and_never_processed() -> anyhow::Result<()> {
    // Arrange: the forger signs with a secret of its own.
    let secret = Secret::generate();
    let (state, log) = Consumer::new(vec![secret.clone()], Config::default().tolerance).start();
    let server = support::server::spawn(|l| consumer::run(l, state))?;
    let client = reqwest::Client::new();
    let url = server.url(consumer::PATH);
    let forger = Signer::new(Secret::generate());

    // Act
    let forged = deliver(&client, &url, &forger, "evt_forged", r#"{"refund":1000}"#).await?;
    let unsigned = client.post(&url).body("{}").send().await?.status();
    deliver(&client, &url, &Signer::new(secret), "evt_marker", "{}").await?;
    log.wait_for(1, PATIENCE).await;

    // Assert
    assert_eq!(forged.status, reqwest::StatusCode::UNAUTHORIZED);
    assert_eq!(
        forged.content_type.as_deref(),
        Some(support::problem::PROBLEM_JSON)
    );
    assert_eq!(unsigned, reqwest::StatusCode::UNAUTHORIZED);
    assert_eq!(ids(&log), ["evt_marker"]);
    server.stop().await;
    Ok(())
}

/// The worker is held at a gate the test controls: the 200 arrives while nothing has been
/// processed, and processing happens only once the gate opens.
#[tokio::test]
async fn the_handler_answers_before_processing_finishes() -> anyhow::Result<()> {
    // Arrange
    let secret = Secret::generate();
    let gate = Arc::new(Semaphore::new(0));
    let (state, log) = Consumer::new(vec![secret.clone()], Config::default().tolerance)
        .with_gate(gate.clone())
        .start();
    let server = support::server::spawn(|l| consumer::run(l, state))?;
    let client = reqwest::Client::new();
    let signer = Signer::new(secret);

    // Act
    let answered = deliver(&client, &server.url(consumer::PATH), &signer, "evt_1", "{}").await?;
    let before = log.snapshot().len();
    gate.add_permits(1);
    let after = log.wait_for(1, PATIENCE).await.len();

    // Assert
    assert_eq!(answered.status, reqwest::StatusCode::OK);
    assert_eq!(before, 0);
    assert_eq!(after, 1);
    server.stop().await;
    Ok(())
}

/// A delivery whose queue slot is refused is not remembered as seen, so the provider's retry
/// is processed.
#[tokio::test]
async fn a_full_queue_answers_503_and_the_retry_is_processed() -> anyhow::Result<()> {
    // Arrange: capacity 1, and the worker held, so the second event finds the queue full (the
    // first is taken by the worker and waits at the gate, the second fills the queue).
    let secret = Secret::generate();
    let gate = Arc::new(Semaphore::new(0));
    let (state, log) = Consumer::new(vec![secret.clone()], Config::default().tolerance)
        .with_capacity(1)
        .with_gate(gate.clone())
        .start();
    let server = support::server::spawn(|l| consumer::run(l, state))?;
    let client = reqwest::Client::new();
    let url = server.url(consumer::PATH);
    let signer = Signer::new(secret);

    // Act
    let mut busy = Vec::new();
    for id in ["evt_1", "evt_2", "evt_3"] {
        let status = deliver(&client, &url, &signer, id, "{}").await?.status;
        if status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
            busy.push(id);
        }
    }
    gate.add_permits(10);
    log.wait_for(3 - busy.len(), PATIENCE).await;
    let mut retried = Vec::new();
    for id in &busy {
        retried.push(deliver(&client, &url, &signer, id, "{}").await?.status);
    }
    log.wait_for(3, PATIENCE).await;
    let mut processed = ids(&log);
    processed.sort();

    // Assert: the worker holds one and the queue one, so at least one of three was refused;
    // every refused one got in on its retry.
    assert!(!busy.is_empty());
    assert!(
        retried.iter().all(|s| *s == reqwest::StatusCode::OK),
        "{retried:?}"
    );
    assert_eq!(processed, ["evt_1", "evt_2", "evt_3"]);
    server.stop().await;
    Ok(())
}

/// The consumer remembers each id for its retention window (which must outlast the provider's
/// retry schedule) and then forgets it, so a consumer that runs for years holds one window's ids.
#[tokio::test]
async fn a_delivery_id_is_remembered_for_the_retention_window_and_then_forgotten()
-> anyhow::Result<()> {
    // Arrange
    let secret = Secret::generate();
    let signer = Signer::new(secret.clone());
    let clock = Arc::new(support::clock::ManualClock::at(1_900_000_000));
    let retention = Duration::from_secs(3_600);
    let (state, log) = Consumer::new(vec![secret], Config::default().tolerance)
        .with_clock(clock.clone())
        .with_retention(retention)
        .start();
    let counted = state.clone();
    let server = support::server::spawn(|l| consumer::run(l, state))?;
    let client = reqwest::Client::new();
    let url = server.url(consumer::PATH);
    let send = |id: &'static str| {
        let headers = signer.headers(id, clock.now(), b"{}");
        let mut request = client.post(&url).body("{}");
        for (name, value) in headers.pairs() {
            request = request.header(name, value);
        }
        request.send()
    };

    // Act
    send("evt_1").await?;
    send("evt_2").await?;
    clock.advance(retention - Duration::from_secs(1));
    send("evt_1").await?; // a late retry, inside the window
    let inside = counted.remembered_ids();
    clock.advance(Duration::from_secs(2));
    send("evt_3").await?;
    let after = counted.remembered_ids();
    log.wait_for(3, PATIENCE).await;

    // Assert
    assert_eq!(
        counted.duplicates(),
        ["evt_1"],
        "the late retry was a duplicate"
    );
    assert_eq!(inside, 2);
    assert_eq!(
        after, 1,
        "evt_1 and evt_2 are forgotten once the window has passed"
    );
    assert_eq!(ids(&log), ["evt_1", "evt_2", "evt_3"]);
    Ok(())
}
