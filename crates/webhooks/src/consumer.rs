//! The consumer: the service that receives webhooks, and the three habits that make it safe.
//!
//! 1. **Verify the raw bytes, then trust.** `POST /webhooks` reads the body as bytes and runs
//!    [`signature::verify`] on them before anything is parsed. A delivery that fails is answered
//!    401 with one fixed sentence (the reason goes to the log: a forger learns nothing from it).
//! 2. **Deduplicate by `webhook-id`.** Providers deliver *at least* once: a timeout after the
//!    consumer processed an event makes the provider send it again. The id is the same on every
//!    attempt, so a repeated id is acknowledged with 200 (the provider must stop retrying) but
//!    not processed a second time.
//! 3. **Acknowledge first, process later.** The handler hands the event to a worker over a
//!    bounded channel and answers at once. A provider times out slow consumers (the
//!    specification suggests 15 to 30 s) and counts that as a failure, so slow work inside the
//!    handler turns into retries, duplicates and, eventually, a disabled endpoint. The bound is
//!    the backpressure: when the queue is full the handler answers 503 and the provider retries
//!    later, instead of the consumer buffering without limit.
//!
//! What this simplifies, and production does instead:
//! - the seen ids live in this process's memory, each for a retention window
//!   ([`SEEN_RETENTION`] by default) that must outlast the provider's whole retry schedule:
//!   retries carry fresh timestamps, so the tolerance alone does not bound how late a duplicate
//!   can arrive. Forgetting after the window keeps the memory bounded by one window's
//!   deliveries. A real consumer keeps them where a restart cannot lose them (Redis with a TTL,
//!   or a unique index in its database);
//! - an event acknowledged but not yet processed is lost if the process dies. A real consumer
//!   writes it to an inbox table in the same step that acknowledges it, and its worker drains
//!   that table;
//! - the secrets are fixed at start. Rotating means restarting with both secrets listed.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::http::StatusCode;
use actix_web::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use chrono::{DateTime, Utc};
use support::Problem;
use support::clock::{Clock, SystemClock, UnixSeconds};
use tokio::sync::{Semaphore, mpsc, watch};

use crate::signature::{self, Headers, Secret, VerifyError};

/// Where the consumer listens for deliveries.
pub const PATH: &str = "/webhooks";
/// How many acknowledged events may wait for the worker before the handler answers 503.
pub const QUEUE_CAPACITY: usize = 1024;

/// One delivery that passed verification and was not a duplicate, as the worker gets it.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    body: web::Bytes,
    received_at: DateTime<Utc>,
}

/// One processed event, as the tests and the demo read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Processed {
    /// The `webhook-id`.
    pub id: String,
    /// The body, parsed; `Null` if it was not JSON (it was signed, so it is still recorded).
    pub payload: serde_json::Value,
    /// When the handler accepted the delivery: the moment the consumer *noticed* the event,
    /// which the demo compares with the moment the provider created it.
    pub received_at: DateTime<Utc>,
    /// When the worker finished with it.
    pub processed_at: DateTime<Utc>,
}

/// The shared record of processed events. Cloning shares it.
#[derive(Debug, Clone)]
pub struct ProcessedLog(Arc<watch::Sender<Vec<Processed>>>);

impl ProcessedLog {
    fn new() -> Self {
        Self(Arc::new(watch::Sender::new(Vec::new())))
    }

    fn push(&self, processed: Processed) {
        self.0.send_modify(|log| log.push(processed));
    }

    /// Everything processed so far, in processing order.
    pub fn snapshot(&self) -> Vec<Processed> {
        self.0.borrow().clone()
    }

    /// Waits until at least `count` events are processed, or `timeout` passes; returns the log
    /// either way. Waking on each change (a `watch` channel) instead of polling on a timer.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Processed> {
        let mut changes = self.0.subscribe();
        // A timeout or a closed channel both leave the caller with the log as it stands.
        let _ = tokio::time::timeout(timeout, changes.wait_for(|log| log.len() >= count)).await;
        self.snapshot()
    }
}

