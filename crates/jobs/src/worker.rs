//! The worker pool: the loop every backend shares.
//!
//! Each worker takes a delivery, parses it, runs it, and settles it exactly one way:
//!
//! ```text
//! consume ─► parse ──bad──► dead_letter("malformed payload: …")
//!              │
//!              ▼
//!            run ──ok──► ack                      status: succeeded
//!              │
//!              └─err─► attempts left? ──yes──► retry(after backoff)   status: failed
//!                                     └─no───► dead_letter(error)     status: dead
//! ```
//!
//! Where the ack sits decides the delivery guarantee. Acking after the side effect (as here) is
//! at-least-once: a crash between the two runs the job again. Acking before would be at-most-once:
//! a crash loses it. Exactly-once *effects* come from at-least-once delivery plus idempotency
//! (`runner.rs`).
//!
//! [`Crash`] lets the demo and tests stop a worker at a precise point and then really abort its
//! task, so "the worker died before the ack" is an event, not a sleep that hopes to hit a window.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::backoff::Backoff;
use crate::job::{Delivery, Job, Queue, QueueError};
use crate::runner::JobRunner;

/// Where a worker stops dead, to be aborted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// The job was taken from the queue; nothing ran yet.
    BeforeSideEffect,
    /// The side effect happened; the ack was not sent.
    AfterSideEffect,
}

/// Stop at `at` on the first job, report its id on `reached`, and hang until aborted.
#[derive(Debug, Clone)]
pub struct Crash {
    pub at: CrashPoint,
    pub reached: mpsc::UnboundedSender<Uuid>,
}

/// How a pool runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub workers: usize,
    pub backoff: Backoff,
    pub crash: Option<Crash>,
}

/// How long `shutdown` lets an in-process pool drain its accepted jobs before giving up on them.
/// Production sets this a little under the orchestrator's grace period (Kubernetes' default
/// `terminationGracePeriodSeconds` is 30 s, after which SIGKILL loses everything anyway).
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(20);

/// Running workers over one queue.
#[derive(Debug)]
pub struct WorkerPool {
    handles: Vec<JoinHandle<()>>,
    /// Stop taking jobs now.
    cancel: CancellationToken,
    /// Stop once the queue is empty (in-process shutdown).
    drain: CancellationToken,
    queue: Arc<dyn Queue>,
}

impl WorkerPool {
    /// Starts `options.workers` workers.
    pub fn start(queue: Arc<dyn Queue>, runner: Arc<JobRunner>, options: WorkerOptions) -> Self {
        let pool_queue = queue.clone();
        let cancel = CancellationToken::new();
        let drain = CancellationToken::new();
        let handles = (0..options.workers.max(1))
            .map(|_| {
                let worker = Worker {
                    queue: queue.clone(),
                    runner: runner.clone(),
                    backoff: options.backoff,
                    crash: options.crash.clone(),
                };
                tokio::spawn(worker.run(cancel.clone(), drain.clone()))
            })
            .collect();
        Self {
            handles,
            cancel,
            drain,
            queue: pool_queue,
        }
    }

    /// Graceful shutdown within [`DRAIN_DEADLINE`]; see [`WorkerPool::shutdown_within`].
    pub async fn shutdown(self) -> u64 {
        self.shutdown_within(DRAIN_DEADLINE).await
    }

    /// Graceful shutdown: the queue stops accepting new jobs, and each worker finishes and
    /// settles the one it holds. On a broker (Redis, RabbitMQ) the workers stop taking jobs at
    /// once: the rest stays in the queue for the next process. In-process, nobody else holds the
    /// backlog, so the workers first drain it, until it is empty or `deadline` passes. Returns
    /// how many jobs were still pending when the workers stopped (on a broker: kept for later;
    /// in-process: lost).
    pub async fn shutdown_within(self, deadline: Duration) -> u64 {
        self.queue.close().await;
        let handles = self.handles;
        let all_stopped = async move {
            for handle in handles {
                let _ = handle.await;
            }
        };
        tokio::pin!(all_stopped);
        let mut stopped = false;
        if self.queue.drains_on_shutdown() {
            self.drain.cancel();
            stopped = tokio::time::timeout(deadline, &mut all_stopped)
                .await
                .is_ok();
            if !stopped {
                tracing::warn!(queue = self.queue.name(), "drain deadline passed; stopping");
            }
        }
        // Past the deadline, or a broker: stop taking jobs; a job being run is still finished.
        self.cancel.cancel();
        if !stopped {
            all_stopped.await;
        }
        // Hand back what the client prefetched first, so the count includes it (RabbitMQ counts
        // only messages ready in the queue, not those delivered to a consumer and unacked).
        self.queue.release().await;
        self.queue.pending().await.unwrap_or(0)
    }

