//! Alternative 1: HTTP Basic (RFC 7617). The password itself, on every request.
//!
//! `Authorization: Basic base64(user-id ":" password)`, UTF-8 as announced by the challenge's
//! `charset="UTF-8"` parameter (RFC 7617 §2.1). Nothing is kept on the server between requests,
//! which is the appeal. The price is paid twice over: the password travels on every request
//! (readable by anyone who sees the traffic: base64 is an encoding, not encryption, so Basic is
//! only ever acceptable over TLS), and the server verifies an argon2id hash on every request,
//! tens of milliseconds of CPU each time, which the demo sets beside a session lookup.
//!
//! Revocation is immediate (change the password or disable the account), logout does not exist
//! (the browser keeps resending until it is closed), and because browsers attach cached Basic
//! credentials automatically, a cross-site request rides on them just as on a cookie.

use actix_web::HttpRequest;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::accounts::Accounts;
use crate::credentials;
use crate::error::AuthError;
use crate::login;
use crate::principal::{Mechanism, Principal};
use crate::throttle::Throttle;

/// The scheme name (compared case-insensitively).
pub const SCHEME: &str = "Basic";

/// A decoded `user-id:password` pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    pub user_id: String,
    pub password: String,
}

/// What a malformed Basic credential lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("the credentials are not valid base64")]
    Base64,
    #[error("the decoded credentials are not UTF-8")]
    Utf8,
    #[error("the decoded credentials have no colon between user-id and password")]
    NoColon,
}

impl Malformed {
    fn reason(self) -> &'static str {
        match self {
            Malformed::Base64 => "the Basic credentials are not valid base64",
            Malformed::Utf8 => "the decoded Basic credentials are not UTF-8",
            Malformed::NoColon => "the decoded Basic credentials have no colon",
        }
    }
}

/// The header value a client sends: `Basic <base64(user-id:password)>`.
pub fn encode(user_id: &str, password: &str) -> String {
    format!(
        "{SCHEME} {}",
        STANDARD.encode(format!("{user_id}:{password}"))
    )
}

/// Decodes the token after `Basic `. The user-id ends at the *first* colon (RFC 7617 §2: a
/// user-id cannot contain one, a password can).
pub fn decode(token: &str) -> Result<BasicCredentials, Malformed> {
    let bytes = STANDARD.decode(token).map_err(|_| Malformed::Base64)?;
    let text = String::from_utf8(bytes).map_err(|_| Malformed::Utf8)?;
    let (user_id, password) = text.split_once(':').ok_or(Malformed::NoColon)?;
    Ok(BasicCredentials {
        user_id: user_id.to_owned(),
        password: password.to_owned(),
    })
}

/// Authenticates one request: decode, then a full (throttled) password login.
pub async fn authenticate(
    req: &HttpRequest,
    accounts: &Accounts,
    throttle: &Throttle,
) -> Result<Principal, AuthError> {
    let token = credentials::authorization(req, SCHEME, Mechanism::Basic)?;
    let creds = decode(token).map_err(|m| AuthError::Malformed {
        mechanism: Mechanism::Basic,
        reason: m.reason(),
    })?;
    let address = req.peer_addr().map(|a| a.ip());
    let account = login::check(
        accounts,
        throttle,
        Mechanism::Basic,
        &creds.user_id,
        &creds.password,
        address,
    )
    .await?;
    Ok(Principal::new(
        account.id,
        &account.username,
        account.role,
        Mechanism::Basic,
    ))
}
