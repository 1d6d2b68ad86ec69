//! Atomicity, the A of ACID, shown by breaking a transfer halfway.
//!
//! A transfer of credits is two writes: debit the payer, credit the payee. Atomicity is the
//! promise that a failure between them leaves *neither*, so no credits are created or destroyed.
//! Each function here runs one transfer of [`AMOUNT`] from alice (100) to bob (50) on a table or
//! key set of its own, injects a failure between the two writes, and counts what was left
//! behind.
//!
//! The failure is a statement the schema refuses ([`Guard`] says how the surrounding code
//! reacts): a fee charged to bob that his balance cannot cover, which the column's
//! `CHECK (balance >= 0)` rejects. It stands in for anything that can fail between two writes: a
//! bug, a timeout, a crash, a constraint.
//!
//! What the runs show:
//!
//! - In a transaction that is rolled back on error, both SQL engines leave nothing: the debit is
//!   undone. Without a transaction (autocommit) the debit is already committed when the failure
//!   comes: credits are destroyed.
//! - The engines differ on what an error does to a transaction. PostgreSQL marks the whole
//!   transaction failed: every later statement is refused, and `COMMIT` answers `ROLLBACK`.
//!   MariaDB undoes only the failed statement and keeps the transaction open, so code that
//!   commits anyway commits the debit alone. "We use transactions" is not enough: the error path
//!   must roll back.
//! - Redis `MULTI`/`EXEC` is atomic in the sense that nothing interleaves with it, not in the
//!   sense that it rolls back: a command that fails when `EXEC` runs it is skipped and the others
//!   are applied. Only a command refused while queueing (wrong arity) discards the whole block.
//! - Redis `WATCH` makes `EXEC` conditional: if a watched key changed since it was watched, `EXEC`
//!   does nothing and answers nil, and the client retries on fresh values. Without it, a transfer
//!   computed from a stale read overwrites a concurrent one and credits appear from nowhere.
//!
//! Production would also keep an idempotency key per transfer, so a client retrying after a
//! timeout cannot apply it twice; that is a different lesson (exactly-once), left out here.

use std::future::Future;

use mysql_async::prelude::Queryable;
use redis::aio::ConnectionLike;
use serde::Serialize;
use tokio_postgres::NoTls;

/// Credits moved by every transfer.
pub const AMOUNT: i64 = 30;
/// The opening balances: alice pays, bob receives.
pub const OPENING: Balances = Balances { a: 100, b: 50 };
/// A `WATCH` transfer gives up after this many attempts (only a test of contention needs more
/// than two).
pub const MAX_ATTEMPTS: u64 = 1_000;

/// Which engine ran a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Backend {
    Postgres,
    MariaDb,
    Redis,
}

impl Backend {
    pub fn label(self) -> &'static str {
        match self {
            Backend::Postgres => "PostgreSQL",
            Backend::MariaDb => "MariaDB",
            Backend::Redis => "Redis",
        }
    }
}

/// How the code around the two writes is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Guard {
    /// SQL: `BEGIN`, the writes, and `ROLLBACK` at the first error (what correct code does).
    Transaction,
    /// SQL: `BEGIN`, the writes, and `COMMIT` even after an error (the remaining writes are
    /// skipped): the handler that logs the error and carries on.
    CommitAfterError,
    /// SQL: no `BEGIN`; every statement commits by itself and the code stops at the error.
    Autocommit,
    /// Redis: `MULTI`, the commands, `EXEC`; the injected command fails when `EXEC` runs it.
    MultiExec,
    /// Redis: `MULTI` with a malformed command, refused while queueing; `EXEC` then discards all.
    MultiQueueError,
    /// Redis: one command at a time, stopping at the error.
    OneByOne,
}

impl Guard {
    pub fn label(self) -> &'static str {
        match self {
            Guard::Transaction => "transaction, ROLLBACK on error",
            Guard::CommitAfterError => "transaction, COMMIT after the error",
            Guard::Autocommit => "autocommit (no transaction)",
            Guard::MultiExec => "MULTI/EXEC, command fails at EXEC",
            Guard::MultiQueueError => "MULTI/EXEC, command refused at queueing",
            Guard::OneByOne => "one command at a time",
        }
    }
}