    /// A crash: abort every worker task wherever it is, settling nothing.
    pub async fn kill(self) {
        for handle in &self.handles {
            handle.abort();
        }
        for handle in self.handles {
            let _ = handle.await;
        }
    }
}

struct Worker {
    queue: Arc<dyn Queue>,
    runner: Arc<JobRunner>,
    backoff: Backoff,
    crash: Option<Crash>,
}

impl Worker {
    async fn run(self, cancel: CancellationToken, drain: CancellationToken) {
        let mut draining = false;
        loop {
            // `biased`: once shutdown is asked for, no new job is taken even if one is ready.
            // A drain request interrupts a waiting `consume` (only the in-process queue drains,
            // and its receive is cancel-safe), so an idle worker notices at once, not a poll later.
            let next = tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                () = drain.cancelled(), if !draining => {
                    draining = true;
                    if self.queue.pending().await.unwrap_or(0) == 0 {
                        break;
                    }
                    continue;
                }
                next = self.queue.consume() => next,
            };
            match next {
                Ok(Some(delivery)) => {
                    if let Err(error) = self.handle(delivery).await {
                        tracing::warn!(queue = self.queue.name(), %error, "settling a job failed");
                    }
                }
                // Draining and nothing came: done once nothing is queued or waiting on a timer
                // (a worker whose job is being retried sees its timer and stays).
                Ok(None) if drain.is_cancelled() => {
                    if self.queue.pending().await.unwrap_or(0) == 0 {
                        break;
                    }
                }
                Ok(None) => {}
                Err(QueueError::Closed) if drain.is_cancelled() => break,
                Err(error) => {
                    // The broker is away: back off instead of spinning, and keep the worker.
                    tracing::warn!(queue = self.queue.name(), %error, "consume failed");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    async fn handle(&self, delivery: Delivery) -> anyhow::Result<()> {
        let job = match Job::decode(&delivery.payload) {
            Ok(job) => job,
            Err(error) => {
                // Never crash on a bad payload, never retry it (it will not parse next time
                // either): park it with the reason so a person can look at it.
                let reason = format!("malformed payload: {error}");
                self.queue.dead_letter(delivery, &reason).await?;
                return Ok(());
            }
        };
        let kind = job.task.kind();
        self.crash_at(CrashPoint::BeforeSideEffect, job.id).await;
        self.runner.statuses.running(job.id, kind);
        match self.runner.run(&job).await {
            Ok(_) => {
                self.crash_at(CrashPoint::AfterSideEffect, job.id).await;
                self.queue.ack(delivery).await?;
                self.runner.statuses.succeeded(job.id, kind);
            }
            Err(error) => {
                let error = error.to_string();
                if self.backoff.retries_after(job.attempt) {
                    let delay = self.backoff.delay(job.id, job.attempt);
                    self.runner.statuses.failed(job.id, kind, &error);
                    self.queue
                        .retry(delivery, &job.next_attempt(delay), delay)
                        .await?;
                } else {
                    let reason = format!("gave up after {} attempts: {error}", job.attempt);
                    self.queue.dead_letter(delivery, &reason).await?;
                    self.runner.statuses.dead(job.id, kind, &reason);
                }
            }
        }
        Ok(())
    }

    async fn crash_at(&self, point: CrashPoint, id: Uuid) {
        if let Some(crash) = &self.crash
            && crash.at == point
        {
            let _ = crash.reached.send(id);
            // Hang here, holding the delivery, until the pool is killed.
            std::future::pending::<()>().await;
        }
    }
}
