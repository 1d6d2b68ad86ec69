//! The crate's one HTTP error type, and the one place each failure becomes a status code and an
//! RFC 9457 problem+json body.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use support::Problem;

use crate::model::InputError;
use crate::store::StoreError;

/// Everything a request to the API can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 404: the path names an engine this crate does not have.
    #[error("no engine named {0:?}")]
    UnknownEngine(String),
    /// 503: the engine exists but is not connected in this instance (its server was down).
    #[error("{0} is not connected in this instance")]
    EngineDown(&'static str),
    /// 400 or 422: refused before any engine was touched, so nothing was written.
    #[error(transparent)]
    Input(#[from] InputError),
    /// 404 for a missing user or post; 500 for an engine failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ApiError {
    fn problem(&self) -> Problem {
        match self {
            ApiError::UnknownEngine(name) => Problem::new(StatusCode::NOT_FOUND)
                .with_title("Unknown engine")
                .with_detail(format!(
                    "There is no engine {name:?}; GET /engines lists them."
                )),
            ApiError::EngineDown(label) => Problem::new(StatusCode::SERVICE_UNAVAILABLE)
                .with_title("Engine not connected")
                .with_detail(format!(
                    "{label} was unreachable when this instance started; start it and restart."
                )),
            ApiError::Input(e) => {
                let field = match e {
                    InputError::EmptyBody | InputError::BodyTooLong { .. } => "body",
                    InputError::InvalidId { field, .. } => field,
                    InputError::InvalidLimit { .. } => "limit",
                };
                Problem::new(self.status_code())
                    .with_detail(e.to_string())
                    .with_field_error(field, e.to_string())
            }
            ApiError::Store(StoreError::NotFound { what, id }) => {
                Problem::new(StatusCode::NOT_FOUND).with_detail(format!("No {what} with id {id}."))
            }
            ApiError::Store(StoreError::Backend { .. }) => Problem::internal(),
        }
    }
}

impl ResponseError for ApiError {
    /// Every variant named: a body that is too long is a well-formed request the model refuses
    /// (422), a bad id or limit a malformed one (400).
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::UnknownEngine(_) | ApiError::Store(StoreError::NotFound { .. }) => {
                StatusCode::NOT_FOUND
            }
            ApiError::EngineDown(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Input(InputError::EmptyBody | InputError::BodyTooLong { .. }) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::Input(InputError::InvalidId { .. } | InputError::InvalidLimit { .. }) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::Store(StoreError::Backend { .. }) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The one place an error response is produced and logged.
    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), error = %self, "request failed");
        } else {
            tracing::debug!(status = status.as_u16(), error = %self, "request refused");
        }
        self.problem().to_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_input_error_has_its_precise_status() {
        let status = |e: InputError| ApiError::from(e).status_code();
        assert_eq!(
            status(InputError::EmptyBody),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            status(InputError::BodyTooLong { chars: 300 }),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            status(InputError::InvalidId {
                field: "user",
                value: 0
            }),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            ApiError::from(StoreError::no_user(7)).status_code(),
            StatusCode::NOT_FOUND
        );
    }
}
