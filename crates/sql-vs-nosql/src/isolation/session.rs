//! One transaction's connection as an actor, and the monitor connection that tells a step that
//! is *waiting on a lock* from one that is merely slow.
//!
//! Each [`Session`] owns a real connection inside its own task and runs the statements it
//! receives over a channel, one at a time, answering each on a oneshot. The driver can therefore
//! send a statement and walk away when it blocks, exactly as a person at a second terminal
//! would, and collect the answer when the blocker commits.
//!
//! Whether a silent statement is blocked is asked of the engine, never inferred from a timeout:
//! a loaded two-core machine makes ordinary statements slow, and a "blocked" guessed from time
//! would turn a slow step into a fake prevention. PostgreSQL answers from `pg_locks` (a lock
//! request of that backend that is not granted). MariaDB answers from the transaction list of
//! `SHOW ENGINE INNODB STATUS` ("LOCK WAIT" in the block of that thread id), which is read live.
//! `information_schema.innodb_trx` would be the tidier query, but InnoDB serves it from a cache
//! that is only refreshed when nobody has read it for 100 ms, so tests polling it in parallel
//! would keep each other's view stale.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_postgres::{NoTls, SimpleQueryMessage};

use super::outcome::{DbFailure, FailureKind, Row, StepResult};
use super::{IsolationError, Level, SqlEngine};

/// How long a lock wait may last before the engine gives up on it. Longer than any wait a
/// correct schedule has on a loaded machine, short enough that a wrong one fails a test in
/// seconds instead of hanging it. Both are session settings: the server's configuration is
/// never touched.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// Durability is not what these runs test: a commit that does not wait for its WAL flush is
/// locked, visible and conflicting exactly like one that does (see `crate::durability`), and
/// not waiting saves a disk flush per commit, most of a run's time on this machine's disk.
/// A session setting; MariaDB's counterpart is server-wide, so MariaDB runs flush as configured.
const NO_FLUSH_WAIT: &str = "SET synchronous_commit = off";

/// A request to a session: run this statement, answer here.
struct Request {
    sql: String,
    reply: oneshot::Sender<StepResult>,
}

/// One transaction's connection.
pub struct Session {
    requests: mpsc::Sender<Request>,
    /// The server's id for this connection (`pg_backend_pid()`, `CONNECTION_ID()`), which the
    /// monitor looks up in the lock views.
    pub backend: u32,
    task: JoinHandle<()>,
}

impl Session {
    /// Connects and applies the session settings: the lock timeout, and on MariaDB the isolation
    /// level for every transaction this session starts.
    pub async fn connect(
        engine: SqlEngine,
        url: &str,
        level: Level,
    ) -> Result<Self, IsolationError> {
        let (requests, inbox) = mpsc::channel(8);
        match engine {
            SqlEngine::Postgres => {
                let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
                tokio::spawn(async move {
                    // Ends when the client is dropped; an error here shows up as failed steps.
                    let _ = connection.await;
                });
                client
                    .batch_execute(&format!(
                        "SET lock_timeout = '{}ms'; {NO_FLUSH_WAIT}",
                        LOCK_TIMEOUT.as_millis()
                    ))
                    .await?;
                let row = client.query_one("SELECT pg_backend_pid()", &[]).await?;
                let backend = u32::try_from(row.get::<_, i32>(0)).unwrap_or_default();
                let task = tokio::spawn(serve_postgres(client, inbox));
                Ok(Self {
                    requests,
                    backend,
                    task,
                })
            }
            SqlEngine::MariaDb => {
                let opts = mysql_async::Opts::from_url(url)?;
                let mut conn = mysql_async::Conn::new(opts).await?;
                conn.query_drop(format!(
                    "SET SESSION TRANSACTION ISOLATION LEVEL {}",
                    level.sql()
                ))
                .await?;
                conn.query_drop(format!(
                    "SET SESSION innodb_lock_wait_timeout = {}",
                    LOCK_TIMEOUT.as_secs()
                ))
                .await?;
                let backend = conn.id();
                let task = tokio::spawn(serve_mariadb(conn, inbox));
                Ok(Self {
                    requests,
                    backend,
                    task,
                })
            }
        }
    }

    /// Sends a statement; the answer arrives on the returned receiver when the engine gives it.
    pub fn send(&self, sql: String) -> Result<oneshot::Receiver<StepResult>, IsolationError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .try_send(Request { sql, reply })
            .map_err(|_| IsolationError::SessionGone)?;
        Ok(answer)
    }

    /// Closes the connection once its current statement (if any) has answered.
    pub async fn close(self) {
        drop(self.requests);
        // Bounded: a session still blocked is killed by the caller first (see `Monitor::kill`).
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }

    /// Stops the actor at once (after its backend was killed).
    pub fn abort(self) {
        self.task.abort();
    }
}