/// What the consumer knows: its secrets, its tolerance, its clock, the ids it has seen, and
/// the queue to its worker. Built by [`Consumer::start`], shared by every actix worker.
#[derive(Debug, Clone)]
pub struct ConsumerState {
    secrets: Arc<[Secret]>,
    tolerance: Duration,
    clock: Arc<dyn Clock>,
    // A std mutex, not a tokio one: it is held for one set operation and never across an await.
    seen: Arc<Mutex<SeenIds>>,
    queue: mpsc::Sender<Received>,
    /// Milliseconds every acknowledgement is held back; see [`ConsumerState::set_ack_delay`].
    ack_delay: Arc<AtomicU64>,
    /// The ids of duplicate deliveries acknowledged, in arrival order.
    duplicates: Arc<Mutex<Vec<String>>>,
}

impl ConsumerState {
    /// Holds every acknowledgement back by `delay` from now on (zero: answer at once). This is
    /// the mistake habit 3 warns against, on purpose: a consumer that does its work before it
    /// answers. The demo sets it past the provider's attempt timeout to show what follows: the
    /// event is processed, the provider sees a timeout, retries, and the retry is a duplicate
    /// that only the `webhook-id` check keeps from being processed twice.
    pub fn set_ack_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.ack_delay.store(ms, Ordering::Relaxed);
    }

    /// The `webhook-id` of every duplicate delivery acknowledged so far, in arrival order: what
    /// a production consumer exports as a counter, to see how often its provider retries.
    pub fn duplicates(&self) -> Vec<String> {
        self.duplicates
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default()
    }

    /// How many delivery ids the consumer remembers right now: bounded by the deliveries of one
    /// retention window, however long it runs.
    pub fn remembered_ids(&self) -> usize {
        self.seen.lock().map(|seen| seen.len()).unwrap_or_default()
    }

    /// Answers 200, after the acknowledgement delay if one is set.
    async fn acknowledge(&self) -> HttpResponse {
        let delay = self.ack_delay.load(Ordering::Relaxed);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        HttpResponse::Ok().finish()
    }
}

/// How a consumer is set up before it starts.
#[derive(Debug)]
pub struct Consumer {
    secrets: Vec<Secret>,
    tolerance: Duration,
    clock: Arc<dyn Clock>,
    capacity: usize,
    work: Duration,
    gate: Option<Arc<Semaphore>>,
    retention: Duration,
}

impl Consumer {
    /// A consumer that accepts deliveries signed with any of `secrets` within `tolerance`
    /// (use [`crate::config::Config::tolerance`]), on the system clock.
    pub fn new(secrets: Vec<Secret>, tolerance: Duration) -> Self {
        Self {
            secrets,
            tolerance,
            clock: Arc::new(SystemClock),
            capacity: QUEUE_CAPACITY,
            work: Duration::ZERO,
            gate: None,
            retention: SEEN_RETENTION,
        }
    }

    /// How long a delivery id is remembered after it was first seen (default
    /// [`SEEN_RETENTION`]); it must outlast the provider's whole retry schedule.
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// Another clock (tests that check the tolerance against a fixed time).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The queue's bound (at least 1).
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// Simulated work per event: the demo's stand-in for sending an email or updating a ledger.
    pub fn with_work(mut self, work: Duration) -> Self {
        self.work = work;
        self
    }

    /// The worker takes one permit from `gate` before processing each event, so a test decides
    /// exactly when processing may happen (no sleeps, no guessing how long is long enough).
    pub fn with_gate(mut self, gate: Arc<Semaphore>) -> Self {
        self.gate = Some(gate);
        self
    }

    /// Spawns the worker on the current Tokio runtime and returns the state for [`run`] and the
    /// log the worker writes to.
    pub fn start(self) -> (ConsumerState, ProcessedLog) {
        let (queue, inbox) = mpsc::channel(self.capacity);
        let log = ProcessedLog::new();
        tokio::spawn(work(inbox, log.clone(), self.work, self.gate));
        let state = ConsumerState {
            secrets: self.secrets.into(),
            tolerance: self.tolerance,
            clock: self.clock,
            seen: Arc::new(Mutex::new(SeenIds::new(self.retention))),
            queue,
            ack_delay: Arc::new(AtomicU64::new(0)),
            duplicates: Arc::new(Mutex::new(Vec::new())),
        };
        (state, log)
    }
}

