//! `Idempotency-Key`: making a POST safe to retry.
//!
//! A client that times out cannot know whether its POST was applied. Retrying blindly creates a
//! duplicate; not retrying may lose the write. With an `Idempotency-Key` (a random value the client
//! picks once per logical operation and reuses on retries) the server remembers the first outcome
//! and replays it. This follows the IETF `Idempotency-Key` header draft:
//! - same key, same request, first one finished: replay the stored response;
//! - same key, first one still running: 409 Conflict;
//! - same key, different request body: 422 (the key was reused by mistake).
//!
//! Keys are scoped to the caller's token, so one client cannot replay another's response.
//! Production would keep these in Redis or the database (surviving restarts, shared between
//! instances) and expire them after a day; here they live in memory and never expire.

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::model::Note;

/// The request header.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Set on a replayed response, so a client (and the demo) can tell.
pub const REPLAYED: &str = "idempotent-replayed";
/// Longest key accepted.
const MAX_KEY_LEN: usize = 255;

#[derive(Debug, Clone)]
enum Entry {
    InFlight { fingerprint: [u8; 32] },
    Done { fingerprint: [u8; 32], note: Note },
}

/// What to do with a request that carries a key.
#[derive(Debug)]
pub enum Begin {
    /// First time: process it, then call [`IdempotencyStore::complete`].
    Fresh,
    /// Seen and finished: answer with this note as the first response did.
    Replay(Note),
}

/// Records by (caller scope, key).
type Entries = HashMap<(String, String), Entry>;

/// Remembered outcomes, by (token, key).
#[derive(Debug, Default)]
pub struct IdempotencyStore {
    entries: Mutex<Entries>,
}

/// Checks a key's syntax: 1 to 255 visible ASCII characters.
pub fn validate_key(key: &str) -> Result<(), ApiError> {
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::BadRequest(format!(
            "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"
        )));
    }
    Ok(())
}

/// A digest of what makes two requests "the same": media type and body bytes.
pub fn fingerprint(content_type: &str, body: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(content_type.as_bytes());
    hasher.update([0]);
    hasher.update(body);
    hasher.finalize().into()
}

impl IdempotencyStore {
    fn entries(&self) -> Result<std::sync::MutexGuard<'_, Entries>, ApiError> {
        self.entries
            .lock()
            .map_err(|_| ApiError::Unexpected(anyhow::anyhow!("idempotency lock poisoned")))
    }

    /// Claims `key` for this request, or says how to answer a repeat.
    pub fn begin(&self, scope: &str, key: &str, fingerprint: [u8; 32]) -> Result<Begin, ApiError> {
        let mut entries = self.entries()?;
        let slot = (scope.to_owned(), key.to_owned());
        match entries.get(&slot) {
            Some(Entry::InFlight { .. }) => Err(ApiError::IdempotencyKeyInFlight),
            Some(Entry::Done {
                fingerprint: seen, ..
            }) if *seen != fingerprint => Err(ApiError::IdempotencyKeyReused),
            Some(Entry::Done { note, .. }) => Ok(Begin::Replay(note.clone())),
            None => {
                entries.insert(slot, Entry::InFlight { fingerprint });
                Ok(Begin::Fresh)
            }
        }
    }

    /// Records the outcome of a fresh request so repeats replay it.
    pub fn complete(&self, scope: &str, key: &str, note: Note) -> Result<(), ApiError> {
        let mut entries = self.entries()?;
        let slot = (scope.to_owned(), key.to_owned());
        if let Some(Entry::InFlight { fingerprint }) = entries.get(&slot).cloned() {
            entries.insert(slot, Entry::Done { fingerprint, note });
        }
        Ok(())
    }

    /// Forgets a claim whose request failed, so the client may retry with the same key.
    pub fn abandon(&self, scope: &str, key: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&(scope.to_owned(), key.to_owned()));
        }
    }
}
