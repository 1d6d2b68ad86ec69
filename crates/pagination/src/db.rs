//! One connection type for two databases, a pool, and the migrations.
//!
//! **Why `#[derive(diesel::MultiConnection)]` and not a trait with two impls.** The lesson is the
//! query, not the plumbing: with the derived enum, `offset.rs` and `cursor.rs` each hold *one*
//! diesel query that runs unchanged on PostgreSQL and on SQLite, so the two schemes can be diffed
//! line by line. A hand-written trait would need every query twice (or a generic function with a
//! wall of backend bounds). The price: only the SQL and types both backends share are available
//! (no `RETURNING`, no `generate_series`), so the few backend-specific statements (seeding,
//! `EXPLAIN ANALYZE`, migrations) match on the variant and use the inner connection directly.
//!
//! Diesel is synchronous, so every query runs on deadpool-diesel's `interact`, a blocking thread,
//! never on the async executor.

use std::borrow::Cow;

use anyhow::{Context as _, anyhow};
use diesel::connection::SimpleConnection as _;
use diesel::{Connection as _, QueryResult};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness as _, embed_migrations};

use crate::error::Error;

/// PostgreSQL or SQLite behind one diesel connection type.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(diesel::PgConnection),
    // Last on purpose: SQLite accepts any string as a path, so it must be tried after PostgreSQL.
    Sqlite(diesel::SqliteConnection),
}

/// Which database a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    /// The name people know it by.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "PostgreSQL",
            Backend::Sqlite => "SQLite",
        }
    }
}

/// The same table in two dialects (`BIGSERIAL` versus `INTEGER PRIMARY KEY`), so two sets.
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Per-connection SQLite settings. WAL lets the demo's reader page while its writer writes;
/// `busy_timeout` makes a writer wait for a lock instead of failing at once.
const SQLITE_PRAGMAS: &str =
    "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;";

type Manager = deadpool_diesel::Manager<AnyConnection>;
type Pool = deadpool_diesel::Pool<Manager>;

/// A pool of connections to one database, migrated.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    backend: Backend,
    /// Where it lives (a URL or a file path), for messages.
    pub location: String,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .field("location", &support::services::redact(&self.location))
            .finish()
    }
}

impl Db {
    /// Opens a pool on a PostgreSQL URL and runs the migrations.
    pub async fn postgres(url: &str, pool_size: usize) -> anyhow::Result<Self> {
        let manager = Manager::new(url, deadpool_diesel::Runtime::Tokio1);
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            .build()
            .context("Failed to build the PostgreSQL pool")?;
        Self::migrated(pool, Backend::Postgres, url).await
    }

    /// Opens a pool on an SQLite file (created if missing) and runs the migrations.
    pub async fn sqlite(path: &str, pool_size: usize) -> anyhow::Result<Self> {
        let manager = Manager::new(path, deadpool_diesel::Runtime::Tokio1);
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            .post_create(deadpool::managed::Hook::<Manager>::async_fn(
                |conn: &mut deadpool_diesel::Connection<AnyConnection>,
                 _: &deadpool::managed::Metrics| {
                    Box::pin(async move {
                        let fail = |e: String| deadpool::managed::HookError::Message(Cow::Owned(e));
                        conn.interact(|c| c.batch_execute(SQLITE_PRAGMAS))
                            .await
                            .map_err(|e| fail(e.to_string()))?
                            .map_err(|e| fail(e.to_string()))
                    })
                },
            ))
            .build()
            .context("Failed to build the SQLite pool")?;
        Self::migrated(pool, Backend::Sqlite, path).await
    }

    async fn migrated(pool: Pool, backend: Backend, location: &str) -> anyhow::Result<Self> {
        let db = Self {
            pool,
            backend,
            location: location.to_owned(),
        };
        db.interact(move |conn| {
            let result = match conn {
                AnyConnection::Postgresql(c) => {
                    c.run_pending_migrations(POSTGRES_MIGRATIONS).map(drop)
                }
                AnyConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(drop),
            };
            Ok(result.map_err(|e| anyhow!("{e}")))
        })
        .await
        .map_err(|e| anyhow!("{e}"))?
        .with_context(|| format!("Failed to migrate the {} database", backend.name()))?;
        Ok(db)
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Runs `f` with a pooled connection on a blocking thread.
    pub async fn interact<R, F>(&self, f: F) -> Result<R, Error>
    where
        F: FnOnce(&mut AnyConnection) -> QueryResult<R> + Send + 'static,
        R: Send + 'static,
    {
        let conn = self
            .pool
            .get()
            .await
            .map_err(|e| Error::Unavailable(anyhow!("{e}")))?;
        conn.interact(f)
            .await
            .map_err(|e| Error::Unexpected(anyhow!("database task failed: {e}")))?
            .map_err(|e| Error::Unexpected(e.into()))
    }

    /// A database on `url` when PostgreSQL answered, else an SQLite file at `sqlite_path`.
    pub async fn open(
        postgres: Option<&str>,
        sqlite_path: &str,
        pool_size: usize,
    ) -> anyhow::Result<Self> {
        match postgres {
            Some(url) => Self::postgres(url, pool_size).await,
            None => Self::sqlite(sqlite_path, pool_size).await,
        }
    }
}

/// Establishes a one-off connection (used to create the demo's schema before the pool exists).
pub fn establish(url: &str) -> anyhow::Result<AnyConnection> {
    AnyConnection::establish(url)
        .with_context(|| format!("Failed to connect to {}", support::services::redact(url)))
}
