//! The HTTP service: sign-up (sends the welcome email), thumbnails, job status, dead letters.
//!
//! One set of handlers for every backend: `state.queue.enqueue(job)` either runs the job right
//! there (the synchronous backend: 201 Created once the email is sent) or hands it to a queue
//! (202 Accepted, a job id and a `Location` to poll).

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::{App, HttpResponse, HttpServer, web};
use serde::Deserialize;
use serde_json::json;
use support::problem::Json;
use support::routing::endpoint;
use uuid::Uuid;

use crate::backends::synchronous;
use crate::error::ApiError;
use crate::job::{Job, Queue, Task};
use crate::runner::JobRunner;
use crate::status::Status;

/// Largest accepted JSON body.
const JSON_LIMIT: usize = 16 * 1024;
/// Largest source image a thumbnail job may ask for, per side.
pub const MAX_SOURCE_SIDE: u32 = 4096;

/// What every handler shares.
pub struct AppState {
    pub queue: Arc<dyn Queue>,
    pub runner: Arc<JobRunner>,
    users: Mutex<HashSet<String>>,
}

impl AppState {
    pub fn new(queue: Arc<dyn Queue>, runner: Arc<JobRunner>) -> Self {
        Self {
            queue,
            runner,
            users: Mutex::new(HashSet::new()),
        }
    }
}

/// The server, around a listener the caller bound.
pub fn run(listener: TcpListener, state: web::Data<AppState>) -> std::io::Result<Server> {
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .configure(configure)
            .default_service(web::to(support::routing::not_found))
            .wrap(support::routing::bare_errors_as_problems())
    })
    .listen(listener)?
    .run())
}

/// Routes and extractor configs.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(support::problem::json_config(JSON_LIMIT))
        .app_data(support::problem::path_config())
        .service(endpoint("/signup").post(signup))
        .service(endpoint("/thumbnails").post(thumbnail))
        .service(endpoint("/jobs/{id}").get(job_status))
        .service(endpoint("/dead-letters").get(dead_letters))
        .service(endpoint("/dead-letters/{id}/replay").post(replay));
}

#[derive(Debug, Deserialize)]
struct SignUp {
    email: String,
}

#[derive(Debug, Deserialize)]
struct ThumbnailRequest {
    width: u32,
    height: u32,
    max_side: u32,
}

async fn signup(state: web::Data<AppState>, body: Json<SignUp>) -> Result<HttpResponse, ApiError> {
    let email = body.into_inner().email.trim().to_lowercase();
    if !email.contains('@') || email.len() > 254 {
        return Err(ApiError::Invalid {
            field: "email",
            message: "must be an email address".to_owned(),
        });
    }
    if !lock(&state.users).insert(email.clone()) {
        return Err(ApiError::EmailTaken);
    }
    let job = Job::new(Task::WelcomeEmail { to: email.clone() });
    if let Err(error) = submit(&state, &job).await {
        // No partial write: a sign-up whose email job was not accepted is undone.
        lock(&state.users).remove(&email);
        return Err(error);
    }
    Ok(accepted(&state, &job))
}

async fn thumbnail(
    state: web::Data<AppState>,
    body: Json<ThumbnailRequest>,
) -> Result<HttpResponse, ApiError> {
    let ThumbnailRequest {
        width,
        height,
        max_side,
    } = body.into_inner();
    for (field, value) in [("width", width), ("height", height), ("max_side", max_side)] {
        if value == 0 || value > MAX_SOURCE_SIDE {
            return Err(ApiError::Invalid {
                field,
                message: format!("must be between 1 and {MAX_SOURCE_SIDE}"),
            });
        }
    }
    let job = Job::new(Task::Thumbnail {
        width,
        height,
        max_side,
    });
    submit(&state, &job).await?;
    Ok(accepted(&state, &job))
}

async fn submit(state: &AppState, job: &Job) -> Result<(), ApiError> {
    state.runner.statuses.queued(job.id, job.task.kind());
    Ok(state.queue.enqueue(job).await?)
}

fn accepted(state: &AppState, job: &Job) -> HttpResponse {
    let location = format!("/jobs/{}", job.id);
    let status = state.runner.statuses.get(job.id).map(|r| r.status);
    let body = json!({ "job_id": job.id, "status": status, "status_url": location });
    if state.queue.name() == synchronous::NAME {
        HttpResponse::Created().json(body)
    } else {
        HttpResponse::Accepted()
            .insert_header((header::LOCATION, location))
            .json(body)
    }
}

async fn job_status(
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let record = state
        .runner
        .statuses
        .get(*id)
        .ok_or(ApiError::JobNotFound)?;
    Ok(HttpResponse::Ok().json(record))
}

async fn dead_letters(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let entries = state.queue.dead_letters().await?;
    Ok(HttpResponse::Ok().json(entries))
}

async fn replay(state: web::Data<AppState>, id: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    // Only a job this service saw die can be replayed through it.
    let before = state
        .runner
        .statuses
        .get(*id)
        .filter(|r| r.status == Status::Dead);
    let Some(before) = before else {
        return Err(ApiError::DeadLetterNotFound);
    };
    let kind = before.kind.as_str();
    // Queued first: the replayed job may run and finish before `replay` returns.
    state.runner.statuses.queued(*id, kind);
    let found = state.queue.replay(*id).await;
    if !matches!(found, Ok(true)) {
        state.runner.statuses.dead(
            *id,
            &before.kind,
            before.last_error.as_deref().unwrap_or(""),
        );
        return Err(match found {
            Err(e) => ApiError::from(e),
            Ok(_) => ApiError::DeadLetterNotFound,
        });
    }
    Ok(HttpResponse::Accepted()
        .insert_header((header::LOCATION, format!("/jobs/{id}")))
        .json(json!({ "job_id": *id, "status": "queued" })))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
