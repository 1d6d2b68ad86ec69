//! Atomicity: a transfer of 30 credits from alice (100) to bob (50) with a failure injected
//! between the debit and the credit, on each engine and each way of guarding it; then Redis
//! transfers racing with and without `WATCH`. Each run has its own table or key prefix, removed
//! afterwards.

use sql_vs_nosql::atomicity::{self, AMOUNT, Balances, Guard, Left, OPENING, Transfer};
use support::Service;
use support::testkit::require;

/// The debit happened, the credit did not.
const DEBIT_ONLY: Balances = Balances {
    a: OPENING.a - AMOUNT,
    b: OPENING.b,
};

fn assert_untouched(t: &Transfer) {
    assert_eq!(t.after, OPENING, "{t:?}");
    assert_eq!((t.left, t.money_created), (Left::Nothing, 0), "{t:?}");
}

fn assert_half_done(t: &Transfer) {
    assert_eq!(t.after, DEBIT_ONLY, "{t:?}");
    assert_eq!(
        (t.left, t.money_created),
        (Left::HalfDone, -AMOUNT),
        "{t:?}"
    );
}

#[tokio::test]
async fn a_transfer_that_fails_inside_a_rolled_back_transaction_leaves_both_balances_unchanged_on_postgres()
-> anyhow::Result<()> {
    let Some(url) = require(Service::Postgres).await else {
        return Ok(());
    };
    let t = atomicity::postgres_transfer(&url, Guard::Transaction).await?;
    assert_untouched(&t);
    // The injected failure is the CHECK constraint refusing the statement.
    assert!(t.errors.iter().any(|e| e.starts_with("23514")), "{t:?}");
    Ok(())
}

#[tokio::test]
async fn a_transfer_that_fails_inside_a_rolled_back_transaction_leaves_both_balances_unchanged_on_mariadb()
-> anyhow::Result<()> {
    let Some(url) = require(Service::MariaDb).await else {
        return Ok(());
    };
    let t = atomicity::mariadb_transfer(&url, Guard::Transaction).await?;
    assert_untouched(&t);
    assert!(t.errors.iter().any(|e| e.starts_with("4025")), "{t:?}");
    Ok(())
}

#[tokio::test]
async fn a_transfer_that_fails_in_autocommit_leaves_the_debit_behind_on_postgres()
-> anyhow::Result<()> {
    let Some(url) = require(Service::Postgres).await else {
        return Ok(());
    };
    assert_half_done(&atomicity::postgres_transfer(&url, Guard::Autocommit).await?);
    Ok(())
}

#[tokio::test]
async fn a_transfer_that_fails_in_autocommit_leaves_the_debit_behind_on_mariadb()
-> anyhow::Result<()> {
    let Some(url) = require(Service::MariaDb).await else {
        return Ok(());
    };
    assert_half_done(&atomicity::mariadb_transfer(&url, Guard::Autocommit).await?);
    Ok(())
}

#[tokio::test]
async fn committing_after_the_error_commits_nothing_on_postgres_because_the_whole_transaction_failed()
-> anyhow::Result<()> {
    let Some(url) = require(Service::Postgres).await else {
        return Ok(());
    };
    assert_untouched(&atomicity::postgres_transfer(&url, Guard::CommitAfterError).await?);
    Ok(())
}

#[tokio::test]
async fn committing_after_the_error_commits_the_debit_alone_on_mariadb_because_only_the_statement_was_undone()
-> anyhow::Result<()> {
    let Some(url) = require(Service::MariaDb).await else {
        return Ok(());
    };
    assert_half_done(&atomicity::mariadb_transfer(&url, Guard::CommitAfterError).await?);
    Ok(())
}

#[tokio::test]
async fn redis_multi_exec_applies_the_commands_around_one_that_fails_at_exec() -> anyhow::Result<()>
{
    let Some(url) = require(Service::Redis).await else {
        return Ok(());
    };
    let t = atomicity::redis_transfer(&url, Guard::MultiExec).await?;
    assert_eq!(
        t.after,
        Balances {
            a: OPENING.a - AMOUNT,
            b: OPENING.b + AMOUNT
        },
        "{t:?}"
    );
    assert_eq!(t.left, Left::Both);
    assert_eq!(t.errors.len(), 1, "{t:?}");
    assert!(t.errors[0].starts_with("WRONGTYPE"), "{t:?}");
    Ok(())
}

#[tokio::test]
async fn redis_discards_the_whole_multi_block_when_a_command_is_refused_while_queueing()
-> anyhow::Result<()> {
    let Some(url) = require(Service::Redis).await else {
        return Ok(());
    };
    let t = atomicity::redis_transfer(&url, Guard::MultiQueueError).await?;
    assert_untouched(&t);
    assert!(t.errors.iter().any(|e| e.starts_with("EXECABORT")), "{t:?}");
    Ok(())
}

#[tokio::test]
async fn redis_commands_sent_one_at_a_time_leave_the_debit_behind() -> anyhow::Result<()> {
    let Some(url) = require(Service::Redis).await else {
        return Ok(());
    };
    assert_half_done(&atomicity::redis_transfer(&url, Guard::OneByOne).await?);
    Ok(())
}

#[tokio::test]
async fn a_watched_transfer_whose_key_changed_gets_a_nil_exec_retries_once_and_keeps_the_total()
-> anyhow::Result<()> {
    let Some(url) = require(Service::Redis).await else {
        return Ok(());
    };
    let race = atomicity::redis_race(&url, true).await?;
    assert_eq!(race.retries, 1, "{race:?}");
    assert_eq!(race.money_created, 0, "{race:?}");
    Ok(())
}

#[tokio::test]
async fn an_unwatched_transfer_computed_from_a_stale_read_creates_credits() -> anyhow::Result<()> {
    let Some(url) = require(Service::Redis).await else {
        return Ok(());
    };
    let race = atomicity::redis_race(&url, false).await?;
    assert_eq!(race.retries, 0, "{race:?}");
    // The other transfer's debit of 10 from alice was overwritten by the stale write.
    assert_eq!(race.money_created, 10, "{race:?}");
    Ok(())
}

#[tokio::test]
async fn contended_watched_transfers_keep_the_total_however_many_retries_they_take()
-> anyhow::Result<()> {
    let Some(url) = require(Service::Redis).await else {
        return Ok(());
    };
    let race = atomicity::redis_contended(&url, 6, 20).await?;
    assert_eq!(race.transfers, 120);
    assert_eq!(race.total_after, race.total_before, "{race:?}");
    Ok(())
}
