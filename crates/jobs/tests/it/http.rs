//! The HTTP service: what a client sees for each backend and for bad input.

use std::sync::Arc;

use actix_web::web;
use jobs::backends::in_process::InProcess;
use jobs::status::Status;
use jobs::backends::synchronous::Synchronous;
use jobs::worker::{WorkerOptions, WorkerPool};
use jobs::{AppState, BackendKind, Queue, run};
use serde_json::{Value, json};

use crate::Harness;

/// Enqueueing answers 202 with a job id and a Location; the status page reaches `succeeded`.
#[actix_web::test]
async fn signup_with_a_queue_answers_202_and_the_job_status_reaches_succeeded() -> anyhow::Result<()>
{
    let Some(h) = Harness::new(BackendKind::InProcess, "http").await? else {
        return Ok(());
    };
    // Arrange
    let queue: Arc<dyn Queue> = Arc::new(InProcess::new());
    let pool = WorkerPool::start(
        queue.clone(),
        h.runner.clone(),
        WorkerOptions {
            workers: 1,
            backoff: h.config.backoff,
            crash: None,
        },
    );
    let state = web::Data::new(AppState::new(queue, h.runner.clone()));
    let server = support::server::spawn(|l| run(l, state))?;
    let client = reqwest::Client::new();
    // Act
    let response = client
        .post(server.url("/signup"))
        .json(&json!({"email": "ada@example.com"}))
        .send()
        .await?;
    // Assert
    assert_eq!(response.status(), 202);
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: Value = response.json().await?;
    let id: uuid::Uuid = serde_json::from_value(body["job_id"].clone())?;
    assert_eq!(location, Some(format!("/jobs/{id}")));
    assert_eq!(h.runner.statuses.wait_finished(id).await, Status::Succeeded);
    let status: Value = client
        .get(server.url(&format!("/jobs/{id}")))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(status["status"], "succeeded");
    pool.shutdown().await;
    server.stop().await;
    Ok(())
}

/// The synchronous baseline answers 201 only after the email was sent.
#[actix_web::test]
async fn synchronous_signup_answers_201_after_the_email_is_sent() -> anyhow::Result<()> {
    let Some(h) = Harness::new(BackendKind::InProcess, "http_sync").await? else {
        return Ok(());
    };
    // Arrange
    let queue: Arc<dyn Queue> = Arc::new(Synchronous::new(h.runner.clone()));
    let state = web::Data::new(AppState::new(queue, h.runner.clone()));
    let server = support::server::spawn(|l| run(l, state))?;
    // Act
    let response = reqwest::Client::new()
        .post(server.url("/signup"))
        .json(&json!({"email": "ada@example.com"}))
        .send()
        .await?;
    // Assert: by the time the client has its answer, the mail service has the message.
    assert_eq!(response.status(), 201);
    assert_eq!(h.sink.state.total_delivered(), 1);
    server.stop().await;
    Ok(())
}

/// Bad input gets a precise status and a problem+json body, and enqueues nothing.
#[actix_web::test]
async fn bad_input_gets_a_problem_and_enqueues_nothing() -> anyhow::Result<()> {
    let Some(h) = Harness::new(BackendKind::InProcess, "http_bad").await? else {
        return Ok(());
    };
    // Arrange
    let queue: Arc<dyn Queue> = Arc::new(InProcess::new());
    let state = web::Data::new(AppState::new(queue.clone(), h.runner.clone()));
    let server = support::server::spawn(|l| run(l, state))?;
    let client = reqwest::Client::new();
    let post = |path: &'static str, body: Value| client.post(server.url(path)).json(&body).send();
    // Act
    let bad_email = post("/signup", json!({"email": "nope"})).await?;
    let bad_size = post(
        "/thumbnails",
        json!({"width": 0, "height": 10, "max_side": 5}),
    )
    .await?;
    let unknown = client
        .get(server.url(&format!("/jobs/{}", uuid::Uuid::nil())))
        .send()
        .await?;
    let not_uuid = client.get(server.url("/jobs/123")).send().await?;
    let first = post("/signup", json!({"email": "ada@example.com"})).await?;
    let again = post("/signup", json!({"email": "ada@example.com"})).await?;
    // Assert
    assert_eq!(bad_email.status(), 422);
    assert_eq!(
        bad_email
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    assert_eq!(bad_size.status(), 422);
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        not_uuid.status(),
        404,
        "an id that is not a UUID names no job"
    );
    assert_eq!(
        (first.status().as_u16(), again.status().as_u16()),
        (202, 409)
    );
    assert_eq!(
        queue.pending().await?,
        1,
        "only the one good sign-up was enqueued"
    );
    server.stop().await;
    Ok(())
}

/// The CPU-bound thumbnail job is accepted with 202 and finishes on a worker.
#[actix_web::test]
async fn an_enqueued_thumbnail_is_made_by_a_worker() -> anyhow::Result<()> {
    let Some(h) = Harness::new(BackendKind::InProcess, "http_thumb").await? else {
        return Ok(());
    };
    // Arrange
    let queue: Arc<dyn Queue> = Arc::new(InProcess::new());
    let pool = WorkerPool::start(
        queue.clone(),
        h.runner.clone(),
        WorkerOptions {
            workers: 1,
            backoff: h.config.backoff,
            crash: None,
        },
    );
    let state = web::Data::new(AppState::new(queue, h.runner.clone()));
    let server = support::server::spawn(|l| run(l, state))?;
    // Act
    let response = reqwest::Client::new()
        .post(server.url("/thumbnails"))
        .json(&json!({"width": 320, "height": 240, "max_side": 64}))
        .send()
        .await?;
    // Assert
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await?;
    let id: uuid::Uuid = serde_json::from_value(body["job_id"].clone())?;
    assert_eq!(h.runner.statuses.wait_finished(id).await, Status::Succeeded);
    assert_eq!(h.runner.effects(id), 1);
    pool.shutdown().await;
    server.stop().await;
    Ok(())
}

