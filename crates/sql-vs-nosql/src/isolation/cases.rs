//! The anomaly cases, written as data: who runs which statement in which order, and a predicate
//! over what came back that says whether the anomaly happened.
//!
//! The schedules follow Martin Kleppmann's Hermitage test suite (github.com/ept/hermitage), which
//! defines each anomaly after Adya's and Bailis et al.'s papers and runs it by hand in two or
//! three terminals. Here each transaction is a real connection, the interleaving is exactly the
//! one written below, and the predicate reads only results: a read's rows, a write's row count,
//! which transactions committed, and the table afterwards. No predicate knows the isolation
//! level, so the same case runs unchanged at every level of both engines.
//!
//! Every case starts from a fresh table `{t}`: `id int primary key, value int` holding `(1, 10)`
//! and `(2, 20)`. `{t}` is replaced by the run's unique table name.
//!
//! Two schedule conventions carry over from Hermitage. A transaction whose statement is waiting
//! on a lock types nothing more until it is unblocked: its later steps wait their turn while the
//! other transactions go on (see [`super::schedule`]). And once the engine has aborted a
//! transaction, its remaining statements are skipped and its `COMMIT` becomes a `ROLLBACK`.

use serde::Serialize;

pub use super::outcome::Tx;
use super::outcome::{Observed, Row, holds, value_of};
use super::published::Column;

/// What a step does. `Begin` is rendered per engine and level by the session (PostgreSQL:
/// `BEGIN ISOLATION LEVEL ...`; MariaDB: `START TRANSACTION`, the level having been set for the
/// session with `SET SESSION TRANSACTION ISOLATION LEVEL ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Begin,
    /// A statement; `{t}` stands for the table. Reads select `id, value` in id order.
    Sql(&'static str),
    Commit,
    Rollback,
}

/// One step of a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub tx: Tx,
    pub action: Action,
    /// The name the predicate reads this step's result by.
    pub label: Option<&'static str>,
    /// This step waits for another writer at *every* level, because the schedule makes it
    /// overwrite a row another transaction has written and not yet committed. Such a wait is how
    /// the case sets itself up, not how a level prevents the anomaly, so it is left out of the
    /// "prevented (blocked)" count. Only OTV has one; G0's wait is not marked, because there the
    /// wait *is* the prevention.
    pub schedule_wait: bool,
}

/// Starts `tx` at the run's level.
pub const fn begin(tx: Tx) -> Step {
    Step {
        tx,
        action: Action::Begin,
        label: None,
        schedule_wait: false,
    }
}

/// A statement whose result no predicate reads.
pub const fn run(tx: Tx, sql: &'static str) -> Step {
    Step {
        tx,
        action: Action::Sql(sql),
        label: None,
        schedule_wait: false,
    }
}

/// A statement whose result the predicate reads as `label`.
pub const fn named(tx: Tx, label: &'static str, sql: &'static str) -> Step {
    Step {
        tx,
        action: Action::Sql(sql),
        label: Some(label),
        schedule_wait: false,
    }
}

/// A statement that waits for another writer at every level (see [`Step::schedule_wait`]).
pub const fn contended(tx: Tx, sql: &'static str) -> Step {
    Step {
        tx,
        action: Action::Sql(sql),
        label: None,
        schedule_wait: true,
    }
}

/// Ends `tx` with `COMMIT`.
pub const fn commit(tx: Tx) -> Step {
    Step {
        tx,
        action: Action::Commit,
        label: None,
        schedule_wait: false,
    }
}

/// Ends `tx` with `ROLLBACK`.
pub const fn rollback(tx: Tx) -> Step {
    Step {
        tx,
        action: Action::Rollback,
        label: None,
        schedule_wait: false,
    }
}

/// Which case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum CaseId {
    G0,
    G1a,
    G1b,
    G1c,
    Otv,
    Pmp,
    PmpWrite,
    P4,
    GSingle,
    GSinglePredicate,
    GSingleWrite,
    G2Item,
    G2,
    G2TwoEdges,
}