async fn serve_postgres(client: tokio_postgres::Client, mut inbox: mpsc::Receiver<Request>) {
    while let Some(Request { sql, reply }) = inbox.recv().await {
        // The simple-query protocol, as a person at psql would send it: BEGIN, COMMIT and
        // selects alike, with the rows as text.
        let result = match client.simple_query(&sql).await {
            Ok(messages) => {
                let mut rows = Vec::new();
                let mut affected = 0;
                for message in messages {
                    match message {
                        SimpleQueryMessage::Row(row) => rows.extend(text_row(
                            row.get(0).unwrap_or_default(),
                            row.get(1).unwrap_or_default(),
                        )),
                        SimpleQueryMessage::CommandComplete(n) => affected = n,
                        _ => {}
                    }
                }
                StepResult::Answered { rows, affected }
            }
            Err(error) => StepResult::Failed(postgres_failure(&error)),
        };
        // The driver may have given up on this run; the answer then has nobody to go to.
        let _ = reply.send(result);
    }
}

async fn serve_mariadb(mut conn: mysql_async::Conn, mut inbox: mpsc::Receiver<Request>) {
    while let Some(Request { sql, reply }) = inbox.recv().await {
        let result = mariadb_run(&mut conn, &sql).await;
        let _ = reply.send(match result {
            Ok((rows, affected)) => StepResult::Answered { rows, affected },
            Err(error) => StepResult::Failed(mariadb_failure(&error)),
        });
    }
    let _ = conn.disconnect().await;
}

async fn mariadb_run(
    conn: &mut mysql_async::Conn,
    sql: &str,
) -> Result<(Vec<Row>, u64), mysql_async::Error> {
    let mut result = conn.query_iter(sql).await?;
    let affected = result.affected_rows();
    let raw: Vec<mysql_async::Row> = result.collect().await?;
    result.drop_result().await?;
    let rows = raw
        .into_iter()
        .filter_map(|row| mysql_async::from_row_opt::<(i32, i32)>(row).ok())
        .map(|(id, value)| Row { id, value })
        .collect();
    Ok((rows, affected))
}

fn text_row(id: &str, value: &str) -> Option<Row> {
    Some(Row {
        id: id.parse().ok()?,
        value: value.parse().ok()?,
    })
}

/// Names a PostgreSQL error by its SQLSTATE.
pub fn postgres_failure(error: &tokio_postgres::Error) -> DbFailure {
    let Some(db) = error.as_db_error() else {
        return DbFailure {
            kind: FailureKind::Other,
            code: String::new(),
            message: error.to_string(),
        };
    };
    let code = db.code().code().to_owned();
    let kind = match code.as_str() {
        "40001" => FailureKind::Serialization,
        "40P01" => FailureKind::Deadlock,
        "55P03" => FailureKind::LockTimeout,
        _ => FailureKind::Other,
    };
    DbFailure {
        kind,
        code,
        message: db.message().to_owned(),
    }
}

/// Names a MariaDB error by its number.
pub fn mariadb_failure(error: &mysql_async::Error) -> DbFailure {
    match error {
        mysql_async::Error::Server(server) => DbFailure {
            kind: match server.code {
                1213 => FailureKind::Deadlock,
                1020 => FailureKind::Serialization,
                1205 => FailureKind::LockTimeout,
                _ => FailureKind::Other,
            },
            code: server.code.to_string(),
            message: server.message.clone(),
        },
        other => DbFailure {
            kind: FailureKind::Other,
            code: String::new(),
            message: other.to_string(),
        },
    }
}

/// The run's own connection: it creates and drops the table, reads it at the end, and asks
/// the engine whether a session is waiting on a lock.
pub enum Monitor {
    Postgres(tokio_postgres::Client),
    MariaDb(mysql_async::Conn),
}

impl Monitor {
    pub async fn connect(engine: SqlEngine, url: &str) -> Result<Self, IsolationError> {
        Ok(match engine {
            SqlEngine::Postgres => {
                let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
                tokio::spawn(async move {
                    let _ = connection.await;
                });
                // Bounded like the sessions, so even the final DROP TABLE cannot hang a run.
                client
                    .batch_execute(&format!(
                        "SET lock_timeout = '{}ms'; {NO_FLUSH_WAIT}",
                        LOCK_TIMEOUT.as_millis()
                    ))
                    .await?;
                Monitor::Postgres(client)
            }
            SqlEngine::MariaDb => {
                let mut conn = mysql_async::Conn::new(mysql_async::Opts::from_url(url)?).await?;
                // The metadata-lock wait (DROP TABLE behind an open transaction) defaults to a
                // day; bounded like the row-lock waits instead.
                conn.query_drop(format!(
                    "SET SESSION lock_wait_timeout = {}",
                    LOCK_TIMEOUT.as_secs()
                ))
                .await?;
                Monitor::MariaDb(conn)
            }
        })
    }

