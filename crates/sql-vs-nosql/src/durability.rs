//! Durability, the D of ACID, discussed honestly: what a commit waits for, what it costs, and
//! what each server on this machine is actually configured to keep.
//!
//! A commit is durable when its record is on stable storage before the client hears "done".
//! That wait (an `fsync` of the write-ahead log) is usually the largest part of a small write
//! transaction's latency, which is why every engine offers a way to skip it:
//!
//! - PostgreSQL: `synchronous_commit = off`, a *session* setting. The commit returns before the
//!   WAL is flushed; the WAL writer flushes it within about three `wal_writer_delay`s. A crash in
//!   that window loses the last commits but never corrupts the database, and other sessions see
//!   the committed row at once (visibility does not wait for the disk). [`commit_latency`]
//!   measures both settings side by side.
//! - MariaDB: `innodb_flush_log_at_trx_commit` (1: flush at every commit; 2: write at commit,
//!   flush about once a second; 0: neither) and `sync_binlog` for the binary log. Both are
//!   server-wide, so they are read here, never changed.
//! - Redis: `appendonly` (the append-only file, flushed per `appendfsync`) and `save` (periodic
//!   snapshots). With neither, a restart loses everything: Redis is then a cache, whatever the
//!   code around it assumes.
//!
//! Nothing here changes a server's configuration: the PostgreSQL setting is per session, and the
//! rest is only read. Timings belong in the demo, not in tests: a test checks what can be checked
//! without a clock (the setting is per session; a row committed without waiting for the disk is
//! visible to another session immediately).

use std::time::Duration;

use mysql_async::prelude::Queryable;
use serde::Serialize;
use support::measure::{Measurement, Plan, measure, measure_interleaved};
use tokio_postgres::NoTls;

/// Why durability figures could not be read or measured.
#[derive(Debug, thiserror::Error)]
pub enum DurabilityError {
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("MariaDB: {0}")]
    MariaDb(#[from] mysql_async::Error),
    #[error("MariaDB URL: {0}")]
    MariaDbUrl(#[from] mysql_async::UrlError),
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("unexpected answer: {0}")]
    Unexpected(String),
}

/// PostgreSQL's durability settings as a fresh session sees them (the server's defaults).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PostgresSettings {
    /// `on` unless the server was told to skip fsync entirely (then nothing is durable).
    pub fsync: String,
    /// The default for sessions: `on`, `off`, `local`, `remote_write` or `remote_apply`.
    pub synchronous_commit: String,
    pub wal_sync_method: String,
    /// How often the WAL writer flushes, in milliseconds: with `synchronous_commit = off`, up to
    /// about three times this is what a crash can lose.
    pub wal_writer_delay_ms: u64,
}

/// MariaDB's redo-log and binary-log flush settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MariaDbSettings {
    /// 1: flush the redo log at every commit; 2: write at commit, flush about once a second;
    /// 0: write and flush about once a second.
    pub innodb_flush_log_at_trx_commit: u64,
    /// 0: the OS decides when the binary log reaches the disk; N: fsync every N commits.
    pub sync_binlog: u64,
    /// Whether the binary log is on at all.
    pub log_bin: bool,
}

/// Redis persistence settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RedisSettings {
    /// `yes` or `no`: whether every write is appended to the append-only file.
    pub appendonly: String,
    /// `always`, `everysec` or `no`: when the append-only file is fsynced.
    pub appendfsync: String,
    /// The snapshot schedule (`"3600 1 300 100"`: seconds and changes), empty when off.
    pub save: String,
}

impl RedisSettings {
    /// Whether a restart of this Redis keeps anything at all.
    pub fn keeps_anything(&self) -> bool {
        self.appendonly == "yes" || !self.save.trim().is_empty()
    }
}

