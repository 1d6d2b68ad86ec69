//! The provider as an HTTP service: orders that change state, the endpoints that want to hear
//! about it, and every way of asking "what happened since?" that polling offers.
//!
//! | route | what it does |
//! |---|---|
//! | `POST /orders` | creates an order (201) and its `order.created` event; `committed_at` says when it committed |
//! | `POST /orders/{id}/state` | `{"state": "paid"}`: moves it (200); 409 for a move the order cannot make |
//! | `POST /endpoints` | `{"url": ...}`: registers after the SSRF check (201, the `whsec_` secret shown once); 422 when refused |
//! | `GET /endpoints/{id}/deliveries` | the endpoint's delivery log, every attempt |
//! | `POST /events/{event}/redeliver/{endpoint}` | queues a manual redelivery (202) |
//! | `GET /events?since=&limit=` | short polling, with an `ETag` for conditional polling |
//! | `GET /events?since=&wait=` | long polling: held until an event after `since` exists or `wait` ends |
//! | `GET /events/stream?since=` | server-sent events: one held response, each event pushed as it commits |
//!
//! The three polling styles are one route on purpose: they differ only in what the server does
//! when there is nothing new. Short polling answers at once (cheap per request, but a client that
//! wants freshness asks often and mostly hears "nothing"); conditional polling answers the same
//! "nothing" as a bodiless 304 (saves bytes, not requests); long polling holds the request open
//! until there is something to say (one request per change, at the price of a held connection
//! per waiting client). Server-sent events keep that one connection for good: no request per
//! change at all, the browser's `EventSource` reconnects by itself and resumes with
//! `Last-Event-ID` (the `seq`), but every subscriber holds a connection and a task, and proxies
//! that buffer responses break it.
//!
//! The `ETag` is the cursor the response ends at (`"seq-N"`): events are append-only and `seq`
//! follows commit order (see [`crate::outbox::enqueue`]), so for one URL the same end means the
//! same body. A client sends it back in `If-None-Match` and hears 304 until something new commits.

use std::collections::VecDeque;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use support::problem::Json;
use support::routing::endpoint;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::config::Config;
use crate::error::Error;
use crate::orders::{self, OrderState};
use crate::outbox::{self, Delivery, Event};
use crate::store::Db;
use crate::store::schema::webhooks_deliveries as d;

/// The most events one poll returns, and the default `limit`.
pub const MAX_LIMIT: i64 = 100;
/// The longest a long poll may be held. Past about 30 s proxies and load balancers start closing
/// idle connections, and the client would see an error instead of an empty answer.
pub const MAX_WAIT_SECS: u64 = 30;
/// How often a held long poll looks at the table even if nobody told it to. The [`Notify`] only
/// hears changes made through this process; another instance writing to the same database is
/// seen at the next re-check. Production would use PostgreSQL's `LISTEN/NOTIFY` or a broker.
pub const RECHECK_EVERY: Duration = Duration::from_secs(1);
/// The most delivery-log rows one request returns.
const MAX_DELIVERIES: i64 = 1000;
/// The largest JSON body a route accepts.
const BODY_LIMIT: usize = 16 * 1024;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct Provider {
    db: Db,
    config: Config,
    /// Woken after every commit that wrote an event, so held long polls look again at once.
    changed: Arc<Notify>,
}

impl Provider {
    pub fn new(db: Db, config: Config) -> Self {
        Self {
            db,
            config,
            changed: Arc::new(Notify::new()),
        }
    }

    /// What [`announce`](Self::announce) wakes: long polls and streams here, and a dispatcher in
    /// the same process (see [`crate::dispatcher::Dispatcher::woken_by`]), so a new event is
    /// sent at once instead of at the dispatcher's next poll.
    pub fn changes(&self) -> Arc<Notify> {
        Arc::clone(&self.changed)
    }

    /// Called after a commit that wrote an event: wakes every long poll waiting right now.
    /// `notify_waiters` stores no permit, so a poll must register before it reads (see
    /// [`wait_for_events`]) or it could miss a change made between its read and its wait.
    fn announce(&self) {
        self.changed.notify_waiters();
    }
}

/// The provider's server around a listener the caller bound.
pub fn run(listener: TcpListener, provider: Provider) -> std::io::Result<Server> {
    let data = web::Data::new(provider);
    support::server::app(listener, move |cfg| configure(cfg, data.clone()))
}

/// The provider's routes, for [`run`] or another app.
pub fn configure(cfg: &mut web::ServiceConfig, data: web::Data<Provider>) {
    cfg.app_data(data)
        .app_data(support::problem::json_config(BODY_LIMIT))
        .app_data(support::problem::query_config())
        .app_data(support::problem::path_config())
        .service(endpoint("/orders").post(create_order))
        .service(endpoint("/orders/{id}/state").post(change_state))
        .service(endpoint("/endpoints").post(register_endpoint))
        .service(endpoint("/endpoints/{id}/deliveries").get(deliveries))
        .service(endpoint("/events/{event}/redeliver/{endpoint}").post(redeliver))
        .service(endpoint("/events/stream").get(stream))
        .service(endpoint("/events").get(poll));
}

