//! Sessions in Redis: one network round trip per request, and every instance sees every session.
//!
//! Why a hand-written store rather than actix-session's `RedisSessionStore`: actix-session is a
//! fine production choice (it also signs or encrypts the cookie and renews ids), but it hides
//! exactly what this crate wants to show and measure: the key layout, the TTL, the single `GET`
//! per request, and the per-user index that makes "log out everywhere" possible after a
//! password change (actix-session has no such index). The whole store is the four methods
//! below, over deadpool-redis.
//!
//! Key layout (prefixes are consts, and a test gets its own namespace):
//! - `{ns}session:{id}` → the JSON record, `EX` = time left until the earlier timeout;
//! - `{ns}user-sessions:{user_id}` → a set of that user's session ids.

use std::time::Duration;

use anyhow::Context as _;
use deadpool_redis::Pool;
use redis::AsyncCommands;

use crate::error::AuthError;
use crate::session::{SessionRecord, SessionStore};

/// Cookie name (without the `__Host-` prefix) for Redis sessions.
pub const REDIS_COOKIE: &str = "redis-sid";
/// Key prefix of a session record.
pub const SESSION_KEY: &str = "session:";
/// Key prefix of a user's set of session ids.
pub const USER_SESSIONS_KEY: &str = "user-sessions:";

/// Session records in Redis, every key under `namespace`.
#[derive(Clone)]
pub struct RedisStore {
    pool: Pool,
    namespace: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// `namespace` (for example `svj:`) goes in front of every key.
    pub fn new(pool: Pool, namespace: &str) -> Self {
        Self {
            pool,
            namespace: namespace.to_owned(),
        }
    }

    /// The key a session id is stored under.
    pub fn session_key(&self, id: &str) -> String {
        format!("{}{SESSION_KEY}{id}", self.namespace)
    }

    fn user_key(&self, user_id: &str) -> String {
        format!("{}{USER_SESSIONS_KEY}{user_id}", self.namespace)
    }
}

impl SessionStore for RedisStore {
    async fn save(&self, id: &str, record: &SessionRecord, ttl: Duration) -> Result<(), AuthError> {
        let json = serde_json::to_string(record).context("serialising a session record")?;
        let mut conn = self.pool.get().await?;
        let user_key = self.user_key(&record.user.id);
        // One round trip: the record with its TTL, and the id added to the user's index. The
        // index must outlive the longest session it lists, so its TTL only ever grows: `NX` sets
        // it on a new set, `GT` extends it (Redis 7 options; `GT` alone ignores a key without TTL).
        let secs = ttl.as_secs().max(1);
        redis::pipe()
            .set_ex(self.session_key(id), json, secs)
            .ignore()
            .sadd(&user_key, id)
            .ignore()
            .cmd("EXPIRE")
            .arg(&user_key)
            .arg(secs)
            .arg("NX")
            .ignore()
            .cmd("EXPIRE")
            .arg(&user_key)
            .arg(secs)
            .arg("GT")
            .ignore()
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    async fn load(&self, id: &str) -> Result<Option<SessionRecord>, AuthError> {
        let mut conn = self.pool.get().await?;
        let json: Option<String> = conn.get(self.session_key(id)).await?;
        match json {
            None => Ok(None),
            // A record we cannot read is treated as no session (and logged), not as a 500 for
            // a client who did nothing wrong.
            Some(json) => match serde_json::from_str(&json) {
                Ok(record) => Ok(Some(record)),
                Err(err) => {
                    tracing::warn!(error = %err, "unreadable session record ignored");
                    Ok(None)
                }
            },
        }
    }

    async fn remove(&self, id: &str) -> Result<(), AuthError> {
        let mut conn = self.pool.get().await?;
        let _: () = conn.del(self.session_key(id)).await?;
        Ok(())
    }

    async fn remove_user(&self, user_id: &str) -> Result<usize, AuthError> {
        let mut conn = self.pool.get().await?;
        let user_key = self.user_key(user_id);
        let ids: Vec<String> = conn.smembers(&user_key).await?;
        let mut keys: Vec<String> = ids.iter().map(|id| self.session_key(id)).collect();
        keys.push(user_key);
        // DEL returns how many keys existed; minus the index itself.
        let removed: usize = conn.del(&keys).await?;
        Ok(removed.saturating_sub(1))
    }
}