/// A case: its schedule, the anomaly it probes and the predicate that detects it.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub id: CaseId,
    /// The short name tables use (`P4`, `G-single (write predicate)`).
    pub name: &'static str,
    /// What the anomaly is called in words.
    pub title: &'static str,
    /// The column of Hermitage's summary table this case belongs to.
    pub column: Column,
    /// Whether the transaction whose view exposes the anomaly only reads. Hermitage marks some
    /// MySQL cells "R/O": prevented for a read-only transaction, not once it writes.
    pub read_only: bool,
    pub steps: &'static [Step],
    /// Whether the observed results show the anomaly. Reads only results, never the level.
    pub anomaly: fn(&Observed) -> bool,
    /// What the predicate checks, in a sentence.
    pub detects: &'static str,
}

impl Case {
    /// How many transactions the schedule uses.
    pub fn transactions(&self) -> usize {
        self.steps
            .iter()
            .map(|s| s.tx.index() + 1)
            .max()
            .unwrap_or(0)
    }
}

use Tx::{T1, T2, T3};

/// Every case, in the order of Hermitage's summary table.
pub const ALL: [Case; 14] = [
    Case {
        id: CaseId::G0,
        name: "G0",
        title: "write cycle (dirty write)",
        column: Column::G0,
        read_only: false,
        steps: &[
            begin(T1),
            begin(T2),
            run(T1, "update {t} set value = 11 where id = 1"),
            run(T2, "update {t} set value = 12 where id = 1"),
            run(T1, "update {t} set value = 21 where id = 2"),
            commit(T1),
            run(T2, "update {t} set value = 22 where id = 2"),
            commit(T2),
        ],
        anomaly: g0,
        detects: "the two rows end up last written by different transactions (11 with 22, or 12 with 21)",
    },
    Case {
        id: CaseId::G1a,
        name: "G1a",
        title: "aborted read",
        column: Column::G1a,
        read_only: true,
        steps: &[
            begin(T1),
            begin(T2),
            run(T1, "update {t} set value = 101 where id = 1"),
            named(T2, "during", "select id, value from {t} order by id"),
            rollback(T1),
            named(T2, "after", "select id, value from {t} order by id"),
            commit(T2),
        ],
        anomaly: g1a,
        detects: "T2 read 101, a value written by a transaction that then rolled back",
    },
    Case {
        id: CaseId::G1b,
        name: "G1b",
        title: "intermediate read",
        column: Column::G1b,
        read_only: true,
        steps: &[
            begin(T1),
            begin(T2),
            run(T1, "update {t} set value = 101 where id = 1"),
            named(T2, "during", "select id, value from {t} order by id"),
            run(T1, "update {t} set value = 11 where id = 1"),
            commit(T1),
            named(T2, "after", "select id, value from {t} order by id"),
            commit(T2),
        ],
        anomaly: g1b,
        detects: "T2 read 101, a value T1 overwrote before committing",
    },
    Case {
        id: CaseId::G1c,
        name: "G1c",
        title: "circular information flow",
        column: Column::G1c,
        read_only: false,
        steps: &[
            begin(T1),
            begin(T2),
            run(T1, "update {t} set value = 11 where id = 1"),
            run(T2, "update {t} set value = 22 where id = 2"),
            named(T1, "t1_reads_2", "select id, value from {t} where id = 2"),
            named(T2, "t2_reads_1", "select id, value from {t} where id = 1"),
            commit(T1),
            commit(T2),
        ],
        anomaly: g1c,
        detects: "both committed and each read the other's uncommitted write (T1 saw 22, T2 saw 11)",
    },
    Case {
        id: CaseId::Otv,
        name: "OTV",
        title: "observed transaction vanishes",
        column: Column::Otv,
        read_only: true,
        steps: &[
            begin(T1),
            begin(T2),
            begin(T3),
            run(T1, "update {t} set value = 11 where id = 1"),
            run(T1, "update {t} set value = 19 where id = 2"),
            contended(T2, "update {t} set value = 12 where id = 1"),
            commit(T1),
            named(T3, "first", "select id, value from {t} order by id"),
            run(T2, "update {t} set value = 18 where id = 2"),
            named(T3, "second", "select id, value from {t} order by id"),
            commit(T2),
            named(T3, "third", "select id, value from {t} order by id"),
            commit(T3),
        ],
        anomaly: otv,
        detects: "T3 saw one of T2's writes (12 or 18), then in that read or a later one a value T2 had overwritten (11 or 19)",
    },
    Case {
        id: CaseId::Pmp,
        name: "PMP",
        title: "predicate-many-preceders",
        column: Column::Pmp,
        read_only: true,
        steps: &[
            begin(T1),
            begin(T2),
            named(T1, "before", "select id, value from {t} where value = 30"),
            run(T2, "insert into {t} (id, value) values (3, 30)"),
            commit(T2),
            named(T1, "after", "select id, value from {t} where value % 3 = 0"),
            commit(T1),
        ],
        anomaly: pmp,
        detects: "T1's first predicate read missed row 3 and its second one, in the same transaction, returned it",
    },
    Case {
        id: CaseId::PmpWrite,
        name: "PMP (write predicate)",
        title: "predicate-many-preceders on a delete's predicate",
        column: Column::Pmp,
        read_only: false,
        steps: &[
            begin(T1),
            begin(T2),
            run(T1, "update {t} set value = value + 10"),
            named(T2, "before", "select id, value from {t} where value = 20"),
            named(T2, "delete", "delete from {t} where value = 20"),
            commit(T1),
            named(T2, "after", "select id, value from {t} order by id"),
            commit(T2),
        ],
        anomaly: pmp_write,
        detects: "both committed, yet T2's read of value = 20 and the table its delete left match neither serial order (T1 then T2, or T2 then T1)",
    },
    Case {
        id: CaseId::P4,
        name: "P4",
        title: "lost update",
        column: Column::P4,
        read_only: false,
        steps: &[
            begin(T1),
            begin(T2),
            named(T1, "t1_read", "select id, value from {t} where id = 1"),
            named(T2, "t2_read", "select id, value from {t} where id = 1"),
            // Each adds 1 to the 10 it read, computed by the application: 10 + 1 = 11.
            run(T1, "update {t} set value = 11 where id = 1"),
            run(T2, "update {t} set value = 11 where id = 1"),
            commit(T1),
            commit(T2),
        ],
        anomaly: p4,
        detects: "both read 10, both committed their +1, and the row holds 11: one increment is lost",
    },
    Case {
        id: CaseId::GSingle,
        name: "G-single",
        title: "read skew",
        column: Column::GSingle,
        read_only: true,
        steps: &[
            begin(T1),
            begin(T2),
            named(T1, "first", "select id, value from {t} where id = 1"),
            run(T2, "select id, value from {t} where id = 1"),
            run(T2, "select id, value from {t} where id = 2"),
            // T2 moves 2 from row 2 to row 1: the total stays 30.
            run(T2, "update {t} set value = 12 where id = 1"),
            run(T2, "update {t} set value = 18 where id = 2"),
            commit(T2),
            named(T1, "second", "select id, value from {t} where id = 2"),
            commit(T1),
        ],
        anomaly: g_single,
        detects: "T1's two reads add up to a total other than 30: a state that never existed",
    },
    Case {
        id: CaseId::GSinglePredicate,
        name: "G-single (predicate)",
        title: "read skew through predicate reads",
        column: Column::GSingle,
        read_only: true,
        steps: &[
            begin(T1),
            begin(T2),
            named(
                T1,
                "first",
                "select id, value from {t} where value % 5 = 0 order by id",
            ),
            run(T2, "update {t} set value = 12 where value = 10"),
            commit(T2),
            named(
                T1,
                "second",
                "select id, value from {t} where value % 3 = 0 order by id",
            ),
            commit(T1),
        ],
        anomaly: g_single_predicate,
        detects: "T1 read row 1 as 10 and then, in the same transaction, as 12",
    },
    Case {
        id: CaseId::GSingleWrite,
        name: "G-single (write predicate)",
        title: "read skew through a delete's predicate",
        column: Column::GSingle,
        read_only: false,
        steps: &[
            begin(T1),
            begin(T2),
            named(T1, "t1_read", "select id, value from {t} where id = 1"),
            run(T2, "select id, value from {t} order by id"),
            run(T2, "update {t} set value = 12 where id = 1"),
            run(T2, "update {t} set value = 18 where id = 2"),
            commit(T2),
            named(T1, "delete", "delete from {t} where value = 20"),
            named(T1, "after", "select id, value from {t} order by id"),
            commit(T1),
        ],
        anomaly: g_single_write,
        detects: "both committed; T1 read row 1 before T2's change (10), so T1 comes first, yet its delete of value = 20 found T2's new values and deleted nothing",
    },
    Case {
        id: CaseId::G2Item,
        name: "G2-item",
        title: "write skew",
        column: Column::G2Item,
        read_only: false,
        steps: &[
            begin(T1),
            begin(T2),
            named(
                T1,
                "t1_read",
                "select id, value from {t} where id in (1, 2) order by id",
            ),
            named(
                T2,
                "t2_read",
                "select id, value from {t} where id in (1, 2) order by id",
            ),
            run(T1, "update {t} set value = 11 where id = 1"),
            run(T2, "update {t} set value = 21 where id = 2"),
            commit(T1),
            commit(T2),
        ],
        anomaly: g2_item,
        detects: "both committed a change decided on a read that did not see the other's change",
    },
    Case {
        id: CaseId::G2,
        name: "G2",
        title: "anti-dependency cycle (write skew on a predicate)",
        column: Column::G2,
        read_only: false,
        steps: &[
            begin(T1),
            begin(T2),
            named(
                T1,
                "t1_read",
                "select id, value from {t} where value % 3 = 0",
            ),
            named(
                T2,
                "t2_read",
                "select id, value from {t} where value % 3 = 0",
            ),
            run(T1, "insert into {t} (id, value) values (3, 30)"),
            run(T2, "insert into {t} (id, value) values (4, 42)"),
            commit(T1),
            commit(T2),
        ],
        anomaly: g2,
        detects: "both saw no multiple of 3, both inserted one and committed: each should have seen the other's row",
    },
    Case {
        id: CaseId::G2TwoEdges,
        name: "G2 (two edges)",
        title: "anti-dependency cycle through a read-only transaction",
        column: Column::G2,
        read_only: false,
        steps: &[
            begin(T1),
            named(T1, "t1_read", "select id, value from {t} order by id"),
            begin(T2),
            run(T2, "update {t} set value = value + 5 where id = 2"),
            commit(T2),
            begin(T3),
            named(T3, "t3_read", "select id, value from {t} order by id"),
            commit(T3),
            run(T1, "update {t} set value = 0 where id = 1"),
            commit(T1),
        ],
        anomaly: g2_two_edges,
        detects: "all three committed, T1 missed T2's change, T3 saw T2's change but not T1's: no serial order fits",
    },
];

