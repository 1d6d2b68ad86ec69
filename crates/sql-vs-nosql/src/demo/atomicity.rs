//! "Atomicity": one transfer with a failure injected between its two writes, on every engine and
//! every way of guarding it, then Redis transfers racing with and without `WATCH`.
//!
//! Every sentence is derived from the figures: if an engine left a half-done transfer where the
//! lesson expects none, the paragraph says so.

use serde::Serialize;
use support::narrate::Narrator;
use support::report::{Cell, Chart, Table, Unit};

use crate::atomicity::{self, AMOUNT, Backend, Guard, Left, OPENING, Race, Transfer};
use crate::config::Targets;

pub const TITLE: &str = "Atomicity: a transfer that fails halfway";

/// What the section measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AtomicityFigures {
    pub amount: i64,
    pub transfers: Vec<Transfer>,
    /// Redis transfers racing: the deterministic pair with and without `WATCH`, then the
    /// contended run.
    pub races: Vec<Race>,
    /// One line per engine the run could not reach.
    pub left_out: Vec<String>,
}

impl AtomicityFigures {
    pub fn transfer(&self, backend: Backend, guard: Guard) -> Option<&Transfer> {
        self.transfers
            .iter()
            .find(|t| t.backend == backend && t.guard == guard)
    }
}

const SQL_GUARDS: [Guard; 3] = [
    Guard::Transaction,
    Guard::CommitAfterError,
    Guard::Autocommit,
];
const REDIS_GUARDS: [Guard; 3] = [Guard::MultiExec, Guard::MultiQueueError, Guard::OneByOne];

/// Runs the transfers, prints the tables and the derived paragraph, returns the figures.
pub async fn run(
    n: &mut Narrator,
    targets: &Targets,
    quick: bool,
) -> anyhow::Result<AtomicityFigures> {
    n.section(TITLE);
    n.say(&format!(
        "alice ({}) pays bob ({}) {AMOUNT} credits: a debit, then a credit. Between the two, a \
         statement fails: a fee bob cannot cover, which the column's CHECK (balance >= 0) refuses \
         (on Redis: appending to a ledger key that holds a string). It stands in for any failure \
         between two writes. Each run has its own table or keys.",
        OPENING.a, OPENING.b
    ));
    let mut figures = AtomicityFigures {
        amount: AMOUNT,
        transfers: Vec::new(),
        races: Vec::new(),
        left_out: Vec::new(),
    };
    match &targets.postgres {
        Some(url) => {
            for guard in SQL_GUARDS {
                figures
                    .transfers
                    .push(atomicity::postgres_transfer(url, guard).await?);
            }
        }
        None => figures
            .left_out
            .push("PostgreSQL unreachable: its transfer rows are left out".into()),
    }
    match &targets.mariadb {
        Some(url) => {
            for guard in SQL_GUARDS {
                figures
                    .transfers
                    .push(atomicity::mariadb_transfer(url, guard).await?);
            }
        }
        None => figures
            .left_out
            .push("MariaDB unreachable: its transfer rows are left out".into()),
    }
    match &targets.redis {
        Some(url) => {
            for guard in REDIS_GUARDS {
                figures
                    .transfers
                    .push(atomicity::redis_transfer(url, guard).await?);
            }
            figures.races.push(atomicity::redis_race(url, true).await?);
            figures.races.push(atomicity::redis_race(url, false).await?);
            let (workers, each) = if quick { (4, 10) } else { (8, 50) };
            figures
                .races
                .push(atomicity::redis_contended(url, workers, each).await?);
        }
        None => figures
            .left_out
            .push("Redis unreachable: its MULTI/EXEC and WATCH rows are left out".into()),
    }
    for line in &figures.left_out {
        n.say(line);
    }

    if !figures.transfers.is_empty() {
        let mut table = Table::new("engine, guard")
            .column("left behind", Unit::Text)
            .column("alice", Unit::Count)
            .column("bob", Unit::Count)
            .column("credits created", Unit::Count)
            .column("errors answered", Unit::Count)
            // Zero is the only right answer; a bar either side of it is money made or lost.
            .chart(
                Chart::bars()
                    .of(&["credits created"])
                    .titled("A transfer that fails halfway: credits created or destroyed"),
            );
        for t in &figures.transfers {
            table.row(
                format!("{}, {}", t.backend.label(), t.guard.label()),
                [
                    left_label(t.left).into(),
                    t.after.a.into(),
                    t.after.b.into(),
                    t.money_created.into(),
                    t.errors.len().into(),
                ],
            );
        }
        n.table(table);
    }
    if !figures.races.is_empty() {
        let mut table = Table::new("Redis race")
            .column("transfers", Unit::Count)
            .column("nil EXEC, retried", Unit::Count)
            .column("total before", Unit::Count)
            .column("total after", Unit::Count)
            .column("credits created", Unit::Count);
        for r in &figures.races {
            table.row(
                race_label(r),
                [
                    Cell::from(r.transfers),
                    r.retries.into(),
                    r.total_before.into(),
                    r.total_after.into(),
                    r.money_created.into(),
                ],
            );
        }
        n.table(table);
    }
    n.say(&paragraph(&figures));
    n.figures(&figures)?;
    Ok(figures)
}

