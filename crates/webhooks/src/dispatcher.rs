//! The dispatcher: a background task that sends what the outbox queued, records every attempt,
//! retries on the schedule, and gives up on endpoints that keep failing.
//!
//! Each round it **claims** the due attempts (pending, `scheduled_at <= now`, not leased), sends
//! them concurrently, and **records** each outcome in its own transaction:
//!
//! - 2xx: the attempt is `delivered` and the endpoint's run of failures starts again at zero;
//! - anything else (another status, a refused redirect, a timeout, no connection): the attempt is
//!   `failed`, with the status or the error; the next attempt is inserted as a new pending row,
//!   due after the wait [`crate::retry::next_attempt`] gives, or none when the schedule is over;
//! - the endpoint's `disable_after`-th failure in a row disables it, with the reason stored where
//!   its owner's API shows it, and its other pending attempts are closed.
//!
//! **Claiming.** On PostgreSQL the claim is one statement: an `UPDATE` that sets a lease
//! (`locked_until`) on the rows a `SELECT … FOR UPDATE SKIP LOCKED` found: several dispatchers
//! can run, and each skips the rows another is claiming instead of waiting for them. The lease, not a lock held
//! during the HTTP call, is what keeps a claimed row from being sent twice; a dispatcher that dies
//! mid-send leaves a lease that runs out, and another sends the row again (at least once, never
//! lost). SQLite has no row locks: one dispatcher per database file.
//!
//! **Stopping drains.** [`DispatcherHandle::stop`] lets the round in flight finish and record its
//! outcomes, then returns; nothing claimed is left leased. A crash instead of a stop is what the
//! lease covers.
//!
//! What production adds: per-endpoint concurrency limits and ordering, a circuit breaker that
//! pauses a failing endpoint before it is disabled, response bodies kept (truncated) for the
//! log, and a notification (email, an operational webhook) when an endpoint is disabled.

use std::sync::Arc;
use std::time::Duration;

use diesel::prelude::*;
use serde_json::json;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::endpoints::{self, Endpoint};
use crate::outbox::{self, Delivery, DeliveryStatus, Event};
use crate::retry;
use crate::store::schema::{
    webhooks_deliveries as d, webhooks_endpoints as e, webhooks_outbox_events as o,
};
use crate::store::{AnyConnection, Clock, Db, Millis, SharedClock, StoreError, SystemClock};

/// The `user-agent` every delivery carries, so a consumer's logs say who called.
pub const USER_AGENT: &str = concat!("webhooks-lesson/", env!("CARGO_PKG_VERSION"));

/// How many attempts one round claims at most: enough to keep two cores busy with I/O, few
/// enough that a stop drains quickly.
const BATCH: i64 = 32;

/// The outcome of one attempt, before it is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Delivered { status: u16 },
    Failed { status: Option<u16>, error: String },
}

/// What one claimed attempt needs to be sent.
struct Job {
    delivery: Delivery,
    event: Event,
    endpoint: Endpoint,
}

/// Sends queued deliveries; [`Dispatcher::start`] runs it in the background.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    db: Db,
    config: Config,
    clock: SharedClock,
    client: reqwest::Client,
    poll_every: Duration,
    woken_by: Option<Arc<Notify>>,
}

