//! The crate's one error type and how each variant answers over HTTP.

use actix_web::http::StatusCode;
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

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        self.problem().status_code()
    }

    fn error_response(&self) -> HttpResponse {
        self.problem().to_response()
    }
}

impl Error {
    fn problem(&self) -> Problem {
        match self {
            Self::NotFound(id) => {
                Problem::new(StatusCode::NOT_FOUND).with_detail(format!("No post has id {id}."))
            }
            Self::Invalid { field, message } => Problem::invalid_field(*field, *message),
            Self::CacheUnavailable(why) => {
                tracing::warn!(%why, "write refused: its cache is unreachable");
                Problem::new(StatusCode::SERVICE_UNAVAILABLE)
                    .with_detail("The cache this write needs is unreachable; retry shortly.")
                    .with_header("Retry-After", "1")
            }
            Self::Unexpected(e) => {
                tracing::error!(error = ?e, "unexpected error");
                Problem::internal()
            }
        }
    }
}