/// The case with this id.
pub fn get(id: CaseId) -> &'static Case {
    // ALL lists every id once; the fallback is unreachable and keeps this total.
    ALL.iter().find(|c| c.id == id).unwrap_or(&ALL[0])
}

/// Whether any read labelled in `labels` returned a row with `value`.
fn any_read_holds_value(o: &Observed, labels: &[&str], value: i32) -> bool {
    labels
        .iter()
        .filter_map(|l| o.read(l))
        .any(|rows| rows.iter().any(|r| r.value == value))
}

fn g0(o: &Observed) -> bool {
    matches!(
        (o.final_value(1), o.final_value(2)),
        (Some(11), Some(22)) | (Some(12), Some(21))
    )
}

fn g1a(o: &Observed) -> bool {
    any_read_holds_value(o, &["during", "after"], 101)
}

fn g1b(o: &Observed) -> bool {
    any_read_holds_value(o, &["during", "after"], 101)
}

fn g1c(o: &Observed) -> bool {
    o.committed(T1)
        && o.committed(T2)
        && o.value_read("t1_reads_2", 2) == Some(22)
        && o.value_read("t2_reads_1", 1) == Some(11)
}

fn otv(o: &Observed) -> bool {
    // T2 wrote 12 (row 1) and 18 (row 2), overwriting T1's 11 and 19.
    let saw_t2 = |rows: &[Row]| value_of(rows, 1) == Some(12) || value_of(rows, 2) == Some(18);
    let saw_overwritten =
        |rows: &[Row]| value_of(rows, 1) == Some(11) || value_of(rows, 2) == Some(19);
    let mut seen_t2 = false;
    for rows in ["first", "second", "third"]
        .iter()
        .filter_map(|l| o.read(l))
    {
        seen_t2 |= saw_t2(rows);
        if seen_t2 && saw_overwritten(rows) {
            return true;
        }
    }
    false
}

