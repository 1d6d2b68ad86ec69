//! What a run of one case observed, and the one rule that turns it into an [`Outcome`].
//!
//! The classification never looks at the isolation level. It reads only what happened: did the
//! case's anomaly predicate hold on the results, did a transaction die of a serialization failure
//! or a deadlock, did a step wait on a lock. That is the point of automating Hermitage: the table
//! is measured, so a server that behaves differently from its documentation shows up as a
//! different cell instead of being papered over by an expectation.

use serde::Serialize;

/// One of the (at most three) concurrent transactions of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Tx {
    T1,
    T2,
    T3,
}

impl Tx {
    pub const ALL: [Tx; 3] = [Tx::T1, Tx::T2, Tx::T3];

    pub fn index(self) -> usize {
        match self {
            Tx::T1 => 0,
            Tx::T2 => 1,
            Tx::T3 => 2,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Tx::T1 => "T1",
            Tx::T2 => "T2",
            Tx::T3 => "T3",
        }
    }
}

/// One row of a case's table (`id int primary key, value int`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Row {
    pub id: i32,
    pub value: i32,
}

/// Why a statement failed, as far as the lesson cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// SQLSTATE 40001 on PostgreSQL ("could not serialize access"); on MariaDB error 1020
    /// ("record has changed since last read", only with `innodb_snapshot_isolation` on).
    Serialization,
    /// SQLSTATE 40P01 on PostgreSQL, error 1213 on MariaDB: the engine broke a wait cycle by
    /// killing one transaction.
    Deadlock,
    /// SQLSTATE 55P03 (`lock_timeout`) or MariaDB error 1205 (`innodb_lock_wait_timeout`): a wait
    /// ran out of time. In a Hermitage schedule that means the schedule is wrong or the machine
    /// stalled, never that the level prevented something, so it fails the run.
    LockTimeout,
    /// Anything else (a syntax error, a dropped connection): also fails the run.
    Other,
}

impl FailureKind {
    /// Whether this failure is the engine aborting a transaction to keep it isolated.
    pub fn aborts_transaction(self) -> bool {
        matches!(self, FailureKind::Serialization | FailureKind::Deadlock)
    }
}

/// A statement the engine refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DbFailure {
    pub kind: FailureKind,
    /// The SQLSTATE on PostgreSQL, the error number on MariaDB.
    pub code: String,
    pub message: String,
}

/// What one step got back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "result")]
pub enum StepResult {
    /// The statement ran: the rows it returned (selects) and the rows it changed (writes).
    Answered {
        rows: Vec<Row>,
        affected: u64,
    },
    Failed(DbFailure),
    /// Not sent: its transaction had already been aborted by the engine.
    Skipped,
}

/// One step of a run, in schedule order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepRecord {
    pub tx: Tx,
    /// The statement as sent (with the run's table name).
    pub sql: String,
    /// The name the case's predicate reads this step's result by.
    pub label: Option<&'static str>,
    pub result: StepResult,
    /// The step was seen waiting on a lock (confirmed in the engine's lock view, not guessed
    /// from time) before it answered.
    pub waited: bool,
    /// The case marks this step's wait as part of the schedule at every level (see
    /// [`super::cases::Step::schedule_wait`]), so it does not count as prevention.
    pub schedule_wait: bool,
}

/// How a transaction of a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TxEnd {
    /// It began and has not ended (a run that finishes with it open did not commit it).
    Open,
    /// Its `COMMIT` succeeded.
    Committed,
    /// The schedule rolled it back on purpose (G1a's writer).
    RolledBack,
    /// The engine killed it (serialization failure or deadlock).
    Aborted,
    /// It never began (the case uses fewer transactions).
    Unused,
}

/// Everything a run observed: what the predicates read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Observed {
    pub steps: Vec<StepRecord>,
    /// Indexed by [`Tx::index`].
    pub ends: Vec<TxEnd>,
    /// The table after every transaction ended, read by a fresh connection, in id order.
    pub final_rows: Vec<Row>,
}

impl Observed {
    /// The rows the step labelled `label` returned, if it ran and answered.
    pub fn read(&self, label: &str) -> Option<&[Row]> {
        self.answer(label).map(|(rows, _)| rows)
    }

    /// The rows the step labelled `label` changed, if it ran and answered.
    pub fn affected(&self, label: &str) -> Option<u64> {
        self.answer(label).map(|(_, affected)| affected)
    }

    fn answer(&self, label: &str) -> Option<(&[Row], u64)> {
        self.steps
            .iter()
            .find(|s| s.label == Some(label))
            .and_then(|s| match &s.result {
                StepResult::Answered { rows, affected } => Some((rows.as_slice(), *affected)),
                _ => None,
            })
    }

    /// The value of row `id` in the labelled read, if the read returned that row.
    pub fn value_read(&self, label: &str, id: i32) -> Option<i32> {
        value_of(self.read(label)?, id)
    }