/// Two balances: the payer's and the payee's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Balances {
    pub a: i64,
    pub b: i64,
}

impl Balances {
    pub fn total(self) -> i64 {
        self.a + self.b
    }
}

/// What a transfer left behind, read from the balances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Left {
    /// Neither balance changed: the transfer was all-or-nothing, and it was nothing.
    Nothing,
    /// Exactly one balance changed: a half-done transfer.
    HalfDone,
    /// Both changed, although a command in between failed.
    Both,
}

/// One transfer with a failure injected between its writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transfer {
    pub backend: Backend,
    pub guard: Guard,
    pub amount: i64,
    pub before: Balances,
    pub after: Balances,
    pub left: Left,
    /// `after.total() - before.total()`: positive when credits were created, negative when
    /// destroyed.
    pub money_created: i64,
    /// Balances whose value changed (0, 1 or 2).
    pub balances_changed: u64,
    /// What the engine said, `code: message` per refused statement or command.
    pub errors: Vec<String>,
}

impl Transfer {
    fn new(
        backend: Backend,
        guard: Guard,
        before: Balances,
        after: Balances,
        errors: Vec<String>,
    ) -> Self {
        let balances_changed = u64::from(before.a != after.a) + u64::from(before.b != after.b);
        Self {
            backend,
            guard,
            amount: AMOUNT,
            before,
            after,
            left: match balances_changed {
                0 => Left::Nothing,
                1 => Left::HalfDone,
                _ => Left::Both,
            },
            money_created: after.total() - before.total(),
            balances_changed,
            errors,
        }
    }
}

/// Two or more transfers racing on the same Redis keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Race {
    /// Whether each transfer `WATCH`ed the keys it read.
    pub watched: bool,
    pub transfers: u64,
    /// `EXEC`s that answered nil because a watched key had changed, each followed by a retry.
    pub retries: u64,
    pub total_before: i64,
    pub total_after: i64,
    /// `total_after - total_before`: credits created (or destroyed) by the race.
    pub money_created: i64,
}

