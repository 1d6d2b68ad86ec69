//! The transactional outbox: an event is a row written in the same transaction as the change it
//! describes, and a delivery is a row per endpoint written with it.
//!
//! The alternative it replaces, "commit the order, then POST the webhook", has two holes: a crash
//! between the commit and the POST loses the event, and a POST before a commit that then rolls
//! back announces a change that never happened. With the outbox both the change and the news of
//! it commit or neither does; sending is someone else's job (the dispatcher), done later, as often
//! as needed. The price: delivery is at least once (a crash after the POST and before the row is
//! marked sends it again), so the consumer deduplicates on `webhook-id`, the event's id.
//!
//! The same table serves polling: [`events_since`] reads it by `seq`, the cursor a poller keeps.

use diesel::prelude::*;
use serde::Serialize;

use crate::store::schema::webhooks_outbox_events as o;
use crate::store::schema::{webhooks_deliveries as d, webhooks_endpoints as e};
use crate::store::{AnyConnection, Db, DbError, Millis, new_id};

/// The state of one attempt in the delivery log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not made yet; due at `scheduled_at`.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// The endpoint answered otherwise or not at all. `next_attempt_at` says when the retry is
    /// due; none means this was the last (schedule exhausted, or the endpoint disabled).
    Failed,
}

impl DeliveryStatus {
    /// The text stored in `status`.
    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    /// Reads a stored `status`; `None` for text this version does not write.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// One event, as a poller sees it and as the webhook body carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Queryable, Selectable)]
#[diesel(table_name = o)]
pub struct Event {
    /// The polling cursor: strictly increasing in commit order (see [`enqueue`]).
    pub seq: i64,
    /// `msg_…`, sent as `webhook-id`; stable across retries, so consumers deduplicate on it.
    pub id: String,
    pub event_type: String,
    /// JSON text: the event's `data`.
    pub payload: String,
    pub created_at: Millis,
}

/// Writes an event and one pending delivery per enabled endpoint, due at once, on `conn`. Call it
/// inside the transaction that makes the change the event describes: that is the whole point.
///
/// On PostgreSQL the table is locked for the rest of the transaction first. A `BIGSERIAL` value is
/// taken at insert, not at commit, so without the lock two transactions could commit seq 8 before
/// seq 7, and a poller that had already read past 8 would never see 7. The lock makes event
/// writers take turns (one at a time per database, which caps the event rate); production systems
/// that cannot afford it read only events older than the longest transaction, or order by commit
/// with the transaction id. SQLite has one writer at a time anyway.
pub fn enqueue(
    conn: &mut AnyConnection,
    event_type: &str,
    payload: &serde_json::Value,
    now: Millis,
) -> QueryResult<Event> {
    if let AnyConnection::Postgresql(pg) = conn {
        diesel::sql_query("LOCK TABLE webhooks_outbox_events IN EXCLUSIVE MODE").execute(pg)?;
    }
    let id = new_id("msg");
    diesel::insert_into(o::table)
        .values((
            o::id.eq(&id),
            o::event_type.eq(event_type),
            o::payload.eq(payload.to_string()),
            o::created_at.eq(now),
        ))
        .execute(conn)?;
    let endpoints: Vec<String> = e::table
        .filter(e::enabled.eq(true))
        .select(e::id)
        .load(conn)?;
    for endpoint in endpoints {
        insert_pending(conn, &id, &endpoint, 1, now)?;
    }
    o::table
        .filter(o::id.eq(&id))
        .select(Event::as_select())
        .first(conn)
}

/// A pending attempt number `attempt` of `event` to `endpoint`, due at `due`.
pub(crate) fn insert_pending(
    conn: &mut AnyConnection,
    event: &str,
    endpoint: &str,
    attempt: i32,
    due: Millis,
) -> QueryResult<String> {
    let id = new_id("dlv");
    diesel::insert_into(d::table)
        .values((
            d::id.eq(&id),
            d::event_id.eq(event),
            d::endpoint_id.eq(endpoint),
            d::attempt.eq(attempt),
            d::status.eq(DeliveryStatus::Pending.as_str()),
            d::scheduled_at.eq(due),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Up to `limit` events with `seq > since`, oldest first: what a poller asks for with the last
/// `seq` it saw (0 for everything).
pub async fn events_since(db: &Db, since: i64, limit: i64) -> Result<Vec<Event>, DbError> {
    db.interact(move |c| {
        o::table
            .filter(o::seq.gt(since))
            .order(o::seq.asc())
            .limit(limit)
            .select(Event::as_select())
            .load(c)
    })
    .await
}

/// One event by its id.
pub async fn event(db: &Db, id: &str) -> Result<Option<Event>, DbError> {
    let id = id.to_owned();
    db.interact(move |c| {
        o::table
            .filter(o::id.eq(id))
            .select(Event::as_select())
            .first(c)
            .optional()
    })
    .await
}

/// One row of the delivery log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Queryable, Selectable)]
#[diesel(table_name = d)]
pub struct Delivery {
    pub id: String,
    pub event_id: String,
    pub endpoint_id: String,
    pub attempt: i32,
    pub status: String,
    pub response_status: Option<i32>,
    pub error: Option<String>,
    pub scheduled_at: Millis,
    #[serde(skip)]
    pub locked_until: Option<Millis>,
    pub attempted_at: Option<Millis>,
    pub next_attempt_at: Option<Millis>,
}

impl Delivery {
    /// The status as the enum; `None` for a status this version does not know.
    pub fn state(&self) -> Option<DeliveryStatus> {
        DeliveryStatus::parse(&self.status)
    }
}

/// Every attempt of `event` (to any endpoint), in the order they were scheduled: the log the
/// provider's API shows an endpoint's owner.
pub async fn deliveries_of(db: &Db, event: &str) -> Result<Vec<Delivery>, DbError> {
    let event = event.to_owned();
    db.interact(move |c| {
        d::table
            .filter(d::event_id.eq(event))
            .order((d::scheduled_at.asc(), d::attempt.asc()))
            .select(Delivery::as_select())
            .load(c)
    })
    .await
}
