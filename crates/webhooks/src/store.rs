//! The provider's storage: its four tables, their migrations, and the few things every module
//! that touches them shares (the error type, the clock, how ids are made).
//!
//! The tables run on the workspace's one PostgreSQL-or-SQLite layer (`support::db`), so each query
//! here is written once and runs on both. Times are integer milliseconds since the epoch, not
//! timestamps: the compressed retry schedule waits milliseconds, and a `BIGINT` compares the same
//! way on both backends. Ids are text with a type prefix (`ord_`, `msg_`, `ep_`, `dlv_`) around a
//! UUIDv7, made by the application rather than by the database, which saves the `RETURNING`
//! clause the shared SQL lacks and gives the `webhook-id` header its value before the row exists.

use std::fmt::Debug;
use std::sync::Arc;

use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use support::db::Migrations;

pub use support::db::{AnyConnection, Backend, Db, DbError, Target};

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// This crate's migrations, for [`Db::open`]: one set per dialect (`BIGSERIAL` versus
/// `INTEGER PRIMARY KEY AUTOINCREMENT` for the outbox's sequence).
pub const MIGRATIONS: Migrations = Migrations {
    postgres: POSTGRES_MIGRATIONS,
    sqlite: SQLITE_MIGRATIONS,
};

/// Opens a pool of `pool_size` connections on `target`, with this crate's tables migrated.
pub async fn open(target: &Target, pool_size: usize) -> anyhow::Result<Db> {
    Db::open(target, pool_size, MIGRATIONS).await
}

/// Milliseconds since the Unix epoch, the unit of every `*_at` column.
pub type Millis = i64;

/// Where "now" comes from, in milliseconds. `support::clock` counts whole seconds, which is the
/// right unit for token expiry but would round the compressed schedule's 5 ms wait to zero.
pub trait Clock: Send + Sync + Debug {
    fn now_ms(&self) -> Millis;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> Millis {
        chrono::Utc::now().timestamp_millis()
    }
}

/// The handle every component holds.
pub type SharedClock = Arc<dyn Clock>;

/// A new id: `prefix` and a UUIDv7 in its compact form. Version 7 starts with the time, so ids
/// made later sort later and the primary-key index grows at its end, not at random places.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// What the storage side of the crate fails with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// 404 when it reaches HTTP: no order, event, endpoint or delivery has this id.
    #[error("no {kind} with id {id}")]
    NotFound { kind: &'static str, id: String },
    /// 409: the order cannot move from its state to the one asked for.
    #[error("an order cannot go from {from} to {to}")]
    InvalidTransition { from: String, to: String },
    /// 422: an endpoint URL that the SSRF check refused; the reason names no internals.
    #[error("endpoint refused: {0}")]
    EndpointRefused(String),
    /// 409: the endpoint is disabled; it must be re-enabled before anything is sent to it.
    #[error("endpoint {0} is disabled")]
    EndpointDisabled(String),
    /// 503 or 500: the database (see [`DbError`]).
    #[error(transparent)]
    Db(#[from] DbError),
    /// 500: a query inside a transaction failed.
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    /// 500: anything else (an event payload that would not serialise, no system randomness).
    #[error("unexpected error")]
    Unexpected(#[source] anyhow::Error),
}

/// The tables. Prefixed so that they can live in a shared database beside other topics' tables.
pub mod schema {
    diesel::table! {
        /// The provider's own state: what changes and what the events describe.
        webhooks_orders (id) {
            id -> Text,
            state -> Text,
            updated_at -> BigInt,
        }
    }

    diesel::table! {
        /// The transactional outbox: one row per event, written with the change it describes.
        webhooks_outbox_events (seq) {
            seq -> BigInt,
            id -> Text,
            event_type -> Text,
            payload -> Text,
            created_at -> BigInt,
        }
    }

    diesel::table! {
        /// Where events go, and with which secret.
        webhooks_endpoints (id) {
            id -> Text,
            url -> Text,
            secret -> Text,
            previous_secret -> Nullable<Text>,
            previous_secret_expires_at -> Nullable<BigInt>,
            enabled -> Bool,
            disabled_reason -> Nullable<Text>,
            disabled_at -> Nullable<BigInt>,
            consecutive_failures -> Integer,
            created_at -> BigInt,
        }
    }

    diesel::table! {
        /// The delivery log: one row per attempt, pending until it is made.
        webhooks_deliveries (id) {
            id -> Text,
            event_id -> Text,
            endpoint_id -> Text,
            attempt -> Integer,
            status -> Text,
            response_status -> Nullable<Integer>,
            error -> Nullable<Text>,
            scheduled_at -> BigInt,
            locked_until -> Nullable<BigInt>,
            attempted_at -> Nullable<BigInt>,
            next_attempt_at -> Nullable<BigInt>,
        }
    }

    diesel::joinable!(webhooks_deliveries -> webhooks_endpoints (endpoint_id));
    diesel::allow_tables_to_appear_in_same_query!(
        webhooks_orders,
        webhooks_outbox_events,
        webhooks_endpoints,
        webhooks_deliveries,
    );
}
