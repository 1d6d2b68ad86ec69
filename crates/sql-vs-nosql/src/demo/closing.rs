//! "What you just saw": the goals table and the closing paragraph, built only from the figures
//! the sections returned, so every sentence turns round when the figures do.
//!
//! The recommendation is the (start relational unless a measured need says otherwise),
//! and the paragraph names the measured needs this run found: each question where a
//! non-relational engine beat PostgreSQL by more than [`NEED`]×.

use serde::Serialize;
use support::narrate::Narrator;
use support::report::{Goal, Table, Unit, format_ratio};

use super::atomicity::AtomicityFigures;
use super::graph_depth::{self, GraphDepth};
use super::isolation::IsolationFigures;
use super::operations::{Operation, Operations};
use super::point_lookup::PointLookups;
use crate::atomicity::{Backend, Guard};
use crate::isolation::outcome::Outcome;
use crate::isolation::{Level, Setting, SqlEngine};
use crate::store::Engine;

/// How much faster than PostgreSQL another engine must be before the paragraph calls it a
/// measured need rather than noise between good-enough answers.
pub const NEED: f64 = 2.0;

/// The figures the paragraph reads.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    pub operations: &'a Operations,
    pub lookups: &'a PointLookups,
    pub depth: &'a GraphDepth,
    pub atomicity: &'a AtomicityFigures,
    pub isolation: &'a IsolationFigures,
}

/// One question where another family beat the relational baseline by more than [`NEED`]×.
#[derive(Debug, Clone, Serialize)]
pub struct Need {
    pub operation: Operation,
    pub engine: Engine,
    /// The baseline's median over the winner's.
    pub speedup: f64,
}

/// What the closing found.
#[derive(Debug, Clone, Serialize)]
pub struct Closing {
    pub needs: Vec<Need>,
    pub redis_lookup: Option<Goal>,
    pub postgres_lookup: Option<Goal>,
    /// Anomalies allowed at each engine's default level (PostgreSQL read committed, MariaDB
    /// repeatable read).
    pub default_level_anomalies: Vec<(SqlEngine, usize, usize)>,
    pub paragraph: String,
}

pub fn run(n: &mut Narrator, inputs: Inputs<'_>) -> anyhow::Result<Closing> {
    n.section("What you just saw");
    let closing = derive(inputs);
    let mut goals = Table::new("goal")
        .column("target", Unit::Text)
        .column("measured", Unit::Ratio)
        .column("met", Unit::Text);
    for (label, goal) in [
        ("Redis: a user hash read ÷ a bare GET", closing.redis_lookup),
        (
            "PostgreSQL: diesel's lookup ÷ a bare prepared SELECT",
            closing.postgres_lookup,
        ),
    ] {
        if let Some(g) = goal {
            goals.row(
                label,
                [
                    format!("≤ {}", format_ratio(g.target)).into(),
                    g.measured.into(),
                    g.verdict().into(),
                ],
            );
        }
    }
    goals.row(
        "The depth at which the graph overtakes the CTE",
        [
            "shown".into(),
            inputs.depth.graph_overtakes_at.map(f64::from).into(),
            if inputs.depth.compared {
                "shown"
            } else {
                "not run"
            }
            .into(),
        ],
    );
    n.table(goals);
    n.say(&closing.paragraph);
    n.figures(&closing)?;
    Ok(closing)
}