/// The worker: one event at a time, in arrival order, until every sender is gone.
async fn work(
    mut inbox: mpsc::Receiver<Received>,
    log: ProcessedLog,
    work: Duration,
    gate: Option<Arc<Semaphore>>,
) {
    while let Some(event) = inbox.recv().await {
        if let Some(gate) = &gate {
            match gate.acquire().await {
                Ok(permit) => permit.forget(),
                // A closed gate means the test is over; stop quietly.
                Err(_) => return,
            }
        }
        if !work.is_zero() {
            tokio::time::sleep(work).await;
        }
        let payload = serde_json::from_slice(&event.body).unwrap_or(serde_json::Value::Null);
        tracing::debug!(id = %event.id, "webhook processed");
        log.push(Processed {
            id: event.id,
            payload,
            received_at: event.received_at,
            processed_at: Utc::now(),
        });
    }
}

/// The consumer's server around a listener the caller bound: `POST /webhooks`.
pub fn run(listener: TcpListener, state: ConsumerState) -> io::Result<Server> {
    support::server::app(listener, move |config| {
        config
            .app_data(web::Data::new(state.clone()))
            .route(PATH, web::post().to(receive));
    })
}

/// Everything a delivery can be refused for.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    /// 401: the signature, timestamp or headers did not verify. The variant is logged; the
    /// client gets one fixed sentence whatever the reason.
    #[error("delivery refused: {0}")]
    Unverified(#[from] VerifyError),
    /// 503 with `Retry-After`: the worker's queue is full; the provider should retry later.
    #[error("the processing queue is full")]
    Busy,
    /// 500: anything else. The cause is logged; the client gets a fixed sentence.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Seconds a provider is asked to wait when the queue is full.
const BUSY_RETRY_AFTER_SECS: u64 = 1;

impl ConsumerError {
    /// The problem+json body and headers; every variant chooses here.
    pub fn problem(&self) -> Problem {
        let problem = Problem::new(self.status_code());
        match self {
            // RFC 9110 asks a 401 to carry a challenge. No scheme is registered for signed
            // webhooks, so it names its own and points at the header that carries the proof.
            ConsumerError::Unverified(_) => problem
                .with_type("/problems/webhook-signature")
                .with_detail("The delivery's Standard Webhooks signature did not verify.")
                .with_header(
                    WWW_AUTHENTICATE.as_str(),
                    format!(
                        "StandardWebhooks header=\"{}\"",
                        signature::HEADER_SIGNATURE
                    ),
                ),
            ConsumerError::Busy => problem
                .with_type("/problems/busy")
                .with_detail("The consumer is busy. Retry the delivery later.")
                .with_header(RETRY_AFTER.as_str(), BUSY_RETRY_AFTER_SECS.to_string()),
            ConsumerError::Unexpected(_) => Problem::internal(),
        }
    }
}

impl ResponseError for ConsumerError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsumerError::Unverified(_) => StatusCode::UNAUTHORIZED,
            ConsumerError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            ConsumerError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The one place an error response is produced and logged.
    fn error_response(&self) -> HttpResponse {
        match self {
            ConsumerError::Unexpected(cause) => tracing::error!(error = ?cause, "{self}"),
            ConsumerError::Unverified(_) | ConsumerError::Busy => tracing::info!("{self}"),
        }
        self.problem().to_response()
    }
}

/// `POST /webhooks`: verify, deduplicate, enqueue, acknowledge.
async fn receive(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<ConsumerState>,
) -> Result<HttpResponse, ConsumerError> {
    let received_at = Utc::now();
    let headers = Headers::from_lookup(|name| request.headers().get(name)?.to_str().ok());
    let verified = signature::verify(
        &state.secrets,
        &headers,
        &body,
        state.clock.now(),
        state.tolerance,
    )?;

    // Claim the id before enqueueing, so two concurrent redeliveries cannot both get in.
    let now = state.clock.now();
    let first_time = state
        .seen
        .lock()
        .map_err(|_| anyhow::anyhow!("the seen-ids lock is poisoned"))?
        .claim(&verified.id, now);
    if !first_time {
        tracing::debug!(id = %verified.id, "duplicate delivery acknowledged");
        if let Ok(mut duplicates) = state.duplicates.lock() {
            duplicates.push(verified.id);
        }
        return Ok(state.acknowledge().await);
    }

    let event = Received {
        id: verified.id,
        body,
        received_at,
    };
    if let Err(refused) = state.queue.try_send(event) {
        let (error, event) = match refused {
            mpsc::error::TrySendError::Full(event) => (ConsumerError::Busy, event),
            mpsc::error::TrySendError::Closed(event) => (
                ConsumerError::Unexpected(anyhow::anyhow!("the webhook worker has stopped")),
                event,
            ),
        };
        // Not processed, so not seen: the provider's retry must get in.
        if let Ok(mut seen) = state.seen.lock() {
            seen.release(&event.id);
        }
        return Err(error);
    }
    // 202 would say "accepted, not yet done", which is the truth; the specification counts any
    // 2xx as success, and 200 is what most providers' dashboards show as plain success.
    Ok(state.acknowledge().await)
}

