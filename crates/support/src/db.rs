//! PostgreSQL or SQLite behind one diesel connection type, a pool, and a crate's migrations.
//!
//! Topics that store rows (pagination, caching-strategies, and the ones still to come) run on
//! PostgreSQL when it answers and on an embedded SQLite file when it does not. This module is the
//! one way they do it:
//!
//! - [`AnyConnection`] is `#[derive(diesel::MultiConnection)]`: one diesel query in a topic's
//!   source runs unchanged on either backend, so the lesson is the query, not the plumbing. The
//!   price is the SQL both share (no `RETURNING`, no `generate_series`); a backend-specific
//!   statement matches on the variant and uses the inner connection.
//! - [`Db::open`] builds the pool, applies the per-connection settings once per connection (a
//!   pool hook, not a `PRAGMA` before every query), and runs the crate's embedded migrations.
//! - [`Db::interact`] runs a closure on a pooled connection on a blocking thread: diesel is
//!   synchronous and must never run on the async executor.
//! - [`AnyConnection::write_transaction`] is the transaction to use when the closure writes:
//!   on SQLite it takes the write lock at `BEGIN`, so it waits for it instead of failing halfway.
//! - [`Target::choose`] picks the backend the way every demo and server does.
//! - [`forget_data_sets`] removes the schemas and files a demo keeps between runs.

use std::borrow::Cow;

use anyhow::{Context as _, anyhow};
use diesel::QueryResult;
use diesel::connection::SimpleConnection as _;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness as _};

use crate::Settings;
use crate::demo::{Forgotten, bytes};
use crate::services::{self, Service, Status};

/// PostgreSQL or SQLite behind one diesel connection type.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(diesel::PgConnection),
    // Last on purpose: SQLite accepts any string as a path, so it must be tried after PostgreSQL.
    Sqlite(diesel::SqliteConnection),
}

impl AnyConnection {
    /// Runs `f` in a transaction that intends to write; commits on `Ok`, rolls back on `Err`.
    ///
    /// On PostgreSQL this is diesel's `transaction`. On SQLite it begins with `BEGIN IMMEDIATE`
    /// rather than diesel's deferred `BEGIN`: a deferred transaction that reads and then writes
    /// while another connection holds the write lock gets `SQLITE_BUSY` at its first write
    /// *without* waiting (`busy_timeout` cannot help: waiting would break its snapshot), so two
    /// writers fail each other with "database is locked". Taking the lock at the start makes
    /// the second writer wait its turn under `busy_timeout` instead. Nested `transaction` calls
    /// inside `f` become savepoints as usual, and so does this one inside an open transaction.
    pub fn write_transaction<T, E, F>(&mut self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, E>,
        E: From<diesel::result::Error>,
    {
        use diesel::connection::{AnsiTransactionManager, Connection, TransactionManager};
        type Transactions = <AnyConnection as Connection>::TransactionManager;
        let began = match self {
            AnyConnection::Sqlite(c) => {
                let top_level = !in_transaction(c)?;
                if top_level {
                    AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
                }
                top_level
            }
            _ => false,
        };
        if !began {
            // PostgreSQL, or already inside a transaction (whose `BEGIN` decided the locking):
            // diesel's own transaction, a savepoint when nested.
            return Connection::transaction(self, f);
        }
        // From here the multi-connection's manager sees the open transaction: it delegates to
        // the SQLite connection's own manager, which the `BEGIN IMMEDIATE` above went through.
        match f(self) {
            Ok(value) => {
                <Transactions as TransactionManager<Self>>::commit_transaction(self)?;
                Ok(value)
            }
            Err(error) => {
                match <Transactions as TransactionManager<Self>>::rollback_transaction(self) {
                    Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(error),
                    Err(rollback) => Err(rollback.into()),
                }
            }
        }
    }
}

fn in_transaction(c: &mut diesel::SqliteConnection) -> QueryResult<bool> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager as _};
    Ok(AnsiTransactionManager::transaction_manager_status_mut(c)
        .transaction_depth()?
        .is_some())
}

/// Which database a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
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

/// Where the database is: a PostgreSQL URL or an SQLite file path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Postgres(String),
    Sqlite(String),
}

