//! The crate's one error type and its mapping to RFC 9457 problem+json.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use support::Problem;

use crate::jwt::TokenRejection;

/// The realm named in every `WWW-Authenticate: Bearer` challenge.
pub const BEARER_REALM: &str = "sessions-vs-jwt";

/// Everything that can go wrong while logging in, authenticating or logging out.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// 401: unknown user or wrong password (deliberately indistinguishable).
    #[error("wrong username or password")]
    BadCredentials,
    /// 401: no session cookie, or it names a session that is unknown, logged out or expired.
    /// No `WWW-Authenticate` header: RFC 9110 asks for one, but no registered scheme describes
    /// a cookie session, and inventing one would mislead clients more than omitting it.
    #[error("not logged in")]
    NoSession,
    /// 401 with `WWW-Authenticate: Bearer realm=...` and no error code (RFC 6750 §3.1: a request
    /// that carried no credentials gets a bare challenge).
    #[error("no bearer token")]
    MissingToken,
    /// 401 with `WWW-Authenticate: Bearer error="invalid_token", error_description=...`.
    #[error("invalid access token: {0}")]
    InvalidToken(TokenRejection),
    /// 401: the refresh token is unknown or expired, or was already used (then its whole family
    /// has just been revoked).
    #[error("refresh token rejected (reused: {reused})")]
    RefreshRejected { reused: bool },
    /// 503: Redis, which holds this mechanism's state, did not answer. The cause is logged.
    #[error("session store unavailable")]
    StoreUnavailable(#[source] anyhow::Error),
    /// 500: anything else. The cause is logged; the client gets a fixed sentence.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl AuthError {
    fn problem(&self) -> Problem {
        let unauthorized = Problem::new(StatusCode::UNAUTHORIZED);
        match self {
            AuthError::BadCredentials => unauthorized
                .with_type("/problems/bad-credentials")
                .with_detail("The username or password is wrong."),
            AuthError::NoSession => unauthorized
                .with_type("/problems/no-session")
                .with_detail("No valid session: log in first, or again after a timeout or logout."),
            AuthError::MissingToken => unauthorized
                .with_type("/problems/missing-token")
                .with_detail("Send an access token as `Authorization: Bearer <token>`.")
                .with_header("WWW-Authenticate", format!("Bearer realm=\"{BEARER_REALM}\"")),
            AuthError::InvalidToken(reason) => unauthorized
                .with_type("/problems/invalid-token")
                .with_detail(format!("The access token was refused: {}.", reason.describe()))
                .with_extension("reason", reason.code())
                // RFC 6750 §3: the error code and a human description, both quoted strings.
                .with_header(
                    "WWW-Authenticate",
                    format!(
                        "Bearer realm=\"{BEARER_REALM}\", error=\"invalid_token\", error_description=\"{}\"",
                        reason.describe()
                    ),
                ),
            AuthError::RefreshRejected { reused: true } => unauthorized
                .with_type("/problems/refresh-token-reused")
                .with_detail(
                    "This refresh token was already used. Its whole family has been revoked: log in again.",
                ),
            AuthError::RefreshRejected { reused: false } => unauthorized
                .with_type("/problems/refresh-token-invalid")
                .with_detail("The refresh token is unknown, expired or revoked: log in again."),
            AuthError::StoreUnavailable(cause) => {
                tracing::error!(error = ?cause, "session store unavailable");
                Problem::new(StatusCode::SERVICE_UNAVAILABLE)
                    .with_detail("The session store is not answering; try again shortly.")
                    .with_header("Retry-After", "1")
            }
            AuthError::Unexpected(cause) => {
                tracing::error!(error = ?cause, "unexpected error");
                Problem::internal()
            }
        }
    }
}

impl ResponseError for AuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            AuthError::StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AuthError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    fn error_response(&self) -> HttpResponse {
        self.problem().to_response()
    }
}

/// Redis failures are the store being unavailable, not a bug in the request.
impl From<redis::RedisError> for AuthError {
    fn from(err: redis::RedisError) -> Self {
        AuthError::StoreUnavailable(err.into())
    }
}

impl From<deadpool_redis::PoolError> for AuthError {
    fn from(err: deadpool_redis::PoolError) -> Self {
        AuthError::StoreUnavailable(err.into())
    }
}