/// Why a transfer could not be run (never the injected failure: that one is the lesson).
#[derive(Debug, thiserror::Error)]
pub enum AtomicityError {
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("MariaDB: {0}")]
    MariaDb(#[from] mysql_async::Error),
    #[error("MariaDB URL: {0}")]
    MariaDbUrl(#[from] mysql_async::UrlError),
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A watched transfer lost every one of its attempts.
    #[error("a watched transfer was retried {MAX_ATTEMPTS} times without succeeding")]
    TooManyRetries,
    /// The engine answered something the transfer cannot read (a balance that is not a number).
    #[error("unexpected answer: {0}")]
    Unexpected(String),
}

/// The three statements of a transfer, in order, with `{t}` for the table.
const DEBIT: &str = "update {t} set balance = balance - 30 where id = 1";
/// The injected failure: a fee bob cannot cover; `CHECK (balance >= 0)` refuses it.
const INJECTED_FAILURE: &str = "update {t} set balance = balance - 1000 where id = 2";
const CREDIT: &str = "update {t} set balance = balance + 30 where id = 2";

fn create_table(table: &str, suffix: &str) -> String {
    format!(
        "create table {table} (id int primary key, owner varchar(16) not null, \
         balance bigint not null check (balance >= 0)){suffix}"
    )
}

fn seed_rows(table: &str) -> String {
    format!(
        "insert into {table} (id, owner, balance) values (1, 'alice', {}), (2, 'bob', {})",
        OPENING.a, OPENING.b
    )
}

/// A connection that runs one statement and reports the engine's refusal as `code: message`.
trait Statements {
    async fn run(&mut self, sql: &str) -> Option<String>;
}

impl Statements for &tokio_postgres::Client {
    async fn run(&mut self, sql: &str) -> Option<String> {
        self.batch_execute(sql)
            .await
            .err()
            .map(|e| match e.as_db_error() {
                Some(db) => format!("{}: {}", db.code().code(), db.message()),
                None => e.to_string(),
            })
    }
}

impl Statements for mysql_async::Conn {
    async fn run(&mut self, sql: &str) -> Option<String> {
        self.query_drop(sql).await.err().map(|e| match e {
            mysql_async::Error::Server(s) => format!("{}: {}", s.code, s.message),
            other => other.to_string(),
        })
    }
}

/// The statements the code sends for `guard`, as far as it gets: it stops at the first error,
/// then ends the transaction the way `guard` says. Returns every refusal the engine answered.
async fn run_sql_transfer(conn: &mut impl Statements, table: &str, guard: Guard) -> Vec<String> {
    let mut errors = Vec::new();
    let in_transaction = matches!(guard, Guard::Transaction | Guard::CommitAfterError);
    if in_transaction && let Some(e) = conn.run("BEGIN").await {
        errors.push(e);
    }
    for statement in [DEBIT, INJECTED_FAILURE, CREDIT] {
        if let Some(e) = conn.run(&statement.replace("{t}", table)).await {
            errors.push(e);
            break;
        }
    }
    let end = match guard {
        Guard::Transaction if !errors.is_empty() => Some("ROLLBACK"),
        // PostgreSQL answers this COMMIT with ROLLBACK when the transaction has failed; MariaDB
        // commits whatever statements succeeded.
        Guard::Transaction | Guard::CommitAfterError => Some("COMMIT"),
        _ => None,
    };
    if let Some(end) = end
        && let Some(e) = conn.run(end).await
    {
        errors.push(e);
    }
    errors
}

/// The transfer on PostgreSQL with `guard` (`Transaction`, `CommitAfterError` or `Autocommit`).
pub async fn postgres_transfer(url: &str, guard: Guard) -> Result<Transfer, AtomicityError> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let table = support::names::unique_name("transfer");
    client.batch_execute(&create_table(&table, "")).await?;
    let result = async {
        client.batch_execute(&seed_rows(&table)).await?;
        let before = postgres_balances(&client, &table).await?;
        let errors = run_sql_transfer(&mut &client, &table, guard).await;
        let after = postgres_balances(&client, &table).await?;
        Ok::<_, AtomicityError>(Transfer::new(
            Backend::Postgres,
            guard,
            before,
            after,
            errors,
        ))
    }
    .await;
    client
        .batch_execute(&format!("drop table if exists {table}"))
        .await?;
    result
}

async fn postgres_balances(
    client: &tokio_postgres::Client,
    table: &str,
) -> Result<Balances, AtomicityError> {
    let rows = client
        .query(&format!("select balance from {table} order by id"), &[])
        .await?;
    match rows.as_slice() {
        [a, b] => Ok(Balances {
            a: a.get(0),
            b: b.get(0),
        }),
        _ => Err(AtomicityError::Unexpected(format!(
            "{} account rows",
            rows.len()
        ))),
    }
}

/// The transfer on MariaDB with `guard` (`Transaction`, `CommitAfterError` or `Autocommit`).
pub async fn mariadb_transfer(url: &str, guard: Guard) -> Result<Transfer, AtomicityError> {
    let mut conn = mysql_async::Conn::new(mysql_async::Opts::from_url(url)?).await?;
    let table = support::names::unique_name("transfer");
    conn.query_drop(create_table(&table, " engine = InnoDB"))
        .await?;
    let result = async {
        conn.query_drop(seed_rows(&table)).await?;
        let before = mariadb_balances(&mut conn, &table).await?;
        let errors = run_sql_transfer(&mut conn, &table, guard).await;
        let after = mariadb_balances(&mut conn, &table).await?;
        Ok::<_, AtomicityError>(Transfer::new(
            Backend::MariaDb,
            guard,
            before,
            after,
            errors,
        ))
    }
    .await;
    conn.query_drop(format!("drop table if exists {table}"))
        .await?;
    let _ = conn.disconnect().await;
    result
}

