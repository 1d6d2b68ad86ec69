//! The HTTP service: what a client sees for each backend and for bad input.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::web;
use jobs::backends::in_process::InProcess;
use jobs::backends::synchronous::Synchronous;
use jobs::error::RETRY_AFTER_SECONDS;
use jobs::status::Status;
use jobs::worker::{WorkerOptions, WorkerPool};
use jobs::{AppState, BackendKind, Queue, run};
use serde_json::{Value, json};
use support::server::RunningServer;

use crate::{Harness, finished};

/// What the server under test enqueues into.
enum Backend {
    /// An in-process queue holding at most this many waiting jobs.
    InProcess { capacity: usize },
    /// No queue: the handler runs the job.
    Synchronous,
}

/// One running service: its queue, its workers (if any), its mail sink and runner (in `h`).
struct TestApp {
    h: Harness,
    queue: Arc<dyn Queue>,
    pool: Option<WorkerPool>,
    server: RunningServer,
    client: reqwest::Client,
}

/// Builds the queue, starts `workers` workers on it (none: jobs wait), wires the state and starts
/// the server on a free port.
async fn spawn_app(label: &str, backend: Backend, workers: usize) -> anyhow::Result<TestApp> {
    let h = Harness::new(BackendKind::InProcess, label)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the in-process backend needs no service"))?;
    let queue: Arc<dyn Queue> = match backend {
        Backend::InProcess { capacity } => Arc::new(InProcess::with_capacity(capacity)),
        Backend::Synchronous => Arc::new(Synchronous::new(h.runner.clone())),
    };
    let state = web::Data::new(AppState::new(queue.clone(), h.runner.clone()));
    let server = support::server::spawn(|l| run(l, state))?;
    let mut app = TestApp {
        h,
        queue,
        pool: None,
        server,
        client: reqwest::Client::new(),
    };
    if workers > 0 {
        app.start_workers(workers);
    }
    Ok(app)
}

impl TestApp {
    fn start_workers(&mut self, workers: usize) {
        self.pool = Some(WorkerPool::start(
            self.queue.clone(),
            self.h.runner.clone(),
            WorkerOptions {
                workers,
                backoff: self.h.config.backoff,
                crash: None,
            },
        ));
    }

    async fn post(&self, path: &str, body: Value) -> reqwest::Result<reqwest::Response> {
        self.client
            .post(self.server.url(path))
            .json(&body)
            .send()
            .await
    }

    async fn get(&self, path: &str) -> reqwest::Result<reqwest::Response> {
        self.client.get(self.server.url(path)).send().await
    }

    /// Waits (bounded) for job `id` to finish.
    async fn finished(&self, id: uuid::Uuid) -> anyhow::Result<Status> {
        finished(&self.h.runner.statuses, id).await
    }

    async fn stop(self) -> anyhow::Result<()> {
        if let Some(pool) = self.pool {
            pool.shutdown().await;
        }
        self.server.stop().await;
        self.h.finish().await
    }
}