/// Reads PostgreSQL's settings from a fresh session.
pub async fn postgres_settings(url: &str) -> Result<PostgresSettings, DurabilityError> {
    let client = connect_postgres(url).await?;
    let row = client
        .query_one(
            "select current_setting('fsync'), current_setting('synchronous_commit'), \
             current_setting('wal_sync_method'), \
             (select setting::bigint from pg_settings where name = 'wal_writer_delay')",
            &[],
        )
        .await?;
    Ok(PostgresSettings {
        fsync: row.get(0),
        synchronous_commit: row.get(1),
        wal_sync_method: row.get(2),
        wal_writer_delay_ms: u64::try_from(row.get::<_, i64>(3)).unwrap_or_default(),
    })
}

/// Reads MariaDB's flush settings.
pub async fn mariadb_settings(url: &str) -> Result<MariaDbSettings, DurabilityError> {
    let mut conn = mysql_async::Conn::new(mysql_async::Opts::from_url(url)?).await?;
    let row: Option<(u64, u64, u64)> = conn
        .query_first("select @@innodb_flush_log_at_trx_commit, @@sync_binlog, @@log_bin")
        .await?;
    let _ = conn.disconnect().await;
    let (flush, sync_binlog, log_bin) =
        row.ok_or_else(|| DurabilityError::Unexpected("no settings row".into()))?;
    Ok(MariaDbSettings {
        innodb_flush_log_at_trx_commit: flush,
        sync_binlog,
        log_bin: log_bin != 0,
    })
}

/// Reads Redis's persistence settings with `CONFIG GET`.
pub async fn redis_settings(url: &str) -> Result<RedisSettings, DurabilityError> {
    let client = redis::Client::open(url)?;
    let mut con = client.get_multiplexed_async_connection().await?;
    let mut get = async |name: &str| -> Result<String, DurabilityError> {
        // CONFIG GET answers [name, value] (a map under RESP3).
        let pairs: Vec<(String, String)> = redis::cmd("CONFIG")
            .arg("GET")
            .arg(name)
            .query_async(&mut con)
            .await?;
        pairs
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
            .ok_or_else(|| DurabilityError::Unexpected(format!("CONFIG GET {name} is empty")))
    };
    Ok(RedisSettings {
        appendonly: get("appendonly").await?,
        appendfsync: get("appendfsync").await?,
        save: get("save").await?,
    })
}

/// Commit latency of one small insert per transaction, with and without waiting for the WAL
/// flush, measured interleaved (one `on` commit, one `off` commit, and so on) so a burst of load
/// on a shared machine lands on both.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommitLatency {
    pub synchronous_on: Measurement,
    pub synchronous_off: Measurement,
    /// Median with `on` divided by median with `off`: what waiting for the disk costs.
    pub p50_ratio: f64,
}

/// Measures PostgreSQL commits under `plan` with `synchronous_commit` on and off, each on its
/// own session.
pub async fn commit_latency(url: &str, plan: Plan) -> Result<CommitLatency, DurabilityError> {
    let on = connect_postgres(url).await?;
    let off = connect_postgres(url).await?;
    on.batch_execute("SET synchronous_commit = on").await?;
    off.batch_execute("SET synchronous_commit = off").await?;
    let table = support::names::unique_name("commits");
    on.batch_execute(&format!(
        "create table {table} (id bigint generated always as identity primary key, \
         session text not null, at timestamptz not null default now())"
    ))
    .await?;
    // Autocommit: each insert is its own transaction, so each one is a commit.
    let insert = format!("insert into {table} (session) values ($1)");
    let measured = async {
        let on_stmt = on.prepare(&insert).await?;
        let off_stmt = off.prepare(&insert).await?;
        let (synchronous_on, synchronous_off) = measure_interleaved(
            plan,
            |_| async { on.execute(&on_stmt, &[&"on"]).await },
            |_| async { off.execute(&off_stmt, &[&"off"]).await },
        )
        .await;
        Ok::<_, DurabilityError>((synchronous_on, synchronous_off))
    }
    .await;
    on.batch_execute(&format!("drop table if exists {table}"))
        .await?;
    let (synchronous_on, synchronous_off) = measured?;
    let p50_ratio = ratio(synchronous_on.p50, synchronous_off.p50);
    Ok(CommitLatency {
        synchronous_on,
        synchronous_off,
        p50_ratio,
    })
}