/// A job that always fails is listed by GET /dead-letters and replayed by its id; unknown ids get 404.
#[actix_web::test]
async fn dead_letters_are_listed_and_replayed_over_http() -> anyhow::Result<()> {
    let Some(h) = Harness::new(BackendKind::InProcess, "http_dead").await? else {
        return Ok(());
    };
    // Arrange: a recipient the mail service refuses, and a worker pool with the test's short backoff.
    let queue: Arc<dyn Queue> = Arc::new(InProcess::new());
    let pool = WorkerPool::start(
        queue.clone(),
        h.runner.clone(),
        WorkerOptions {
            workers: 1,
            backoff: h.config.backoff,
            crash: None,
        },
    );
    let state = web::Data::new(AppState::new(queue, h.runner.clone()));
    let server = support::server::spawn(|l| run(l, state))?;
    let client = reqwest::Client::new();
    let body: Value = client
        .post(server.url("/signup"))
        .json(&json!({"email": "bounce@example.com"}))
        .send()
        .await?
        .json()
        .await?;
    let id: uuid::Uuid = serde_json::from_value(body["job_id"].clone())?;
    assert_eq!(h.runner.statuses.wait_finished(id).await, Status::Dead);
    // Act
    let listed: Value = client
        .get(server.url("/dead-letters"))
        .send()
        .await?
        .json()
        .await?;
    h.sink.state.set_bouncing(false);
    let replay = client
        .post(server.url(&format!("/dead-letters/{id}/replay")))
        .send()
        .await?;
    let unknown = client
        .post(server.url(&format!("/dead-letters/{}/replay", uuid::Uuid::nil())))
        .send()
        .await?;
    // Assert
    assert_eq!(listed[0]["id"], json!(id));
    assert_eq!(replay.status(), 202);
    assert_eq!(unknown.status(), 404);
    assert_eq!(h.runner.statuses.wait_finished(id).await, Status::Succeeded);
    assert_eq!(h.sink.state.delivered(id), 1);
    pool.shutdown().await;
    server.stop().await;
    Ok(())
}

/// Backpressure: a full in-process queue answers 503 with Retry-After and keeps no partial
/// sign-up, so the same email succeeds once there is room.
#[actix_web::test]
async fn a_full_queue_answers_503_with_retry_after_and_records_nothing() -> anyhow::Result<()> {
    let Some(h) = Harness::new(BackendKind::InProcess, "http_full").await? else {
        return Ok(());
    };
    // Arrange: room for one job and no workers, so the second sign-up finds the queue full.
    let queue: Arc<dyn Queue> = Arc::new(InProcess::with_capacity(1));
    let state = web::Data::new(AppState::new(queue.clone(), h.runner.clone()));
    let server = support::server::spawn(|l| run(l, state))?;
    let client = reqwest::Client::new();
    let signup = |email: &'static str| {
        client
            .post(server.url("/signup"))
            .json(&json!({ "email": email }))
            .send()
    };
    // Act
    let first = signup("ada@example.com").await?;
    let second = signup("grace@example.com").await?;
    let retry_after = second
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let content_type = second
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (first_status, second_status) = (first.status(), second.status());
    // Room again: a worker takes the first job; the refused email may now sign up.
    let pool = WorkerPool::start(
        queue.clone(),
        h.runner.clone(),
        WorkerOptions {
            workers: 1,
            backoff: h.config.backoff,
            crash: None,
        },
    );
    let first_body: Value = first.json().await?;
    let first_id: uuid::Uuid = serde_json::from_value(first_body["job_id"].clone())?;
    h.runner.statuses.wait_finished(first_id).await;
    let again = signup("grace@example.com").await?;
    // Assert
    assert_eq!(first_status, 202);
    assert_eq!(second_status, 503);
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    assert_eq!(again.status(), 202);
    pool.shutdown().await;
    server.stop().await;
    Ok(())
}

/// A known path asked with a method it does not support is a 405 that lists what it does
/// support; a path the server does not know is a 404; both are problem+json, never empty.
#[actix_web::test]
async fn a_wrong_method_is_405_with_allow_and_an_unknown_path_is_a_problem_404()
-> anyhow::Result<()> {
    let Some(h) = Harness::new(BackendKind::InProcess, "http_routing").await? else {
        return Ok(());
    };
    let queue: Arc<dyn Queue> = Arc::new(InProcess::new());
    let state = web::Data::new(AppState::new(queue, h.runner.clone()));
    let server = support::server::spawn(|l| run(l, state))?;

    support::testkit::assert_routing(
        &server.base_url,
        "/thumbnails",
        reqwest::Method::PATCH,
        "POST, OPTIONS",
        "/no-such-thing",
    )
    .await?;
    support::testkit::assert_routing(
        &server.base_url,
        "/jobs/00000000-0000-0000-0000-000000000000",
        reqwest::Method::DELETE,
        "GET, HEAD, OPTIONS",
        "/jobs",
    )
    .await
}