async fn mariadb_balances(
    conn: &mut mysql_async::Conn,
    table: &str,
) -> Result<Balances, AtomicityError> {
    let rows: Vec<i64> = conn
        .query(format!("select balance from {table} order by id"))
        .await?;
    match rows.as_slice() {
        [a, b] => Ok(Balances { a: *a, b: *b }),
        _ => Err(AtomicityError::Unexpected(format!(
            "{} account rows",
            rows.len()
        ))),
    }
}

/// Redis keys of one run, under a prefix no other run uses.
struct Keys {
    prefix: String,
}

impl Keys {
    fn new(label: &str) -> Self {
        Self {
            prefix: support::names::unique_name(label),
        }
    }

    fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    /// Deletes every key of the run (the run knows its few keys; no `SCAN` needed).
    async fn delete(
        &self,
        con: &mut redis::aio::MultiplexedConnection,
        names: &[&str],
    ) -> Result<(), AtomicityError> {
        let keys: Vec<String> = names.iter().map(|n| self.key(n)).collect();
        redis::cmd("DEL").arg(&keys).query_async::<()>(con).await?;
        Ok(())
    }
}

/// Sends one command and returns the errors in its reply: the command's own refusal, or the
/// failed commands inside an `EXEC` reply. The driver's usual `query_async` turns an error inside
/// an `EXEC` reply into an error for the whole call, which would hide exactly what is counted.
async fn errors_of(
    con: &mut redis::aio::MultiplexedConnection,
    cmd: &redis::Cmd,
) -> Result<Vec<String>, AtomicityError> {
    match con.req_packed_command(cmd).await {
        Ok(value) => Ok(server_errors(&value)),
        // A refused command (queue-time error, EXECABORT) may arrive as an error: keep its text.
        Err(e) if e.kind() != redis::ErrorKind::IoError => Ok(vec![e.to_string()]),
        Err(e) => Err(e.into()),
    }
}

fn server_errors(value: &redis::Value) -> Vec<String> {
    match value {
        redis::Value::ServerError(e) => {
            vec![format!("{}: {}", e.code(), e.details().unwrap_or_default())]
        }
        redis::Value::Array(items) => items.iter().flat_map(server_errors).collect(),
        _ => Vec::new(),
    }
}

/// The transfer on Redis with `guard` (`MultiExec`, `MultiQueueError` or `OneByOne`).
pub async fn redis_transfer(url: &str, guard: Guard) -> Result<Transfer, AtomicityError> {
    let client = redis::Client::open(url)?;
    let mut con = client.get_multiplexed_async_connection().await?;
    let keys = Keys::new("transfer");
    let (alice, bob, ledger) = (keys.key("alice"), keys.key("bob"), keys.key("ledger"));
    let names = ["alice", "bob", "ledger"];
    let result = async {
        redis::cmd("MSET")
            .arg(&alice)
            .arg(OPENING.a)
            .arg(&bob)
            .arg(OPENING.b)
            // The ledger was made a plain string by someone else: appending to it as a list is
            // the injected failure (WRONGTYPE), found only when the command runs.
            .arg(&ledger)
            .arg("closed")
            .query_async::<()>(&mut con)
            .await?;
        let before = redis_balances(&mut con, &alice, &bob).await?;
        let debit = redis::cmd("DECRBY").arg(&alice).arg(AMOUNT).clone();
        let failing = redis::cmd("RPUSH")
            .arg(&ledger)
            .arg(format!("alice->bob {AMOUNT}"))
            .clone();
        // INCRBY with its amount missing: refused when queued, before anything runs.
        let malformed = redis::cmd("INCRBY").arg(&bob).clone();
        let credit = redis::cmd("INCRBY").arg(&bob).arg(AMOUNT).clone();
        let mut errors = Vec::new();
        match guard {
            Guard::MultiExec | Guard::MultiQueueError => {
                let middle = if guard == Guard::MultiExec {
                    &failing
                } else {
                    &malformed
                };
                for cmd in [&redis::cmd("MULTI"), &debit, middle, &credit] {
                    errors.extend(errors_of(&mut con, cmd).await?);
                }
                errors.extend(errors_of(&mut con, &redis::cmd("EXEC")).await?);
            }
            _ => {
                for cmd in [&debit, &failing, &credit] {
                    let failed = errors_of(&mut con, cmd).await?;
                    let stop = !failed.is_empty();
                    errors.extend(failed);
                    if stop {
                        break;
                    }
                }
            }
        }
        let after = redis_balances(&mut con, &alice, &bob).await?;
        Ok::<_, AtomicityError>(Transfer::new(Backend::Redis, guard, before, after, errors))
    }
    .await;
    keys.delete(&mut con, &names).await?;
    result
}

