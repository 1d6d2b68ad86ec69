//! The baseline: no queue at all. "Enqueue" runs the job right there, in the request handler.
//!
//! The user waits for the mail service (or the resize) on every sign-up; if the mail service is
//! down, the sign-up fails or the email is silently lost, and nothing retries it. It is the right
//! choice only when the caller needs the result in the response and the work is fast.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::job::{DeadLetter, Delivery, Job, Queue, QueueError};
use crate::runner::JobRunner;

/// The backend's name in tables and the one the HTTP layer checks to answer 201, not 202.
pub const NAME: &str = "synchronous";

/// Runs every job inline in `enqueue`.
#[derive(Debug)]
pub struct Synchronous {
    runner: Arc<JobRunner>,
}

impl Synchronous {
    pub fn new(runner: Arc<JobRunner>) -> Self {
        Self { runner }
    }
}

#[async_trait::async_trait]
impl Queue for Synchronous {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn enqueue(&self, job: &Job) -> Result<(), QueueError> {
        let kind = job.task.kind();
        self.runner.statuses.running(job.id, kind);
        match self.runner.run(job).await {
            Ok(_) => {
                self.runner.statuses.succeeded(job.id, kind);
                Ok(())
            }
            Err(error) => {
                // No queue, so no retry and no dead letter: the failure goes back to the caller.
                self.runner.statuses.dead(job.id, kind, &error.to_string());
                Err(QueueError::JobFailed(error))
            }
        }
    }

    async fn enqueue_raw(&self, _payload: Vec<u8>) -> Result<(), QueueError> {
        Err(QueueError::NoQueue(self.name()))
    }

    async fn consume(&self) -> Result<Option<Delivery>, QueueError> {
        // Nothing is ever queued; a worker polling here just idles.
        tokio::time::sleep(Duration::from_millis(100)).await;
        Ok(None)
    }

    async fn ack(&self, _delivery: Delivery) -> Result<(), QueueError> {
        Ok(())
    }

    async fn retry(&self, _d: Delivery, _next: &Job, _delay: Duration) -> Result<(), QueueError> {
        Ok(())
    }

    async fn dead_letter(&self, _delivery: Delivery, _reason: &str) -> Result<(), QueueError> {
        Ok(())
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, QueueError> {
        Ok(Vec::new())
    }

    async fn replay(&self, _id: Uuid) -> Result<bool, QueueError> {
        Ok(false)
    }

    async fn pending(&self) -> Result<u64, QueueError> {
        Ok(0)
    }

    async fn crash(&self) {}

    async fn delete(&self) -> Result<(), QueueError> {
        Ok(())
    }
}