fn pmp(o: &Observed) -> bool {
    o.read("before").is_some_and(<[Row]>::is_empty)
        && o.read("after")
            .is_some_and(|rows| value_of(rows, 3) == Some(30))
}

fn pmp_write(o: &Observed) -> bool {
    if !(o.committed(T1) && o.committed(T2)) {
        return false;
    }
    let (Some(before), final_rows) = (o.read("before"), o.final_rows.as_slice()) else {
        return false;
    };
    // T1 then T2: T2 reads row 1 (now 20) and deletes it. T2 then T1: T2 reads row 2, deletes
    // it, and T1 turns row 1 into 20.
    let t1_first = holds(before, &[(1, 20)]) && holds(final_rows, &[(2, 30)]);
    let t2_first = holds(before, &[(2, 20)]) && holds(final_rows, &[(1, 20)]);
    !(t1_first || t2_first)
}

fn p4(o: &Observed) -> bool {
    o.committed(T1)
        && o.committed(T2)
        && o.value_read("t1_read", 1) == Some(10)
        && o.value_read("t2_read", 1) == Some(10)
        && o.final_value(1) == Some(11)
}

fn g_single(o: &Observed) -> bool {
    match (o.value_read("first", 1), o.value_read("second", 2)) {
        (Some(a), Some(b)) => o.committed(T1) && a + b != 30,
        _ => false,
    }
}

