//! The crate's one error type and how each variant reaches a client (RFC 9457 problem+json).

use actix_web::http::{StatusCode, header};
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

    /// The problem+json body, without side effects (the cause is logged in `error_response`).
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
            Error::Unavailable(_) => Problem::new(StatusCode::SERVICE_UNAVAILABLE)
                .with_detail("The database is busy; retry shortly.")
                .with_header(header::RETRY_AFTER.as_str(), RETRY_AFTER_SECS),
            Error::Unexpected(_) => Problem::internal(),
        }
    }
}

/// How long a client refused with 503 should wait: the pool hands out a connection again as soon
/// as one is returned, so a second is the right order of magnitude.
pub const RETRY_AFTER_SECS: &str = "1";

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
    /// Pure: actix asks for the status more than once per response, so nothing here logs.
    fn status_code(&self) -> StatusCode {
        match self {
            Error::InvalidCursor(_) | Error::InvalidParameter { .. } => StatusCode::BAD_REQUEST,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Called once per error response: the one place a cause is logged. The client gets a fixed
    /// sentence; the cause may name hosts or internals.
    fn error_response(&self) -> HttpResponse {
        match self {
            Error::Unavailable(cause) => tracing::error!(error = ?cause, "database unavailable"),
            Error::Unexpected(cause) => tracing::error!(error = ?cause, "unexpected error"),
            // The client's own mistakes: the status and the body say it all.
            Error::InvalidCursor(_) | Error::InvalidParameter { .. } => {}
        }
        self.problem().to_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_maps_to_its_documented_status_and_a_503_says_when_to_retry() {
        let cases = [
            (Error::InvalidCursor("bad signature"), 400),
            (Error::parameter("limit", "too large"), 400),
            (Error::Unavailable(anyhow::anyhow!("pool timed out")), 503),
            (Error::Unexpected(anyhow::anyhow!("boom")), 500),
        ];
        for (error, status) in cases {
            assert_eq!(error.status_code().as_u16(), status, "{error}");
            assert_eq!(error.problem().status_code().as_u16(), status, "{error}");
        }
        let busy = Error::from(DbError::Unavailable("timed out".into())).error_response();
        assert_eq!(busy.status().as_u16(), 503);
        assert_eq!(
            busy.headers()
                .get(header::RETRY_AFTER)
                .map(|v| v.as_bytes()),
            Some(RETRY_AFTER_SECS.as_bytes())
        );
    }
}