impl Dispatcher {
    /// A dispatcher on `db`, with the system clock and a poll every 200 ms.
    ///
    /// The HTTP client follows no redirects: a consumer's `302` to `http://10.0.0.1/` would walk
    /// around the SSRF check made at registration. A redirect is a failed attempt.
    pub fn new(db: Db, config: Config) -> Result<Self, StoreError> {
        let client = reqwest::Client::builder()
            .timeout(config.attempt_timeout)
            .redirect(reqwest::redirect::Policy::none())
            // Every name is resolved and vetted in the same step as the connection, so an
            // answer that changed since registration (DNS rebinding) is refused, not connected.
            .dns_resolver(crate::ssrf::VettingResolver::new(config.allow_loopback))
            // Through an HTTP_PROXY from the environment the proxy would resolve the target's
            // name, out of the resolver's sight; an egress proxy is configured on purpose.
            .no_proxy()
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| StoreError::Unexpected(e.into()))?;
        Ok(Self {
            db,
            config,
            clock: Arc::new(SystemClock),
            client,
            poll_every: Duration::from_millis(200),
            woken_by: None,
        })
    }

    /// Reads "now" from `clock` (tests and demos that move time by hand).
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// How long to sleep when nothing was due. Polling, rather than a wake-up from the writer,
    /// because the writer may be another process (or a provider restarted since).
    pub fn poll_every(mut self, every: Duration) -> Self {
        self.poll_every = every;
        self
    }

    /// Also ends an idle sleep when `changes` is notified: a writer in this process (the
    /// provider's [`changes`](crate::provider::Provider::changes)) says a delivery was queued,
    /// and it goes out now rather than up to a poll interval later. The poll stays, for writers
    /// elsewhere.
    pub fn woken_by(mut self, changes: Arc<Notify>) -> Self {
        self.woken_by = Some(changes);
        self
    }

    /// Runs [`Dispatcher::run_once`] in a loop on the current runtime until stopped.
    pub fn start(self) -> DispatcherHandle {
        let cancel = CancellationToken::new();
        let token = cancel.clone();
        let task = tokio::spawn(async move {
            let changes = self.woken_by.clone().unwrap_or_default();
            while !token.is_cancelled() {
                // Listen before looking: a delivery queued while this round reads the table
                // fires a notification this future has already registered for, so it is not
                // missed (`notify_waiters` keeps no permit for latecomers).
                let woken = changes.notified();
                tokio::pin!(woken);
                woken.as_mut().enable();
                let idle = match self.run_once().await {
                    Ok(0) => true,
                    Ok(_) => false,
                    Err(error) => {
                        // A database that is away now may be back in a moment: log, wait, retry.
                        tracing::warn!(%error, "dispatch round failed");
                        true
                    }
                };
                if idle {
                    tokio::select! {
                        () = token.cancelled() => break,
                        () = &mut woken => {}
                        () = tokio::time::sleep(self.poll_every) => {}
                    }
                }
            }
        });
        DispatcherHandle { cancel, task }
    }

    /// One round: claims the due attempts, sends them concurrently, records each outcome.
    /// Returns how many it sent. Tests and demos call it directly to drain deterministically.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let now = self.clock.now_ms();
        // Long enough for the attempt to time out and its outcome to be recorded.
        let lease = now + millis(self.config.attempt_timeout) * 2 + 1_000;
        let jobs = self.db.interact(move |c| claim(c, now, lease)).await?;
        let sent = jobs.len();
        let rounds = jobs.into_iter().map(|job| async move {
            let started = self.clock.now_ms();
            let outcome = self.send(&job).await;
            if let Err(error) = self.record(job, started, outcome).await {
                // The lease runs out and the attempt is made again: at least once, never lost.
                tracing::warn!(%error, "failed to record a delivery attempt");
            }
        });
        futures_util::future::join_all(rounds).await;
        Ok(sent)
    }

    /// POSTs one event, signed for this attempt, and says how it went.
    async fn send(&self, job: &Job) -> Outcome {
        // Names are vetted by the client's resolver at connect time; an IP literal never reaches
        // it, so it is judged here, at every attempt, not only at registration.
        if let Err(e) =
            crate::ssrf::check_before_send(&job.endpoint.url, self.config.allow_loopback)
        {
            return Outcome::Failed {
                status: None,
                error: format!("not sent: {e}"),
            };
        }
        let body = body(&job.event);
        let signer = match job.endpoint.signer() {
            Ok(signer) => signer,
            Err(e) => {
                return Outcome::Failed {
                    status: None,
                    error: format!("not sent: the endpoint's secret is unusable ({e})"),
                };
            }
        };
        // Signed at the attempt's time, not the event's: a retry hours later must still fall
        // inside the consumer's replay tolerance.
        let now_s = u64::try_from(self.clock.now_ms() / 1000).unwrap_or(0);
        let headers = signer.headers(&job.event.id, now_s, body.as_bytes());
        let mut request = self
            .client
            .post(&job.endpoint.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        for (name, value) in headers.pairs() {
            request = request.header(name, value);
        }
        // The response body is not read: an endpoint answering with megabytes must not cost the
        // provider megabytes. The status is the whole answer.
        match request.body(body).send().await {
            Ok(res) if res.status().is_success() => Outcome::Delivered {
                status: res.status().as_u16(),
            },
            Ok(res) => {
                let status = res.status();
                let error = if status.is_redirection() {
                    format!("HTTP {}: redirects are not followed", status.as_u16())
                } else {
                    format!("HTTP {}", status.as_u16())
                };
                Outcome::Failed {
                    status: Some(status.as_u16()),
                    error,
                }
            }
            Err(e) => Outcome::Failed {
                status: None,
                error: describe_error(&e, self.config.attempt_timeout),
            },
        }
    }

    /// Writes the attempt's outcome and what follows from it, in one transaction.
    async fn record(
        &self,
        job: Job,
        attempted: Millis,
        outcome: Outcome,
    ) -> Result<(), StoreError> {
        let finished = self.clock.now_ms();
        // Drawn here, outside the database closure: the thread-local generator is not `Send`.
        let wait = {
            let attempt = u32::try_from(job.delivery.attempt).unwrap_or(u32::MAX);
            let mut rng = rand::rng();
            retry::next_attempt(
                attempt,
                &self.config.retry_schedule,
                self.config.jitter,
                &mut rng,
            )
        };
        let disable_after = i32::try_from(self.config.disable_after).unwrap_or(i32::MAX);
        self.db
            .interact(move |c| {
                c.write_transaction(|c| {
                    record_in(c, &job, &outcome, attempted, finished, wait, disable_after)
                })
            })
            .await?;
        Ok(())
    }
}

