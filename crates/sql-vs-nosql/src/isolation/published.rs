//! Hermitage's published summary table, encoded as data, so every measured cell can be set
//! beside what was published for it and a disagreement is flagged rather than hidden.
//!
//! The marks are taken from the summary table of Hermitage's README (github.com/ept/hermitage).
//! They were published for older servers than the ones measured here: the PostgreSQL cases were
//! run by hand on PostgreSQL 9.3, the InnoDB ones on MySQL 5.6. This crate runs PostgreSQL 15 and
//! MariaDB 10.11 (an InnoDB fork), so a differing cell is a finding to explain, not a bug to fix
//! by editing the expectation.

use serde::Serialize;

use super::{Level, Setting, SqlEngine};

/// Where Hermitage's marks come from, for the table's footnote.
pub const SOURCE: &str = "Hermitage summary table (github.com/ept/hermitage)";
/// The server versions the PostgreSQL marks were published for.
pub const PUBLISHED_FOR_POSTGRES: &str = "PostgreSQL 9.3";
/// The server versions the InnoDB marks were published for (MariaDB shares InnoDB's design).
pub const PUBLISHED_FOR_INNODB: &str = "MySQL 5.6 (InnoDB)";

/// A column of the summary table. Variants of a case (write predicate, predicate reads, two
/// edges) share their anomaly's column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Column {
    G0,
    G1a,
    G1b,
    G1c,
    Otv,
    Pmp,
    P4,
    GSingle,
    G2Item,
    G2,
}

impl Column {
    /// In the table's order.
    pub const ALL: [Column; 10] = [
        Column::G0,
        Column::G1a,
        Column::G1b,
        Column::G1c,
        Column::Otv,
        Column::Pmp,
        Column::P4,
        Column::GSingle,
        Column::G2Item,
        Column::G2,
    ];

    fn position(self) -> usize {
        Column::ALL.iter().position(|c| *c == self).unwrap_or(0)
    }
}

/// A published mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    /// ✓: the level prevents the anomaly.
    Prevented,
    /// —: the level does not prevent it.
    Anomaly,
    /// R/O: prevented while the exposed transaction only reads, not once it writes.
    PreventedReadOnly,
    /// "some": prevented in some cases and not others (no cell of these two engines has it).
    Some,
}

impl Mark {
    /// The symbol the README uses.
    pub fn symbol(self) -> &'static str {
        match self {
            Mark::Prevented => "✓",
            Mark::Anomaly => "—",
            Mark::PreventedReadOnly => "R/O",
            Mark::Some => "some",
        }
    }

    /// Whether this mark predicts the anomaly for a case whose exposed transaction is read-only
    /// or not; `None` when the mark does not say ("some").
    pub fn predicts_anomaly(self, read_only: bool) -> Option<bool> {
        match self {
            Mark::Prevented => Some(false),
            Mark::Anomaly => Some(true),
            Mark::PreventedReadOnly => Some(!read_only),
            Mark::Some => None,
        }
    }
}

use Mark::{Anomaly as A, Prevented as P, PreventedReadOnly as RO};

/// One row of the published table: the marks for G0, G1a, G1b, G1c, OTV, PMP, P4, G-single,
/// G2-item and G2, in that order.
type Marks = [Mark; 10];

const POSTGRES_READ_COMMITTED: Marks = [P, P, P, P, P, A, A, A, A, A];
const POSTGRES_REPEATABLE_READ: Marks = [P, P, P, P, P, P, P, P, A, A];
const POSTGRES_SERIALIZABLE: Marks = [P; 10];
const INNODB_READ_UNCOMMITTED: Marks = [P, A, A, A, A, A, A, A, A, A];
const INNODB_READ_COMMITTED: Marks = [P, P, P, P, P, A, A, A, A, A];
const INNODB_REPEATABLE_READ: Marks = [P, P, P, P, P, RO, A, RO, A, A];
const INNODB_SERIALIZABLE: Marks = [P; 10];

/// The published mark for `column` at `setting`; `None` where Hermitage published no row (no
/// "read uncommitted" row for PostgreSQL, which runs it as read committed).
pub fn mark(setting: Setting, column: Column) -> Option<Mark> {
    let row = match (setting.engine, setting.level) {
        (SqlEngine::Postgres, Level::ReadCommitted) => POSTGRES_READ_COMMITTED,
        (SqlEngine::Postgres, Level::RepeatableRead) => POSTGRES_REPEATABLE_READ,
        (SqlEngine::Postgres, Level::Serializable) => POSTGRES_SERIALIZABLE,
        (SqlEngine::Postgres, Level::ReadUncommitted) => return None,
        (SqlEngine::MariaDb, Level::ReadUncommitted) => INNODB_READ_UNCOMMITTED,
        (SqlEngine::MariaDb, Level::ReadCommitted) => INNODB_READ_COMMITTED,
        (SqlEngine::MariaDb, Level::RepeatableRead) => INNODB_REPEATABLE_READ,
        (SqlEngine::MariaDb, Level::Serializable) => INNODB_SERIALIZABLE,
    };
    Some(row[column.position()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_marks_predict_prevention_only_for_read_only_cases() {
        assert_eq!(Mark::PreventedReadOnly.predicts_anomaly(true), Some(false));
        assert_eq!(Mark::PreventedReadOnly.predicts_anomaly(false), Some(true));
        assert_eq!(Mark::Some.predicts_anomaly(true), None);
    }

    #[test]
    fn the_encoded_table_has_the_published_shape() {
        let rr = Setting::new(SqlEngine::MariaDb, Level::RepeatableRead);
        assert_eq!(mark(rr, Column::Pmp), Some(Mark::PreventedReadOnly));
        assert_eq!(mark(rr, Column::P4), Some(Mark::Anomaly));
        let pg_rr = Setting::new(SqlEngine::Postgres, Level::RepeatableRead);
        assert_eq!(mark(pg_rr, Column::GSingle), Some(Mark::Prevented));
        assert_eq!(mark(pg_rr, Column::G2Item), Some(Mark::Anomaly));
        let pg_ru = Setting::new(SqlEngine::Postgres, Level::ReadUncommitted);
        assert_eq!(mark(pg_ru, Column::G0), None);
    }
}
