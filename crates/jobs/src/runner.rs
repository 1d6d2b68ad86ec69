//! What a job does: the side effects, made idempotent by job id.
//!
//! The runner is shared by every backend (and by the synchronous handler), so the only thing that
//! differs between backends is how a job reaches it. Idempotency works the way it does in
//! production: before the side effect, look the job id up in a record of finished jobs; after it,
//! write the id there. A redelivered job (the worker died after sending the email, before it could
//! acknowledge) then finds its id and skips the email.
//!
//! The record here is a set in memory that outlives any worker (a worker crash in the demo aborts
//! the worker, not the process). Production keeps it where it survives the process: a Redis `SET
//! key NX` with a TTL, or a unique row written in the same database transaction as the effect.
//! The window between "effect done" and "id recorded" remains; closing it needs the effect and the
//! record in one transaction, or passing the id to the downstream service as its own idempotency
//! key (Stripe's and most mail APIs' `Idempotency-Key` header).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::job::{Job, JobError, Task};
use crate::mail::Message;
use crate::status::Statuses;
use crate::thumbnail;

/// Whether the side effect ran this time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    Performed,
    /// The job id was already recorded as done: the effect was skipped.
    Duplicate,
}

/// Runs jobs. One per process, shared by the HTTP handlers and every worker.
pub struct JobRunner {
    http: reqwest::Client,
    mail_url: String,
    pub statuses: Arc<Statuses>,
    idempotent: AtomicBool,
    done: Mutex<HashSet<uuid::Uuid>>,
    effects: Mutex<HashMap<uuid::Uuid, u32>>,
}

impl std::fmt::Debug for JobRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobRunner")
            .field("mail_url", &self.mail_url)
            .finish_non_exhaustive()
    }
}

impl JobRunner {
    /// A runner that sends mail to `mail_url`, with idempotency on.
    pub fn new(mail_url: String) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .pool_max_idle_per_host(64)
                .build()
                .unwrap_or_default(),
            mail_url,
            statuses: Arc::new(Statuses::default()),
            idempotent: AtomicBool::new(true),
            done: Mutex::new(HashSet::new()),
            effects: Mutex::new(HashMap::new()),
        }
    }

    /// Turns the done-record check on or off (the crash matrix shows both).
    pub fn set_idempotent(&self, on: bool) {
        self.idempotent.store(on, Ordering::Relaxed);
    }

    /// How many times job `id`'s side effect ran.
    pub fn effects(&self, id: uuid::Uuid) -> u32 {
        lock(&self.effects).get(&id).copied().unwrap_or(0)
    }

    /// Runs one attempt of `job`.
    pub async fn run(&self, job: &Job) -> Result<RunOutcome, JobError> {
        let idempotent = self.idempotent.load(Ordering::Relaxed);
        if idempotent && lock(&self.done).contains(&job.id) {
            return Ok(RunOutcome::Duplicate);
        }
        match &job.task {
            Task::WelcomeEmail { to } => self.send_welcome(job, to).await?,
            Task::Thumbnail {
                width,
                height,
                max_side,
            } => {
                let (w, h, side) = (*width, *height, *max_side);
                // spawn_blocking: decoding and resizing take milliseconds of pure CPU; on the
                // async executor they would stall every other task on that thread.
                tokio::task::spawn_blocking(move || {
                    let png = thumbnail::sample_png(w, h)?;
                    thumbnail::make_thumbnail(&png, side)
                })
                .await??;
            }
            Task::Noop => {}
            Task::Named { name, .. } => return Err(JobError::UnknownTask(name.clone())),
        }
        *lock(&self.effects).entry(job.id).or_default() += 1;
        if idempotent {
            lock(&self.done).insert(job.id);
        }
        Ok(RunOutcome::Performed)
    }

    async fn send_welcome(&self, job: &Job, to: &str) -> Result<(), JobError> {
        let message = Message {
            job_id: job.id,
            to: to.to_owned(),
            subject: "Welcome!".to_owned(),
        };
        let response = self
            .http
            .post(&self.mail_url)
            .json(&message)
            .send()
            .await
            .map_err(JobError::MailUnreachable)?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(JobError::MailRefused(response.status().as_u16()))
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
