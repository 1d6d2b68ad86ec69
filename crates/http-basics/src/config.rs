//! The server's settings, in one typed struct built once and passed down.

use crate::rate_limit::RateLimit;

/// Bearer tokens and what each may do. Fixed, well-known values: this server is for exploring on
/// localhost. Production issues per-client credentials (see the `sessions-vs-jwt` topic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    /// May read and write notes.
    pub writer: String,
    /// May read only: a write with it is a 403, not a 401.
    pub reader: String,
    /// May also switch maintenance mode.
    pub admin: String,
}

impl Default for Tokens {
    fn default() -> Self {
        Self {
            writer: "writer-token".to_owned(),
            reader: "reader-token".to_owned(),
            admin: "admin-token".to_owned(),
        }
    }
}

/// Everything the server can be told.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub tokens: Tokens,
    /// Largest note body (JSON or form) accepted, in bytes.
    pub body_limit: usize,
    /// Largest attachment accepted, in bytes.
    pub attachment_limit: usize,
    /// Writes allowed per token.
    pub write_rate: RateLimit,
    /// `Retry-After` sent while in maintenance, in seconds.
    pub maintenance_retry_after: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            tokens: Tokens::default(),
            body_limit: 16 * 1024,
            attachment_limit: 256 * 1024,
            write_rate: RateLimit {
                burst: 1_000,
                per_second: 500.0,
            },
            maintenance_retry_after: 30,
        }
    }
}