impl Target {
    /// PostgreSQL at `settings.database_url` when it answers, otherwise the SQLite file at
    /// `sqlite_path`. Under `BF_REQUIRE_SERVICES=1` an unreachable PostgreSQL is an error.
    pub async fn choose(settings: &Settings, sqlite_path: &str) -> anyhow::Result<Self> {
        match services::probe(Service::Postgres, &settings.database_url).await {
            Status::Up => Ok(Target::Postgres(settings.database_url.clone())),
            Status::Down(why) if settings.require_services => anyhow::bail!(
                "{}=1 and PostgreSQL is unreachable at {} ({why})",
                crate::config::REQUIRE_SERVICES_VAR,
                services::redact(&settings.database_url)
            ),
            Status::Down(_) => Ok(Target::Sqlite(sqlite_path.to_owned())),
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Target::Postgres(_) => Backend::Postgres,
            Target::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// The URL or path, for diesel.
    pub fn location(&self) -> &str {
        match self {
            Target::Postgres(url) | Target::Sqlite(url) => url,
        }
    }

    /// On PostgreSQL, this database narrowed to `schema` (created if missing): every connection
    /// of a pool opened on the result has `search_path` set to it, so a crate's unqualified
    /// queries and migrations land there. That is how a demo keeps its tables away from the
    /// tests' and from another data set's. On SQLite, unchanged: a file is its own namespace.
    pub async fn in_schema(self, schema: &str) -> anyhow::Result<Self> {
        let Target::Postgres(server) = self else {
            return Ok(self);
        };
        let schema = identifier(schema)?;
        on_postgres(&server, format!("CREATE SCHEMA IF NOT EXISTS {schema}")).await?;
        // libpq's `options` parameter passes `-c search_path=…` to the server for every connection.
        let mut url = url::Url::parse(&server).context("Failed to parse the PostgreSQL URL")?;
        url.query_pairs_mut()
            .append_pair("options", &format!("-csearch_path={schema}"));
        Ok(Target::Postgres(url.into()))
    }

    /// On PostgreSQL, drops `schema` and everything in it (a demo's per-run schema, at its end);
    /// on SQLite, nothing (the caller removes its file).
    pub async fn drop_schema(&self, schema: &str) -> anyhow::Result<()> {
        let Target::Postgres(server) = self else {
            return Ok(());
        };
        let schema = identifier(schema)?;
        on_postgres(server, format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await
    }
}

/// Removes the data sets a demo seeded and kept for later runs: each of `schemas` on the
/// PostgreSQL at `settings.database_url` (when it answers) and each of `sqlite_files` with its
/// `-wal` and `-shm` companions, saying what it found and how large it was. A server that does
/// not answer is reported as not checked, not an error: this run can remove nothing there.
pub async fn forget_data_sets(
    settings: &Settings,
    schemas: &[String],
    sqlite_files: &[String],
) -> anyhow::Result<Forgotten> {
    let mut forgotten = Forgotten::default();
    let url = &settings.database_url;
    match services::probe(Service::Postgres, url).await {
        Status::Up => {
            for schema in schemas {
                if let Some(size) = drop_schema_if_present(url, schema).await? {
                    forgotten.removed(format!("PostgreSQL schema {schema} ({})", bytes(size)));
                }
            }
        }
        Status::Down(why) => {
            forgotten.not_checked(format!("PostgreSQL at {} ({why})", services::redact(url)));
        }
    }
    for file in sqlite_files {
        for suffix in ["", "-wal", "-shm"] {
            forgotten.remove_file(std::path::Path::new(&format!("{file}{suffix}")))?;
        }
    }
    Ok(forgotten)
}

/// Drops `schema` if it exists, answering the bytes its tables and indexes held (`None`: there
/// was no such schema).
async fn drop_schema_if_present(url: &str, schema: &str) -> anyhow::Result<Option<u64>> {
    #[derive(diesel::QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
        bytes: Option<i64>,
    }
    let schema = identifier(schema)?.to_owned();
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<Option<u64>> {
        use diesel::{Connection as _, RunQueryDsl as _};
        let mut conn = diesel::PgConnection::establish(&url)
            .with_context(|| format!("Failed to connect to {}", services::redact(&url)))?;
        let found: Vec<Found> = diesel::sql_query(
            "SELECT (SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c \
             WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'm')) AS bytes \
             FROM pg_namespace n WHERE n.nspname = $1",
        )
        .bind::<diesel::sql_types::Text, _>(&schema)
        .load(&mut conn)
        .with_context(|| format!("Failed to look for schema {schema}"))?;
        let Some(found) = found.first() else {
            return Ok(None);
        };
        conn.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .with_context(|| format!("Failed to drop schema {schema}"))?;
        Ok(Some(found.bytes.map_or(0, i64::unsigned_abs)))
    })
    .await
    .context("the schema task failed")?
}

/// `name` if it is a plain lower-case SQL identifier: it is spliced into DDL, which takes no
/// bind parameters, so nothing that needs quoting gets that far.
fn identifier(name: &str) -> anyhow::Result<&str> {
    let plain = name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    anyhow::ensure!(
        plain,
        "{name:?} is not a plain schema name ([a-z_][a-z0-9_]*, at most 63 bytes)"
    );
    Ok(name)
}

/// Runs one statement on a one-off connection, on a blocking thread. Not through a pool:
/// opening a pool runs the migrations, which must land in the schema this creates.
async fn on_postgres(url: &str, statement: String) -> anyhow::Result<()> {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        use diesel::Connection as _;
        let mut conn = diesel::PgConnection::establish(&url)
            .with_context(|| format!("Failed to connect to {}", services::redact(&url)))?;
        conn.batch_execute(&statement)
            .with_context(|| format!("Failed to run {statement:?}"))
    })
    .await
    .context("the schema task failed")?
}

