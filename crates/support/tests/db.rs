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

/// `<topic> forget` drops a kept schema and removes a kept SQLite file with its WAL, names each
/// with its size, and a second run finds nothing.
#[tokio::test]
async fn forgetting_a_kept_data_set_drops_its_schema_and_files_and_a_second_time_finds_nothing()
-> anyhow::Result<()> {
    let mut settings = support::Settings::from_env()?;
    let file = setup("forget").map_err(|e| anyhow::anyhow!("{e}"))?;
    let database = match support::testkit::require(support::Service::Postgres).await {
        Some(url) => {
            let database = support::testkit::TestDatabase::create_async(&url, "forget").await?;
            let url = database.url.clone();
            tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                let mut c = diesel::PgConnection::establish(&url)?;
                c.batch_execute(
                    "CREATE SCHEMA kept_demo;
                     CREATE TABLE kept_demo.rows AS SELECT generate_series(1, 10000) AS n;",
                )?;
                Ok(())
            })
            .await??;
            settings.database_url = database.url.clone();
            Some(database)
        }
        None => None,
    };
    let schemas = ["kept_demo".to_owned(), "never_made".to_owned()];
    let files = [file.path.clone()];

    let forgotten = support::db::forget_data_sets(&settings, &schemas, &files).await?;
    assert!(!std::path::Path::new(&file.path).exists());
    assert!(
        forgotten
            .removed
            .iter()
            .any(|line| line.starts_with(&file.path))
    );
    match &database {
        Some(_) => assert!(
            forgotten
                .removed
                .iter()
                .any(|line| line.starts_with("PostgreSQL schema kept_demo (")
                    && line.ends_with("kB)")),
            "{:?}",
            forgotten.removed
        ),
        None => assert_eq!(forgotten.not_checked.len(), 1),
    }
    assert!(
        !forgotten
            .removed
            .iter()
            .any(|line| line.contains("never_made"))
    );

    let again = support::db::forget_data_sets(&settings, &schemas, &files).await?;
    assert!(again.removed.is_empty(), "{:?}", again.removed);
    Ok(())
}

/// One dialect-neutral migration, for both backends.
const TEST_MIGRATIONS: diesel_migrations::EmbeddedMigrations =
    diesel_migrations::embed_migrations!("tests/migrations");

/// The last handle to a pool may be dropped after its runtime is gone (an actix worker tearing
/// down a connection at shutdown): that must not panic, which deadpool's connection close does
/// without a runtime.
#[test]
fn a_pool_dropped_after_its_runtime_has_stopped_does_not_panic() -> anyhow::Result<()> {
    let file = TestSqlite::new("late-drop");
    let runtime = tokio::runtime::Runtime::new()?;
    let db = runtime.block_on(async {
        let migrations = support::db::Migrations {
            postgres: TEST_MIGRATIONS,
            sqlite: TEST_MIGRATIONS,
        };
        let db = support::db::Db::open(
            &support::db::Target::Sqlite(file.path.clone()),
            2,
            migrations,
        )
        .await?;
        // A connection that was used, so the pool holds an idle one to close.
        db.interact(|c| sql_query("SELECT 1").execute(c)).await?;
        anyhow::Ok(db)
    })?;
    drop(runtime);
    drop(db);
    Ok(())
}