    pub fn committed(&self, tx: Tx) -> bool {
        self.ends.get(tx.index()) == Some(&TxEnd::Committed)
    }

    /// The value of row `id` after the run, if the row exists.
    pub fn final_value(&self, id: i32) -> Option<i32> {
        value_of(&self.final_rows, id)
    }

    /// Whether the engine aborted any transaction.
    pub fn any_aborted(&self) -> bool {
        self.ends.contains(&TxEnd::Aborted)
    }

    /// Whether a step waited on a lock for a reason other than the schedule itself.
    pub fn any_prevention_wait(&self) -> bool {
        self.steps.iter().any(|s| s.waited && !s.schedule_wait)
    }
}

/// The value of row `id` among `rows`.
pub fn value_of(rows: &[Row], id: i32) -> Option<i32> {
    rows.iter().find(|r| r.id == id).map(|r| r.value)
}

/// Whether `rows` holds exactly these `(id, value)` pairs (in any order).
pub fn holds(rows: &[Row], expected: &[(i32, i32)]) -> bool {
    let mut got: Vec<(i32, i32)> = rows.iter().map(|r| (r.id, r.value)).collect();
    let mut want = expected.to_vec();
    got.sort_unstable();
    want.sort_unstable();
    got == want
}

/// What a cell of the matrix says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The anomaly happened and nothing complained.
    Anomaly,
    /// No anomaly, and a step had to wait for a lock: locking prevented it.
    PreventedBlocked,
    /// No anomaly, because the engine aborted a transaction (serialization failure, deadlock).
    PreventedAborted,
    /// No anomaly, nothing waited, nothing aborted: each transaction's snapshot did it.
    Prevented,
}

impl Outcome {
    /// The word a table cell shows.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Anomaly => "anomaly",
            Outcome::PreventedBlocked => "prevented (blocked)",
            Outcome::PreventedAborted => "prevented (aborted)",
            Outcome::Prevented => "prevented",
        }
    }

    pub fn is_anomaly(self) -> bool {
        self == Outcome::Anomaly
    }
}

/// The one classification rule. An anomaly that was observed wins over everything (an abort
/// that came too late prevented nothing); otherwise an abort is what prevented it, even when a
/// wait came first (the waiter was then killed); otherwise a wait; otherwise the snapshot.
pub fn classify(anomaly: bool, observed: &Observed) -> Outcome {
    if anomaly {
        Outcome::Anomaly
    } else if observed.any_aborted() {
        Outcome::PreventedAborted
    } else if observed.any_prevention_wait() {
        Outcome::PreventedBlocked
    } else {
        Outcome::Prevented
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(waited: bool, schedule_wait: bool) -> StepRecord {
        StepRecord {
            tx: Tx::T2,
            sql: "update t set value = 12 where id = 1".into(),
            label: None,
            result: StepResult::Answered {
                rows: vec![],
                affected: 1,
            },
            waited,
            schedule_wait,
        }
    }

    fn observed(steps: Vec<StepRecord>, ends: Vec<TxEnd>) -> Observed {
        Observed {
            steps,
            ends,
            final_rows: vec![],
        }
    }

    #[test]
    fn an_observed_anomaly_wins_even_when_something_waited_or_aborted() {
        let o = observed(
            vec![step(true, false)],
            vec![TxEnd::Committed, TxEnd::Aborted],
        );
        assert_eq!(classify(true, &o), Outcome::Anomaly);
    }

    #[test]
    fn an_abort_counts_as_the_prevention_even_after_a_wait() {
        let o = observed(
            vec![step(true, false)],
            vec![TxEnd::Committed, TxEnd::Aborted],
        );
        assert_eq!(classify(false, &o), Outcome::PreventedAborted);
    }

    #[test]
    fn a_wait_without_an_abort_is_prevention_by_blocking() {
        let o = observed(
            vec![step(true, false)],
            vec![TxEnd::Committed, TxEnd::Committed],
        );
        assert_eq!(classify(false, &o), Outcome::PreventedBlocked);
    }

    #[test]
    fn a_wait_the_schedule_always_has_does_not_count_as_prevention() {
        let o = observed(
            vec![step(true, true)],
            vec![TxEnd::Committed, TxEnd::Committed],
        );
        assert_eq!(classify(false, &o), Outcome::Prevented);
    }

    #[test]
    fn rows_are_compared_as_sets_and_read_by_label() {
        let rows = [Row { id: 2, value: 20 }, Row { id: 1, value: 10 }];
        assert!(holds(&rows, &[(1, 10), (2, 20)]));
        assert!(!holds(&rows, &[(1, 10)]));
        let mut s = step(false, false);
        s.label = Some("r");
        s.result = StepResult::Answered {
            rows: rows.to_vec(),
            affected: 0,
        };
        let o = observed(vec![s], vec![TxEnd::Committed]);
        assert_eq!(o.value_read("r", 2), Some(20));
        assert_eq!(o.value_read("r", 3), None);
        assert_eq!(o.read("missing"), None);
    }
}
