//! Isolation, the I of ACID, measured: the Hermitage anomaly cases run automatically on real,
//! interleaved connections, at every isolation level of PostgreSQL and MariaDB.
//!
//! Isolation levels are names, and the names mean different things on different engines:
//! MariaDB's "repeatable read" lets a lost update through that PostgreSQL's aborts, and neither
//! "repeatable read" stops write skew. Martin Kleppmann's Hermitage suite pins the meaning down
//! with one small schedule per anomaly, run by hand in two or three terminals. This module runs
//! the same schedules as a program, so the table is measured on this machine's servers rather
//! than quoted, and it sets every cell beside the published one.
//!
//! | file | what it holds |
//! |---|---|
//! | [`cases`] | the schedules as data, and one predicate per anomaly over the observed results |
//! | [`session`] | a connection as an actor (statements in over a channel, answers out), and the lock view that tells blocked from slow |
//! | [`schedule`] | the driver: sends steps in order, sets blocked sessions aside, collects their answers when their blocker ends |
//! | [`outcome`] | what a run observed, and the one rule that classifies it: anomaly, prevented by blocking, by aborting, or by the snapshot |
//! | [`published`] | Hermitage's summary table as data, for the comparison |
//!
//! What it leaves out: performance (Hermitage's own caveat: how often a level blocks or aborts
//! under *load* is a different question), SQLite (one writer at a time: every schedule either
//! serializes or fails on `SQLITE_BUSY`), and servers with non-default settings such as MariaDB's
//! `innodb_snapshot_isolation` (off by default on 10.11), which would turn its repeatable read's
//! lost update into an error 1020; the failure is recognised if a server has it on.

pub mod cases;
pub mod outcome;
pub mod published;
pub mod schedule;
pub mod session;

use futures_util::StreamExt;
use serde::Serialize;

pub use cases::{Case, CaseId};
pub use outcome::{Observed, Outcome};
pub use published::{Column, Mark};

/// The two SQL engines the cases run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum SqlEngine {
    Postgres,
    MariaDb,
}

impl SqlEngine {
    pub fn label(self) -> &'static str {
        match self {
            SqlEngine::Postgres => "PostgreSQL",
            SqlEngine::MariaDb => "MariaDB",
        }
    }
}

/// A standard isolation level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Level {
    ReadUncommitted,
    ReadCommitted,
    RepeatableRead,
    Serializable,
}

impl Level {
    /// As SQL spells it.
    pub fn sql(self) -> &'static str {
        match self {
            Level::ReadUncommitted => "READ UNCOMMITTED",
            Level::ReadCommitted => "READ COMMITTED",
            Level::RepeatableRead => "REPEATABLE READ",
            Level::Serializable => "SERIALIZABLE",
        }
    }

    /// As a table header spells it.
    pub fn label(self) -> &'static str {
        match self {
            Level::ReadUncommitted => "read uncommitted",
            Level::ReadCommitted => "read committed",
            Level::RepeatableRead => "repeatable read",
            Level::Serializable => "serializable",
        }
    }
}

/// One column of the matrix: an engine at a level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Setting {
    pub engine: SqlEngine,
    pub level: Level,
}

impl Setting {
    pub const fn new(engine: SqlEngine, level: Level) -> Self {
        Self { engine, level }
    }

    /// PostgreSQL's three distinct levels (it accepts "read uncommitted" and runs read
    /// committed, so a fourth column would repeat the first).
    pub const POSTGRES: [Setting; 3] = [
        Setting::new(SqlEngine::Postgres, Level::ReadCommitted),
        Setting::new(SqlEngine::Postgres, Level::RepeatableRead),
        Setting::new(SqlEngine::Postgres, Level::Serializable),
    ];

    /// MariaDB InnoDB's four levels.
    pub const MARIADB: [Setting; 4] = [
        Setting::new(SqlEngine::MariaDb, Level::ReadUncommitted),
        Setting::new(SqlEngine::MariaDb, Level::ReadCommitted),
        Setting::new(SqlEngine::MariaDb, Level::RepeatableRead),
        Setting::new(SqlEngine::MariaDb, Level::Serializable),
    ];

