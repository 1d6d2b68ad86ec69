//! SQLite writers wait their turn: a transaction that reads and then writes must not fail
//! because another connection wrote in between.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use diesel::connection::SimpleConnection as _;
use diesel::{Connection as _, RunQueryDsl as _, SqliteConnection, sql_query};
use support::db::AnyConnection;
use support::testkit::TestSqlite;

/// A connection with the settings every pool gives its SQLite connections.
fn open(file: &TestSqlite) -> Result<AnyConnection, Box<dyn std::error::Error + Send + Sync>> {
    let mut c = SqliteConnection::establish(&file.path)?;
    c.batch_execute("PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL;")?;
    Ok(AnyConnection::Sqlite(c))
}

fn setup(label: &str) -> Result<TestSqlite, Box<dyn std::error::Error + Send + Sync>> {
    let file = TestSqlite::new(label);
    open(&file)?.batch_execute("CREATE TABLE hits (n INTEGER NOT NULL)")?;
    Ok(file)
}

fn count(c: &mut AnyConnection) -> diesel::QueryResult<i64> {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    Ok(sql_query("SELECT COUNT(*) AS n FROM hits")
        .get_result::<Count>(c)?
        .n)
}

fn insert(c: &mut AnyConnection) -> diesel::QueryResult<usize> {
    sql_query("INSERT INTO hits (n) VALUES (1)").execute(c)
}

/// Why the helper exists: with diesel's deferred `BEGIN`, a transaction that has read, and then
/// writes after another connection committed a write, fails at once with "database is locked"
/// (its snapshot is stale, so `busy_timeout` does not wait).
#[test]
fn a_deferred_transaction_that_reads_then_writes_fails_when_another_writer_went_first() {
    let file = setup("deferred").expect("a fresh file");
    let mut first = open(&file).expect("the first connection");
    let mut second = open(&file).expect("the second connection");
    let result = first.transaction(|c| {
        count(c)?;
        second.transaction(insert)?;
        insert(c)
    });
    let error = result.expect_err("the stale read-then-write transaction fails");
    assert!(error.to_string().contains("locked"), "{error}");
}

/// The fix: `write_transaction` takes the write lock at `BEGIN IMMEDIATE`, so a second writer
/// waits for the first to commit and then reads the first one's row: both succeed, nothing lost.
#[test]
fn write_transactions_on_sqlite_wait_for_each_other_and_both_commit() {
    let file = Arc::new(setup("immediate").expect("a fresh file"));
    let started = Arc::new(Barrier::new(2));
    let first = {
        let (file, started) = (Arc::clone(&file), Arc::clone(&started));
        std::thread::spawn(move || {
            let mut c = open(&file).map_err(|e| e.to_string())?;
            c.write_transaction(|c| {
                let seen = count(c)?;
                started.wait();
                // Hold the lock a while, so the second writer really has to wait.
                std::thread::sleep(Duration::from_millis(150));
                insert(c)?;
                diesel::QueryResult::Ok(seen)
            })
            .map_err(|e| e.to_string())
        })
    };
    started.wait();
    let mut c = open(&file).expect("the second connection");
    let second = c.write_transaction(|c| {
        let seen = count(c)?;
        insert(c)?;
        diesel::QueryResult::Ok(seen)
    });
    let first = first.join().expect("the first writer's thread");
    assert_eq!(first.expect("the first writer commits"), 0);
    assert_eq!(second.expect("the second writer waits, then commits"), 1);
    assert_eq!(count(&mut c).expect("count"), 2);
}

/// A failing closure rolls back on SQLite as `transaction` does, and the connection is usable.
#[test]
fn a_failed_write_transaction_rolls_back_and_leaves_the_connection_usable() {
    let file = setup("rollback").expect("a fresh file");
    let mut c = open(&file).expect("a connection");
    let result: diesel::QueryResult<()> = c.write_transaction(|c| {
        insert(c)?;
        Err(diesel::result::Error::RollbackTransaction)
    });
    assert!(result.is_err());
    assert_eq!(count(&mut c).expect("count"), 0);
    c.write_transaction(insert).expect("the next transaction");
    assert_eq!(count(&mut c).expect("count"), 1);
}

/// Inside an open transaction it is a savepoint, as `transaction` would be: its rollback undoes
/// only its own writes.
#[test]
fn a_nested_write_transaction_is_a_savepoint() {
    let file = setup("nested").expect("a fresh file");
    let mut c = open(&file).expect("a connection");
    c.write_transaction(|c| {
        insert(c)?;
        let inner: diesel::QueryResult<()> = c.write_transaction(|c| {
            insert(c)?;
            Err(diesel::result::Error::RollbackTransaction)
        });
        assert!(inner.is_err());
        insert(c)
    })
    .expect("the outer transaction commits");
    assert_eq!(count(&mut c).expect("count"), 2);
}