async fn redis_balances(
    con: &mut redis::aio::MultiplexedConnection,
    a: &str,
    b: &str,
) -> Result<Balances, AtomicityError> {
    let (a, b): (i64, i64) = redis::cmd("MGET").arg(a).arg(b).query_async(con).await?;
    Ok(Balances { a, b })
}

/// The `between` of a transfer that nothing interleaves with.
type Alone = std::future::Ready<Result<u64, AtomicityError>>;

/// One optimistic transfer: read both balances, compute, write both in `MULTI`/`EXEC`. With
/// `watched`, the reads are `WATCH`ed, a nil `EXEC` means another client changed them and the
/// transfer retries on fresh values. `between` runs once, after the first reads and before the
/// first `EXEC`: it is where the test puts the other client's transfer, deterministically.
/// Returns how many times the transfer was retried.
async fn optimistic_transfer<F>(
    con: &mut redis::aio::MultiplexedConnection,
    from: &str,
    to: &str,
    amount: i64,
    watched: bool,
    mut between: Option<F>,
) -> Result<u64, AtomicityError>
where
    F: Future<Output = Result<u64, AtomicityError>>,
{
    for attempt in 0..MAX_ATTEMPTS {
        if watched {
            redis::cmd("WATCH")
                .arg(from)
                .arg(to)
                .query_async::<()>(con)
                .await?;
        }
        let (a, b): (i64, i64) = redis::cmd("MGET")
            .arg(from)
            .arg(to)
            .query_async(con)
            .await?;
        if let Some(other) = between.take() {
            other.await?;
        }
        if a < amount {
            // Not enough credits: give up the transfer (and the watch) without writing.
            redis::cmd("UNWATCH").query_async::<()>(con).await?;
            return Ok(attempt);
        }
        let mut block = redis::pipe();
        block
            .atomic()
            .cmd("SET")
            .arg(from)
            .arg(a - amount)
            .ignore()
            .cmd("SET")
            .arg(to)
            .arg(b + amount)
            .ignore();
        // An atomic pipeline is MULTI ... EXEC; a nil EXEC (a watched key changed) comes back as
        // `None`.
        let done: Option<()> = block.query_async(con).await?;
        if done.is_some() {
            return Ok(attempt);
        }
    }
    Err(AtomicityError::TooManyRetries)
}

/// Two transfers from alice racing, interleaved deterministically: the first reads alice (100)
/// and bob (50); before it writes, the second moves 10 from alice to carol in full; then the
/// first writes. With `watched`, the first's `EXEC` answers nil and it retries on the new
/// balances; without, it writes balances computed from its stale read and the second transfer's
/// debit is overwritten: 10 credits created.
pub async fn redis_race(url: &str, watched: bool) -> Result<Race, AtomicityError> {
    let client = redis::Client::open(url)?;
    // Two connections: WATCH belongs to a connection, so each client needs its own.
    let mut first = client.get_multiplexed_async_connection().await?;
    let mut second = client.get_multiplexed_async_connection().await?;
    let keys = Keys::new("race");
    let (alice, bob, carol) = (keys.key("alice"), keys.key("bob"), keys.key("carol"));
    let names = ["alice", "bob", "carol"];
    let result = async {
        redis::cmd("MSET")
            .arg(&alice)
            .arg(OPENING.a)
            .arg(&bob)
            .arg(OPENING.b)
            .arg(&carol)
            .arg(0)
            .query_async::<()>(&mut first)
            .await?;
        let total_before = redis_total(&mut first, &[&alice, &bob, &carol]).await?;
        let other = optimistic_transfer::<Alone>(&mut second, &alice, &carol, 10, watched, None);
        let retries =
            optimistic_transfer(&mut first, &alice, &bob, AMOUNT, watched, Some(other)).await?;
        let total_after = redis_total(&mut first, &[&alice, &bob, &carol]).await?;
        Ok::<_, AtomicityError>(Race {
            watched,
            transfers: 2,
            retries,
            total_before,
            total_after,
            money_created: total_after - total_before,
        })
    }
    .await;
    keys.delete(&mut first, &names).await?;
    result
}

