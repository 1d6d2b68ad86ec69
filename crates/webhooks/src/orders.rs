//! The provider's own state: orders that move through a few states, each move announced.
//!
//! Every write here goes through [`change_state_then`]: the order's row and the event that
//! describes its change are written in one transaction (see [`crate::outbox`]), so the event
//! exists exactly when the change does.

use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use crate::outbox::{self, Event};
use crate::store::schema::webhooks_orders as t;
use crate::store::{AnyConnection, Db, StoreError, new_id};

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    Created,
    Paid,
    Shipped,
    Delivered,
    Cancelled,
}

impl OrderState {
    pub const ALL: [OrderState; 5] = [
        OrderState::Created,
        OrderState::Paid,
        OrderState::Shipped,
        OrderState::Delivered,
        OrderState::Cancelled,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            OrderState::Created => "created",
            OrderState::Paid => "paid",
            OrderState::Shipped => "shipped",
            OrderState::Delivered => "delivered",
            OrderState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The moves the business allows: forward one step, or cancel before shipping.
    pub fn can_become(self, next: OrderState) -> bool {
        use OrderState::*;
        matches!(
            (self, next),
            (Created, Paid) | (Paid, Shipped) | (Shipped, Delivered) | (Created | Paid, Cancelled)
        )
    }

    /// The event type announcing that an order reached this state (`order.paid`).
    pub fn event_type(self) -> String {
        format!("order.{}", self.as_str())
    }
}

/// An order, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Order {
    pub id: String,
    pub state: OrderState,
}

/// Creates an order in [`OrderState::Created`], with its `order.created` event.
pub async fn create(db: &Db) -> Result<(Order, Event), StoreError> {
    let id = new_id("ord");
    let order = Order {
        id: id.clone(),
        state: OrderState::Created,
    };
    let event = db
        .interact(move |c| {
            c.write_transaction(|c| {
                let now = chrono::Utc::now().timestamp_millis();
                diesel::insert_into(t::table)
                    .values((
                        t::id.eq(&id),
                        t::state.eq(OrderState::Created.as_str()),
                        t::updated_at.eq(now),
                    ))
                    .execute(c)?;
                outbox::enqueue(
                    c,
                    &OrderState::Created.event_type(),
                    &payload(&id, None, OrderState::Created),
                    now,
                )
            })
        })
        .await?;
    Ok((order, event))
}

/// Moves `order` to `next` and writes the event announcing it, in one transaction.
pub async fn change_state(db: &Db, order: &str, next: OrderState) -> Result<Event, StoreError> {
    change_state_then(db, order, next, |_| Ok(())).await
}

/// [`change_state`], running `after` inside the transaction once the order and its event are
/// written and before the commit. If `after` fails, everything rolls back: the order keeps its
/// state and the event and its deliveries never existed. Tests use it to fail a transaction at
/// the worst moment; an application would put its other writes of the same change there.
pub async fn change_state_then<F>(
    db: &Db,
    order: &str,
    next: OrderState,
    after: F,
) -> Result<Event, StoreError>
where
    F: FnOnce(&mut AnyConnection) -> QueryResult<()> + Send + 'static,
{
    let order = order.to_owned();
    db.interact(move |c| Ok(c.write_transaction(|c| change_in(c, &order, next, after))))
        .await?
}

fn change_in<F>(
    c: &mut AnyConnection,
    order: &str,
    next: OrderState,
    after: F,
) -> Result<Event, StoreError>
where
    F: FnOnce(&mut AnyConnection) -> QueryResult<()>,
{
    let stored: Option<String> = t::table
        .filter(t::id.eq(order))
        .select(t::state)
        .first(c)
        .optional()?;
    let Some(stored) = stored else {
        return Err(StoreError::NotFound {
            kind: "order",
            id: order.to_owned(),
        });
    };
    let current = OrderState::parse(&stored).ok_or_else(|| {
        StoreError::Unexpected(anyhow::anyhow!(
            "order {order} has unknown state {stored:?}"
        ))
    })?;
    if !current.can_become(next) {
        return Err(StoreError::InvalidTransition {
            from: current.as_str().to_owned(),
            to: next.as_str().to_owned(),
        });
    }
    let now = chrono::Utc::now().timestamp_millis();
    // Compare-and-set on the state read above: a concurrent change that got there first makes
    // this update touch no row, and this change is refused rather than applied on top of it.
    let updated = diesel::update(
        t::table
            .filter(t::id.eq(order))
            .filter(t::state.eq(&stored)),
    )
    .set((t::state.eq(next.as_str()), t::updated_at.eq(now)))
    .execute(c)?;
    if updated == 0 {
        return Err(StoreError::InvalidTransition {
            from: current.as_str().to_owned(),
            to: next.as_str().to_owned(),
        });
    }
    let event = outbox::enqueue(
        c,
        &next.event_type(),
        &payload(order, Some(current), next),
        now,
    )?;
    after(c)?;
    Ok(event)
}

/// The event's `data`: enough for a consumer to act without calling back, and no more.
fn payload(order: &str, previous: Option<OrderState>, state: OrderState) -> serde_json::Value {
    json!({
        "order_id": order,
        "previous_state": previous.map(OrderState::as_str),
        "state": state.as_str(),
    })
}

/// The order's current state, or `None` when there is no such order.
pub async fn state_of(db: &Db, order: &str) -> Result<Option<OrderState>, StoreError> {
    let order = order.to_owned();
    let stored: Option<String> = db
        .interact(move |c| {
            t::table
                .filter(t::id.eq(order))
                .select(t::state)
                .first(c)
                .optional()
        })
        .await?;
    Ok(stored.as_deref().and_then(OrderState::parse))
}
