//! The crate's one error type and its mapping to RFC 9457 problem+json.

use actix_web::http::StatusCode;
use actix_web::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use actix_web::{HttpResponse, ResponseError};
use support::Problem;

use crate::jwt::TokenRejection;

/// The authorization scheme of RFC 6750 (compared case-insensitively, as RFC 9110 §11.1 says).
/// Here, beside the challenges that name it, so that the routes import the errors and not the
/// other way round.
pub const BEARER_SCHEME: &str = "Bearer";
/// The realm named in every `WWW-Authenticate: Bearer` challenge.
pub const BEARER_REALM: &str = "sessions-vs-jwt";
/// `Retry-After` on a 503: Redis restarts or fails over in about this many seconds, and a client
/// retrying sooner would only add load to a store that is coming back.
pub const RETRY_AFTER_SECS: u32 = 1;

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
    /// The cause a 5xx carries: logged where the response is produced, never sent.
    fn cause(&self) -> Option<&anyhow::Error> {
        match self {
            AuthError::StoreUnavailable(cause) | AuthError::Unexpected(cause) => Some(cause),
            AuthError::BadCredentials
            | AuthError::NoSession
            | AuthError::MissingToken
            | AuthError::InvalidToken(_)
            | AuthError::RefreshRejected { .. } => None,
        }
    }

    /// The problem+json body and headers. Pure: it neither logs nor looks anything up, so a
    /// test can call it and a new variant cannot be forgotten (the match is exhaustive).
    fn problem(&self) -> Problem {
        let problem = Problem::new(self.status_code());
        match self {
            AuthError::BadCredentials => problem
                .with_type("/problems/bad-credentials")
                .with_detail("The username or password is wrong."),
            AuthError::NoSession => problem
                .with_type("/problems/no-session")
                .with_detail("No valid session: log in first, or again after a timeout or logout."),
            AuthError::MissingToken => problem
                .with_type("/problems/missing-token")
                .with_detail("Send an access token as `Authorization: Bearer <token>`.")
                .with_header(
                    WWW_AUTHENTICATE.as_str(),
                    format!("{BEARER_SCHEME} realm=\"{BEARER_REALM}\""),
                ),
            AuthError::InvalidToken(reason) => problem
                .with_type("/problems/invalid-token")
                .with_detail(format!("The access token was refused: {}.", reason.describe()))
                .with_extension("reason", reason.code())
                // RFC 6750 §3: the error code and a human description, both quoted strings.
                .with_header(
                    WWW_AUTHENTICATE.as_str(),
                    format!(
                        "{BEARER_SCHEME} realm=\"{BEARER_REALM}\", error=\"invalid_token\", error_description=\"{}\"",
                        reason.describe()
                    ),
                ),
            AuthError::RefreshRejected { reused: true } => problem
                .with_type("/problems/refresh-token-reused")
                .with_detail(
                    "This refresh token was already used. Its whole family has been revoked: log in again.",
                ),
            AuthError::RefreshRejected { reused: false } => problem
                .with_type("/problems/refresh-token-invalid")
                .with_detail("The refresh token is unknown, expired or revoked: log in again."),
            AuthError::StoreUnavailable(_) => problem
                .with_detail("The session store is not answering; try again shortly.")
                .with_header(RETRY_AFTER.as_str(), RETRY_AFTER_SECS.to_string()),
            // Whatever went wrong stays in the log; the client gets the fixed sentence.
            AuthError::Unexpected(_) => Problem::internal(),
        }
    }
}

impl ResponseError for AuthError {
    /// Every variant named, no catch-all: a new variant must choose its status here.
    fn status_code(&self) -> StatusCode {
        match self {
            AuthError::BadCredentials
            | AuthError::NoSession
            | AuthError::MissingToken
            | AuthError::InvalidToken(_)
            | AuthError::RefreshRejected { .. } => StatusCode::UNAUTHORIZED,
            AuthError::StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AuthError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The one place an error response is produced, so the one place it is logged: with its
    /// cause when it has one, at debug when it is routine (`support::problem::respond`).
    fn error_response(&self) -> HttpResponse {
        support::problem::respond(self, &self.problem(), self.cause())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn every_variant() -> Vec<AuthError> {
        vec![
            AuthError::BadCredentials,
            AuthError::NoSession,
            AuthError::MissingToken,
            AuthError::InvalidToken(TokenRejection::Expired),
            AuthError::RefreshRejected { reused: true },
            AuthError::RefreshRejected { reused: false },
            AuthError::StoreUnavailable(anyhow::anyhow!("connection refused at 10.1.2.3")),
            AuthError::Unexpected(anyhow::anyhow!("lock poisoned in token map")),
        ]
    }

    /// The body names the same status as the response line, for every variant.
    #[test]
    fn every_problem_body_carries_its_response_status() {
        for error in every_variant() {
            assert_eq!(
                error.problem().status,
                error.status_code().as_u16(),
                "{error:?}"
            );
        }
    }

    /// A 503 tells the client when to come back; neither 5xx shows the client its cause.
    #[test]
    fn server_errors_say_when_to_retry_and_never_show_their_cause() {
        let unavailable =
            AuthError::StoreUnavailable(anyhow::anyhow!("connection refused at 10.1.2.3"))
                .problem()
                .to_response();
        let retry = unavailable.headers().get(RETRY_AFTER);
        assert_eq!(unavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            retry.and_then(|v| v.to_str().ok()),
            Some(RETRY_AFTER_SECS.to_string().as_str())
        );
        for error in every_variant().into_iter().filter(|e| e.cause().is_some()) {
            let body = serde_json::to_string(&error.problem()).unwrap_or_default();
            assert!(
                !body.contains("10.1.2.3") && !body.contains("poisoned"),
                "{body}"
            );
        }
    }

    /// Only the bearer-token 401s carry a challenge (RFC 6750 §3); cookie sessions have no scheme.
    #[test]
    fn only_bearer_failures_carry_a_www_authenticate_challenge() {
        for error in every_variant() {
            let challenged = error
                .problem()
                .to_response()
                .headers()
                .contains_key(WWW_AUTHENTICATE);
            let bearer = matches!(error, AuthError::MissingToken | AuthError::InvalidToken(_));
            assert_eq!(challenged, bearer, "{error:?}");
        }
    }
}