fn left_label(left: Left) -> &'static str {
    match left {
        Left::Nothing => "nothing",
        Left::HalfDone => "half a transfer",
        Left::Both => "both writes",
    }
}

fn race_label(r: &Race) -> String {
    let watch = if r.watched { "WATCH" } else { "no WATCH" };
    if r.transfers == 2 {
        format!("two transfers from alice, interleaved, {watch}")
    } else {
        format!("{} contended transfers, {watch}", r.transfers)
    }
}

/// `a`, `a and b`, `a, b and c`.
fn listed(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// What the figures show, one sentence per finding.
pub fn paragraph(f: &AtomicityFigures) -> String {
    let mut sentences = vec![rollback(f), commit_after_error(f), redis_multi(f), races(f)];
    sentences.retain(|s| !s.is_empty());
    sentences.join(" ")
}

fn sql_backends(f: &AtomicityFigures) -> Vec<Backend> {
    [Backend::Postgres, Backend::MariaDb]
        .into_iter()
        .filter(|b| f.transfer(*b, Guard::Transaction).is_some())
        .collect()
}

fn rollback(f: &AtomicityFigures) -> String {
    let backends = sql_backends(f);
    if backends.is_empty() {
        return String::new();
    }
    let labels = |pick: &dyn Fn(&Transfer) -> bool| -> Vec<&'static str> {
        backends
            .iter()
            .filter(|b| f.transfer(**b, Guard::Transaction).is_some_and(pick))
            .map(|b| b.label())
            .collect()
    };
    let clean = labels(&|t| t.left == Left::Nothing);
    let dirty = labels(&|t| t.left != Left::Nothing);
    let mut s = String::new();
    if !clean.is_empty() {
        s.push_str(&format!(
            "Inside a transaction rolled back at the error, {} left both balances as they were.",
            listed(&clean)
        ));
    }
    if !dirty.is_empty() {
        s.push_str(&format!(
            " Inside a transaction rolled back at the error, {} still changed a balance: its \
             rollback did not undo the debit.",
            listed(&dirty)
        ));
    }
    let destroyed: Vec<String> = backends
        .iter()
        .filter_map(|b| f.transfer(*b, Guard::Autocommit))
        .filter(|t| t.left == Left::HalfDone)
        .map(|t| format!("{} ({} credits)", t.backend.label(), -t.money_created))
        .collect();
    if destroyed.is_empty() {
        s.push_str(" Without a transaction, no engine was left with half a transfer.");
    } else {
        let refs: Vec<&str> = destroyed.iter().map(String::as_str).collect();
        s.push_str(&format!(
            " Without one, the debit was already committed when the failure came, and the \
             credit never ran: {} destroyed.",
            listed(&refs)
        ));
    }
    s.trim_start().to_owned()
}

