//! Isolation: every Hermitage case at every level of each engine, each asserted as a claim about
//! what the level does (the anomaly goes through, or is prevented by blocking, by aborting, or by
//! the snapshot alone). The expected outcomes are what PostgreSQL 15 and MariaDB 10.11 do with
//! their default settings; a server that behaves otherwise fails the claim with its observed
//! schedule in the message.
//!
//! Every run has its own table and connections, so the tests run in parallel; a blocked step is
//! recognised from the engine's lock view, not from a timeout, so a slow machine cannot turn a
//! slow statement into a "prevented (blocked)" (the last two tests pin that down).

use sql_vs_nosql::isolation::cases::{self, Case, CaseId, Tx, begin, commit, named, run};
use sql_vs_nosql::isolation::outcome::{FailureKind, StepResult};
use sql_vs_nosql::isolation::{self, CaseRun, Level, Outcome, Setting, SqlEngine};
use support::Service;
use support::testkit::require;

use Outcome::{Anomaly, Prevented, PreventedAborted as Aborted, PreventedBlocked as Blocked};

/// The reachable server of `engine`, or `None` (the test is then skipped).
async fn url(engine: SqlEngine) -> Option<String> {
    require(match engine {
        SqlEngine::Postgres => Service::Postgres,
        SqlEngine::MariaDb => Service::MariaDb,
    })
    .await
}

fn levels(engine: SqlEngine) -> Vec<Setting> {
    match engine {
        SqlEngine::Postgres => Setting::POSTGRES.to_vec(),
        SqlEngine::MariaDb => Setting::MARIADB.to_vec(),
    }
}

/// Runs case `id` at every level of `engine` and checks each outcome against `expected` (in
/// level order); returns the runs for further claims, or `None` when the server is unreachable.
async fn at_every_level(
    engine: SqlEngine,
    id: CaseId,
    expected: &[Outcome],
) -> anyhow::Result<Option<Vec<CaseRun>>> {
    let Some(url) = url(engine).await else {
        return Ok(None);
    };
    let jobs: Vec<(Setting, String)> = levels(engine)
        .into_iter()
        .map(|s| (s, url.clone()))
        .collect();
    let runs =
        isolation::run_matrix(&jobs, std::slice::from_ref(cases::get(id)), jobs.len()).await?;
    let got: Vec<Outcome> = runs.iter().map(|r| r.outcome).collect();
    if got != expected {
        let details: Vec<String> = runs
            .iter()
            .zip(expected)
            .filter(|(r, e)| r.outcome != **e)
            .map(|(r, e)| {
                format!(
                    "{}: expected {e:?}, got {:?}; observed {:#?}",
                    r.setting.label(),
                    r.outcome,
                    r.observed
                )
            })
            .collect();
        anyhow::bail!("{:?}: {}", id, details.join("\n"));
    }
    Ok(Some(runs))
}

/// The run at `level` among `runs`.
fn at(runs: &[CaseRun], level: Level) -> &CaseRun {
    runs.iter()
        .find(|r| r.setting.level == level)
        .unwrap_or(&runs[0])
}

// PostgreSQL: read committed, repeatable read, serializable.