fn g_single_predicate(o: &Observed) -> bool {
    o.committed(T1) && o.value_read("first", 1) == Some(10) && o.value_read("second", 1) == Some(12)
}

fn g_single_write(o: &Observed) -> bool {
    o.committed(T1)
        && o.committed(T2)
        && o.value_read("t1_read", 1) == Some(10)
        && o.affected("delete") == Some(0)
}

fn g2_item(o: &Observed) -> bool {
    o.committed(T1)
        && o.committed(T2)
        && o.value_read("t1_read", 2) == Some(20)
        && o.value_read("t2_read", 1) == Some(10)
}

fn g2(o: &Observed) -> bool {
    o.committed(T1)
        && o.committed(T2)
        && o.read("t1_read").is_some_and(<[Row]>::is_empty)
        && o.read("t2_read").is_some_and(<[Row]>::is_empty)
        && o.final_value(3) == Some(30)
        && o.final_value(4) == Some(42)
}

fn g2_two_edges(o: &Observed) -> bool {
    o.committed(T1)
        && o.committed(T2)
        && o.committed(T3)
        && o.value_read("t1_read", 2) == Some(20)
        && o.value_read("t3_read", 2) == Some(25)
        && o.value_read("t3_read", 1) == Some(10)
}

#[cfg(test)]
mod tests {
    use super::super::outcome::{StepRecord, StepResult, TxEnd};
    use super::*;