async fn create_order(state: web::Data<Provider>) -> Result<HttpResponse, Error> {
    let (order, event) = orders::create(&state.db).await?;
    let committed_at = chrono::Utc::now();
    state.announce();
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/orders/{}", order.id)))
        .json(json!({ "order": order, "event": event, "committed_at": committed_at })))
}

#[derive(Debug, Deserialize)]
struct StateChange {
    state: String,
}

async fn change_state(
    state: web::Data<Provider>,
    id: web::Path<String>,
    body: Json<StateChange>,
) -> Result<HttpResponse, Error> {
    let next =
        OrderState::parse(&body.state).ok_or_else(|| Error::UnknownState(body.state.clone()))?;
    let event = orders::change_state(&state.db, &id, next).await?;
    let committed_at = chrono::Utc::now();
    // After the commit, never before: a poll woken earlier would find nothing and sleep again.
    state.announce();
    Ok(HttpResponse::Ok().json(json!({
        "order": { "id": id.as_str(), "state": next },
        "event": event,
        "committed_at": committed_at,
    })))
}

#[derive(Debug, Deserialize)]
struct NewEndpoint {
    url: String,
}

async fn register_endpoint(
    state: web::Data<Provider>,
    body: Json<NewEndpoint>,
) -> Result<HttpResponse, Error> {
    let endpoint = crate::endpoints::register(&state.db, &body.url, &state.config).await?;
    // The secret is in this answer and in no later one: the owner stores it now or rotates.
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/endpoints/{}", endpoint.id)))
        .json(json!({
            "id": endpoint.id,
            "url": endpoint.url,
            "secret": endpoint.secret,
        })))
}

async fn deliveries(
    state: web::Data<Provider>,
    id: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let id = id.into_inner();
    if crate::endpoints::get(&state.db, &id).await?.is_none() {
        return Err(Error::NotFound {
            kind: "endpoint",
            id,
        });
    }
    let log: Vec<Delivery> = state
        .db
        .interact(move |c| {
            d::table
                .filter(d::endpoint_id.eq(id))
                .order((d::scheduled_at.asc(), d::attempt.asc()))
                .limit(MAX_DELIVERIES)
                .select(Delivery::as_select())
                .load(c)
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "deliveries": log })))
}

async fn redeliver(
    state: web::Data<Provider>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, Error> {
    let (event, endpoint) = path.into_inner();
    let delivery = crate::dispatcher::redeliver(&state.db, &event, &endpoint).await?;
    // Wakes a dispatcher listening for changes, so the redelivery goes out now.
    state.announce();
    // 202: queued, not sent; the delivery log shows how it went.
    Ok(HttpResponse::Accepted().json(json!({ "delivery_id": delivery })))
}

/// The query string as sent: every field text, so a bad value is a 400 naming its parameter
/// rather than the extractor's generic complaint.
#[derive(Debug, Deserialize)]
struct PollQuery {
    since: Option<String>,
    limit: Option<String>,
    wait: Option<String>,
}

/// What a poll asked for, checked.
#[derive(Debug, Clone, Copy)]
struct Poll {
    since: i64,
    limit: i64,
    wait: Duration,
}

impl TryFrom<PollQuery> for Poll {
    type Error = Error;

    fn try_from(q: PollQuery) -> Result<Self, Error> {
        let since =
            match q.since.as_deref() {
                None => 0,
                Some(s) => s.parse::<i64>().ok().filter(|v| *v >= 0).ok_or_else(|| {
                    Error::parameter("since", "must be a sequence number, 0 or more")
                })?,
            };
        let limit = match q.limit.as_deref() {
            None => MAX_LIMIT,
            Some(s) => s
                .parse::<i64>()
                .ok()
                .filter(|v| (1..=MAX_LIMIT).contains(v))
                .ok_or_else(|| {
                    Error::parameter("limit", format!("must be between 1 and {MAX_LIMIT}"))
                })?,
        };
        let wait = match q.wait.as_deref() {
            None => 0,
            Some(s) => s
                .parse::<u64>()
                .ok()
                .filter(|v| *v <= MAX_WAIT_SECS)
                .ok_or_else(|| {
                    Error::parameter(
                        "wait",
                        format!("must be whole seconds, 0 to {MAX_WAIT_SECS}"),
                    )
                })?,
        };
        Ok(Poll {
            since,
            limit,
            wait: Duration::from_secs(wait),
        })
    }
}

/// The answer's body: the events and the cursor to send next time.
#[derive(Debug, Serialize)]
struct Page {
    events: Vec<Event>,
    next_since: i64,
}

/// `GET /events`: short, conditional and long polling (see the module docs).
async fn poll(
    state: web::Data<Provider>,
    req: HttpRequest,
    query: web::Query<PollQuery>,
) -> Result<HttpResponse, Error> {
    let poll = Poll::try_from(query.into_inner())?;
    // A long poll is answered early only with something the client does not have yet: events
    // after `since` whose ETag is not the one it sent.
    let events = wait_for_events(&state, poll, |events| {
        !events.is_empty() && !if_none_match(&req, &etag_of(poll, events))
    })
    .await?;
    let next_since = next_since(poll, &events);
    let etag = etag_of(poll, &events);
    if if_none_match(&req, &etag) {
        // 304 carries the ETag again and no body (RFC 9110 §15.4.5).
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish());
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag))
        // The answer changes with every commit; a cache must ask again each time, with the ETag.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .json(Page { events, next_since }))
}

