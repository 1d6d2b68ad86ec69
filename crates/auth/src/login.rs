//! One password login, whichever mechanism asks: throttle, verify, record.
//!
//! Basic does this on every request, the session and JWT logins once; all three go through
//! here so that the throttle and the no-enumeration rule cannot be forgotten by one of them.

use std::net::IpAddr;

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