/// The closing figures and paragraph, from the sections' figures alone.
pub fn derive(inputs: Inputs<'_>) -> Closing {
    let ops = inputs.operations;
    let base = ops.baseline.label();
    let mut needs = Vec::new();
    let mut lagging = Vec::new();
    let mut costliest: Option<(Operation, Engine, f64)> = None;
    for operation in Operation::ALL {
        let best = |relational: bool| {
            ops.timings
                .iter()
                .filter(|t| {
                    t.operation == operation && (t.engine.family() == "relational") == relational
                })
                .map(|t| (t.engine, t.measurement.p50_us()))
                .min_by(|a, b| a.1.total_cmp(&b.1))
        };
        let Some((sql_engine, sql_best)) = best(true) else {
            continue;
        };
        if let Some((engine, other)) = best(false)
            && other > 0.0
            && sql_best / other > NEED
        {
            needs.push(Need {
                operation,
                engine,
                speedup: sql_best / other,
            });
        }
        if let Some(pg) = ops.p50_us(ops.baseline, operation)
            && sql_engine != ops.baseline
            && sql_best > 0.0
            && pg / sql_best > NEED
        {
            lagging.push((operation, sql_engine, pg / sql_best));
        }
        for t in ops.timings.iter().filter(|t| t.operation == operation) {
            let ratio = t.measurement.p50_us() / sql_best.max(1e-9);
            if costliest.is_none_or(|(_, _, r)| ratio > r) {
                costliest = Some((operation, t.engine, ratio));
            }
        }
    }
    let default_level_anomalies: Vec<(SqlEngine, usize, usize)> = [
        Setting::new(SqlEngine::Postgres, Level::ReadCommitted),
        Setting::new(SqlEngine::MariaDb, Level::RepeatableRead),
    ]
    .into_iter()
    .filter_map(|setting| {
        let cells: Vec<_> = inputs
            .isolation
            .cells
            .iter()
            .filter(|c| c.setting == setting)
            .collect();
        let allowed = cells
            .iter()
            .filter(|c| c.outcome == Outcome::Anomaly)
            .count();
        (!cells.is_empty()).then_some((setting.engine, allowed, cells.len()))
    })
    .collect();

    let mut said = Vec::new();
    let engines: std::collections::BTreeSet<&str> =
        ops.timings.iter().map(|t| t.engine.label()).collect();
    if engines.len() <= 1 {
        said.push(format!(
            "Only {base} was connected in this run, so no family was compared with another: \
             start the services to see the comparison."
        ));
    } else if needs.is_empty() {
        said.push(format!(
            "On every question of this run a relational engine was within {NEED}× of the fastest \
             answer from any family, so nothing here is a measured need for another one: start \
             relational."
        ));
    } else {
        let list: Vec<String> = needs
            .iter()
            .map(|need| {
                format!(
                    "{} ({}, {} faster than the best relational engine)",
                    short(need.operation),
                    need.engine.label(),
                    format_ratio(need.speedup)
                )
            })
            .collect();
        said.push(format!(
            "Start relational, and add another family where a measurement says so. In this run \
             that was: {}. On every other question a relational engine was within {NEED}× of the \
             fastest.",
            list.join("; ")
        ));
    }
    if !lagging.is_empty() {
        let list: Vec<String> = lagging
            .iter()
            .map(|(op, engine, r)| {
                format!(
                    "{} ({} {} faster)",
                    short(*op),
                    engine.label(),
                    format_ratio(*r)
                )
            })
            .collect();
        said.push(format!(
            "Where {base} trailed another relational engine by more than {NEED}× ({}), the fix \
             is a plan or an index, not another family.",
            list.join("; ")
        ));
    }
    if let Some((op, engine, ratio)) = costliest
        && ratio > 10.0
    {
        said.push(format!(
            "The costliest answer of the run: {} on {}, {} the best relational engine's.",
            short(op),
            engine.label(),
            format_ratio(ratio)
        ));
    }
    said.push(graph_depth::verdict(inputs.depth));
    if let Some(t) = inputs.atomicity.transfer(Backend::Redis, Guard::MultiExec) {
        let sql_kept_nothing = [Backend::Postgres, Backend::MariaDb].into_iter().all(|b| {
            inputs
                .atomicity
                .transfer(b, Guard::Transaction)
                .is_none_or(|t| t.balances_changed == 0)
        });
        said.push(if t.balances_changed > 0 && !t.errors.is_empty() {
            format!(
                "What the speed costs: Redis MULTI/EXEC applied {} balance change(s) although a \
                 command in the same block failed (it isolates, it does not roll back){}.",
                t.balances_changed,
                if sql_kept_nothing {
                    ", where a rolled-back SQL transaction left nothing"
                } else {
                    ""
                }
            )
        } else {
            "In this run Redis MULTI/EXEC left nothing behind when a command in it failed."
                .to_owned()
        });
    }
    for (engine, allowed, of) in &default_level_anomalies {
        said.push(format!(
            "At its default isolation level {} allowed {allowed} of the {of} Hermitage anomalies \
             tested: a transaction is not serializable unless you ask for it.",
            engine.label()
        ));
    }
    Closing {
        needs,
        redis_lookup: inputs.lookups.redis.as_ref().map(|l| l.goal),
        postgres_lookup: inputs.lookups.postgres.as_ref().map(|l| l.goal),
        default_level_anomalies,
        paragraph: said.join(" "),
    }
}