/// `workers` clients, each making `transfers_each` watched transfers of 1 credit around a ring
/// of four accounts, all at once. How many retries it takes depends on timing; that the total is
/// unchanged does not.
pub async fn redis_contended(
    url: &str,
    workers: u64,
    transfers_each: u64,
) -> Result<Race, AtomicityError> {
    const ACCOUNTS: u64 = 4;
    const OPENING_EACH: i64 = 1_000;
    let client = redis::Client::open(url)?;
    let mut admin = client.get_multiplexed_async_connection().await?;
    let keys = Keys::new("contended");
    let names: Vec<String> = (0..ACCOUNTS).map(|i| format!("account{i}")).collect();
    let accounts: Vec<String> = names.iter().map(|n| keys.key(n)).collect();
    let refs: Vec<&str> = accounts.iter().map(String::as_str).collect();
    let result = async {
        let mut seed = redis::cmd("MSET");
        for account in &accounts {
            seed.arg(account).arg(OPENING_EACH);
        }
        seed.query_async::<()>(&mut admin).await?;
        let total_before = redis_total(&mut admin, &refs).await?;
        let mut runs = Vec::new();
        for worker in 0..workers {
            let mut con = client.get_multiplexed_async_connection().await?;
            let accounts = accounts.clone();
            runs.push(async move {
                let mut retries = 0;
                for i in 0..transfers_each {
                    let from = usize::try_from((worker + i) % ACCOUNTS).unwrap_or_default();
                    let to = (from + 1) % accounts.len();
                    retries += optimistic_transfer::<Alone>(
                        &mut con,
                        &accounts[from],
                        &accounts[to],
                        1,
                        true,
                        None,
                    )
                    .await?;
                }
                Ok::<u64, AtomicityError>(retries)
            });
        }
        let retries = futures_util::future::try_join_all(runs).await?.iter().sum();
        let total_after = redis_total(&mut admin, &refs).await?;
        Ok::<_, AtomicityError>(Race {
            watched: true,
            transfers: workers * transfers_each,
            retries,
            total_before,
            total_after,
            money_created: total_after - total_before,
        })
    }
    .await;
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    keys.delete(&mut admin, &name_refs).await?;
    result
}

async fn redis_total(
    con: &mut redis::aio::MultiplexedConnection,
    keys: &[&str],
) -> Result<i64, AtomicityError> {
    let values: Vec<i64> = redis::cmd("MGET").arg(keys).query_async(con).await?;
    Ok(values.iter().sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_transfer_left_is_read_from_the_balances() {
        let half = Transfer::new(
            Backend::Postgres,
            Guard::Autocommit,
            OPENING,
            Balances { a: 70, b: 50 },
            vec![],
        );
        assert_eq!(half.left, Left::HalfDone);
        assert_eq!(half.money_created, -AMOUNT);
        let none = Transfer::new(
            Backend::Postgres,
            Guard::Transaction,
            OPENING,
            OPENING,
            vec![],
        );
        assert_eq!((none.left, none.money_created), (Left::Nothing, 0));
        let both = Transfer::new(
            Backend::Redis,
            Guard::MultiExec,
            OPENING,
            Balances { a: 70, b: 80 },
            vec![],
        );
        assert_eq!((both.left, both.balances_changed), (Left::Both, 2));
    }
}
