//! The crate's one error type, and how each variant reaches a client (RFC 9457 problem+json).
//!
//! Every refusal names its reason in the `detail` (the client can fix its request), except the
//! server's own failures, which get a fixed sentence while the cause goes to the log.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use support::Problem;
use support::db::DbError;

use crate::inspect::Refusal;

/// tus's status for a chunk whose `Upload-Checksum` does not match (tus 1.0 checksum extension).
pub const CHECKSUM_MISMATCH: u16 = 460;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 401: no owner on the request (see `owner.rs`).
    #[error("no authenticated owner")]
    Unauthenticated,
    /// 404: no such upload, or not this owner's (the two are indistinguishable on purpose).
    #[error("no such upload")]
    NotFound,
    /// 413: the file is larger than the limit; for a streamed upload, found out while streaming.
    #[error("larger than {limit} bytes")]
    TooLarge { limit: u64 },
    /// 415 for a type refusal (unknown, not allowed, a claim that disagrees with the bytes);
    /// 422 for a content refusal (empty, an image too large to decode).
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
    /// 400: the request could not be parsed (a truncated multipart body, a missing part, a
    /// malformed header).
    #[error("malformed request: {0}")]
    Malformed(String),
    /// 422: a well-formed request whose field is unacceptable.
    #[error("invalid `{field}`: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// 409: the state does not allow this now (confirming an object that is not there yet,
    /// a tus `Upload-Offset` that is not the server's, an upload already finished).
    #[error("conflict: {0}")]
    Conflict(String),
    /// 412: a tus request without `Tus-Resumable: 1.0.0`.
    #[error("unsupported tus version")]
    TusVersion,
    /// 460: a tus chunk whose checksum does not match its bytes; the chunk was discarded.
    #[error("checksum mismatch")]
    ChecksumMismatch,
    /// 502: object storage answered with an error or not at all.
    #[error("object storage failed")]
    Storage(#[source] anyhow::Error),
    /// 503: the database pool could not hand out a connection in time.
    #[error("database unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// 500: anything else; the cause is logged, the client sees a fixed sentence.
    #[error("unexpected error")]
    Unexpected(#[source] anyhow::Error),
}

impl Error {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }

    pub fn unexpected(e: impl Into<anyhow::Error>) -> Self {
        Self::Unexpected(e.into())
    }

    /// The problem+json body, without side effects (the cause is logged in `error_response`).
    pub fn problem(&self) -> Problem {
        let status = self.status_code();
        match self {
            Error::Unauthenticated => Problem::new(status)
                .with_detail(format!("Send the owner in the `{}` header.", crate::headers::OWNER))
                .with_header(header::WWW_AUTHENTICATE.as_str(), "Owner"),
            Error::NotFound => Problem::new(status).with_detail("No such upload."),
            Error::TooLarge { limit } => Problem::new(status)
                .with_detail(format!("The file is larger than the limit of {limit} bytes; nothing was kept."))
                .with_extension("limit", *limit),
            Error::Refused(r) => Problem::new(status).with_detail(format!("{}; nothing was kept.", capitalise(&r.to_string()))),
            Error::Malformed(m) => Problem::bad_request(format!("{m}; nothing was kept.")),
            Error::Invalid { field, message } => Problem::invalid_field(*field, message.clone()),
            Error::Conflict(m) => Problem::new(status).with_detail(m.clone()),
            Error::TusVersion => Problem::new(status)
                .with_detail("This server speaks tus 1.0.0; send `Tus-Resumable: 1.0.0`.")
                .with_header(crate::headers::TUS_VERSION, crate::headers::TUS_VERSION_VALUE),
            Error::ChecksumMismatch => Problem::new(status)
                .with_title("Checksum Mismatch")
                .with_detail("The chunk's bytes do not match its Upload-Checksum; it was discarded and the offset is unchanged."),
            Error::Storage(_) => Problem::new(status).with_detail("Object storage did not answer as expected; retry shortly."),
            Error::Unavailable(_) => Problem::new(status)
                .with_detail("The database is busy; retry shortly.")
                .with_header(header::RETRY_AFTER.as_str(), "1"),
            Error::Unexpected(_) => Problem::internal(),
        }
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

impl From<DbError> for Error {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(_) => Error::Unavailable(e.into()),
            DbError::Query(_) | DbError::Task(_) => Error::Unexpected(e.into()),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Unexpected(e.into())
    }
}

impl ResponseError for Error {
    /// Pure: actix asks for the status more than once per response.
    fn status_code(&self) -> StatusCode {
        match self {
            Error::Unauthenticated => StatusCode::UNAUTHORIZED,
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Refused(r) if r.is_type() => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::Refused(_) | Error::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Malformed(_) => StatusCode::BAD_REQUEST,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::TusVersion => StatusCode::PRECONDITION_FAILED,
            Error::ChecksumMismatch => {
                StatusCode::from_u16(CHECKSUM_MISMATCH).unwrap_or(StatusCode::BAD_REQUEST)
            }
            Error::Storage(_) => StatusCode::BAD_GATEWAY,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The one place a cause is logged.
    fn error_response(&self) -> HttpResponse {
        match self {
            Error::Storage(cause) => tracing::error!(error = ?cause, "object storage failed"),
            Error::Unavailable(cause) => tracing::error!(error = ?cause, "database unavailable"),
            Error::Unexpected(cause) => tracing::error!(error = ?cause, "unexpected error"),
            _ => {}
        }
        let mut response = self.problem().to_response();
        if matches!(self, Error::TooLarge { .. } | Error::Malformed(_)) {
            // The request body may not have been read to its end: say so, so the client does
            // not send its next request on a connection the server is about to close.
            response.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_maps_to_its_documented_status() {
        let cases = [
            (Error::Unauthenticated, 401),
            (Error::NotFound, 404),
            (Error::TooLarge { limit: 1 }, 413),
            (Error::Refused(Refusal::Unknown), 415),
            (Error::Refused(Refusal::Empty), 422),
            (Error::Malformed("x".into()), 400),
            (Error::invalid("size", "x"), 422),
            (Error::Conflict("x".into()), 409),
            (Error::TusVersion, 412),
            (Error::ChecksumMismatch, 460),
            (Error::Storage(anyhow::anyhow!("x")), 502),
            (Error::Unavailable(anyhow::anyhow!("x")), 503),
            (Error::Unexpected(anyhow::anyhow!("secret cause")), 500),
        ];
        for (error, status) in cases {
            assert_eq!(error.status_code().as_u16(), status, "{error}");
            let problem = error.problem();
            assert_eq!(problem.status, status, "{error}");
            assert!(!problem.detail.unwrap_or_default().contains("secret cause"));
        }
    }
}