/// Measures MariaDB commits of the same small insert as configured (its flush setting is
/// server-wide, so there is only one way to measure it here).
pub async fn mariadb_commit_latency(url: &str, plan: Plan) -> Result<Measurement, DurabilityError> {
    let opts = mysql_async::Opts::from_url(url)?;
    let mut conn = mysql_async::Conn::new(opts).await?;
    let table = support::names::unique_name("commits");
    conn.query_drop(format!(
        "create table {table} (id bigint auto_increment primary key, \
         session varchar(8) not null) engine = InnoDB"
    ))
    .await?;
    let insert = format!("insert into {table} (session) values ('as-is')");
    // `measure` needs a shared borrow per operation; one connection runs one insert at a time.
    let cell = tokio::sync::Mutex::new(conn);
    let measured = measure(plan.concurrency(1), |_| async {
        let mut conn = cell.lock().await;
        conn.query_drop(&insert).await
    })
    .await;
    let mut conn = cell.into_inner();
    conn.query_drop(format!("drop table if exists {table}"))
        .await?;
    let _ = conn.disconnect().await;
    Ok(measured)
}

/// Inserts a row on a session with `synchronous_commit = off` and reads it from another session
/// right after the commit returned: whether it is visible. (It is: visibility never waits for
/// the disk; only the crash guarantee is weaker.)
pub async fn unsynced_commit_is_visible(url: &str) -> Result<bool, DurabilityError> {
    let writer = connect_postgres(url).await?;
    let reader = connect_postgres(url).await?;
    writer.batch_execute("SET synchronous_commit = off").await?;
    let table = support::names::unique_name("unsynced");
    writer
        .batch_execute(&format!("create table {table} (id int primary key)"))
        .await?;
    let seen = async {
        writer
            .batch_execute(&format!("insert into {table} (id) values (1)"))
            .await?;
        let row = reader
            .query_one(&format!("select count(*) from {table}"), &[])
            .await?;
        Ok::<_, DurabilityError>(row.get::<_, i64>(0) == 1)
    }
    .await;
    writer
        .batch_execute(&format!("drop table if exists {table}"))
        .await?;
    seen
}

/// The `synchronous_commit` two sessions report after one of them set it `off`: the setting is
/// per session (returns the changed session's value, then the other's).
pub async fn synchronous_commit_per_session(
    url: &str,
) -> Result<(String, String), DurabilityError> {
    let changed = connect_postgres(url).await?;
    let other = connect_postgres(url).await?;
    changed
        .batch_execute("SET synchronous_commit = off")
        .await?;
    let show = async |client: &tokio_postgres::Client| -> Result<String, DurabilityError> {
        Ok(client
            .query_one("select current_setting('synchronous_commit')", &[])
            .await?
            .get(0))
    };
    Ok((show(&changed).await?, show(&other).await?))
}

async fn connect_postgres(url: &str) -> Result<tokio_postgres::Client, DurabilityError> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// `a / b`, or 0 when `b` is zero.
pub fn ratio(a: Duration, b: Duration) -> f64 {
    if b.is_zero() {
        0.0
    } else {
        a.as_secs_f64() / b.as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_keeps_something_only_with_an_append_only_file_or_a_snapshot_schedule() {
        let mut s = RedisSettings {
            appendonly: "no".into(),
            appendfsync: "everysec".into(),
            save: String::new(),
        };
        assert!(!s.keeps_anything());
        s.save = "3600 1".into();
        assert!(s.keeps_anything());
        s.save.clear();
        s.appendonly = "yes".into();
        assert!(s.keeps_anything());
    }

    #[test]
    fn a_ratio_over_zero_is_zero_not_infinite() {
        assert_eq!(ratio(Duration::from_millis(2), Duration::ZERO), 0.0);
        assert_eq!(
            ratio(Duration::from_millis(4), Duration::from_millis(2)),
            2.0
        );
    }
}