fn commit_after_error(f: &AtomicityFigures) -> String {
    let describe = |b: Backend| -> Option<String> {
        let t = f.transfer(b, Guard::CommitAfterError)?;
        Some(match (b, t.left) {
            (Backend::Postgres, Left::Nothing) => "PostgreSQL had marked the whole transaction \
                 failed at the error, and the COMMIT rolled it back"
                .to_owned(),
            (Backend::MariaDb, Left::HalfDone) => "MariaDB had undone only the failed statement \
                 and kept the transaction open, and the COMMIT committed the debit alone"
                .to_owned(),
            (_, Left::Nothing) => format!("{} committed nothing", b.label()),
            (_, Left::HalfDone) => format!("{} committed half the transfer", b.label()),
            (_, Left::Both) => format!("{} committed both writes", b.label()),
        })
    };
    let parts: Vec<String> = [Backend::Postgres, Backend::MariaDb]
        .into_iter()
        .filter_map(describe)
        .collect();
    if parts.is_empty() {
        return String::new();
    }
    let half = [Backend::Postgres, Backend::MariaDb]
        .into_iter()
        .filter_map(|b| f.transfer(b, Guard::CommitAfterError))
        .any(|t| t.left == Left::HalfDone);
    let moral = if half {
        " A transaction is only atomic if the error path rolls it back."
    } else {
        ""
    };
    format!(
        "Committing anyway after the error: {}.{moral}",
        parts.join("; ")
    )
}

fn redis_multi(f: &AtomicityFigures) -> String {
    let Some(multi) = f.transfer(Backend::Redis, Guard::MultiExec) else {
        return String::new();
    };
    let mut s = match multi.left {
        Left::Both if !multi.errors.is_empty() => format!(
            "Redis ran the MULTI block's other commands although one failed at EXEC ({} \
             balances changed, {} error): MULTI/EXEC isolates, it does not roll back.",
            multi.balances_changed,
            multi.errors.len()
        ),
        Left::Nothing => {
            "Redis applied nothing of the MULTI block with the failing command.".to_owned()
        }
        _ => format!(
            "Redis's MULTI block with the failing command left {}.",
            left_label(multi.left)
        ),
    };
    if let Some(queued) = f.transfer(Backend::Redis, Guard::MultiQueueError) {
        s.push_str(if queued.left == Left::Nothing {
            " Only a command refused while queueing (wrong arity) made EXEC discard the whole block."
        } else {
            " Even a command refused while queueing did not stop the rest of the block."
        });
    }
    s
}

