//! The provider's one error type and the one place each failure becomes an HTTP status, as RFC
//! 9457 problem+json.
//!
//! The storage layer fails with [`StoreError`], which knows nothing about HTTP; the routes in
//! [`crate::provider`] return this type, and `From<StoreError>` decides what a client may learn.
//! Database trouble is logged here and answered with a fixed sentence: its text can name hosts.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use support::Problem;

use crate::store::{DbError, StoreError};

/// Everything a provider route can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400: a query parameter outside its documented range (`since`, `limit`, `wait`).
    #[error("invalid parameter `{name}`: {message}")]
    InvalidParameter { name: &'static str, message: String },
    /// 422: a body that parses but names a state that does not exist.
    #[error("unknown state {0:?}")]
    UnknownState(String),
    /// 404: no order, event or endpoint has this id.
    #[error("no {kind} with id {id}")]
    NotFound { kind: &'static str, id: String },
    /// 409: the order's current state does not allow the move (or a concurrent change won).
    #[error("an order cannot go from {from} to {to}")]
    InvalidTransition { from: String, to: String },
    /// 422: the SSRF check refused the endpoint URL; the reason names the rule, which is safe to
    /// show (it contains nothing the owner did not type). 422 rather than 400: the body is well
    /// formed, its value is what the server will not accept.
    #[error("endpoint refused: {0}")]
    EndpointRefused(String),
    /// 409: the endpoint is disabled; its owner re-enables it before anything is sent again.
    #[error("endpoint {0} is disabled")]
    EndpointDisabled(String),
    /// 503: the database pool could not hand out a connection in time.
    #[error("database unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// 500: anything else; the cause is logged, the client sees a fixed sentence.
    #[error("unexpected error")]
    Unexpected(#[source] anyhow::Error),
}

/// How long a client refused with 503 should wait before it tries again.
pub const RETRY_AFTER_SECS: &str = "1";

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
            Error::InvalidParameter { name, message } => {
                Problem::bad_request(format!("Parameter `{name}`: {message}"))
                    .with_field_error(*name, message.clone())
            }
            Error::UnknownState(state) => Problem::invalid_field(
                "state",
                format!("{state:?} is not one of created, paid, shipped, delivered, cancelled"),
            ),
            Error::NotFound { kind, id } => {
                Problem::new(StatusCode::NOT_FOUND).with_detail(format!("No {kind} with id {id}."))
            }
            Error::InvalidTransition { from, to } => Problem::new(StatusCode::CONFLICT)
                .with_title("Invalid state transition")
                .with_detail(format!("An order cannot go from {from} to {to}."))
                .with_extension("from", from.clone())
                .with_extension("to", to.clone()),
            Error::EndpointRefused(rule) => Problem::invalid_field("url", rule.clone())
                .with_title("Endpoint URL refused")
                .with_detail(format!("The endpoint URL was refused: {rule}.")),
            Error::EndpointDisabled(id) => Problem::new(StatusCode::CONFLICT).with_detail(format!(
                "Endpoint {id} is disabled; re-enable it before redelivering."
            )),
            Error::Unavailable(_) => Problem::new(StatusCode::SERVICE_UNAVAILABLE)
                .with_detail("The database is busy; retry shortly.")
                .with_header(header::RETRY_AFTER.as_str(), RETRY_AFTER_SECS),
            Error::Unexpected(_) => Problem::internal(),
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

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { kind, id } => Error::NotFound { kind, id },
            StoreError::InvalidTransition { from, to } => Error::InvalidTransition { from, to },
            StoreError::EndpointRefused(rule) => Error::EndpointRefused(rule),
            StoreError::EndpointDisabled(id) => Error::EndpointDisabled(id),
            StoreError::Db(db) => db.into(),
            StoreError::Query(q) => Error::Unexpected(q.into()),
            StoreError::Unexpected(cause) => Error::Unexpected(cause),
        }
    }
}

impl ResponseError for Error {
    /// Pure: actix asks for the status more than once per response, so nothing here logs.
    fn status_code(&self) -> StatusCode {
        match self {
            Error::InvalidParameter { .. } => StatusCode::BAD_REQUEST,
            Error::UnknownState(_) | Error::EndpointRefused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::NotFound { .. } => StatusCode::NOT_FOUND,
            Error::InvalidTransition { .. } | Error::EndpointDisabled(_) => StatusCode::CONFLICT,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Called once per error response: the one place a cause is logged.
    fn error_response(&self) -> HttpResponse {
        match self {
            Error::Unavailable(cause) => tracing::error!(error = ?cause, "database unavailable"),
            Error::Unexpected(cause) => tracing::error!(error = ?cause, "unexpected error"),
            _ => {}
        }
        self.problem().to_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_maps_to_its_documented_status() {
        let cases = [
            (Error::parameter("since", "not a number"), 400),
            (Error::UnknownState("lost".into()), 422),
            (
                Error::NotFound {
                    kind: "order",
                    id: "ord_x".into(),
                },
                404,
            ),
            (
                Error::InvalidTransition {
                    from: "created".into(),
                    to: "delivered".into(),
                },
                409,
            ),
            (Error::EndpointRefused("a private address".into()), 422),
            (Error::EndpointDisabled("ep_x".into()), 409),
            (Error::Unavailable(anyhow::anyhow!("pool timed out")), 503),
            (Error::Unexpected(anyhow::anyhow!("boom")), 500),
        ];
        for (error, status) in cases {
            assert_eq!(error.status_code().as_u16(), status, "{error}");
            assert_eq!(error.problem().status_code().as_u16(), status, "{error}");
        }
    }
}