/// A crate's embedded migrations, one set per dialect (`BIGSERIAL` versus `INTEGER PRIMARY KEY`).
/// Built from the crate's `embed_migrations!` constants at the call: `Migrations { postgres: PG, sqlite: SQLITE }`.
pub struct Migrations {
    pub postgres: EmbeddedMigrations,
    pub sqlite: EmbeddedMigrations,
}

/// Per-connection SQLite settings. WAL lets readers read while a writer writes; `busy_timeout`
/// makes a writer wait for the lock instead of failing at once; `NORMAL` sync is safe with WAL;
/// foreign keys are off by default in SQLite, on in every other database.
// `busy_timeout` first: switching to WAL needs a lock, and another pool's last connection
// closing on the same file at that moment would otherwise fail the switch with "database is
// locked" instead of waiting for it.
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;";

/// Why a database call failed: the pool could not give a connection (the database is away, or
/// every connection is busy for too long), the query failed, or the blocking task died.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("no database connection: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    #[error("the database task failed: {0}")]
    Task(String),
}

type Manager = deadpool_diesel::Manager<AnyConnection>;
type Pool = deadpool_diesel::Pool<Manager>;

/// A pool of connections to one database, migrated.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    backend: Backend,
    location: String,
}

/// deadpool closes each idle connection on a blocking thread of the *current* tokio runtime, and
/// panics when there is none; the panics of several connections in a row abort the process. The
/// last handle to a pool can be dropped with no runtime current: an actix worker tearing down a
/// keep-alive connection while its runtime shuts down, at the end of a test or of `serve`. There
/// the pool is left for the process's exit to close (one extra reference keeps it from being
/// dropped), which costs nothing on the way out and never aborts.
impl Drop for Db {
    fn drop(&mut self) {
        if tokio::runtime::Handle::try_current().is_err() {
            std::mem::forget(self.pool.clone());
        }
    }
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .field("location", &services::redact(&self.location))
            .finish()
    }
}

impl Db {
    /// Opens a pool of `pool_size` connections on `target` and runs `migrations`.
    pub async fn open(
        target: &Target,
        pool_size: usize,
        migrations: Migrations,
    ) -> anyhow::Result<Self> {
        let backend = target.backend();
        let manager = Manager::new(target.location(), deadpool_diesel::Runtime::Tokio1);
        let mut builder = Pool::builder(manager).max_size(pool_size);
        if backend == Backend::Sqlite {
            builder = builder.post_create(deadpool::managed::Hook::<Manager>::async_fn(
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
            ));
        }
        let pool = builder
            .build()
            .with_context(|| format!("Failed to build the {} pool", backend.name()))?;
        let db = Self {
            pool,
            backend,
            location: target.location().to_owned(),
        };
        db.interact(move |conn| {
            let result = match conn {
                AnyConnection::Postgresql(c) => {
                    c.run_pending_migrations(migrations.postgres).map(drop)
                }
                AnyConnection::Sqlite(c) => c.run_pending_migrations(migrations.sqlite).map(drop),
            };
            Ok(result.map_err(|e| anyhow!("{e}")))
        })
        .await?
        .with_context(|| format!("Failed to migrate the {} database", backend.name()))?;
        Ok(db)
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Runs `f` with a pooled connection on a blocking thread.
    pub async fn interact<R, F>(&self, f: F) -> Result<R, DbError>
    where
        F: FnOnce(&mut AnyConnection) -> QueryResult<R> + Send + 'static,
        R: Send + 'static,
    {
        let conn = self
            .pool
            .get()
            .await
            .map_err(|e| DbError::Unavailable(e.to_string()))?;
        conn.interact(f)
            .await
            .map_err(|e| DbError::Task(e.to_string()))?
            .map_err(DbError::from)
    }
}