/// Stops a running dispatcher.
#[derive(Debug)]
pub struct DispatcherHandle {
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

impl DispatcherHandle {
    /// Lets the round in flight finish and record, then returns.
    pub async fn stop(self) {
        self.cancel.cancel();
        if let Err(error) = self.task.await {
            tracing::error!(%error, "the dispatcher task panicked");
        }
    }
}

/// Claims up to [`BATCH`] due attempts by leasing them until `lease`, and loads what sending
/// them needs.
fn claim(c: &mut AnyConnection, now: Millis, lease: Millis) -> QueryResult<Vec<Job>> {
    let ids = match c {
        AnyConnection::Postgresql(pg) => lease_in_one_statement(pg, now, lease)?,
        AnyConnection::Sqlite(_) => {
            c.write_transaction(|c| lease_in_a_transaction(c, now, lease))?
        }
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // Outside the lease's transaction: the rows are ours until the lease ends either way.
    let rows: Vec<(Delivery, Event, Endpoint)> = d::table
        .inner_join(o::table.on(o::id.eq(d::event_id)))
        .inner_join(e::table)
        .filter(d::id.eq_any(&ids))
        .select((
            Delivery::as_select(),
            Event::as_select(),
            Endpoint::as_select(),
        ))
        .load(c)?;
    Ok(rows
        .into_iter()
        .map(|(delivery, event, endpoint)| Job {
            delivery,
            event,
            endpoint,
        })
        .collect())
}

/// The due rows, skipping any another dispatcher has locked, leased in one statement: one round
/// trip instead of a transaction's five (begin, select, update, commit), which on a busy
/// database server is most of the time between "event committed" and "webhook sent". Atomic on
/// its own: the `FOR UPDATE SKIP LOCKED` in the CTE holds the rows until the update commits.
fn lease_in_one_statement(
    pg: &mut diesel::PgConnection,
    now: Millis,
    lease: Millis,
) -> QueryResult<Vec<String>> {
    use diesel::sql_types::{BigInt, Text};
    #[derive(QueryableByName)]
    struct Leased {
        #[diesel(sql_type = Text)]
        id: String,
    }
    let leased: Vec<Leased> = diesel::sql_query(
        "WITH due AS ( \
            SELECT id FROM webhooks_deliveries \
            WHERE status = $1 AND scheduled_at <= $2 \
              AND (locked_until IS NULL OR locked_until <= $2) \
            ORDER BY scheduled_at LIMIT $3 \
            FOR UPDATE SKIP LOCKED) \
         UPDATE webhooks_deliveries AS d SET locked_until = $4 \
         FROM due WHERE d.id = due.id \
         RETURNING d.id",
    )
    .bind::<Text, _>(DeliveryStatus::Pending.as_str())
    .bind::<BigInt, _>(now)
    .bind::<BigInt, _>(BATCH)
    .bind::<BigInt, _>(lease)
    .load(pg)?;
    Ok(leased.into_iter().map(|l| l.id).collect())
}

/// SQLite has no row locks and one writer at a time: select, then lease, inside one write
/// transaction (one dispatcher per database file).
fn lease_in_a_transaction(
    c: &mut AnyConnection,
    now: Millis,
    lease: Millis,
) -> QueryResult<Vec<String>> {
    let ids: Vec<String> = d::table
        .filter(d::status.eq(DeliveryStatus::Pending.as_str()))
        .filter(d::scheduled_at.le(now))
        .filter(d::locked_until.is_null().or(d::locked_until.le(now)))
        .order(d::scheduled_at.asc())
        .limit(BATCH)
        .select(d::id)
        .load(c)?;
    if !ids.is_empty() {
        diesel::update(d::table.filter(d::id.eq_any(&ids)))
            .set(d::locked_until.eq(Some(lease)))
            .execute(c)?;
    }
    Ok(ids)
}

fn record_in(
    c: &mut AnyConnection,
    job: &Job,
    outcome: &Outcome,
    attempted: Millis,
    finished: Millis,
    wait: Option<Duration>,
    disable_after: i32,
) -> QueryResult<()> {
    let row = d::table.filter(d::id.eq(&job.delivery.id));
    let endpoint = e::table.filter(e::id.eq(&job.endpoint.id));
    match outcome {
        Outcome::Delivered { status } => {
            diesel::update(row)
                .set((
                    d::status.eq(DeliveryStatus::Delivered.as_str()),
                    d::response_status.eq(Some(i32::from(*status))),
                    d::attempted_at.eq(Some(attempted)),
                    d::locked_until.eq(None::<Millis>),
                ))
                .execute(c)?;
            diesel::update(endpoint)
                .set(e::consecutive_failures.eq(0))
                .execute(c)?;
        }
        Outcome::Failed { status, error } => {
            diesel::update(endpoint)
                .set(e::consecutive_failures.eq(e::consecutive_failures + 1))
                .execute(c)?;
            let failures: i32 = endpoint.select(e::consecutive_failures).first(c)?;
            let disable = failures >= disable_after;
            let next = if disable {
                None
            } else {
                wait.map(|w| finished + millis(w))
            };
            diesel::update(row)
                .set((
                    d::status.eq(DeliveryStatus::Failed.as_str()),
                    d::response_status.eq(status.map(i32::from)),
                    d::error.eq(Some(error)),
                    d::attempted_at.eq(Some(attempted)),
                    d::locked_until.eq(None::<Millis>),
                    d::next_attempt_at.eq(next),
                ))
                .execute(c)?;
            if let Some(due) = next {
                outbox::insert_pending(
                    c,
                    &job.event.id,
                    &job.endpoint.id,
                    job.delivery.attempt + 1,
                    due,
                )?;
            } else if !disable {
                tracing::warn!(
                    event = %job.event.id, endpoint = %job.endpoint.id,
                    attempts = job.delivery.attempt, "retry schedule exhausted; giving up"
                );
            }
            if disable {
                let reason = format!(
                    "disabled after {failures} consecutive failed deliveries; the last: {error}"
                );
                tracing::warn!(endpoint = %job.endpoint.id, url = %job.endpoint.url, %reason, "endpoint disabled");
                endpoints::disable_in(c, &job.endpoint.id, &reason, finished)?;
            }
        }
    }
    Ok(())
}

/// The request body, per Standard Webhooks: `type`, `timestamp` (the event's, RFC 3339), `data`.
/// Built the same way on every attempt, so every retry carries the same bytes.
fn body(event: &Event) -> String {
    let data: serde_json::Value =
        serde_json::from_str(&event.payload).unwrap_or(serde_json::Value::Null);
    let timestamp = chrono::DateTime::from_timestamp_millis(event.created_at)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    json!({ "type": event.event_type, "timestamp": timestamp, "data": data }).to_string()
}

/// A transport error in words an endpoint's owner can act on.
fn describe_error(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        format!("no answer within {}", retry::human(timeout))
    } else if let Some(refused) = ssrf_cause(e) {
        // The rule, not the address: the log is shown to the endpoint's owner, and what a name
        // resolves to inside the provider's network is not theirs to learn.
        format!("not sent: the host resolves only to {}", refused.describe())
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        format!("request failed: {e}")
    }
}

/// The rule that refused every address of the host, when the resolver is why `e` failed.
fn ssrf_cause(e: &reqwest::Error) -> Option<crate::ssrf::Rule> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(c) = cause {
        if let Some(crate::ssrf::SsrfError::NoAcceptableAddress { rule, .. }) =
            c.downcast_ref::<crate::ssrf::SsrfError>()
        {
            return Some(*rule);
        }
        cause = c.source();
    }
    None
}

