//! The metadata table: one row per upload, the same for all three paths, on `support::db`'s
//! PostgreSQL-or-SQLite connection.
//!
//! The row is the source of truth for "does this file exist": a file on disk or an object in
//! the bucket without a `ready` row is garbage, never served. Each path writes the row at the
//! moment its bytes are known good:
//!
//! - through the backend: once, as `ready`, after the last byte was validated and fsynced
//!   (a failed upload never had a row);
//! - direct to storage and tus: `pending` when the upload is announced, then `ready` or
//!   `rejected` when the server has checked the bytes. A `pending` row older than the deadline is
//!   what the reconciliation sweep looks for.
//!
//! Diesel is synchronous: every query runs through [`Db::interact`] on a blocking thread.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use serde::Serialize;
use support::db::Migrations;

pub use support::db::{AnyConnection, Backend, Db, DbError, Target};

use crate::schema::uploads;

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// This crate's migrations (`BIGINT` versus `INTEGER`, otherwise the same table), for [`Db::open`].
pub const MIGRATIONS: Migrations = Migrations {
    postgres: POSTGRES_MIGRATIONS,
    sqlite: SQLITE_MIGRATIONS,
};

/// Opens a pool of `pool_size` connections on `target` with the `uploads` table migrated.
pub async fn open(target: &Target, pool_size: usize) -> anyhow::Result<Db> {
    Db::open(target, pool_size, MIGRATIONS).await
}

/// Where an upload is in its life. Stored as text so both dialects hold it the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Announced, bytes not yet checked by the server (direct and tus only).
    Pending,
    /// Checked and servable.
    Ready,
    /// Checked and refused; its bytes were deleted. Kept so the owner can see why.
    Rejected,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Ready => "ready",
            Status::Rejected => "rejected",
        }
    }
}

/// Which path carried the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    Backend,
    Direct,
    Tus,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Backend => "backend",
            Via::Direct => "direct",
            Via::Tus => "tus",
        }
    }
}

/// One row of `uploads`.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = uploads)]
pub struct Upload {
    pub id: String,
    pub owner: String,
    pub original_name: String,
    pub storage_key: String,
    pub via: String,
    pub size: i64,
    pub declared_type: Option<String>,
    pub detected_type: Option<String>,
    pub sha256: Option<String>,
    pub status: String,
    pub created_at: NaiveDateTime,
    pub confirmed_at: Option<NaiveDateTime>,
}

impl Upload {
    pub fn is(&self, status: Status) -> bool {
        self.status == status.as_str()
    }
}

/// What a check found, written when a row becomes `ready`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub size: i64,
    pub detected_type: String,
    pub sha256: Option<String>,
    pub at: NaiveDateTime,
}

/// Inserts a row.
pub async fn insert(db: &Db, row: Upload) -> Result<(), DbError> {
    db.interact(move |c| {
        diesel::insert_into(uploads::table)
            .values(&row)
            .execute(c)
            .map(drop)
    })
    .await
}

/// The row `id` if `owner` owns it. Someone else's upload is indistinguishable from a missing
/// one, so a guessed id tells the guesser nothing.
pub async fn find_owned(db: &Db, id: &str, owner: &str) -> Result<Option<Upload>, DbError> {
    let (id, owner) = (id.to_owned(), owner.to_owned());
    db.interact(move |c| {
        uploads::table
            .filter(uploads::id.eq(id).and(uploads::owner.eq(owner)))
            .select(Upload::as_select())
            .first(c)
            .optional()
    })
    .await
}

/// Moves a `pending` row to `ready` with what the check found. Returns false when the row was not
/// pending any more (confirmed twice, or swept meanwhile): the `WHERE status = 'pending'` makes
/// the transition happen once even when two confirms race.
pub async fn mark_ready(db: &Db, id: &str, verified: Verified) -> Result<bool, DbError> {
    let id = id.to_owned();
    db.interact(move |c| {
        diesel::update(
            uploads::table.filter(
                uploads::id
                    .eq(id)
                    .and(uploads::status.eq(Status::Pending.as_str())),
            ),
        )
        .set((
            uploads::status.eq(Status::Ready.as_str()),
            uploads::size.eq(verified.size),
            uploads::detected_type.eq(Some(verified.detected_type)),
            uploads::sha256.eq(verified.sha256),
            uploads::confirmed_at.eq(Some(verified.at)),
        ))
        .execute(c)
        .map(|n| n == 1)
    })
    .await
}

/// Moves a `pending` row to `rejected` (its bytes are deleted by the caller).
pub async fn mark_rejected(db: &Db, id: &str, at: NaiveDateTime) -> Result<bool, DbError> {
    let id = id.to_owned();
    db.interact(move |c| {
        diesel::update(
            uploads::table.filter(
                uploads::id
                    .eq(id)
                    .and(uploads::status.eq(Status::Pending.as_str())),
            ),
        )
        .set((
            uploads::status.eq(Status::Rejected.as_str()),
            uploads::confirmed_at.eq(Some(at)),
        ))
        .execute(c)
        .map(|n| n == 1)
    })
    .await
}

/// `pending` rows of `via` created before `cutoff`: what the sweep removes.
pub async fn pending_before(
    db: &Db,
    via: Via,
    cutoff: NaiveDateTime,
) -> Result<Vec<Upload>, DbError> {
    db.interact(move |c| {
        uploads::table
            .filter(
                uploads::status
                    .eq(Status::Pending.as_str())
                    .and(uploads::via.eq(via.as_str()))
                    .and(uploads::created_at.lt(cutoff)),
            )
            .select(Upload::as_select())
            .load(c)
    })
    .await
}

/// Deletes the row `id` if it is still `pending` (the sweep; a confirm that won the race keeps
/// its row). Returns whether a row went.
pub async fn delete_pending(db: &Db, id: &str) -> Result<bool, DbError> {
    let id = id.to_owned();
    db.interact(move |c| {
        diesel::delete(
            uploads::table.filter(
                uploads::id
                    .eq(id)
                    .and(uploads::status.eq(Status::Pending.as_str())),
            ),
        )
        .execute(c)
        .map(|n| n == 1)
    })
    .await
}

/// How many rows have `status` (the demo's and tests' "nothing left behind" check).
pub async fn count(db: &Db, status: Status) -> Result<i64, DbError> {
    db.interact(move |c| {
        uploads::table
            .filter(uploads::status.eq(status.as_str()))
            .count()
            .get_result(c)
    })
    .await
}

/// Every row, oldest first (tests and the demo).
pub async fn all(db: &Db) -> Result<Vec<Upload>, DbError> {
    db.interact(|c| {
        uploads::table
            .order(uploads::created_at.asc())
            .select(Upload::as_select())
            .load(c)
    })
    .await
}

/// Now, as the naive UTC timestamp both dialects store.
pub fn now() -> NaiveDateTime {
    chrono::Utc::now().naive_utc()
}
