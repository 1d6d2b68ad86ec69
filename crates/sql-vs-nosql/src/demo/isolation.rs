//! "Isolation": the Hermitage matrix, measured. Every case runs at every level of each
//! reachable engine on real, interleaved connections; one table per engine shows what happened
//! (anomaly, or how it was prevented), with a marker where the measurement differs from
//! Hermitage's published table, and one schedule is shown step by step.
//!
//! The runs of the matrix go several at a time, each on its own table and connections, and a
//! blocked step is recognised from the engine's lock view within a few polls, so the whole
//! matrix takes about a second rather than a fixed timeout per wait.

use std::time::Instant;

use serde::Serialize;
use support::narrate::Narrator;
use support::report::{Table, Unit, format_number};

use crate::config::Targets;
use crate::isolation::outcome::StepResult;
use crate::isolation::published::{self, Mark};
use crate::isolation::{self, CaseId, CaseRun, Level, Outcome, Setting, SqlEngine, cases};

pub const TITLE: &str = "Isolation: the Hermitage anomalies, measured";

/// Runs in flight at once: each holds two or three sessions and a monitor connection.
const CONCURRENCY: usize = 8;

/// One measured cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatrixCell {
    pub case: CaseId,
    pub case_name: &'static str,
    pub setting: Setting,
    pub outcome: Outcome,
    pub published: Option<Mark>,
    /// `Some(false)` where the measurement contradicts the published mark.
    pub agrees: Option<bool>,
}

/// What the section measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IsolationFigures {
    pub settings: Vec<Setting>,
    pub cells: Vec<MatrixCell>,
    /// The servers' own version strings, for the comparison with the published table.
    pub versions: Vec<(SqlEngine, String)>,
    /// Wall time of the whole matrix.
    pub elapsed_ms: f64,
    pub left_out: Vec<String>,
}

impl IsolationFigures {
    pub fn cell(&self, case: CaseId, setting: Setting) -> Option<&MatrixCell> {
        self.cells
            .iter()
            .find(|c| c.case == case && c.setting == setting)
    }

    /// The cells that contradict the published table.
    pub fn disagreements(&self) -> impl Iterator<Item = &MatrixCell> {
        self.cells.iter().filter(|c| c.agrees == Some(false))
    }
}

/// Runs the matrix, prints a table per engine, one schedule and the derived paragraph. The
/// matrix is the same with `--quick`: it takes about a second either way, and a smaller one
/// would leave cells out.
pub async fn run(
    n: &mut Narrator,
    targets: &Targets,
    _quick: bool,
) -> anyhow::Result<IsolationFigures> {
    n.section(TITLE);
    let mut jobs = Vec::new();
    let mut left_out: Vec<String> = Vec::new();
    let mut versions = Vec::new();
    match &targets.postgres {
        Some(url) => {
            jobs.extend(Setting::POSTGRES.map(|s| (s, url.clone())));
            versions.push((SqlEngine::Postgres, postgres_version(url).await?));
        }
        None => left_out.push("PostgreSQL unreachable: its isolation columns are left out".into()),
    }
    match &targets.mariadb {
        Some(url) => {
            jobs.extend(Setting::MARIADB.map(|s| (s, url.clone())));
            versions.push((SqlEngine::MariaDb, mariadb_version(url).await?));
        }
        None => left_out.push("MariaDB unreachable: its isolation columns are left out".into()),
    }
    for line in &left_out {
        n.say(line);
    }
    n.say(&format!(
        "Each of the {} cases is a schedule of two or three transactions on a fresh two-row \
         table, each transaction a real connection; a statement that waits on a lock is \
         recognised from the engine's lock view (pg_locks on PostgreSQL, SHOW ENGINE INNODB \
         STATUS on MariaDB), set aside, and collected when its blocker ends. Whether the anomaly \
         happened is read from the results alone, never from the level.",
        cases::ALL.len(),
    ));
    let started = Instant::now();
    let runs = isolation::run_matrix(&jobs, &cases::ALL, CONCURRENCY).await?;
    let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
    let figures = IsolationFigures {
        settings: jobs.iter().map(|(s, _)| *s).collect(),
        cells: runs.iter().map(cell).collect(),
        versions,
        elapsed_ms,
        left_out,
    };

    for engine in [SqlEngine::Postgres, SqlEngine::MariaDb] {
        let settings: Vec<Setting> = figures
            .settings
            .iter()
            .copied()
            .filter(|s| s.engine == engine)
            .collect();
        if settings.is_empty() {
            continue;
        }
        let mut table = Table::new(format!("{} anomaly", engine.label()));
        for s in &settings {
            table = table.column(s.level.label(), Unit::Text);
        }
        for case in &cases::ALL {
            let cells = settings.iter().map(|s| {
                figures
                    .cell(case.id, *s)
                    .map_or_else(|| "–".to_owned(), cell_text)
                    .into()
            });
            table.row(case.name, cells);
        }
        n.table(table);
    }
    if let Some(lines) = transcript(&runs) {
        n.transcript(lines);
    }
    n.say(&paragraph(&figures));
    n.figures(&figures)?;
    Ok(figures)
}