fn millis(d: Duration) -> Millis {
    Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX / 4)
}

/// Queues a manual redelivery of `event` to `endpoint`: a new pending attempt, due now, with a
/// fresh retry schedule (its attempt number starts again at 1). Returns the attempt's id. A
/// disabled endpoint is refused: its owner re-enables it first ([`endpoints::enable`]).
pub async fn redeliver(db: &Db, event: &str, endpoint: &str) -> Result<String, StoreError> {
    let (event, endpoint) = (event.to_owned(), endpoint.to_owned());
    let now = SystemClock.now_ms();
    db.interact(move |c| {
        Ok(c.write_transaction(|c| {
            let found: Option<String> = o::table
                .filter(o::id.eq(&event))
                .select(o::id)
                .first(c)
                .optional()?;
            if found.is_none() {
                return Err(StoreError::NotFound {
                    kind: "event",
                    id: event.clone(),
                });
            }
            let enabled: Option<bool> = e::table
                .filter(e::id.eq(&endpoint))
                .select(e::enabled)
                .first(c)
                .optional()?;
            match enabled {
                None => Err(StoreError::NotFound {
                    kind: "endpoint",
                    id: endpoint.clone(),
                }),
                Some(false) => Err(StoreError::EndpointDisabled(endpoint.clone())),
                Some(true) => Ok(outbox::insert_pending(c, &event, &endpoint, 1, now)?),
            }
        }))
    })
    .await?
}
