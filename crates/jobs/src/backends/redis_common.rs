//! The dead-letter hash both Redis backends share: one field per job id, its value a
//! [`DeadLetter`] as JSON.
//!
//! The list queue and the stream differ in how a job is delivered, not in how a dead one is kept,
//! so the encoding, the listing and the lookup for replay live here once. Each backend still
//! writes the entry and re-enqueues a replayed job itself, inside its own atomic pipeline.

use deadpool_redis::Pool;
use redis::AsyncCommands;
use uuid::Uuid;

use crate::job::{DeadLetter, Job, QueueError};

/// The hash field and JSON value that record `payload` as dead for `reason`.
pub(crate) fn entry(payload: &[u8], reason: &str) -> Result<(String, String), QueueError> {
    let entry = DeadLetter::new(payload, reason);
    // Unreadable payloads have no id; they get a random field so none overwrites another.
    let field = entry.id.unwrap_or_else(Uuid::new_v4).to_string();
    let value = serde_json::to_string(&entry).map_err(|e| QueueError::Other(e.to_string()))?;
    Ok((field, value))
}

/// Every dead letter under `key`, oldest first.
pub(crate) async fn list(pool: &Pool, key: &str) -> Result<Vec<DeadLetter>, QueueError> {
    let mut conn = pool.get().await?;
    let values: Vec<String> = conn.hvals(key).await?;
    let mut entries: Vec<DeadLetter> = values
        .iter()
        .filter_map(|v| serde_json::from_str(v).ok())
        .collect();
    entries.sort_by_key(|e| e.at_ms);
    Ok(entries)
}

/// The job recorded under `id`, ready to run again, or `None` when there is no such entry.
pub(crate) async fn job_to_replay(
    pool: &Pool,
    key: &str,
    id: Uuid,
) -> Result<Option<Job>, QueueError> {
    let mut conn = pool.get().await?;
    let value: Option<String> = conn.hget(key, id.to_string()).await?;
    let Some(value) = value else { return Ok(None) };
    let entry: DeadLetter =
        serde_json::from_str(&value).map_err(|e| QueueError::Other(e.to_string()))?;
    let job =
        Job::decode(entry.payload.as_bytes()).map_err(|e| QueueError::Other(e.to_string()))?;
    Ok(Some(job.replayed()))
}
