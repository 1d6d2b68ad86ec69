//! Sessions in this process's memory: the fastest lookup there is, and invisible to every other
//! instance. Behind a round-robin load balancer, half the requests land on an instance that has
//! never heard of the session (the demo measures it), so this needs sticky routing, and a
//! restart or deploy logs everybody out.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::error::AuthError;
use crate::session::{SessionRecord, SessionStore};

/// Cookie name (without the `__Host-` prefix) for memory sessions.
pub const MEMORY_COOKIE: &str = "mem-sid";

/// Session id → record, behind one mutex.
///
/// A std mutex, not a tokio one: it is held for a hash-map operation and never across an
/// `.await`. Expired records are removed when they are next presented; a record nobody presents
/// again stays until the process exits. Production would sweep them (or use a cache with
/// time-to-idle, such as moka) and shard the lock if it became contended.
#[derive(Debug, Default)]
pub struct MemoryStore {
    sessions: Mutex<HashMap<String, SessionRecord>>,
}

impl MemoryStore {
    /// The synchronous lookup behind [`SessionStore::load`], exposed so the demo can time it
    /// without an async runtime's overhead in the figure.
    pub fn get(&self, id: &str) -> Result<Option<SessionRecord>, AuthError> {
        Ok(self.lock()?.get(id).cloned())
    }

    /// How many sessions this instance holds.
    pub fn len(&self) -> usize {
        self.lock().map_or(0, |s| s.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, SessionRecord>>, AuthError> {
        self.sessions
            .lock()
            .map_err(|_| AuthError::Unexpected(anyhow::anyhow!("session map lock poisoned")))
    }
}

impl SessionStore for MemoryStore {
    async fn save(
        &self,
        id: &str,
        record: &SessionRecord,
        _ttl: Duration,
    ) -> Result<(), AuthError> {
        self.lock()?.insert(id.to_owned(), record.clone());
        Ok(())
    }

    async fn load(&self, id: &str) -> Result<Option<SessionRecord>, AuthError> {
        self.get(id)
    }

    async fn remove(&self, id: &str) -> Result<(), AuthError> {
        self.lock()?.remove(id);
        Ok(())
    }

    async fn remove_user(&self, user_id: &str) -> Result<usize, AuthError> {
        let mut sessions = self.lock()?;
        let before = sessions.len();
        sessions.retain(|_, record| record.user.id != user_id);
        Ok(before - sessions.len())
    }
}
