//! The crate's one error type, and the one place it becomes an HTTP answer.
//!
//! The RealWorld spec fixes the shape: `{"errors": {"<field or resource>": ["<message>"]}}`,
//! served as `application/json`, with the messages its tests check word for word ("is missing",
//! "not found", "has already been taken", "can't be blank"). The body also carries RFC 9457's
//! `title` and `status` members, so a client written for problem details reads it too; the
//! media type stays the spec's, because a Conduit front end is the client this API is for.
//!
//! A client never sees internal error text: `Unexpected` and `Unavailable` answer a fixed
//! sentence and the cause goes to the log, tagged with the request id.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

/// Everything a request can fail with; each variant's doc names its status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 401: no `Authorization` header (`token: is missing`).
    #[error("the token is missing")]
    MissingToken,
    /// 401: a token that is malformed, forged, expired, or names a deleted user (`token: is invalid`).
    #[error("the token is invalid")]
    InvalidToken,
    /// 401: login with an unknown email or a wrong password (`credentials: invalid`). One answer
    /// for both, so the endpoint does not tell which emails are registered.
    #[error("invalid credentials")]
    BadCredentials,
    /// 403: the resource exists and belongs to someone else (`<resource>: forbidden`).
    #[error("{0} is not yours")]
    Forbidden(&'static str),
    /// 404: the resource named does not exist (`<resource>: not found`).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 409: a unique field is already in use (`<field>: has already been taken`).
    #[error("{0} has already been taken")]
    Taken(&'static str),
    /// 422: the request is well-formed JSON but its values break the rules, field by field.
    #[error("validation failed: {0:?}")]
    Invalid(Vec<(String, String)>),
    /// 400: the body is not JSON at all (`body: …`).
    #[error("malformed body: {0}")]
    MalformedBody(String),
    /// 413: the body is larger than the configured limit.
    #[error("the body exceeds {0} bytes")]
    TooLarge(usize),
    /// 415: a body that says it is not JSON.
    #[error("unsupported content type")]
    NotJson,
    /// 503: the database gave no connection in time; retrying later may work.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// 500: a bug or an unexpected failure; the cause is logged, never sent.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl Error {
    /// A single 422 for one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![(field.into(), message.into())])
    }

    /// The `errors` object: field or resource to messages.
    fn errors(&self) -> BTreeMap<String, Vec<String>> {
        let one =
            |key: &str, message: &str| BTreeMap::from([(key.to_owned(), vec![message.to_owned()])]);
        match self {
            Error::MissingToken => one("token", "is missing"),
            Error::InvalidToken => one("token", "is invalid"),
            Error::BadCredentials => one("credentials", "invalid"),
            Error::Forbidden(resource) => one(resource, "forbidden"),
            Error::NotFound(resource) => one(resource, "not found"),
            Error::Taken(field) => one(field, "has already been taken"),
            Error::Invalid(fields) => {
                let mut map = BTreeMap::<String, Vec<String>>::new();
                for (field, message) in fields {
                    map.entry(field.clone()).or_default().push(message.clone());
                }
                map
            }
            Error::MalformedBody(why) => one("body", why),
            Error::TooLarge(limit) => one("body", &format!("is larger than {limit} bytes")),
            Error::NotJson => one("body", "must be application/json"),
            Error::Unavailable(_) => one("server", "is temporarily unavailable, retry later"),
            Error::Unexpected(_) => one("server", "failed unexpectedly"),
        }
    }
}

impl From<support::db::DbError> for Error {
    fn from(e: support::db::DbError) -> Self {
        match e {
            support::db::DbError::Unavailable(why) => Error::Unavailable(why),
            other => Error::Unexpected(anyhow::Error::new(other)),
        }
    }
}

impl From<diesel::result::Error> for Error {
    fn from(e: diesel::result::Error) -> Self {
        Error::Unexpected(anyhow::Error::new(e))
    }
}

#[derive(Serialize)]
struct Body<'a> {
    errors: BTreeMap<String, Vec<String>>,
    title: &'a str,
    status: u16,
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        match self {
            Error::MissingToken | Error::InvalidToken | Error::BadCredentials => {
                StatusCode::UNAUTHORIZED
            }
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Taken(_) => StatusCode::CONFLICT,
            Error::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::MalformedBody(_) => StatusCode::BAD_REQUEST,
            Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::NotJson => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self {
            Error::Unexpected(cause) => tracing::error!(error = ?cause, "request failed"),
            Error::Unavailable(why) => tracing::warn!(%why, "database unavailable"),
            _ => {}
        }
        let mut response = HttpResponse::build(status);
        if matches!(self, Error::MissingToken | Error::InvalidToken) {
            // RFC 9110 §11.6.1: a 401 says which scheme would work.
            response.insert_header(("WWW-Authenticate", "Token"));
        }
        if matches!(self, Error::Unavailable(_)) {
            response.insert_header(("Retry-After", "1"));
        }
        response.json(Body {
            errors: self.errors(),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
        })
    }
}
