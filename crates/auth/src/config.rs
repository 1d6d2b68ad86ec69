//! [`Config`]: every knob of the service in one typed struct, built once and passed down.

use std::time::Duration;

use crate::passwords::PasswordCost;

/// The realm every `WWW-Authenticate` challenge names: one protection space, whichever door.
pub const REALM: &str = "documents";

/// The service's configuration. [`Config::default`] is what `serve` and the demo run with;
/// tests lower the password cost with [`Config::with_password_cost`].
#[derive(Debug, Clone)]
pub struct Config {
    /// argon2id parameters for new hashes. A stored hash made with other parameters is rehashed
    /// at the next successful login.
    pub password_cost: PasswordCost,
    pub session: SessionConfig,
    pub jwt: JwtConfig,
    pub throttle: ThrottleConfig,
}

#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub cookie: String,
    /// `Secure` on the cookie. Off for `serve` and the demo, which speak plain HTTP on
    /// loopback; on anywhere else (a `Secure` cookie is never sent over HTTP).
    pub secure: bool,
    /// A session unused this long is gone.
    pub idle_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct JwtConfig {
    pub issuer: String,
    pub audience: String,
    /// Access tokens are short-lived because they cannot be revoked: this is the revocation delay.
    pub lifetime: Duration,
}

/// Login throttling: failures counted over a sliding window, per account and per client address.
#[derive(Debug, Clone)]
pub struct ThrottleConfig {
    /// Failures for one username within `window` before its logins are refused with 429.
    pub per_account: usize,
    /// Failures from one client address within `window` (across usernames: password spraying).
    pub per_address: usize,
    pub window: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            password_cost: PasswordCost::OWASP,
            session: SessionConfig {
                cookie: "documents_session".to_owned(),
                secure: false,
                idle_timeout: Duration::from_secs(30 * 60),
            },
            jwt: JwtConfig {
                issuer: "auth-demo".to_owned(),
                audience: "documents-api".to_owned(),
                lifetime: Duration::from_secs(5 * 60),
            },
            throttle: ThrottleConfig {
                per_account: 5,
                per_address: 50,
                window: Duration::from_secs(15 * 60),
            },
        }
    }
}

impl Config {
    /// The same service with cheaper password hashing (tests, and the parts of the demo that do
    /// not measure hashing).
    pub fn with_password_cost(mut self, cost: PasswordCost) -> Self {
        self.password_cost = cost;
        self
    }
}
