//! Who is calling: `401` versus `403`.
//!
//! 401 means "I don't know who you are" and must carry a `WWW-Authenticate` challenge telling the
//! client how to authenticate. 403 means "I know who you are, and the answer is no": sending the
//! same credentials again will not help, so there is no challenge.

use actix_web::HttpRequest;
use actix_web::http::header;
use subtle::ConstantTimeEq;

use crate::config::Tokens;
use crate::error::ApiError;

/// What a known token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Reader,
    Writer,
    Admin,
}

/// A caller we recognised.
#[derive(Debug, Clone)]
pub struct Caller {
    pub role: Role,
    /// Stable per token: the key for rate limits and idempotency records.
    pub scope: String,
}

/// Reads `Authorization: Bearer <token>` and says who this is, or 401.
pub fn authenticate(req: &HttpRequest, tokens: &Tokens) -> Result<Caller, ApiError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::Unauthenticated)?;
    let (scheme, token) = value.split_once(' ').ok_or(ApiError::Unauthenticated)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::Unauthenticated);
    }
    let token = token.trim().as_bytes();
    // Constant-time comparison: how long a mismatch takes must not reveal how much matched.
    let is = |known: &str| bool::from(token.ct_eq(known.as_bytes()));
    let role = if is(&tokens.admin) {
        Role::Admin
    } else if is(&tokens.writer) {
        Role::Writer
    } else if is(&tokens.reader) {
        Role::Reader
    } else {
        return Err(ApiError::Unauthenticated);
    };
    Ok(Caller {
        role,
        scope: format!("{role:?}").to_ascii_lowercase(),
    })
}

/// Authenticates and requires a role that may write notes (403 for a reader).
pub fn writer(req: &HttpRequest, tokens: &Tokens) -> Result<Caller, ApiError> {
    let caller = authenticate(req, tokens)?;
    match caller.role {
        Role::Writer | Role::Admin => Ok(caller),
        Role::Reader => Err(ApiError::Forbidden("write notes")),
    }
}

/// Authenticates and requires the admin role.
pub fn admin(req: &HttpRequest, tokens: &Tokens) -> Result<Caller, ApiError> {
    let caller = authenticate(req, tokens)?;
    match caller.role {
        Role::Admin => Ok(caller),
        Role::Reader | Role::Writer => Err(ApiError::Forbidden("change maintenance mode")),
    }
}