fn cell(run: &CaseRun) -> MatrixCell {
    MatrixCell {
        case: run.case,
        case_name: cases::get(run.case).name,
        setting: run.setting,
        outcome: run.outcome,
        published: run.published,
        agrees: run.agrees,
    }
}

/// The cell's words, with `≠` where the published table says otherwise.
fn cell_text(c: &MatrixCell) -> String {
    if c.agrees == Some(false) {
        format!("{} ≠", c.outcome.label())
    } else {
        c.outcome.label().to_owned()
    }
}

/// The lost update at repeatable read on PostgreSQL (or serializable on MariaDB), step by step:
/// the schedule the paragraph's comparison is about.
fn transcript(runs: &[CaseRun]) -> Option<Vec<String>> {
    let wanted = [
        Setting::new(SqlEngine::Postgres, Level::RepeatableRead),
        Setting::new(SqlEngine::MariaDb, Level::RepeatableRead),
    ];
    let run = wanted.iter().find_map(|s| {
        runs.iter()
            .find(|r| r.case == CaseId::P4 && r.setting == *s)
    })?;
    let mut lines = vec![format!(
        "P4 (lost update) at {}: {}",
        run.setting.label(),
        run.outcome.label()
    )];
    for step in &run.observed.steps {
        let answer = match &step.result {
            StepResult::Answered { rows, .. } if step.sql.starts_with("select") => {
                if rows.is_empty() {
                    "no rows".to_owned()
                } else {
                    rows.iter()
                        .map(|r| format!("({}, {})", r.id, r.value))
                        .collect::<Vec<_>>()
                        .join(" ")
                }
            }
            StepResult::Answered { affected, .. } if is_write(&step.sql) => {
                format!("{affected} row(s) changed")
            }
            StepResult::Answered { .. } => "ok".to_owned(),
            StepResult::Failed(f) => format!("ERROR {}: {}", f.code, f.message),
            StepResult::Skipped => "skipped (transaction already aborted)".to_owned(),
        };
        let waited = if step.waited {
            "  [waited on a lock]"
        } else {
            ""
        };
        lines.push(format!(
            "{}: {} → {answer}{waited}",
            step.tx.label(),
            short_table(&step.sql)
        ));
    }
    Some(lines)
}

fn is_write(sql: &str) -> bool {
    ["update", "insert", "delete"]
        .iter()
        .any(|verb| sql.starts_with(verb))
}

