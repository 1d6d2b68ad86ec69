//! Every way a request can fail, and the one place each becomes a status code.
//!
//! Handlers return `Result<_, ApiError>`; [`ApiError`]'s `ResponseError` impl turns a variant into
//! an RFC 9457 problem with the headers its status requires (`WWW-Authenticate` with 401,
//! `Retry-After` with 429 and 503). A wrong method (405 with `Allow`) and an unknown path (404)
//! never reach a handler: `support::routing` answers them, the same way in every crate. The client never sees an internal cause: an
//! `Unexpected` error is logged here and answered with a fixed sentence.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use support::Problem;

/// The realm named in `WWW-Authenticate` challenges.
pub const REALM: &str = "notes";

/// A request the server will not (or cannot) fulfil.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 Bad Request: the request could not be parsed (malformed JSON, bad header value).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 400 or 422, already shaped: a body parse failure naming the wrong field.
    #[error("{0}")]
    Body(Problem),
    /// 401 Unauthorized + `WWW-Authenticate`: no credentials, or credentials we do not know.
    #[error("missing or unknown bearer token")]
    Unauthenticated,
    /// 403 Forbidden: we know who you are, and you may not do this.
    #[error("this token may not {0}")]
    Forbidden(&'static str),
    /// 404 Not Found.
    #[error("no such resource")]
    NotFound,
    /// 406 Not Acceptable: no representation matches the `Accept` header.
    #[error("no acceptable representation")]
    NotAcceptable,
    /// 409 Conflict: the request is valid but conflicts with the resource's state.
    #[error("note {0} is archived")]
    Archived(u64),
    /// 409 Conflict: a request with this `Idempotency-Key` is still being processed.
    #[error("idempotency key in flight")]
    IdempotencyKeyInFlight,
    /// 412 Precondition Failed: `If-Match` names a version that is no longer current.
    #[error("precondition failed")]
    PreconditionFailed,
    /// 413 Content Too Large: the body is larger than this endpoint accepts.
    #[error("body larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// 415 Unsupported Media Type: we cannot read a body of this `Content-Type`. The response
    /// advertises what we can read in `advertise` (`Accept-Post` or `Accept-Patch`).
    #[error("unsupported media type; supported: {supported}")]
    UnsupportedMediaType {
        supported: &'static str,
        advertise: &'static str,
    },
    /// 422 Unprocessable Content: well-formed, but a field's value is not acceptable.
    #[error("invalid field {field}: {message}")]
    Invalid { field: String, message: String },
    /// 422 Unprocessable Content: an `Idempotency-Key` was reused with a different request.
    #[error("idempotency key reused with a different request")]
    IdempotencyKeyReused,
    /// 429 Too Many Requests + `Retry-After`.
    #[error("rate limited for {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// 503 Service Unavailable + `Retry-After`: the server is in maintenance, not broken.
    #[error("in maintenance")]
    Maintenance { retry_after_secs: u64 },
    /// 500 Internal Server Error: anything we did not expect. Logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl ApiError {
    /// The problem body (and headers) for this error.
    pub fn problem(&self) -> Problem {
        match self {
            ApiError::BadRequest(detail) => Problem::bad_request(detail.clone()),
            ApiError::Body(problem) => problem.clone(),
            ApiError::Unauthenticated => Problem::new(StatusCode::UNAUTHORIZED)
                .with_detail("Send `Authorization: Bearer <token>` with a known token.")
                .with_header("WWW-Authenticate", format!("Bearer realm=\"{REALM}\"")),
            ApiError::Forbidden(action) => Problem::new(StatusCode::FORBIDDEN)
                .with_detail(format!("This token is valid but may not {action}.")),
            ApiError::NotFound => {
                Problem::new(StatusCode::NOT_FOUND).with_detail("No resource at this address.")
            }
            ApiError::NotAcceptable => Problem::new(StatusCode::NOT_ACCEPTABLE).with_detail(
                "This resource is available as application/json or text/plain.",
            ),
            ApiError::Archived(id) => Problem::new(StatusCode::CONFLICT).with_detail(format!(
                "Note {id} is archived and read-only; set \"archived\": false first."
            )),
            ApiError::IdempotencyKeyInFlight => Problem::new(StatusCode::CONFLICT)
                .with_detail("A request with this Idempotency-Key is still being processed."),
            ApiError::PreconditionFailed => Problem::new(StatusCode::PRECONDITION_FAILED)
                .with_detail("If-Match does not match the current ETag: someone changed it first. GET it again, re-apply your change, and retry."),
            ApiError::PayloadTooLarge { limit } => Problem::new(StatusCode::PAYLOAD_TOO_LARGE)
                .with_detail(format!("This endpoint accepts bodies of at most {limit} bytes.")),
            ApiError::UnsupportedMediaType {
                supported,
                advertise,
            } => Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE)
                .with_detail(format!("This endpoint accepts {supported}."))
                .with_header(*advertise, *supported),
            ApiError::Invalid { field, message } => Problem::invalid_field(field, message),
            ApiError::IdempotencyKeyReused => Problem::new(StatusCode::UNPROCESSABLE_ENTITY)
                .with_detail("This Idempotency-Key was already used with a different request body."),
            ApiError::RateLimited { retry_after_secs } => {
                Problem::new(StatusCode::TOO_MANY_REQUESTS)
                    .with_detail("Too many writes with this token. Slow down.")
                    .with_header("Retry-After", retry_after_secs.to_string())
            }
            ApiError::Maintenance { retry_after_secs } => {
                Problem::new(StatusCode::SERVICE_UNAVAILABLE)
                    .with_detail("The service is in maintenance. Nothing is wrong with your request; retry later.")
                    .with_header("Retry-After", retry_after_secs.to_string())
            }
            ApiError::Unexpected(_) => Problem::internal(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.problem().status_code()
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Unexpected(cause) = self {
            // The cause may hold hostnames, SQL or secrets: it goes to the log, never the client.
            tracing::error!(error = %format_args!("{cause:#}"), "request failed unexpectedly");
        }
        self.problem().to_response()
    }
}

impl From<Problem> for ApiError {
    fn from(problem: Problem) -> Self {
        ApiError::Body(problem)
    }
}