    /// Runs statements that return nothing (DDL, the seed rows).
    pub async fn execute(&mut self, sql: &str) -> Result<(), IsolationError> {
        match self {
            Monitor::Postgres(client) => client.batch_execute(sql).await?,
            Monitor::MariaDb(conn) => conn.query_drop(sql).await?,
        }
        Ok(())
    }

    /// Every row of `table`, in id order.
    pub async fn rows(&mut self, table: &str) -> Result<Vec<Row>, IsolationError> {
        let sql = format!("select id, value from {table} order by id");
        Ok(match self {
            Monitor::Postgres(client) => client
                .query(&sql, &[])
                .await?
                .iter()
                .map(|r| Row {
                    id: r.get(0),
                    value: r.get(1),
                })
                .collect(),
            Monitor::MariaDb(conn) => conn
                .query::<(i32, i32), _>(sql)
                .await?
                .into_iter()
                .map(|(id, value)| Row { id, value })
                .collect(),
        })
    }

    /// Whether the backend is waiting for a lock right now, according to the engine.
    pub async fn is_waiting(&mut self, backend: u32) -> Result<bool, IsolationError> {
        match self {
            Monitor::Postgres(client) => {
                let pid = i32::try_from(backend).unwrap_or_default();
                let row = client
                    .query_one(
                        "select exists (select 1 from pg_locks where pid = $1 and not granted)",
                        &[&pid],
                    )
                    .await?;
                Ok(row.get(0))
            }
            Monitor::MariaDb(conn) => {
                let status: Option<(String, String, String)> =
                    conn.query_first("SHOW ENGINE INNODB STATUS").await?;
                Ok(
                    status
                        .is_some_and(|(_, _, text)| innodb_lock_waiters(&text).contains(&backend)),
                )
            }
        }
    }

    /// Ends a session's backend from the server side, so a run that failed midway releases its
    /// locks before its table is dropped. Only ever used on this run's own connections.
    pub async fn kill(&mut self, backend: u32) -> Result<(), IsolationError> {
        match self {
            Monitor::Postgres(client) => {
                let pid = i32::try_from(backend).unwrap_or_default();
                client
                    .execute("select pg_terminate_backend($1)", &[&pid])
                    .await?;
            }
            Monitor::MariaDb(conn) => conn.query_drop(format!("KILL {backend}")).await?,
        }
        Ok(())
    }
}

/// The thread ids of the transactions `SHOW ENGINE INNODB STATUS` lists as waiting for a lock.
///
/// Each transaction is a block starting `---TRANSACTION <id>, ...`; a waiting one has a line
/// starting `LOCK WAIT`, and every one names its connection as `MariaDB thread id <n>,`
/// (`MySQL thread id` on MySQL).
pub fn innodb_lock_waiters(status: &str) -> Vec<u32> {
    status
        .split("---TRANSACTION ")
        .skip(1)
        .filter(|block| block.lines().any(|l| l.starts_with("LOCK WAIT")))
        .filter_map(|block| {
            let (_, after) = block.split_once("thread id ")?;
            let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transactions_in_lock_wait_are_reported_with_their_thread_id() {
        let status = "\
LIST OF TRANSACTIONS FOR EACH SESSION:
---TRANSACTION 38, ACTIVE 1 sec starting index read
mysql tables in use 1, locked 1
LOCK WAIT 2 lock struct(s), heap size 1128, 1 row lock(s)
MariaDB thread id 16, OS thread handle 140269136090816, query id 37 127.0.0.1 root Updating
update t set value=12 where id=1
------- TRX HAS BEEN WAITING 506283 us FOR THIS LOCK TO BE GRANTED:
---TRANSACTION 37, ACTIVE 1 sec
2 lock struct(s), heap size 1128, 1 row lock(s), undo log entries 1
MariaDB thread id 15, OS thread handle 140269136705216, query id 35 127.0.0.1 root User sleep
--------
FILE I/O";
        assert_eq!(innodb_lock_waiters(status), vec![16]);
        assert!(innodb_lock_waiters("no transactions").is_empty());
    }
}