/// The statement with its unique table name shown as `t`, so the transcript reads like SQL.
fn short_table(sql: &str) -> String {
    sql.split(' ')
        .map(|w| {
            if w.starts_with("bf_hermitage_") {
                "t"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

async fn postgres_version(url: &str) -> anyhow::Result<String> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let version: String = client.query_one("show server_version", &[]).await?.get(0);
    // "15.20 (Debian 15.20-0+deb12u1)": the number is what the comparison needs.
    Ok(version
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned())
}

async fn mariadb_version(url: &str) -> anyhow::Result<String> {
    use mysql_async::prelude::Queryable;
    let mut conn = mysql_async::Conn::new(mysql_async::Opts::from_url(url)?).await?;
    let version: Option<String> = conn.query_first("select version()").await?;
    let _ = conn.disconnect().await;
    // "10.11.19-MariaDB-0+deb12u1": the number is what the comparison needs.
    Ok(version
        .unwrap_or_default()
        .split('-')
        .next()
        .unwrap_or_default()
        .to_owned())
}

/// `a`, `a and b`, `a, b and c`.
fn listed(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// What the figures show, one sentence per finding.
pub fn paragraph(f: &IsolationFigures) -> String {
    if f.cells.is_empty() {
        return String::new();
    }
    let mut sentences = vec![
        counts(f),
        serializable(f),
        lost_update(f),
        write_skew(f),
        agreement(f),
    ];
    sentences.retain(|s| !s.is_empty());
    sentences.join(" ")
}

fn counts(f: &IsolationFigures) -> String {
    let per_engine: Vec<String> = [SqlEngine::Postgres, SqlEngine::MariaDb]
        .into_iter()
        .filter_map(|engine| {
            let parts: Vec<String> = f
                .settings
                .iter()
                .filter(|s| s.engine == engine)
                .map(|s| {
                    let anomalies = f
                        .cells
                        .iter()
                        .filter(|c| c.setting == *s && c.outcome.is_anomaly())
                        .count();
                    format!("{} {anomalies}", s.level.label())
                })
                .collect();
            (!parts.is_empty()).then(|| format!("{} {}", engine.label(), parts.join(", ")))
        })
        .collect();
    format!(
        "Anomalies let through, of {} cases: {}; {} runs in {} ms.",
        cases::ALL.len(),
        per_engine.join("; "),
        f.cells.len(),
        format_number(f.elapsed_ms)
    )
}

fn serializable(f: &IsolationFigures) -> String {
    let parts: Vec<String> = [SqlEngine::Postgres, SqlEngine::MariaDb]
        .into_iter()
        .filter_map(|engine| {
            let s = Setting::new(engine, Level::Serializable);
            let cells: Vec<&MatrixCell> = f.cells.iter().filter(|c| c.setting == s).collect();
            if cells.is_empty() {
                return None;
            }
            let count = |o: Outcome| cells.iter().filter(|c| c.outcome == o).count();
            let anomalies = count(Outcome::Anomaly);
            Some(if anomalies > 0 {
                format!(
                    "{} serializable still let {anomalies} through",
                    engine.label()
                )
            } else {
                format!(
                    "{} serializable prevented all of them: {} by aborting a transaction, {} by \
                     blocking, {} by its snapshot alone",
                    engine.label(),
                    count(Outcome::PreventedAborted),
                    count(Outcome::PreventedBlocked),
                    count(Outcome::Prevented)
                )
            })
        })
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("{}.", parts.join("; "))
    }
}

fn lost_update(f: &IsolationFigures) -> String {
    let at = |engine| f.cell(CaseId::P4, Setting::new(engine, Level::RepeatableRead));
    match (at(SqlEngine::Postgres), at(SqlEngine::MariaDb)) {
        (Some(pg), Some(maria)) if pg.outcome != maria.outcome => format!(
            "The same name promises different things: under repeatable read the lost update \
             (P4) was {} on PostgreSQL and {} on MariaDB.",
            words(pg.outcome),
            words(maria.outcome)
        ),
        (Some(pg), Some(_)) => format!(
            "Under repeatable read the lost update (P4) was {} on both engines.",
            words(pg.outcome)
        ),
        (Some(one), None) | (None, Some(one)) => format!(
            "Under repeatable read, {} {} the lost update (P4).",
            one.setting.engine.label(),
            match one.outcome {
                Outcome::Anomaly => "let through",
                _ => "prevented",
            }
        ),
        (None, None) => String::new(),
    }
}

fn words(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Anomaly => "let through",
        Outcome::PreventedAborted => "aborted",
        Outcome::PreventedBlocked => "blocked",
        Outcome::Prevented => "prevented by the snapshot",
    }
}

fn write_skew(f: &IsolationFigures) -> String {
    let through: Vec<String> = f
        .settings
        .iter()
        .filter(|s| {
            f.cell(CaseId::G2Item, **s)
                .is_some_and(|c| c.outcome.is_anomaly())
        })
        .map(|s| s.label())
        .collect();
    let below_serializable = f
        .settings
        .iter()
        .filter(|s| s.level != Level::Serializable)
        .count();
    if through.is_empty() {
        "No level let write skew (G2-item) through.".to_owned()
    } else if through.len() == below_serializable
        && !through.iter().any(|s| s.ends_with("serializable"))
    {
        let engines: Vec<&str> = [SqlEngine::Postgres, SqlEngine::MariaDb]
            .into_iter()
            .filter(|e| f.settings.iter().any(|s| s.engine == *e))
            .map(SqlEngine::label)
            .collect();
        let on = if engines.len() > 1 {
            "both engines".to_owned()
        } else {
            engines.concat()
        };
        format!(
            "Write skew (G2-item) went through at every level below serializable on {on}: no \
             snapshot stops it, because neither transaction writes what the other one read."
        )
    } else {
        format!(
            "Write skew (G2-item) went through under {}.",
            listed(&through)
        )
    }
}

fn agreement(f: &IsolationFigures) -> String {
    let published_for = format!(
        "Hermitage's published table ({} and {}; measured here: {})",
        published::PUBLISHED_FOR_POSTGRES,
        published::PUBLISHED_FOR_INNODB,
        f.versions
            .iter()
            .map(|(e, v)| format!("{} {v}", e.label()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let differing: Vec<String> = f
        .disagreements()
        .map(|c| {
            format!(
                "{} at {} (measured {}, published {})",
                c.case_name,
                c.setting.label(),
                c.outcome.label(),
                c.published.map_or("nothing", Mark::symbol)
            )
        })
        .collect();
    if differing.is_empty() {
        format!("Every measured cell agrees with {published_for}.")
    } else {
        format!(
            "{} cell{} differ{} from {published_for}, marked ≠: {}.",
            differing.len(),
            if differing.len() == 1 { "" } else { "s" },
            if differing.len() == 1 { "s" } else { "" },
            listed(&differing)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The matrix as this machine measured it (PostgreSQL 15, MariaDB 10.11).
    fn expected() -> IsolationFigures {
        use Outcome::{Anomaly as A, Prevented as P, PreventedAborted as X, PreventedBlocked as B};
        let rows: [(CaseId, [Outcome; 7]); 14] = [
            (CaseId::G0, [B, X, X, B, B, B, B]),
            (CaseId::G1a, [P, P, P, A, P, P, B]),
            (CaseId::G1b, [P, P, P, A, P, P, B]),
            (CaseId::G1c, [P, P, X, A, P, P, X]),
            (CaseId::Otv, [P, X, X, A, P, P, B]),
            (CaseId::Pmp, [A, P, P, A, A, P, B]),
            (CaseId::PmpWrite, [A, X, X, B, A, A, B]),
            (CaseId::P4, [A, X, X, A, A, A, X]),
            (CaseId::GSingle, [A, P, P, A, A, P, B]),
            (CaseId::GSinglePredicate, [A, P, P, A, A, P, B]),
            (CaseId::GSingleWrite, [A, X, X, A, A, A, X]),
            (CaseId::G2Item, [A, A, X, A, A, A, X]),
            (CaseId::G2, [A, A, X, A, A, A, X]),
            (CaseId::G2TwoEdges, [A, A, X, A, A, A, X]),
        ];
        let settings: Vec<Setting> = Setting::POSTGRES
            .into_iter()
            .chain(Setting::MARIADB)
            .collect();
        let mut cells = Vec::new();
        for (case, outcomes) in rows {
            let spec = cases::get(case);
            for (setting, outcome) in settings.iter().zip(outcomes) {
                let published = published::mark(*setting, spec.column);
                let agrees = published
                    .and_then(|m| m.predicts_anomaly(spec.read_only))
                    .map(|p| p == outcome.is_anomaly());
                cells.push(MatrixCell {
                    case,
                    case_name: spec.name,
                    setting: *setting,
                    outcome,
                    published,
                    agrees,
                });
            }
        }
        IsolationFigures {
            settings,
            cells,
            versions: vec![
                (SqlEngine::Postgres, "15.20".into()),
                (SqlEngine::MariaDb, "10.11.19-MariaDB".into()),
            ],
            elapsed_ms: 1_200.0,
            left_out: vec![],
        }
    }

    #[test]
    fn the_expected_figures_give_the_lesson() {
        let p = paragraph(&expected());
        assert!(p.contains("PostgreSQL read committed 9"), "{p}");
        assert!(
            p.contains("PostgreSQL serializable prevented all of them"),
            "{p}"
        );
        assert!(
            p.contains("the lost update (P4) was aborted on PostgreSQL and let through on MariaDB"),
            "{p}"
        );
        assert!(p.contains("every level below serializable"), "{p}");
        assert!(
            p.contains("1 cell differs")
                && p.contains("PMP (write predicate) at MariaDB read uncommitted"),
            "{p}"
        );
    }

    #[test]
    fn contrary_figures_change_every_claim_they_touch() {
        let mut f = expected();
        for c in &mut f.cells {
            if c.setting.level == Level::Serializable && c.case == CaseId::G2Item {
                c.outcome = Outcome::Anomaly;
            }
            if c.case == CaseId::P4 && c.setting.level == Level::RepeatableRead {
                c.outcome = Outcome::Anomaly;
            }
            c.agrees = Some(true);
        }
        let p = paragraph(&f);
        assert!(
            p.contains("PostgreSQL serializable still let 1 through"),
            "{p}"
        );
        assert!(p.contains("was let through on both engines"), "{p}");
        assert!(!p.contains("every level below serializable"), "{p}");
        assert!(p.contains("Write skew (G2-item) went through under"), "{p}");
        assert!(p.contains("Every measured cell agrees"), "{p}");
    }

    #[test]
    fn cells_that_contradict_the_published_table_are_marked() {
        let f = expected();
        let marked: Vec<String> = f
            .disagreements()
            .map(|c| format!("{} {}", c.case_name, c.setting.label()))
            .collect();
        assert_eq!(marked, ["PMP (write predicate) MariaDB read uncommitted"]);
        let c = f
            .cell(
                CaseId::PmpWrite,
                Setting::new(SqlEngine::MariaDb, Level::ReadUncommitted),
            )
            .map(cell_text);
        assert_eq!(c.as_deref(), Some("prevented (blocked) ≠"));
    }

    #[test]
    fn the_transcript_names_the_table_t() {
        assert_eq!(
            short_table("update bf_hermitage_p4_0123456789ab set value = 11"),
            "update t set value = 11"
        );
    }
}
