//! The crate's one error type and how each variant answers over HTTP.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use support::Problem;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 404: no post has this id.
    #[error("post {0} does not exist")]
    NotFound(i64),
    /// 422: the update's fields are not acceptable.
    #[error("invalid field {field}: {message}")]
    Invalid {
        field: &'static str,
        message: &'static str,
    },
    /// 503: a write that needs its cache (write-back keeps unflushed writes there, write-through
    /// promises readers the last write) cannot be acknowledged because the cache is unreachable.
    #[error("the cache this write needs is unreachable: {0}")]
    CacheUnavailable(String),
    /// 500: anything else (database failure, a panicked task); logged, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl Error {
    /// A copy good enough to hand to every caller that shared one coalesced load.
    pub(crate) fn share(&self) -> Self {
        match self {
            Self::NotFound(id) => Self::NotFound(*id),
            Self::Invalid { field, message } => Self::Invalid { field, message },
            Self::CacheUnavailable(why) => Self::CacheUnavailable(why.clone()),
            Self::Unexpected(e) => Self::Unexpected(anyhow::anyhow!("{e:#}")),
        }
    }
}

/// How long a client refused with 503 should wait before retrying: a Redis outage the tier
/// notices within one call timeout, so a second is the right order of magnitude.
pub const RETRY_AFTER_SECS: &str = "1";

impl ResponseError for Error {
    /// Pure: actix asks for the status more than once per response (and logging middleware
    /// does too), so nothing here logs.
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::CacheUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Called once per error response: the one place a cause is logged. The client gets a fixed
    /// sentence; causes may name hosts or internals.
    fn error_response(&self) -> HttpResponse {
        match self {
            Self::CacheUnavailable(why) => {
                tracing::warn!(%why, "write refused: its cache is unreachable");
            }
            Self::Unexpected(e) => tracing::error!(error = ?e, "unexpected error"),
            // The client's own mistakes: the status and the body say it all.
            Self::NotFound(_) | Self::Invalid { .. } => {}
        }
        self.problem().to_response()
    }
}

impl Error {
    /// The problem+json body, without side effects.
    fn problem(&self) -> Problem {
        let problem = Problem::new(self.status_code());
        match self {
            Self::NotFound(id) => problem.with_detail(format!("No post has id {id}.")),
            Self::Invalid { field, message } => Problem::invalid_field(*field, *message),
            Self::CacheUnavailable(_) => problem
                .with_detail("The cache this write needs is unreachable; retry shortly.")
                .with_header(header::RETRY_AFTER.as_str(), RETRY_AFTER_SECS),
            Self::Unexpected(_) => Problem::internal(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_maps_to_its_documented_status_and_a_refused_write_says_when_to_retry() {
        let cases = [
            (Error::NotFound(1), 404),
            (
                Error::Invalid {
                    field: "title",
                    message: "must not be blank",
                },
                422,
            ),
            (Error::CacheUnavailable("gone".into()), 503),
            (Error::Unexpected(anyhow::anyhow!("boom")), 500),
        ];
        for (error, status) in cases {
            assert_eq!(error.status_code().as_u16(), status, "{error}");
            assert_eq!(error.problem().status_code().as_u16(), status, "{error}");
        }
        let refused = Error::CacheUnavailable("gone".into()).error_response();
        assert_eq!(
            refused
                .headers()
                .get(header::RETRY_AFTER)
                .map(|v| v.as_bytes()),
            Some(RETRY_AFTER_SECS.as_bytes())
        );
    }
}
