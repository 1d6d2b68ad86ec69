//! One password login, whichever mechanism asks: throttle, verify, record.
//!
//! Basic does this on every request, the session and JWT logins once; all three go through
//! here so that the throttle and the no-enumeration rule cannot be forgotten by one of them.

use std::net::IpAddr;

use actix_web::HttpRequest;
use serde::{Deserialize, Serialize};

use crate::accounts::{Account, Accounts};
use crate::error::{AuthError, Refusal};
use crate::principal::Mechanism;
use crate::throttle::Throttle;

/// Checks `username`/`password` for `mechanism`: 429 while throttled (before any hashing), 401
/// on a wrong password or unknown user (counted as a failure), the account otherwise.
pub async fn check(
    accounts: &Accounts,
    throttle: &Throttle,
    mechanism: Mechanism,
    username: &str,
    password: &str,
    address: Option<IpAddr>,
) -> Result<Account, AuthError> {
    throttle.check(username, address)?;
    match accounts.check_password(mechanism, username, password).await {
        Ok(account) => {
            throttle.succeeded(username)?;
            Ok(account)
        }
        Err(
            refused @ AuthError::Refused {
                refusal: Refusal::BadPassword,
                ..
            },
        ) => {
            throttle.failed(username, address)?;
            Err(refused)
        }
        Err(other) => Err(other),
    }
}

/// A password login's body (`/session/login`, `/jwt/token`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// [`check`] for a login route: the credentials from `body`, the address from the connection.
pub async fn check_request(
    accounts: &Accounts,
    throttle: &Throttle,
    mechanism: Mechanism,
    req: &HttpRequest,
    body: &LoginRequest,
) -> Result<Account, AuthError> {
    let address = req.peer_addr().map(|a| a.ip());
    check(
        accounts,
        throttle,
        mechanism,
        &body.username,
        &body.password,
        address,
    )
    .await
}