    /// An observation of `case` where the labelled reads returned `reads`, every transaction
    /// ended as `ends` says, and the table ended as `final_rows`.
    fn observed(
        case: &Case,
        reads: &[(&'static str, &[(i32, i32)])],
        ends: [TxEnd; 3],
        final_rows: &[(i32, i32)],
    ) -> Observed {
        let rows = |pairs: &[(i32, i32)]| -> Vec<Row> {
            pairs.iter().map(|&(id, value)| Row { id, value }).collect()
        };
        let steps = case
            .steps
            .iter()
            .map(|s| {
                let answer = s
                    .label
                    .and_then(|l| reads.iter().find(|(name, _)| *name == l));
                StepRecord {
                    tx: s.tx,
                    sql: String::new(),
                    label: s.label,
                    result: StepResult::Answered {
                        rows: answer.map(|(_, r)| rows(r)).unwrap_or_default(),
                        affected: 0,
                    },
                    waited: false,
                    schedule_wait: s.schedule_wait,
                }
            })
            .collect();
        Observed {
            steps,
            ends: ends.to_vec(),
            final_rows: rows(final_rows),
        }
    }

    const BOTH: [TxEnd; 3] = [TxEnd::Committed, TxEnd::Committed, TxEnd::Unused];

    #[test]
    fn every_case_id_is_listed_once_and_every_label_is_unique_within_its_case() {
        for case in &ALL {
            assert_eq!(get(case.id).name, case.name);
            let labels: Vec<_> = case.steps.iter().filter_map(|s| s.label).collect();
            let mut unique = labels.clone();
            unique.dedup();
            assert_eq!(labels.len(), unique.len(), "{}", case.name);
            assert!(case.transactions() >= 2, "{}", case.name);
        }
    }

    #[test]
    fn lost_update_is_two_committed_increments_that_leave_one() {
        let case = get(CaseId::P4);
        let reads: &[(&str, &[(i32, i32)])] = &[("t1_read", &[(1, 10)]), ("t2_read", &[(1, 10)])];
        assert!((case.anomaly)(&observed(
            case,
            reads,
            BOTH,
            &[(1, 11), (2, 20)]
        )));
        let t2_aborted = [TxEnd::Committed, TxEnd::Aborted, TxEnd::Unused];
        assert!(!(case.anomaly)(&observed(
            case,
            reads,
            t2_aborted,
            &[(1, 11), (2, 20)]
        )));
    }

    #[test]
    fn read_skew_is_a_total_that_never_existed() {
        let case = get(CaseId::GSingle);
        let skewed: &[(&str, &[(i32, i32)])] = &[("first", &[(1, 10)]), ("second", &[(2, 18)])];
        let consistent: &[(&str, &[(i32, i32)])] = &[("first", &[(1, 10)]), ("second", &[(2, 20)])];
        assert!((case.anomaly)(&observed(case, skewed, BOTH, &[])));
        assert!(!(case.anomaly)(&observed(case, consistent, BOTH, &[])));
    }

    #[test]
    fn a_delete_predicate_that_matches_a_serial_order_is_no_anomaly() {
        let case = get(CaseId::PmpWrite);
        // T1 then T2, as a locking read gets it.
        let serial: &[(&str, &[(i32, i32)])] = &[("before", &[(1, 20)])];
        assert!(!(case.anomaly)(&observed(case, serial, BOTH, &[(2, 30)])));
        // An old snapshot read row 2 as 20, then the delete took row 1: neither order.
        let mixed: &[(&str, &[(i32, i32)])] = &[("before", &[(2, 20)])];
        assert!((case.anomaly)(&observed(case, mixed, BOTH, &[(2, 30)])));
        // The delete missed both rows (PostgreSQL read committed).
        assert!((case.anomaly)(&observed(
            case,
            mixed,
            BOTH,
            &[(1, 20), (2, 30)]
        )));
    }

    #[test]
    fn observed_transaction_vanishes_needs_t2_seen_before_t1_reappears() {
        let case = get(CaseId::Otv);
        let all = [TxEnd::Committed; 3];
        let vanished: &[(&str, &[(i32, i32)])] = &[("first", &[(1, 12), (2, 19)])];
        assert!((case.anomaly)(&observed(case, vanished, all, &[])));
        let committed_only: &[(&str, &[(i32, i32)])] = &[
            ("first", &[(1, 11), (2, 19)]),
            ("second", &[(1, 11), (2, 19)]),
            ("third", &[(1, 12), (2, 18)]),
        ];
        assert!(!(case.anomaly)(&observed(case, committed_only, all, &[])));
    }
}
