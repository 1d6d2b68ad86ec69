//! Typed configuration, built once in `main` (or by a test) and passed down.

use std::time::Duration;

use auth::passwords::PasswordCost;

/// Everything the server can be tuned by. [`Config::default`] is what `cargo run` uses.
#[derive(Debug, Clone)]
pub struct Config {
    /// HS256 key for the login tokens. A real deployment reads it from a secret store; the
    /// default is random per process, so tokens do not survive a restart (say so, loudly, in
    /// `main`) and two instances must be given the same key to accept each other's tokens.
    pub jwt_secret: Vec<u8>,
    /// How long a login token is valid.
    pub token_ttl: Duration,
    /// HMAC key for the keyset cursors (`?cursor=`), as in the pagination topic.
    pub cursor_key: Vec<u8>,
    /// argon2id's cost: the OWASP baseline by default; tests use a cheap one.
    pub password_cost: PasswordCost,
    /// The most a `limit` may ask for (the spec sets only the default, 20).
    pub max_limit: u32,
    /// How many articles `GET /api/articles/top` ranks.
    pub top_size: u32,
    /// How long this instance keeps its local (moka) copy of the top list: the bound on
    /// staleness if an invalidation message from another instance is lost.
    pub top_local_ttl: Duration,
    /// How long the shared (Redis) copy lives without being invalidated.
    pub top_ttl: Duration,
    /// Largest accepted request body.
    pub body_limit: usize,
    /// Database connections.
    pub pool_size: usize,
    /// The Redis key prefix and pub/sub channel of this deployment's cache (tests use their own).
    pub cache_namespace: String,
    /// The job queue's name (tests use their own).
    pub queue_name: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            jwt_secret: random_key(),
            token_ttl: Duration::from_secs(24 * 3600),
            cursor_key: random_key(),
            password_cost: PasswordCost::OWASP,
            max_limit: 100,
            top_size: 10,
            top_local_ttl: Duration::from_secs(5),
            top_ttl: Duration::from_secs(300),
            body_limit: 64 * 1024,
            pool_size: 8,
            cache_namespace: "mini-blog".to_owned(),
            queue_name: "mini-blog".to_owned(),
        }
    }
}

impl Config {
    /// The defaults, with the secrets from the environment when set: `JWT_SECRET` (so tokens
    /// survive a restart and two instances accept each other's) and `CURSOR_KEY`.
    pub fn from_env() -> anyhow::Result<Self> {
        let mut config = Self::default();
        for (name, slot) in [
            ("JWT_SECRET", &mut config.jwt_secret),
            ("CURSOR_KEY", &mut config.cursor_key),
        ] {
            if let Ok(value) = std::env::var(name) {
                anyhow::ensure!(value.len() >= 32, "{name} must be at least 32 bytes long");
                *slot = value.into_bytes();
            }
        }
        Ok(config)
    }
}

/// 32 random bytes: the right size for an HMAC-SHA256 key.
pub fn random_key() -> Vec<u8> {
    rand::random::<[u8; 32]>().to_vec()
}
