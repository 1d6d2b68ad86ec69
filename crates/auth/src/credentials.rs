//! Reading a credential out of a request: the header, its scheme, its size.
//!
//! Every header-borne mechanism starts the same way, and each way a header can be wrong gets a
//! precise answer: no header is 401 (the client did not try), a different scheme is 401 (this
//! route wants another one, and the challenge says which), and a value that is too long, not
//! visible ASCII or has no token after the scheme is 400 (the client tried and sent garbage).
//! None of them is ever a 500.

use actix_web::HttpRequest;
use actix_web::http::header::AUTHORIZATION;

use crate::error::AuthError;
use crate::principal::Mechanism;

/// Longest credential header read, in bytes. Real credentials are well under a kilobyte (a
/// JWT here is about 300 bytes); a longer one is refused before anything decodes it. actix
/// itself refuses a whole header block over 32 KiB with 431 before any handler runs.
pub const MAX_CREDENTIAL_BYTES: usize = 4 * 1024;

/// The value of header `name`, checked for size and visible ASCII; `None` when absent.
pub fn header<'r>(
    req: &'r HttpRequest,
    name: &str,
    mechanism: Mechanism,
) -> Result<Option<&'r str>, AuthError> {
    let Some(value) = req.headers().get(name) else {
        return Ok(None);
    };
    if value.len() > MAX_CREDENTIAL_BYTES {
        return Err(AuthError::Malformed {
            mechanism,
            reason: "the credential header is longer than 4 KiB",
        });
    }
    let value = value.to_str().map_err(|_| AuthError::Malformed {
        mechanism,
        reason: "the credential header is not visible ASCII",
    })?;
    Ok(Some(value))
}

/// The credentials after `scheme` in `Authorization` (the scheme compared case-insensitively,
/// RFC 9110 §11.1). Absent header or another scheme: 401 with this mechanism's challenge.
pub fn authorization<'r>(
    req: &'r HttpRequest,
    scheme: &str,
    mechanism: Mechanism,
) -> Result<&'r str, AuthError> {
    let value = header(req, AUTHORIZATION.as_str(), mechanism)?
        .ok_or(AuthError::MissingCredentials(mechanism))?;
    let (given, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !given.eq_ignore_ascii_case(scheme) {
        return Err(AuthError::MissingCredentials(mechanism));
    }
    let token = rest.trim_matches(' ');
    if token.is_empty() {
        return Err(AuthError::Malformed {
            mechanism,
            reason: "nothing follows the scheme",
        });
    }
    Ok(token)
}