/// The cursor a page ends at: its last event's `seq`, or `since` when it is empty.
fn next_since(poll: Poll, events: &[Event]) -> i64 {
    events.last().map_or(poll.since, |e| e.seq)
}

/// The page's validator: the cursor it ends at (see the module docs for why that suffices).
fn etag_of(poll: Poll, events: &[Event]) -> String {
    format!("\"seq-{}\"", next_since(poll, events))
}

/// Whether `If-None-Match` lists `etag` (or is `*`).
fn if_none_match(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v: &HeaderValue| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag == etag || tag.strip_prefix("W/") == Some(etag))
}

/// The events after `poll.since`, waiting up to `poll.wait` until `ready` accepts them. With no
/// wait this is one read (short polling).
///
/// The order of steps is the point: register interest in the [`Notify`] first, then read, then
/// sleep. A change committed between the read and the sleep has already fired the notification
/// the registered future will see, so no change is missed; and the sleep is bounded by
/// [`RECHECK_EVERY`], so changes made by another process are seen too. Nothing spins.
async fn wait_for_events(
    state: &Provider,
    poll: Poll,
    ready: impl Fn(&[Event]) -> bool,
) -> Result<Vec<Event>, Error> {
    let deadline = Instant::now() + poll.wait;
    loop {
        let notified = state.changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let events = outbox::events_since(&state.db, poll.since, poll.limit).await?;
        let now = Instant::now();
        if ready(&events) || now >= deadline {
            return Ok(events);
        }
        let nap = (deadline - now).min(RECHECK_EVERY);
        tokio::select! {
            () = &mut notified => {}
            () = tokio::time::sleep(nap) => {}
        }
    }
}

/// How long the stream waits for an event before it sends a comment line instead: an idle
/// connection that carries nothing gets closed by proxies, and a write is also how the server
/// learns that the client has gone.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Debug, Deserialize)]
struct StreamQuery {
    since: Option<String>,
}

/// `GET /events/stream`: server-sent events from `since` (or the `Last-Event-ID` a reconnecting
/// `EventSource` sends, which wins: it is where the client really got to).
async fn stream(
    state: web::Data<Provider>,
    req: HttpRequest,
    query: web::Query<StreamQuery>,
) -> Result<HttpResponse, Error> {
    let resume = req
        .headers()
        .get(LAST_EVENT_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let poll = Poll::try_from(PollQuery {
        since: resume.or(query.into_inner().since),
        limit: None,
        wait: None,
    })?;
    let start = Subscription {
        state: state.into_inner(),
        since: poll.since,
        pending: VecDeque::new(),
    };
    let body = futures_util::stream::unfold(start, next_frame);
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .streaming(body))
}

/// The request header a reconnecting `EventSource` sends (WHATWG HTML, server-sent events).
const LAST_EVENT_ID: &str = "last-event-id";

/// One subscriber's place in the outbox.
struct Subscription {
    state: Arc<Provider>,
    since: i64,
    /// Events read but not yet written, so one read of up to [`MAX_LIMIT`] serves many frames.
    pending: VecDeque<Event>,
}

/// The next frame of the stream: an event, or a keep-alive comment after [`KEEP_ALIVE`] of
/// nothing. A database failure ends the stream (logged); the client reconnects with
/// `Last-Event-ID` and loses nothing.
async fn next_frame(
    mut sub: Subscription,
) -> Option<(Result<Bytes, actix_web::Error>, Subscription)> {
    if sub.pending.is_empty() {
        let poll = Poll {
            since: sub.since,
            limit: MAX_LIMIT,
            wait: KEEP_ALIVE,
        };
        match wait_for_events(&sub.state, poll, |events| !events.is_empty()).await {
            Ok(events) => sub.pending.extend(events),
            Err(error) => {
                tracing::error!(error = ?error, "event stream ended");
                return None;
            }
        }
    }
    let Some(event) = sub.pending.pop_front() else {
        return Some((Ok(Bytes::from_static(b": keep-alive\n\n")), sub));
    };
    sub.since = event.seq;
    Some((Ok(Bytes::from(frame(&event))), sub))
}

/// An event as an SSE frame: `id` is the `seq`, so `Last-Event-ID` is the polling cursor.
/// `data` is one line of JSON (serde_json writes no newlines), as the format requires.
fn frame(event: &Event) -> String {
    let data = serde_json::to_string(event).unwrap_or_else(|_| "{}".to_owned());
    format!(
        "id: {}\nevent: {}\ndata: {data}\n\n",
        event.seq, event.event_type
    )
}