/// A response header as text (reqwest and actix-web use different `http` crate versions, so the
/// constant's name is passed as a string).
fn header_text(response: &reqwest::Response, name: &header::HeaderName) -> Option<String> {
    response
        .headers()
        .get(name.as_str())
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn job_id(body: &Value) -> anyhow::Result<uuid::Uuid> {
    Ok(serde_json::from_value(body["job_id"].clone())?)
}

const PROBLEM_JSON: &str = "application/problem+json";

/// Enqueueing answers 202 with a job id and a Location; the status page reaches `succeeded`.
#[actix_web::test]
async fn signup_with_a_queue_answers_202_and_the_job_status_reaches_succeeded() -> anyhow::Result<()>
{
    // Arrange
    let app = spawn_app("http", Backend::InProcess { capacity: 100 }, 1).await?;
    // Act
    let response = app
        .post("/signup", json!({"email": "ada@example.com"}))
        .await?;
    // Assert
    assert_eq!(response.status(), 202);
    let location = header_text(&response, &header::LOCATION);
    let id = job_id(&response.json().await?)?;
    assert_eq!(location, Some(format!("/jobs/{id}")));
    assert_eq!(app.finished(id).await?, Status::Succeeded);
    let status: Value = app.get(&format!("/jobs/{id}")).await?.json().await?;
    assert_eq!(status["status"], "succeeded");
    app.stop().await
}

/// The synchronous baseline answers 201 only after the email was sent.
#[actix_web::test]
async fn synchronous_signup_answers_201_after_the_email_is_sent() -> anyhow::Result<()> {
    // Arrange
    let app = spawn_app("http_sync", Backend::Synchronous, 0).await?;
    // Act
    let response = app
        .post("/signup", json!({"email": "ada@example.com"}))
        .await?;
    // Assert: by the time the client has its answer, the mail service has the message.
    assert_eq!(response.status(), 201);
    assert_eq!(app.h.sink.state.total_delivered(), 1);
    app.stop().await
}

/// Bad input gets a precise status and a problem+json body, and enqueues nothing.
#[actix_web::test]
async fn bad_input_gets_a_problem_and_enqueues_nothing() -> anyhow::Result<()> {
    // Arrange: no workers, so whatever was enqueued stays countable.
    let app = spawn_app("http_bad", Backend::InProcess { capacity: 100 }, 0).await?;
    // Act
    let bad_email = app.post("/signup", json!({"email": "nope"})).await?;
    let bad_size = app
        .post(
            "/thumbnails",
            json!({"width": 0, "height": 10, "max_side": 5}),
        )
        .await?;
    let unknown = app.get(&format!("/jobs/{}", uuid::Uuid::nil())).await?;
    let not_uuid = app.get("/jobs/123").await?;
    let first = app
        .post("/signup", json!({"email": "ada@example.com"}))
        .await?;
    let again = app
        .post("/signup", json!({"email": "ada@example.com"}))
        .await?;
    // Assert
    assert_eq!(bad_email.status(), 422);
    assert_eq!(
        header_text(&bad_email, &header::CONTENT_TYPE).as_deref(),
        Some(PROBLEM_JSON)
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
        app.queue.pending().await?,
        1,
        "only the one good sign-up was enqueued"
    );
    app.stop().await
}

/// The CPU-bound thumbnail job is accepted with 202 and finishes on a worker.
#[actix_web::test]
async fn an_enqueued_thumbnail_is_made_by_a_worker() -> anyhow::Result<()> {
    // Arrange
    let app = spawn_app("http_thumb", Backend::InProcess { capacity: 100 }, 1).await?;
    // Act
    let response = app
        .post(
            "/thumbnails",
            json!({"width": 320, "height": 240, "max_side": 64}),
        )
        .await?;
    // Assert
    assert_eq!(response.status(), 202);
    let id = job_id(&response.json().await?)?;
    assert_eq!(app.finished(id).await?, Status::Succeeded);
    assert_eq!(app.h.runner.effects(id), 1);
    app.stop().await
}

/// A job that always fails is listed by GET /dead-letters and replayed by its id; unknown ids get 404.
#[actix_web::test]
async fn dead_letters_are_listed_and_replayed_over_http() -> anyhow::Result<()> {
    // Arrange: a recipient the mail service refuses, and a worker with the test's short backoff.
    let app = spawn_app("http_dead", Backend::InProcess { capacity: 100 }, 1).await?;
    let body: Value = app
        .post("/signup", json!({"email": "bounce@example.com"}))
        .await?
        .json()
        .await?;
    let id = job_id(&body)?;
    assert_eq!(app.finished(id).await?, Status::Dead);
    // Act
    let listed: Value = app.get("/dead-letters").await?.json().await?;
    app.h.sink.state.set_bouncing(false);
    let replay = app
        .post(&format!("/dead-letters/{id}/replay"), Value::Null)
        .await?;
    let unknown = app
        .post(
            &format!("/dead-letters/{}/replay", uuid::Uuid::nil()),
            Value::Null,
        )
        .await?;
    // Assert
    assert_eq!(listed[0]["id"], json!(id));
    assert_eq!(replay.status(), 202);
    assert_eq!(unknown.status(), 404);
    assert_eq!(app.finished(id).await?, Status::Succeeded);
    assert_eq!(app.h.sink.state.delivered(id), 1);
    app.stop().await
}

/// Backpressure: a full in-process queue answers 503 with Retry-After and keeps no partial
/// sign-up, so the same email succeeds once there is room.
#[actix_web::test]
async fn a_full_queue_answers_503_with_retry_after_and_records_nothing() -> anyhow::Result<()> {
    // Arrange: room for one job and no workers, so the second sign-up finds the queue full.
    let mut app = spawn_app("http_full", Backend::InProcess { capacity: 1 }, 0).await?;
    // Act
    let first = app
        .post("/signup", json!({ "email": "ada@example.com" }))
        .await?;
    let second = app
        .post("/signup", json!({ "email": "grace@example.com" }))
        .await?;
    let retry_after = header_text(&second, &header::RETRY_AFTER);
    let content_type = header_text(&second, &header::CONTENT_TYPE);
    let (first_status, second_status) = (first.status(), second.status());
    // Room again: a worker takes the first job; the refused email may now sign up.
    app.start_workers(1);
    let first_id = job_id(&first.json().await?)?;
    app.finished(first_id).await?;
    let again = app
        .post("/signup", json!({ "email": "grace@example.com" }))
        .await?;
    // Assert
    assert_eq!(first_status, 202);
    assert_eq!(second_status, 503);
    assert_eq!(retry_after.as_deref(), Some(RETRY_AFTER_SECONDS));
    assert_eq!(content_type.as_deref(), Some(PROBLEM_JSON));
    assert_eq!(again.status(), 202);
    app.stop().await
}

/// A known path asked with a method it does not support is a 405 that lists what it does
/// support; a path the server does not know is a 404; both are problem+json, never empty.
#[actix_web::test]
async fn a_wrong_method_is_405_with_allow_and_an_unknown_path_is_a_problem_404()
-> anyhow::Result<()> {
    let app = spawn_app("http_routing", Backend::InProcess { capacity: 100 }, 0).await?;
    support::testkit::assert_routing(
        &app.server.base_url,
        "/thumbnails",
        reqwest::Method::PATCH,
        "POST, OPTIONS",
        "/no-such-thing",
    )
    .await?;
    support::testkit::assert_routing(
        &app.server.base_url,
        "/jobs/00000000-0000-0000-0000-000000000000",
        reqwest::Method::DELETE,
        "GET, HEAD, OPTIONS",
        "/jobs",
    )
    .await?;
    app.stop().await
}
