//! Every way a request can fail, and the one place each becomes a status code.
//!
//! `problem()` is a pure lookup from variant to problem+json body (exhaustive, no catch-all, so a
//! new variant cannot slip through as a 500 unnoticed); `error_response` adds the one log line
//! for the variants whose cause the client is not shown.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use support::Problem;

use crate::job::{JobError, QueueError};

/// Seconds a client is told to wait before retrying a job the queue did not take
/// (`Retry-After`): long enough for a worker to free a slot or a broker to come back.
pub const RETRY_AFTER_SECONDS: &str = "1";

/// A request the jobs service will not (or cannot) fulfil.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 or 422, already shaped by an extractor config (malformed JSON, bad path).
    #[error("{0}")]
    Body(Problem),
    /// 422 Unprocessable Content: a field's value is not acceptable.
    #[error("invalid field {field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// 409 Conflict: that email address already signed up.
    #[error("email already registered")]
    EmailTaken,
    /// 404 Not Found: no job with this id.
    #[error("no such job")]
    JobNotFound,
    /// 404 Not Found: no dead letter with this job id.
    #[error("no such dead letter")]
    DeadLetterNotFound,
    /// 502 Bad Gateway: the synchronous backend ran the job in the request and it failed.
    #[error("the job failed while the request waited: {0}")]
    JobFailed(#[source] JobError),
    /// 503 Service Unavailable with `Retry-After`: the bounded queue is full (backpressure);
    /// nothing was recorded.
    #[error("the job queue is full")]
    QueueFull,
    /// 503 Service Unavailable with `Retry-After`: the queue did not take the job (the broker is
    /// unreachable, refused it, or is shutting down); nothing was recorded.
    #[error("queue unavailable: {0}")]
    QueueUnavailable(#[source] QueueError),
    /// 500 Internal Server Error: anything we did not expect. Logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<QueueError> for ApiError {
    /// How a failed enqueue, listing or replay reads to a client.
    fn from(error: QueueError) -> Self {
        match error {
            QueueError::JobFailed(why) => ApiError::JobFailed(why),
            QueueError::Full => ApiError::QueueFull,
            // Listed one by one, so a new kind of queue failure has to be placed on purpose.
            error @ (QueueError::Redis(_)
            | QueueError::Pool(_)
            | QueueError::PoolConfig(_)
            | QueueError::Amqp(_)
            | QueueError::Nacked
            | QueueError::Closed
            | QueueError::Encode(_)
            | QueueError::Decode(_)
            | QueueError::ForeignDelivery
            | QueueError::NoQueue(_)) => ApiError::QueueUnavailable(error),
        }
    }
}

impl ApiError {
    /// The problem body for this error.
    pub fn problem(&self) -> Problem {
        match self {
            ApiError::Body(problem) => problem.clone(),
            ApiError::Invalid { field, message } => Problem::invalid_field(*field, message.clone()),
            ApiError::EmailTaken => Problem::new(StatusCode::CONFLICT)
                .with_detail("This email address has already signed up."),
            ApiError::JobNotFound => {
                Problem::new(StatusCode::NOT_FOUND).with_detail("No job with this id.")
            }
            ApiError::DeadLetterNotFound => {
                Problem::new(StatusCode::NOT_FOUND).with_detail("No dead letter with this job id.")
            }
            ApiError::JobFailed(_) => Problem::new(StatusCode::BAD_GATEWAY)
                .with_detail("The mail service failed while you waited; nothing will retry it."),
            ApiError::QueueFull => Problem::new(StatusCode::SERVICE_UNAVAILABLE)
                .with_detail("Too many jobs are waiting; nothing was saved. Retry later.")
                .with_header(header::RETRY_AFTER.as_str(), RETRY_AFTER_SECONDS),
            ApiError::QueueUnavailable(_) => Problem::new(StatusCode::SERVICE_UNAVAILABLE)
                .with_detail("The job queue is unavailable; nothing was saved. Retry later.")
                .with_header(header::RETRY_AFTER.as_str(), RETRY_AFTER_SECONDS),
            ApiError::Unexpected(_) => Problem::internal(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.problem().status_code()
    }

    fn error_response(&self) -> HttpResponse {
        // Causes may name hosts or internals: they go to the log, never the client.
        match self {
            ApiError::Unexpected(cause) => {
                tracing::error!(error = %format_args!("{cause:#}"), "request failed unexpectedly");
            }
            ApiError::QueueUnavailable(cause) => {
                tracing::warn!(error = %cause, "job not accepted");
            }
            ApiError::JobFailed(cause) => {
                tracing::warn!(error = %cause, "job failed in the request");
            }
            // The client's own mistakes and expected refusals: the status says it all.
            ApiError::Body(_)
            | ApiError::Invalid { .. }
            | ApiError::EmailTaken
            | ApiError::JobNotFound
            | ApiError::DeadLetterNotFound
            | ApiError::QueueFull => {}
        }
        self.problem().to_response()
    }
}

impl From<Problem> for ApiError {
    fn from(problem: Problem) -> Self {
        ApiError::Body(problem)
    }
}