/// A week: longer than Standard Webhooks' whole suggested retry schedule (5 s, 5 min, 30 min,
/// 2 h, 5 h, 10 h and 10 h, about 27.6 hours), with room for a provider that is itself down
/// for a while.
pub const SEEN_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// The delivery ids claimed within the retention window, oldest first, so forgetting is a pop
/// from the front instead of a walk over every id.
#[derive(Debug)]
struct SeenIds {
    retention: UnixSeconds,
    first_seen: HashMap<String, UnixSeconds>,
    /// Claims in the order they were made; an entry whose id was released (or claimed again
    /// later) no longer matches `first_seen` and is skipped when it reaches the front.
    order: VecDeque<(UnixSeconds, String)>,
}

impl SeenIds {
    fn new(retention: Duration) -> Self {
        Self {
            retention: retention.as_secs(),
            first_seen: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Claims `id` at `now`: true the first time within the window, false for a duplicate.
    fn claim(&mut self, id: &str, now: UnixSeconds) -> bool {
        self.forget_before(now.saturating_sub(self.retention));
        if self.first_seen.contains_key(id) {
            return false;
        }
        self.first_seen.insert(id.to_owned(), now);
        self.order.push_back((now, id.to_owned()));
        true
    }

    /// Gives a claim back (the event was refused before it was queued), so the retry gets in.
    fn release(&mut self, id: &str) {
        self.first_seen.remove(id);
    }

    fn forget_before(&mut self, cutoff: UnixSeconds) {
        while let Some((at, _)) = self.order.front() {
            if *at >= cutoff {
                break;
            }
            if let Some((at, id)) = self.order.pop_front()
                && self.first_seen.get(&id) == Some(&at)
            {
                self.first_seen.remove(&id);
            }
        }
    }

    fn len(&self) -> usize {
        self.first_seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::SeenIds;
    use std::time::Duration;

    #[test]
    fn an_id_is_a_duplicate_within_the_window_and_forgotten_after_it() {
        let mut seen = SeenIds::new(Duration::from_secs(100));
        assert!(seen.claim("a", 1_000));
        assert!(!seen.claim("a", 1_099), "a duplicate inside the window");
        assert!(seen.claim("b", 1_050));
        assert!(
            seen.claim("c", 1_101),
            "a claim at 1101 forgets what is older than 1001"
        );
        assert_eq!(seen.len(), 2, "a is forgotten, b and c remain");
        assert!(
            seen.claim("a", 1_102),
            "after the window the id is new again"
        );
    }

    #[test]
    fn a_released_claim_lets_the_retry_in_and_leaves_no_stale_entry() {
        let mut seen = SeenIds::new(Duration::from_secs(100));
        assert!(seen.claim("a", 1_000));
        seen.release("a");
        assert!(seen.claim("a", 1_010), "the retry is first again");
        // The first claim's queue entry reaches the front first and must not forget the second.
        assert!(seen.claim("z", 1_105));
        assert!(!seen.claim("a", 1_105), "still remembered from 1010");
    }

    #[test]
    fn memory_is_bounded_by_one_windows_deliveries() {
        let mut seen = SeenIds::new(Duration::from_secs(10));
        for t in 0..1_000_u64 {
            assert!(seen.claim(&format!("evt_{t}"), t));
        }
        assert!(seen.len() <= 11, "{} ids remembered", seen.len());
        assert!(seen.order.len() <= 11);
    }
}