#[tokio::test]
async fn dirty_writes_g0_wait_for_the_row_lock_under_read_committed_and_abort_the_later_writer_above_on_postgres()
-> anyhow::Result<()> {
    at_every_level(
        SqlEngine::Postgres,
        CaseId::G0,
        &[Blocked, Aborted, Aborted],
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn aborted_reads_g1a_never_happen_on_postgres() -> anyhow::Result<()> {
    at_every_level(SqlEngine::Postgres, CaseId::G1a, &[Prevented; 3]).await?;
    Ok(())
}

#[tokio::test]
async fn intermediate_reads_g1b_never_happen_on_postgres() -> anyhow::Result<()> {
    at_every_level(SqlEngine::Postgres, CaseId::G1b, &[Prevented; 3]).await?;
    Ok(())
}

#[tokio::test]
async fn circular_information_flow_g1c_is_prevented_by_snapshots_and_serializable_also_aborts_the_cycle_on_postgres()
-> anyhow::Result<()> {
    at_every_level(
        SqlEngine::Postgres,
        CaseId::G1c,
        &[Prevented, Prevented, Aborted],
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn observed_transaction_vanishes_otv_never_happens_on_postgres_and_snapshot_levels_abort_the_overwriting_writer()
-> anyhow::Result<()> {
    at_every_level(
        SqlEngine::Postgres,
        CaseId::Otv,
        &[Prevented, Aborted, Aborted],
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn predicate_many_preceders_pmp_happens_under_read_committed_and_the_snapshot_prevents_it_above_on_postgres()
-> anyhow::Result<()> {
    at_every_level(
        SqlEngine::Postgres,
        CaseId::Pmp,
        &[Anomaly, Prevented, Prevented],
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_delete_predicate_pmp_misses_its_rows_under_read_committed_and_is_aborted_above_on_postgres()
-> anyhow::Result<()> {
    let runs = at_every_level(
        SqlEngine::Postgres,
        CaseId::PmpWrite,
        &[Anomaly, Aborted, Aborted],
    )
    .await?;
    if let Some(runs) = runs {
        // Read committed re-checks only the rows its snapshot matched: neither row is deleted.
        assert_eq!(at(&runs, Level::ReadCommitted).observed.final_rows.len(), 2);
    }
    Ok(())
}

#[tokio::test]
async fn lost_update_p4_happens_under_read_committed_and_is_aborted_under_repeatable_read_on_postgres()
-> anyhow::Result<()> {
    let Some(runs) = at_every_level(
        SqlEngine::Postgres,
        CaseId::P4,
        &[Anomaly, Aborted, Aborted],
    )
    .await?
    else {
        return Ok(());
    };
    // In both, T2's update waits for T1's row lock; what it does when T1 commits is the level.
    let second_update = |run: &CaseRun| {
        run.observed
            .steps
            .iter()
            .rfind(|s| s.tx == Tx::T2 && s.sql.starts_with("update"))
            .cloned()
    };
    let rc = second_update(at(&runs, Level::ReadCommitted))
        .ok_or_else(|| anyhow::anyhow!("no T2 update"))?;
    assert!(rc.waited, "{rc:?}");
    assert!(
        matches!(rc.result, StepResult::Answered { affected: 1, .. }),
        "{rc:?}"
    );
    let rr = second_update(at(&runs, Level::RepeatableRead))
        .ok_or_else(|| anyhow::anyhow!("no T2 update"))?;
    assert!(rr.waited, "{rr:?}");
    assert!(
        matches!(&rr.result, StepResult::Failed(f) if f.kind == FailureKind::Serialization && f.code == "40001"),
        "{rr:?}"
    );
    Ok(())
}

#[tokio::test]
async fn read_skew_g_single_happens_under_read_committed_and_the_snapshot_prevents_it_above_on_postgres()
-> anyhow::Result<()> {
    at_every_level(
        SqlEngine::Postgres,
        CaseId::GSingle,
        &[Anomaly, Prevented, Prevented],
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn read_skew_through_predicate_reads_happens_under_read_committed_only_on_postgres()
-> anyhow::Result<()> {
    at_every_level(
        SqlEngine::Postgres,
        CaseId::GSinglePredicate,
        &[Anomaly, Prevented, Prevented],
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn read_skew_through_a_delete_happens_under_read_committed_and_is_aborted_above_on_postgres()
-> anyhow::Result<()> {
    at_every_level(
        SqlEngine::Postgres,
        CaseId::GSingleWrite,
        &[Anomaly, Aborted, Aborted],
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn write_skew_g2_item_happens_under_repeatable_read_and_is_aborted_only_under_serializable_on_postgres()
-> anyhow::Result<()> {
    at_every_level(
        SqlEngine::Postgres,
        CaseId::G2Item,
        &[Anomaly, Anomaly, Aborted],
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn anti_dependency_cycles_g2_happen_under_repeatable_read_and_are_aborted_under_serializable_on_postgres()
-> anyhow::Result<()> {
    at_every_level(
        SqlEngine::Postgres,
        CaseId::G2,
        &[Anomaly, Anomaly, Aborted],
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_g2_cycle_through_a_read_only_transaction_is_aborted_only_under_serializable_on_postgres()
-> anyhow::Result<()> {
    at_every_level(
        SqlEngine::Postgres,
        CaseId::G2TwoEdges,
        &[Anomaly, Anomaly, Aborted],
    )
    .await?;
    Ok(())
}

// MariaDB: read uncommitted, read committed, repeatable read, serializable.

#[tokio::test]
async fn dirty_writes_g0_wait_for_the_row_lock_at_every_level_on_mariadb() -> anyhow::Result<()> {
    at_every_level(SqlEngine::MariaDb, CaseId::G0, &[Blocked; 4]).await?;
    Ok(())
}

#[tokio::test]
async fn aborted_reads_g1a_happen_under_read_uncommitted_and_serializable_prevents_them_by_blocking_on_mariadb()
-> anyhow::Result<()> {
    at_every_level(
        SqlEngine::MariaDb,
        CaseId::G1a,
        &[Anomaly, Prevented, Prevented, Blocked],
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn intermediate_reads_g1b_happen_under_read_uncommitted_and_serializable_prevents_them_by_blocking_on_mariadb()
-> anyhow::Result<()> {
    at_every_level(
        SqlEngine::MariaDb,
        CaseId::G1b,
        &[Anomaly, Prevented, Prevented, Blocked],
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn circular_information_flow_g1c_happens_under_read_uncommitted_and_is_a_deadlock_under_serializable_on_mariadb()
-> anyhow::Result<()> {
    let runs = at_every_level(
        SqlEngine::MariaDb,
        CaseId::G1c,
        &[Anomaly, Prevented, Prevented, Aborted],
    )
    .await?;
    if let Some(runs) = runs {
        let failures: Vec<&str> = at(&runs, Level::Serializable)
            .observed
            .steps
            .iter()
            .filter_map(|s| match &s.result {
                StepResult::Failed(f) => Some(f.code.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(failures, ["1213"]);
    }
    Ok(())
}

#[tokio::test]
async fn observed_transaction_vanishes_otv_happens_only_under_read_uncommitted_on_mariadb()
-> anyhow::Result<()> {
    at_every_level(
        SqlEngine::MariaDb,
        CaseId::Otv,
        &[Anomaly, Prevented, Prevented, Blocked],
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn predicate_many_preceders_pmp_happens_up_to_read_committed_and_repeatable_read_prevents_it_for_a_reader_on_mariadb()
-> anyhow::Result<()> {
    at_every_level(
        SqlEngine::MariaDb,
        CaseId::Pmp,
        &[Anomaly, Anomaly, Prevented, Blocked],
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_delete_predicate_pmp_mixes_snapshots_under_read_committed_and_repeatable_read_on_mariadb()
-> anyhow::Result<()> {
    // Read uncommitted reads T1's change before it commits; T1 then commits, so what T2 saw
    // matches "T1 before T2" and nothing observable goes wrong: it only waits for the row lock.
    at_every_level(
        SqlEngine::MariaDb,
        CaseId::PmpWrite,
        &[Blocked, Anomaly, Anomaly, Blocked],
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn lost_update_p4_happens_up_to_repeatable_read_and_serializable_turns_it_into_a_deadlock_on_mariadb()
-> anyhow::Result<()> {
    let runs = at_every_level(
        SqlEngine::MariaDb,
        CaseId::P4,
        &[Anomaly, Anomaly, Anomaly, Aborted],
    )
    .await?;
    if let Some(runs) = runs {
        // Repeatable read: the final value is 11 although both transactions added 1 to 10.
        assert_eq!(
            at(&runs, Level::RepeatableRead).observed.final_value(1),
            Some(11)
        );
    }
    Ok(())
}

#[tokio::test]
async fn read_skew_g_single_happens_up_to_read_committed_and_repeatable_read_prevents_it_for_a_reader_on_mariadb()
-> anyhow::Result<()> {
    at_every_level(
        SqlEngine::MariaDb,
        CaseId::GSingle,
        &[Anomaly, Anomaly, Prevented, Blocked],
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn read_skew_through_predicate_reads_happens_up_to_read_committed_on_mariadb()
-> anyhow::Result<()> {
    at_every_level(
        SqlEngine::MariaDb,
        CaseId::GSinglePredicate,
        &[Anomaly, Anomaly, Prevented, Blocked],
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn read_skew_through_a_delete_happens_even_under_repeatable_read_on_mariadb()
-> anyhow::Result<()> {
    at_every_level(
        SqlEngine::MariaDb,
        CaseId::GSingleWrite,
        &[Anomaly, Anomaly, Anomaly, Aborted],
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn write_skew_g2_item_happens_up_to_repeatable_read_and_is_a_deadlock_under_serializable_on_mariadb()
-> anyhow::Result<()> {
    at_every_level(
        SqlEngine::MariaDb,
        CaseId::G2Item,
        &[Anomaly, Anomaly, Anomaly, Aborted],
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn anti_dependency_cycles_g2_happen_up_to_repeatable_read_and_are_a_deadlock_under_serializable_on_mariadb()
-> anyhow::Result<()> {
    at_every_level(
        SqlEngine::MariaDb,
        CaseId::G2,
        &[Anomaly, Anomaly, Anomaly, Aborted],
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_g2_cycle_through_a_read_only_transaction_is_prevented_only_under_serializable_on_mariadb()
-> anyhow::Result<()> {
    at_every_level(
        SqlEngine::MariaDb,
        CaseId::G2TwoEdges,
        &[Anomaly, Anomaly, Anomaly, Aborted],
    )
    .await?;
    Ok(())
}

// The matrix against the published table.

async fn matrix(engine: SqlEngine) -> anyhow::Result<Option<Vec<CaseRun>>> {
    let Some(url) = url(engine).await else {
        return Ok(None);
    };
    let jobs: Vec<(Setting, String)> = levels(engine)
        .into_iter()
        .map(|s| (s, url.clone()))
        .collect();
    Ok(Some(isolation::run_matrix(&jobs, &cases::ALL, 4).await?))
}

fn disagreements(runs: &[CaseRun]) -> Vec<String> {
    runs.iter()
        .filter(|r| r.agrees == Some(false))
        .map(|r| format!("{} at {}", cases::get(r.case).name, r.setting.label()))
        .collect()
}

#[tokio::test]
async fn every_postgres_cell_agrees_with_the_published_hermitage_table() -> anyhow::Result<()> {
    let Some(runs) = matrix(SqlEngine::Postgres).await? else {
        return Ok(());
    };
    assert_eq!(runs.len(), cases::ALL.len() * 3);
    assert!(
        disagreements(&runs).is_empty(),
        "{:?}",
        disagreements(&runs)
    );
    Ok(())
}

#[tokio::test]
async fn mariadb_differs_from_the_published_table_only_on_the_read_uncommitted_delete_predicate()
-> anyhow::Result<()> {
    let Some(runs) = matrix(SqlEngine::MariaDb).await? else {
        return Ok(());
    };
    assert_eq!(
        disagreements(&runs),
        ["PMP (write predicate) at MariaDB read uncommitted"]
    );
    Ok(())
}

// Blocked means waiting on a lock, not slow.

/// T2 first runs a statement that is slow but waits on nothing, then one that waits on T1's
/// row lock until T1 commits.
static SLOW_POSTGRES: [cases::Step; 7] = [
    begin(Tx::T1),
    begin(Tx::T2),
    run(Tx::T1, "update {t} set value = 11 where id = 1"),
    named(
        Tx::T2,
        "slow",
        "select 1 as id, 1 as value from pg_sleep(0.8)",
    ),
    named(Tx::T2, "blocked", "update {t} set value = 12 where id = 1"),
    commit(Tx::T1),
    commit(Tx::T2),
];

static SLOW_MARIADB: [cases::Step; 7] = [
    begin(Tx::T1),
    begin(Tx::T2),
    run(Tx::T1, "update {t} set value = 11 where id = 1"),
    named(Tx::T2, "slow", "select 1 as id, sleep(0.8) as value"),
    named(Tx::T2, "blocked", "update {t} set value = 12 where id = 1"),
    commit(Tx::T1),
    commit(Tx::T2),
];

fn slow_case(steps: &'static [cases::Step]) -> Case {
    Case {
        steps,
        anomaly: |_| false,
        detects: "nothing: this schedule tests the driver",
        ..*cases::get(CaseId::G0)
    }
}

async fn slow_is_not_blocked(
    engine: SqlEngine,
    steps: &'static [cases::Step],
) -> anyhow::Result<()> {
    let Some(url) = url(engine).await else {
        return Ok(());
    };
    let case = slow_case(steps);
    let run = isolation::run_case(&case, Setting::new(engine, Level::ReadCommitted), &url).await?;
    let step = |label: &str| {
        run.observed
            .steps
            .iter()
            .find(|s| s.label == Some(label))
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no {label} step"))
    };
    let slow = step("slow")?;
    assert!(!slow.waited, "{slow:?}");
    assert!(
        matches!(slow.result, StepResult::Answered { .. }),
        "{slow:?}"
    );
    let blocked = step("blocked")?;
    assert!(blocked.waited, "{blocked:?}");
    // The blocked update answered once T1 committed, and T2 then committed it.
    assert!(
        matches!(blocked.result, StepResult::Answered { affected: 1, .. }),
        "{blocked:?}"
    );
    assert_eq!(run.observed.final_value(1), Some(12));
    assert_eq!(run.outcome, Blocked);
    Ok(())
}

#[tokio::test]
async fn a_slow_statement_that_waits_on_no_lock_is_not_counted_as_blocked_on_postgres()
-> anyhow::Result<()> {
    slow_is_not_blocked(SqlEngine::Postgres, &SLOW_POSTGRES).await
}

#[tokio::test]
async fn a_slow_statement_that_waits_on_no_lock_is_not_counted_as_blocked_on_mariadb()
-> anyhow::Result<()> {
    slow_is_not_blocked(SqlEngine::MariaDb, &SLOW_MARIADB).await
}
