//! In-process queue: a tokio channel in this process's memory, drained by a worker pool.
//!
//! Enqueueing is a memory write (well under a microsecond of work), so it is the fastest backend
//! and needs nothing installed. Its promise ends with the process: a job taken by a worker that
//! dies is gone (there was never anyone to redeliver it), and so is everything still queued when
//! the process exits or crashes. Delayed jobs are timers in the same memory. This is what
//! `tokio::spawn` after the response, or a `BackgroundTasks` in other frameworks, gives you.
//!
//! The channel is bounded: when `capacity` jobs wait, `enqueue` answers [`QueueError::Full`] at
//! once (the HTTP layer turns that into 503 with `Retry-After`) instead of letting memory grow
//! without limit while the workers fall behind. That is backpressure: the producer learns now.
//!
//! Graceful shutdown (`WorkerPool::shutdown_within`) closes the queue to new jobs, then lets the
//! workers drain what was already accepted, within a deadline, because nobody else holds those
//! jobs. Retries of accepted jobs are still taken while draining. A delayed job due after the
//! deadline is still lost, and nothing survives a crash or a `kill -9`: for that, use a broker.

use std::sync::atomic::AtomicBool;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use uuid::Uuid;

use crate::job::{DeadLetter, Delivery, Job, Queue, QueueError};

/// How long `consume` waits for a job before returning `None`.
const POLL: Duration = Duration::from_millis(100);

/// A tokio channel plus a dead-letter list, all in memory.
#[derive(Debug)]
pub struct InProcess {
    tx: Mutex<Option<mpsc::Sender<Vec<u8>>>>,
    rx: tokio::sync::Mutex<mpsc::Receiver<Vec<u8>>>,
    /// False once shutdown began: new jobs are refused, accepted ones still run.
    accepting: AtomicBool,
    /// Jobs waiting on a timer (delayed jobs and retries).
    delayed: std::sync::Arc<AtomicU64>,
    dead: Mutex<Vec<DeadLetter>>,
}

/// Jobs waiting in the channel before `enqueue` answers [`QueueError::Full`], by default.
pub const DEFAULT_CAPACITY: usize = 10_000;

impl Default for InProcess {
    fn default() -> Self {
        Self::new()
    }
}

impl InProcess {
    /// A queue holding at most [`DEFAULT_CAPACITY`] waiting jobs.
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }

    /// A queue holding at most `capacity` waiting jobs (at least 1).
    pub fn with_capacity(capacity: usize) -> Self {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        Self {
            tx: Mutex::new(Some(tx)),
            rx: tokio::sync::Mutex::new(rx),
            accepting: AtomicBool::new(true),
            delayed: std::sync::Arc::default(),
            dead: Mutex::new(Vec::new()),
        }
    }

    fn sender(&self) -> Result<mpsc::Sender<Vec<u8>>, QueueError> {
        lock(&self.tx).clone().ok_or(QueueError::Closed)
    }

    /// A new job from a producer: refused once shutdown began.
    fn accept(&self, payload: Vec<u8>, delay: Duration) -> Result<(), QueueError> {
        if !self.accepting.load(Ordering::Acquire) {
            return Err(QueueError::Closed);
        }
        self.push(payload, delay)
    }

    fn push(&self, payload: Vec<u8>, delay: Duration) -> Result<(), QueueError> {
        let tx = self.sender()?;
        if delay.is_zero() {
            // `try_send`: a full queue is an answer now, not a request that hangs.
            return tx.try_send(payload).map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => QueueError::Full,
                mpsc::error::TrySendError::Closed(_) => QueueError::Closed,
            });
        }
        // A timer task holds the job: if the process dies, so does the timer, and the job.
        let delayed = self.delayed.clone();
        delayed.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            // A due job was accepted long ago: it waits for room rather than being dropped.
            let _ = tx.send(payload).await;
            delayed.fetch_sub(1, Ordering::Relaxed);
        });
        Ok(())
    }
}

#[async_trait::async_trait]
impl Queue for InProcess {
    fn name(&self) -> &'static str {
        "in-process"
    }

    async fn enqueue(&self, job: &Job) -> Result<(), QueueError> {
        self.accept(job.encode(), job.delay_left())
    }

    async fn enqueue_raw(&self, payload: Vec<u8>) -> Result<(), QueueError> {
        self.accept(payload, Duration::ZERO)
    }

    async fn consume(&self) -> Result<Option<Delivery>, QueueError> {
        let mut rx = self.rx.lock().await;
        // Receiving removes the job from the queue: from here on it exists only in this worker.
        match tokio::time::timeout(POLL, rx.recv()).await {
            Ok(Some(payload)) => Ok(Some(Delivery {
                payload,
                receipt: Box::new(()),
            })),
            Ok(None) => {
                drop(rx);
                tokio::time::sleep(POLL).await;
                Ok(None)
            }
            Err(_) => Ok(None),
        }
    }

    async fn ack(&self, _delivery: Delivery) -> Result<(), QueueError> {
        // Nothing to tell anyone: the job left the queue when it was received.
        Ok(())
    }

    async fn retry(&self, _d: Delivery, next: &Job, delay: Duration) -> Result<(), QueueError> {
        self.push(next.encode(), delay)
    }

    async fn dead_letter(&self, delivery: Delivery, reason: &str) -> Result<(), QueueError> {
        lock(&self.dead).push(DeadLetter::new(&delivery.payload, reason));
        Ok(())
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, QueueError> {
        Ok(lock(&self.dead).clone())
    }

    async fn replay(&self, id: Uuid) -> Result<bool, QueueError> {
        let entry = {
            let mut dead = lock(&self.dead);
            let Some(index) = dead.iter().position(|d| d.id == Some(id)) else {
                return Ok(false);
            };
            dead.remove(index)
        };
        let job = Job::decode(entry.payload.as_bytes()).map_err(QueueError::Decode)?;
        self.push(job.replayed().encode(), Duration::ZERO)?;
        Ok(true)
    }

    async fn pending(&self) -> Result<u64, QueueError> {
        // Counted from the sender's free slots, not `rx.len()`: the receiver's lock is held by
        // a worker waiting in `consume`, and a status count should not wait for its poll to end.
        let queued = lock(&self.tx)
            .as_ref()
            .map_or(0, |tx| tx.max_capacity() - tx.capacity()) as u64;
        Ok(queued + self.delayed.load(Ordering::Relaxed))
    }

    async fn close(&self) {
        self.accepting.store(false, Ordering::Release);
    }

    fn drains_on_shutdown(&self) -> bool {
        true
    }

    async fn crash(&self) {
        // The process's memory is gone: the channel, its contents and the timers' jobs.
        lock(&self.tx).take();
        let mut rx = self.rx.lock().await;
        rx.close();
        while rx.try_recv().is_ok() {}
        lock(&self.dead).clear();
    }

    async fn delete(&self) -> Result<(), QueueError> {
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