fn races(f: &AtomicityFigures) -> String {
    let pair = |watched: bool| {
        f.races
            .iter()
            .find(|r| r.transfers == 2 && r.watched == watched)
    };
    let mut s = String::new();
    if let Some(w) = pair(true) {
        s.push_str(&match (w.retries, w.money_created) {
            (0, 0) => "With WATCH, the transfer whose read went stale was not retried and the \
                 total still held, so the interleaving did not take place."
                .to_owned(),
            (r, 0) => format!(
                "With WATCH, the transfer whose read went stale got a nil EXEC and retried {r} \
                 time{} on fresh balances; the total stayed {}.",
                if r == 1 { "" } else { "s" },
                w.total_after
            ),
            (_, created) => format!(
                "Even with WATCH, the race changed the total by {created} credits: the watch \
                 did not protect the read."
            ),
        });
    }
    if let Some(u) = pair(false) {
        s.push_str(&if u.money_created == 0 {
            " Without WATCH, the stale write happened to conserve the total.".to_owned()
        } else {
            format!(
                " Without WATCH, the stale transfer overwrote the other one's debit: {} credits \
                 {} from nowhere.",
                u.money_created.abs(),
                if u.money_created > 0 {
                    "appeared"
                } else {
                    "vanished"
                }
            )
        });
    }
    if let Some(c) = f.races.iter().find(|r| r.transfers > 2) {
        s.push_str(&format!(
            " {} concurrent watched transfers needed {} retries and {}.",
            c.transfers,
            c.retries,
            if c.money_created == 0 {
                "kept the total".to_owned()
            } else {
                format!("changed the total by {}", c.money_created)
            }
        ));
    }
    s.trim_start().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atomicity::Balances;

    fn transfer(backend: Backend, guard: Guard, a: i64, b: i64, errors: usize) -> Transfer {
        let after = Balances { a, b };
        let changed = u64::from(a != OPENING.a) + u64::from(b != OPENING.b);
        Transfer {
            backend,
            guard,
            amount: AMOUNT,
            before: OPENING,
            after,
            left: match changed {
                0 => Left::Nothing,
                1 => Left::HalfDone,
                _ => Left::Both,
            },
            money_created: after.total() - OPENING.total(),
            balances_changed: changed,
            errors: vec!["e".into(); errors],
        }
    }

    fn race(transfers: u64, watched: bool, retries: u64, created: i64) -> Race {
        Race {
            watched,
            transfers,
            retries,
            total_before: 150,
            total_after: 150 + created,
            money_created: created,
        }
    }

    fn expected() -> AtomicityFigures {
        use Backend::*;
        use Guard::*;
        AtomicityFigures {
            amount: AMOUNT,
            transfers: vec![
                transfer(Postgres, Transaction, 100, 50, 1),
                transfer(Postgres, CommitAfterError, 100, 50, 1),
                transfer(Postgres, Autocommit, 70, 50, 1),
                transfer(MariaDb, Transaction, 100, 50, 1),
                transfer(MariaDb, CommitAfterError, 70, 50, 1),
                transfer(MariaDb, Autocommit, 70, 50, 1),
                transfer(Redis, MultiExec, 70, 80, 1),
                transfer(Redis, MultiQueueError, 100, 50, 2),
                transfer(Redis, OneByOne, 70, 50, 1),
            ],
            races: vec![
                race(2, true, 1, 0),
                race(2, false, 0, 10),
                race(40, true, 57, 0),
            ],
            left_out: vec![],
        }
    }

    #[test]
    fn the_expected_figures_give_the_lesson() {
        let p = paragraph(&expected());
        assert!(
            p.contains("PostgreSQL and MariaDB left both balances as they were"),
            "{p}"
        );
        assert!(
            p.contains("PostgreSQL (30 credits) and MariaDB (30 credits) destroyed"),
            "{p}"
        );
        assert!(
            p.contains("the COMMIT rolled it back; MariaDB had undone only"),
            "{p}"
        );
        assert!(p.contains("the COMMIT committed the debit alone"), "{p}");
        assert!(p.contains("it does not roll back"), "{p}");
        assert!(p.contains("retried 1 time on fresh balances"), "{p}");
        assert!(p.contains("10 credits appeared from nowhere"), "{p}");
        assert!(
            p.contains("40 concurrent watched transfers needed 57 retries and kept the total"),
            "{p}"
        );
    }

    #[test]
    fn contrary_figures_change_every_claim_they_touch() {
        let mut f = expected();
        for t in &mut f.transfers {
            *t = match (t.backend, t.guard) {
                (Backend::MariaDb, Guard::Transaction) => {
                    transfer(Backend::MariaDb, Guard::Transaction, 70, 50, 1)
                }
                (b, Guard::Autocommit) => transfer(b, Guard::Autocommit, 100, 50, 1),
                (Backend::MariaDb, Guard::CommitAfterError) => {
                    transfer(Backend::MariaDb, Guard::CommitAfterError, 100, 50, 1)
                }
                (Backend::Redis, Guard::MultiExec) => {
                    transfer(Backend::Redis, Guard::MultiExec, 100, 50, 1)
                }
                _ => t.clone(),
            };
        }
        f.races = vec![race(2, true, 0, 5), race(2, false, 0, 0)];
        let p = paragraph(&f);
        assert!(p.contains("MariaDB still changed a balance"), "{p}");
        assert!(p.contains("no engine was left with half a transfer"), "{p}");
        assert!(p.contains("MariaDB committed nothing"), "{p}");
        assert!(!p.contains("only atomic if the error path"), "{p}");
        assert!(p.contains("Redis applied nothing"), "{p}");
        assert!(p.contains("did not protect the read"), "{p}");
        assert!(p.contains("happened to conserve the total"), "{p}");
    }

    #[test]
    fn engines_left_out_leave_their_sentences_out() {
        let f = AtomicityFigures {
            amount: AMOUNT,
            transfers: vec![],
            races: vec![],
            left_out: vec!["PostgreSQL unreachable".into()],
        };
        assert_eq!(paragraph(&f), "");
    }
}
