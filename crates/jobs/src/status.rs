//! Job status, as `GET /jobs/{id}` reports it, and a way to wait for a job to finish.
//!
//! The store lives in the process that serves HTTP and runs the workers. That is enough to teach
//! the states; a deployment with workers in other processes keeps this in Redis or the database
//! (Sidekiq keeps it in Redis, Celery in its result backend, BullMQ in the job's Redis hash).

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::job::now_ms;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Accepted, waiting for a worker (or for its run time).
    Queued,
    /// A worker has it.
    Running,
    /// Done; the side effect happened.
    Succeeded,
    /// An attempt failed; a retry is scheduled.
    Failed,
    /// Every attempt failed (or the payload was unreadable): in the dead-letter queue.
    Dead,
}

impl Status {
    /// Succeeded or dead: nothing more will happen without a replay.
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Succeeded | Status::Dead)
    }
}

/// What `GET /jobs/{id}` returns.
#[derive(Debug, Clone, Serialize)]
pub struct JobRecord {
    pub id: Uuid,
    pub kind: String,
    pub status: Status,
    /// Unix milliseconds at which each attempt started.
    pub attempts: Vec<u64>,
    pub last_error: Option<String>,
    /// Unix milliseconds when the job reached `succeeded` or `dead`.
    pub finished_at_ms: Option<u64>,
}

#[derive(Default)]
struct Inner {
    records: HashMap<Uuid, JobRecord>,
    waiters: HashMap<Uuid, Vec<oneshot::Sender<Status>>>,
}

/// Every job's status in this process. A std mutex: nothing async happens while it is held.
#[derive(Default)]
pub struct Statuses {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Statuses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Statuses")
    }
}

impl Statuses {
    /// The job was accepted.
    pub fn queued(&self, id: Uuid, kind: &str) {
        self.update(id, kind, |r| r.status = Status::Queued);
    }

    /// A worker started an attempt.
    pub fn running(&self, id: Uuid, kind: &str) {
        self.update(id, kind, |r| {
            r.status = Status::Running;
            r.attempts.push(now_ms());
        });
    }

    /// The attempt succeeded.
    pub fn succeeded(&self, id: Uuid, kind: &str) {
        self.update(id, kind, |r| r.status = Status::Succeeded);
    }

    /// The attempt failed and will be retried.
    pub fn failed(&self, id: Uuid, kind: &str, error: &str) {
        self.update(id, kind, |r| {
            r.status = Status::Failed;
            r.last_error = Some(error.to_owned());
        });
    }

    /// The job was dead-lettered.
    pub fn dead(&self, id: Uuid, kind: &str, reason: &str) {
        self.update(id, kind, |r| {
            r.status = Status::Dead;
            r.last_error = Some(reason.to_owned());
        });
    }

    /// The record of job `id`, if this process has seen it.
    pub fn get(&self, id: Uuid) -> Option<JobRecord> {
        self.lock().records.get(&id).cloned()
    }

    /// Waits until job `id` reaches `succeeded` or `dead` and returns which.
    pub async fn wait_finished(&self, id: Uuid) -> Status {
        let rx = {
            let mut inner = self.lock();
            if let Some(status) = inner.records.get(&id).map(|r| r.status)
                && status.is_terminal()
            {
                return status;
            }
            let (tx, rx) = oneshot::channel();
            inner.waiters.entry(id).or_default().push(tx);
            rx
        };
        // A dropped store (the test ended) counts as dead: nothing will finish the job now.
        rx.await.unwrap_or(Status::Dead)
    }

    fn update(&self, id: Uuid, kind: &str, change: impl FnOnce(&mut JobRecord)) {
        let mut inner = self.lock();
        let record = inner.records.entry(id).or_insert_with(|| JobRecord {
            id,
            kind: kind.to_owned(),
            status: Status::Queued,
            attempts: Vec::new(),
            last_error: None,
            finished_at_ms: None,
        });
        change(record);
        let status = record.status;
        if status.is_terminal() {
            record.finished_at_ms = Some(now_ms());
            for tx in inner.waiters.remove(&id).unwrap_or_default() {
                let _ = tx.send(status);
            }
        } else {
            record.finished_at_ms = None;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave a record half-written in a way that
        // matters for a status page, so a poisoned lock is used as is.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
