//! The crate's one error type and how each variant reaches a client (RFC 9457 problem+json).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use support::Problem;
use support::db::DbError;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400: a cursor that is not one this server issued (garbage, truncated, edited, signed with
    /// another key, or of an unknown version). The reason is safe to show: it names no secret.
    #[error("invalid cursor: {0}")]
    InvalidCursor(&'static str),
    /// 400: a query parameter outside its documented range, or two that exclude each other.
    #[error("invalid parameter `{name}`: {message}")]
    InvalidParameter { name: &'static str, message: String },
    /// 503: the database pool could not hand out a connection in time.
    #[error("database unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// 500: anything else; the cause is logged, the client sees a fixed sentence.
    #[error("unexpected error")]
    Unexpected(#[source] anyhow::Error),
}

impl Error {
    /// Shorthand for [`Error::InvalidParameter`].
    pub fn parameter(name: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidParameter {
            name,
            message: message.into(),
        }
    }

    fn problem(&self) -> Problem {
        match self {
            Error::InvalidCursor(reason) => Problem::bad_request(format!(
                "The cursor was not issued by this server or was altered ({reason}). \
                 Start again from the `first` link."
            ))
            .with_title("Invalid cursor"),
            Error::InvalidParameter { name, message } => {
                Problem::bad_request(format!("Parameter `{name}`: {message}"))
                    .with_field_error(*name, message.clone())
            }
            Error::Unavailable(cause) => {
                tracing::error!(error = ?cause, "database unavailable");
                Problem::new(StatusCode::SERVICE_UNAVAILABLE)
                    .with_detail("The database is busy; retry shortly.")
                    .with_header("Retry-After", "1")
            }
            Error::Unexpected(cause) => {
                tracing::error!(error = ?cause, "unexpected error");
                Problem::internal()
            }
        }
    }
}

impl From<DbError> for Error {
    /// No connection is a 503 (the client may retry); a failed query or a dead blocking task is
    /// a 500. The `DbError` stays the source, so the log keeps the cause.
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(_) => Error::Unavailable(e.into()),
            DbError::Query(_) | DbError::Task(_) => Error::Unexpected(e.into()),
        }
    }
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        match self {
            Error::InvalidCursor(_) | Error::InvalidParameter { .. } => StatusCode::BAD_REQUEST,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        self.problem().to_response()
    }
}
