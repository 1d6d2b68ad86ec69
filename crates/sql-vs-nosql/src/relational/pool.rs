//! Connection pools for the three engines, and the databases the demo and tests create.
//!
//! `RecyclingMethod::Fast`: the default checks every checked-out connection with a query, an
//! extra round trip that would double the cost of the point lookup this crate measures.

use diesel::ConnectionError;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{
    AsyncConnection, AsyncMysqlConnection, AsyncPgConnection, SimpleAsyncConnection,
};
use futures_util::FutureExt;

use super::dialect::AsyncSqliteConnection;
use crate::store::{Engine, StoreError};

/// SQLite, per connection: wait for a writer instead of failing with `SQLITE_BUSY`, let readers
/// run beside a writer (WAL), and enforce the foreign keys the schema declares.
const SQLITE_PRAGMAS: &str =
    "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;";

/// A pool of `$conn` connections to `$url`, `$size` at most; `$setup` runs on each new one.
/// A macro, not a generic function: the pool's bounds on a generic connection type are the
/// whole of diesel's backend machinery, and only three concrete types ever meet it.
macro_rules! build_pool {
    ($conn:ty, $engine:expr, $url:expr, $size:expr, $setup:expr) => {{
        let mut config = ManagerConfig::<$conn>::default();
        config.recycling_method = RecyclingMethod::Fast;
        if let Some(setup) = $setup {
            config.custom_setup = setup;
        }
        let manager = AsyncDieselConnectionManager::<$conn>::new_with_config($url, config);
        Pool::builder(manager)
            .max_size($size)
            .build()
            .map_err(|e| StoreError::backend($engine, e))
    }};
}

type Setup<C> = diesel_async::pooled_connection::SetupCallback<C>;

/// A PostgreSQL pool.
pub fn postgres(url: &str, size: usize) -> Result<Pool<AsyncPgConnection>, StoreError> {
    build_pool!(
        AsyncPgConnection,
        Engine::Postgres,
        url,
        size,
        None::<Setup<_>>
    )
}

/// A MariaDB pool.
pub fn mariadb(url: &str, size: usize) -> Result<Pool<AsyncMysqlConnection>, StoreError> {
    build_pool!(
        AsyncMysqlConnection,
        Engine::MariaDb,
        url,
        size,
        None::<Setup<_>>
    )
}

/// An SQLite pool; every connection gets [`SQLITE_PRAGMAS`].
pub fn sqlite(path: &str, size: usize) -> Result<Pool<AsyncSqliteConnection>, StoreError> {
    let setup: Setup<AsyncSqliteConnection> = Box::new(|url| {
        let url = url.to_owned();
        async move {
            let mut conn = AsyncSqliteConnection::establish(&url).await?;
            conn.batch_execute(SQLITE_PRAGMAS)
                .await
                .map_err(ConnectionError::CouldntSetupConfiguration)?;
            Ok(conn)
        }
        .boxed()
    });
    build_pool!(
        AsyncSqliteConnection,
        Engine::Sqlite,
        path,
        size,
        Some(setup)
    )
}

/// Creates database `name` on the server of `server_url` unless it exists, and returns its URL.
pub async fn ensure_database(
    engine: Engine,
    server_url: &str,
    name: &str,
) -> Result<String, StoreError> {
    let fail = |e: &dyn std::fmt::Display| StoreError::backend(engine, e);
    check_name(engine, name)?;
    match engine {
        Engine::Postgres | Engine::Documents => {
            let mut conn = AsyncPgConnection::establish(server_url)
                .await
                .map_err(|e| fail(&e))?;
            // CREATE DATABASE has no IF NOT EXISTS on PostgreSQL; a concurrent creator makes it
            // fail with "already exists", which is what we wanted anyway.
            let created = conn
                .batch_execute(&format!("CREATE DATABASE \"{name}\""))
                .await;
            if let Err(e) = created
                && !e.to_string().contains("already exists")
            {
                return Err(fail(&e));
            }
        }
        Engine::MariaDb => {
            let mut conn = AsyncMysqlConnection::establish(server_url)
                .await
                .map_err(|e| fail(&e))?;
            conn.batch_execute(&format!(
                "CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4"
            ))
            .await
            .map_err(|e| fail(&e))?;
        }
        other => return Err(StoreError::backend(other, "not a server database")),
    }
    let mut url = url::Url::parse(server_url).map_err(|e| fail(&e))?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

/// Drops database `name` (tests clean up with it).
pub async fn drop_database(engine: Engine, server_url: &str, name: &str) -> Result<(), StoreError> {
    let fail = |e: &dyn std::fmt::Display| StoreError::backend(engine, e);
    check_name(engine, name)?;
    match engine {
        Engine::MariaDb => {
            let mut conn = AsyncMysqlConnection::establish(server_url)
                .await
                .map_err(|e| fail(&e))?;
            conn.batch_execute(&format!("DROP DATABASE IF EXISTS `{name}`"))
                .await
                .map_err(|e| fail(&e))
        }
        _ => {
            let mut conn = AsyncPgConnection::establish(server_url)
                .await
                .map_err(|e| fail(&e))?;
            conn.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await
                .map_err(|e| fail(&e))
        }
    }
}

/// The databases on the server whose names start with `prefix`, each with its size in bytes
/// (PostgreSQL's `pg_database_size`; on MariaDB the tables' data and indexes).
pub async fn databases_named(
    engine: Engine,
    server_url: &str,
    prefix: &str,
) -> Result<Vec<(String, u64)>, StoreError> {
    #[derive(diesel::QueryableByName)]
    struct Named {
        #[diesel(sql_type = diesel::sql_types::Text)]
        name: String,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
        bytes: Option<i64>,
    }
    use diesel_async::RunQueryDsl as _;
    let fail = |e: &dyn std::fmt::Display| StoreError::backend(engine, e);
    check_name(engine, prefix)?;
    // `_` is LIKE's one-character wildcard, and the prefix is made of little else.
    let pattern = format!("{}%", prefix.replace('_', "\\_"));
    let found: Vec<Named> = match engine {
        Engine::MariaDb => {
            let mut conn = AsyncMysqlConnection::establish(server_url)
                .await
                .map_err(|e| fail(&e))?;
            diesel::sql_query(
                "SELECT s.schema_name AS name, \
                 CAST(SUM(t.data_length + t.index_length) AS SIGNED) AS bytes \
                 FROM information_schema.schemata s \
                 LEFT JOIN information_schema.tables t ON t.table_schema = s.schema_name \
                 WHERE s.schema_name LIKE ? GROUP BY s.schema_name",
            )
            .bind::<diesel::sql_types::Text, _>(&pattern)
            .load(&mut conn)
            .await
            .map_err(|e| fail(&e))?
        }
        _ => {
            let mut conn = AsyncPgConnection::establish(server_url)
                .await
                .map_err(|e| fail(&e))?;
            diesel::sql_query(
                "SELECT datname AS name, pg_database_size(datname) AS bytes \
                 FROM pg_database WHERE datname LIKE $1",
            )
            .bind::<diesel::sql_types::Text, _>(&pattern)
            .load(&mut conn)
            .await
            .map_err(|e| fail(&e))?
        }
    };
    Ok(found
        .into_iter()
        .map(|n| (n.name, n.bytes.map_or(0, i64::unsigned_abs)))
        .collect())
}

/// Database names are made by this crate, never by a client; refusing anything but
/// `[a-z0-9_]` keeps a quoted identifier from ever needing escaping.
fn check_name(engine: Engine, name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::backend(
            engine,
            format!("unusable database name {name:?}"),
        ))
    }
}