fn short(operation: Operation) -> &'static str {
    match operation {
        Operation::PointLookup => "the point lookup",
        Operation::Profile => "the profile",
        Operation::HomeFeed => "the home feed",
        Operation::TopPosts => "the top posts",
        Operation::FriendsOfFriends => "friends of friends",
        Operation::LikedAlike => "people who liked what you liked",
        Operation::CreatePost => "creating a post",
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use support::measure::Measurement;

    use super::*;
    use crate::demo::operations::Timing;

    fn timing(engine: Engine, operation: Operation, us: u64) -> Timing {
        Timing {
            engine,
            operation,
            measurement: Measurement::flat(Duration::from_micros(us)),
        }
    }

    fn paragraph(timings: Vec<Timing>) -> String {
        let operations = Operations {
            baseline: Engine::Postgres,
            timings,
        };
        let lookups = PointLookups {
            redis: None,
            postgres: None,
        };
        let depth = GraphDepth {
            reached: vec![],
            timings: vec![],
            graph_overtakes_at: None,
            graph_faster_at: vec![],
            graph_bfs: vec![],
            compared: false,
        };
        let atomicity = AtomicityFigures {
            amount: 30,
            transfers: vec![],
            races: vec![],
            left_out: vec![],
        };
        let isolation = IsolationFigures {
            settings: vec![],
            cells: vec![],
            versions: vec![],
            elapsed_ms: 0.0,
            left_out: vec![],
        };
        derive(Inputs {
            operations: &operations,
            lookups: &lookups,
            depth: &depth,
            atomicity: &atomicity,
            isolation: &isolation,
        })
        .paragraph
    }

    #[test]
    fn a_feed_much_faster_on_redis_is_named_as_a_measured_need_and_a_close_one_is_not() {
        let said = paragraph(vec![
            timing(Engine::Postgres, Operation::HomeFeed, 4_000),
            timing(Engine::RedisFanOutOnWrite, Operation::HomeFeed, 100),
            timing(Engine::Postgres, Operation::PointLookup, 30),
            timing(Engine::RedisFanOutOnRead, Operation::PointLookup, 25),
        ]);
        assert!(
            said.contains("the home feed (Redis (fan-out on write), 40.0× faster than the best"),
            "{said}"
        );
        assert!(!said.contains("the point lookup"), "{said}");
    }

    #[test]
    fn when_postgres_is_close_everywhere_the_paragraph_finds_no_need() {
        let said = paragraph(vec![
            timing(Engine::Postgres, Operation::HomeFeed, 150),
            timing(Engine::RedisFanOutOnWrite, Operation::HomeFeed, 100),
        ]);
        assert!(said.contains("nothing here is a measured need"), "{said}");
    }

    #[test]
    fn postgres_trailing_sqlite_is_called_a_plan_to_fix_and_a_huge_ratio_is_named() {
        let said = paragraph(vec![
            timing(Engine::Postgres, Operation::HomeFeed, 1_600),
            timing(Engine::Sqlite, Operation::HomeFeed, 130),
            timing(Engine::RedisFanOutOnWrite, Operation::HomeFeed, 190),
            timing(Engine::Postgres, Operation::TopPosts, 33),
            timing(Engine::FalkorDb, Operation::TopPosts, 949_000),
        ]);
        assert!(said.contains("nothing here is a measured need"), "{said}");
        assert!(said.contains("the home feed (SQLite"), "{said}");
        assert!(
            said.contains("the top posts on FalkorDB (Cypher)"),
            "{said}"
        );
        let said = paragraph(vec![
            timing(Engine::Postgres, Operation::HomeFeed, 150),
            timing(Engine::Sqlite, Operation::HomeFeed, 130),
        ]);
        assert!(!said.contains("not another family"), "{said}");
        assert!(!said.contains("costliest"), "{said}");
    }
}