    /// `PostgreSQL repeatable read`.
    pub fn label(self) -> String {
        format!("{} {}", self.engine.label(), self.level.label())
    }

    /// The statement that starts a transaction at this level. MariaDB's level was set for the
    /// session when it connected (`SET SESSION TRANSACTION ISOLATION LEVEL ...`), so there it is
    /// a plain `START TRANSACTION`.
    pub fn begin_sql(self) -> String {
        match self.engine {
            SqlEngine::Postgres => format!("BEGIN ISOLATION LEVEL {}", self.level.sql()),
            SqlEngine::MariaDb => "START TRANSACTION".to_owned(),
        }
    }
}

/// Why a run could not produce a cell. None of these is an isolation outcome: each means the
/// schedule or the machine went wrong, and the run says where.
#[derive(Debug, thiserror::Error)]
pub enum IsolationError {
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("MariaDB: {0}")]
    MariaDb(#[from] mysql_async::Error),
    #[error("MariaDB URL: {0}")]
    MariaDbUrl(#[from] mysql_async::UrlError),
    /// A session's task ended while a statement was out (its connection broke).
    #[error("a session's connection closed in the middle of the schedule")]
    SessionGone,
    /// A statement neither answered nor waited on a lock for a long time.
    #[error("backend {backend} neither answered nor waited on a lock for {waited_ms} ms")]
    Silent { backend: u32, waited_ms: u64 },
    /// A blocked statement was still blocked after every other step had run.
    #[error("{case} at {setting}: `{step}` was still blocked when the schedule ended")]
    Hung {
        case: &'static str,
        setting: String,
        step: String,
    },
    /// The engine refused a statement for a reason other than keeping transactions isolated.
    #[error("{case} at {setting}: `{step}` failed with {code}: {message}{hint}")]
    Unexpected {
        case: &'static str,
        setting: String,
        step: String,
        code: String,
        message: String,
        /// What the failure suggests about the schedule, when it suggests something.
        hint: &'static str,
    },
}

/// One measured cell, beside its published mark.
#[derive(Debug, Clone, Serialize)]
pub struct CaseRun {
    pub case: CaseId,
    pub setting: Setting,
    pub outcome: Outcome,
    /// Hermitage's mark for this case's column at this setting.
    pub published: Option<Mark>,
    /// Whether the measured outcome matches the mark on the only thing a mark says, anomaly or
    /// not (`None` where the mark says nothing definite).
    pub agrees: Option<bool>,
    pub observed: Observed,
}

/// Runs one case at one setting and classifies what it observed.
pub async fn run_case(case: &Case, setting: Setting, url: &str) -> Result<CaseRun, IsolationError> {
    let observed = schedule::run(case, setting, url).await?;
    let anomaly = (case.anomaly)(&observed);
    let outcome = outcome::classify(anomaly, &observed);
    let published = published::mark(setting, case.column);
    let agrees = published
        .and_then(|m| m.predicts_anomaly(case.read_only))
        .map(|predicted| predicted == anomaly);
    Ok(CaseRun {
        case: case.id,
        setting,
        outcome,
        published,
        agrees,
        observed,
    })
}

/// Runs every case at every setting, `concurrency` runs at a time (each on its own table and
/// connections, so runs cannot see each other), and returns the cells in case-then-setting order.
pub async fn run_matrix(
    jobs: &[(Setting, String)],
    cases: &[Case],
    concurrency: usize,
) -> Result<Vec<CaseRun>, IsolationError> {
    let work: Vec<(usize, &Case, Setting, &str)> = cases
        .iter()
        .flat_map(|case| {
            jobs.iter()
                .map(move |(setting, url)| (case, *setting, url.as_str()))
        })
        .enumerate()
        .map(|(i, (case, setting, url))| (i, case, setting, url))
        .collect();
    let mut done: Vec<(usize, CaseRun)> =
        futures_util::stream::iter(work)
            .map(|(i, case, setting, url)| async move {
                run_case(case, setting, url).await.map(|r| (i, r))
            })
            .buffer_unordered(concurrency.max(1))
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
    done.sort_by_key(|(i, _)| *i);
    Ok(done.into_iter().map(|(_, run)| run).collect())
}
