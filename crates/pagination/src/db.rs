//! Pagination's storage: its migrations and where its named tables live, on the workspace's one
//! PostgreSQL-or-SQLite layer (`support::db`: the connection enum, the pool, the SQLite pragmas).
//!
//! **Why `#[derive(diesel::MultiConnection)]` and not a trait with two impls.** The lesson is the
//! query, not the plumbing: with the derived enum ([`AnyConnection`]), `offset.rs` and `cursor.rs`
//! each hold *one* diesel query that runs unchanged on PostgreSQL and on SQLite, so the two schemes
//! can be diffed line by line. A hand-written trait would need every query twice (or a generic
//! function with a wall of backend bounds). The price: only the SQL and types both backends share
//! are available (no `RETURNING`, no `generate_series`), so the few backend-specific statements
//! (seeding in `seed.rs`, `EXPLAIN ANALYZE` in the demo, the migrations below) match on the
//! variant and use the inner connection directly.
//!
//! Diesel is synchronous, so every query runs through [`Db::interact`], on a blocking thread,
//! never on the async executor.

use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use support::db::Migrations;

pub use support::db::{AnyConnection, Backend, Db, DbError, Target};

/// The same table in two dialects (`BIGSERIAL` versus `INTEGER PRIMARY KEY`), so two sets.
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// This crate's migrations, for [`Db::open`].
pub const MIGRATIONS: Migrations = Migrations {
    postgres: POSTGRES_MIGRATIONS,
    sqlite: SQLITE_MIGRATIONS,
};

/// Opens a pool of `pool_size` connections on `target`, with this crate's table migrated.
pub async fn open(target: &Target, pool_size: usize) -> anyhow::Result<Db> {
    Db::open(target, pool_size, MIGRATIONS).await
}

/// The SQLite file of the data set `name` (the demo's `1000000`, `50000`, `churn`), in the temp
/// directory so that it survives between runs and can be reused.
pub fn sqlite_file(name: &str) -> String {
    std::env::temp_dir()
        .join(format!("pagination-{name}.sqlite3"))
        .to_string_lossy()
        .into_owned()
}

/// Where the data set `name` lives on the backend a run chose: on PostgreSQL, its own schema
/// (`pagination_<name>`) of the chosen database (see [`Target::in_schema`]); on SQLite, the chosen
/// file (see [`sqlite_file`]). The demo's tables so never meet the tests' databases, and two sizes
/// of the table can sit side by side.
pub async fn dataset(chosen: Target, name: &str) -> anyhow::Result<Target> {
    chosen.in_schema(&schema(name)).await
}

/// The PostgreSQL schema of the data set `name`.
pub fn schema(name: &str) -> String {
    format!("pagination_{name}")
}
