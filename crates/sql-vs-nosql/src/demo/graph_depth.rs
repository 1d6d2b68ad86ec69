//! "How deep before the graph wins": everyone reachable within 1 to 4 follow hops, as a
//! recursive CTE on each relational engine, as set operations on Redis, and as a Cypher path
//! pattern on FalkorDB. The question the section answers is the issue's: at which depth does the
//! graph engine overtake the recursive CTE, or does it not, on this data?

use serde::Serialize;
use support::measure::{Measurement, Plan, measure};
use support::narrate::Narrator;
use support::report::{Cell, Chart, Table, Unit, format_ratio};

use crate::graph::GraphStore;
use crate::store::{Engine, SocialStore};

/// The deepest traversal measured.
pub const MAX_HOPS: u32 = 4;

/// One engine at one depth.
#[derive(Debug, Clone, Serialize)]
pub struct DepthTiming {
    pub engine: Engine,
    pub hops: u32,
    pub measurement: Measurement,
}

/// What the section measured.
#[derive(Debug, Clone, Serialize)]
pub struct GraphDepth {
    /// Users reached from the first measured user, per depth (the same on every engine).
    pub reached: Vec<(u32, u64)>,
    pub timings: Vec<DepthTiming>,
    /// The depth from which FalkorDB's median beat PostgreSQL's recursive CTE at that depth and
    /// every deeper one (`None`: it never held to the deepest level, or one of them was not
    /// connected).
    pub graph_overtakes_at: Option<u32>,
    /// Every depth at which FalkorDB's median beat the CTE's.
    pub graph_faster_at: Vec<u32>,
    /// FalkorDB's breadth-first procedure (`algo.BFS`) on the same question, per depth: one
    /// visit per node instead of one per path.
    pub graph_bfs: Vec<(u32, Measurement)>,
    /// Whether both FalkorDB and PostgreSQL ran, so `graph_overtakes_at = None` means "never".
    pub compared: bool,
}

impl GraphDepth {
    pub fn bfs_ms(&self, hops: u32) -> Option<f64> {
        self.graph_bfs
            .iter()
            .find(|(h, _)| *h == hops)
            .map(|(_, m)| m.p50.as_secs_f64() * 1e3)
    }

    pub fn p50_ms(&self, engine: Engine, hops: u32) -> Option<f64> {
        self.timings
            .iter()
            .find(|t| t.engine == engine && t.hops == hops)
            .map(|t| t.measurement.p50.as_secs_f64() * 1e3)
    }
}

pub async fn run(
    n: &mut Narrator,
    stores: &[&dyn SocialStore],
    bfs: Option<&GraphStore>,
    users: i64,
    plan: Plan,
) -> anyhow::Result<GraphDepth> {
    n.section("How deep before the graph wins");
    let user = |i: u64| 1 + ((i as i64).wrapping_mul(7_919)).rem_euclid(users);
    let mut reached = Vec::new();
    let mut timings = Vec::new();
    for hops in 1..=MAX_HOPS {
        if let Some(first) = stores.first() {
            reached.push((hops, first.reachable_within(user(0), hops).await?));
        }
        for &store in stores {
            let measurement = measure(plan, |i| async move {
                store.reachable_within(user(i), hops).await.map(drop)
            })
            .await;
            timings.push(DepthTiming {
                engine: store.engine(),
                hops,
                measurement,
            });
        }
    }
    let mut graph_bfs = Vec::new();
    if let Some(graph) = bfs {
        for hops in 1..=MAX_HOPS {
            let measurement = measure(plan, |i| async move {
                graph.reachable_within_bfs(user(i), hops).await.map(drop)
            })
            .await;
            graph_bfs.push((hops, measurement));
        }
    }
    let engines: Vec<Engine> = stores.iter().map(|s| s.engine()).collect();
    let compared = engines.contains(&Engine::FalkorDb) && engines.contains(&Engine::Postgres);
    let mut figures = GraphDepth {
        reached,
        timings,
        graph_overtakes_at: None,
        graph_faster_at: Vec::new(),
        graph_bfs,
        compared,
    };
    figures.graph_faster_at = (1..=MAX_HOPS)
        .filter(|&h| {
            matches!(
                (figures.p50_ms(Engine::FalkorDb, h), figures.p50_ms(Engine::Postgres, h)),
                (Some(g), Some(p)) if g < p
            )
        })
        .collect();
    figures.graph_overtakes_at = overtakes_at(&figures.graph_faster_at);

    let mut table = Table::new("follow hops").column("users reached (first user)", Unit::Count);
    for e in &engines {
        table = table.column(format!("{} p50", e.label()), Unit::Millis);
    }
    if !figures.graph_bfs.is_empty() {
        table = table.column("FalkorDB algo.BFS p50", Unit::Millis);
    }
    if compared {
        table = table.column("PostgreSQL ÷ FalkorDB (pattern)", Unit::Ratio);
    }
    // One line per engine across the hop counts, on a log axis: a hop's cost multiplies with depth.
    let timed: Vec<String> = table
        .columns
        .iter()
        .filter(|c| c.unit == Unit::Millis)
        .map(|c| c.title.clone())
        .collect();
    let timed: Vec<&str> = timed.iter().map(String::as_str).collect();
    table = table.chart(
        Chart::lines()
            .log()
            .of(&timed)
            .titled("Following hops: p50 per engine by depth"),
    );
    for hops in 1..=MAX_HOPS {
        let mut cells: Vec<Cell> = vec![
            figures
                .reached
                .iter()
                .find(|(h, _)| *h == hops)
                .map(|(_, r)| *r)
                .into(),
        ];
        cells.extend(engines.iter().map(|&e| figures.p50_ms(e, hops).into()));
        if !figures.graph_bfs.is_empty() {
            cells.push(figures.bfs_ms(hops).into());
        }
        if compared {
            let ratio = match (
                figures.p50_ms(Engine::Postgres, hops),
                figures.p50_ms(Engine::FalkorDb, hops),
            ) {
                (Some(p), Some(g)) if g > 0.0 => Some(p / g),
                _ => None,
            };
            cells.push(ratio.into());
        }
        table.row(hops.to_string(), cells);
    }
    n.table(table);
    let mut said = verdict(&figures);
    if let (Some(b), Some(p)) = (
        figures.bfs_ms(MAX_HOPS),
        figures.p50_ms(Engine::Postgres, MAX_HOPS),
    ) {
        said.push_str(&format!(
            " FalkorDB's breadth-first procedure, which visits each user once, took {} ms at \
             {MAX_HOPS} hops, {} the CTE.",
            support::report::format_number(b),
            format_ratio(b / p.max(1e-9))
        ));
    }
    n.say(&said);
    n.figures(&figures)?;
    Ok(figures)
}

/// The depth from which the graph was faster at every deeper level too.
fn overtakes_at(faster: &[u32]) -> Option<u32> {
    (1..=MAX_HOPS).find(|&h| (h..=MAX_HOPS).all(|d| faster.contains(&d)))
}

/// The section's sentence, from the figures alone.
pub fn verdict(f: &GraphDepth) -> String {
    if !f.compared {
        return "FalkorDB or PostgreSQL was not connected, so the graph engine was not compared \
                with the recursive CTE in this run."
            .to_owned();
    }
    let ratio = |h| match (f.p50_ms(Engine::Postgres, h), f.p50_ms(Engine::FalkorDb, h)) {
        (Some(p), Some(g)) if g > 0.0 => format_ratio(p / g),
        _ => "?".to_owned(),
    };
    match f.graph_overtakes_at {
        Some(1) => format!(
            "FalkorDB answered faster than PostgreSQL's recursive CTE at every depth, from one hop \
             (CTE ÷ Cypher = {} at 1 hop, {} at {MAX_HOPS}).",
            ratio(1),
            ratio(MAX_HOPS)
        ),
        Some(h) => format!(
            "The recursive CTE was faster up to {} hop(s); FalkorDB overtook it at {h} hops \
             (CTE ÷ Cypher = {} there, {} at {MAX_HOPS}).",
            h - 1,
            ratio(h),
            ratio(MAX_HOPS)
        ),
        None if f.graph_faster_at.is_empty() => format!(
            "On this data the graph engine did not overtake the recursive CTE at any depth up to \
             {MAX_HOPS} (CTE ÷ Cypher = {} at {MAX_HOPS} hops).",
            ratio(MAX_HOPS)
        ),
        None => {
            let faster: Vec<String> = f.graph_faster_at.iter().map(u32::to_string).collect();
            format!(
                "FalkorDB was faster than the recursive CTE at {} hop(s) but not at {MAX_HOPS} \
                 (CTE ÷ Cypher = {} there): the variable-length pattern enumerates paths, and \
                 their number grows with every hop while the CTE's `UNION` keeps one row per \
                 user and depth.",
                faster.join(", "),
                ratio(MAX_HOPS)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn timing(engine: Engine, hops: u32, ms: u64) -> DepthTiming {
        DepthTiming {
            engine,
            hops,
            measurement: Measurement::flat(Duration::from_millis(ms)),
        }
    }

    #[test]
    fn the_verdict_names_the_depth_where_the_graph_overtakes_and_says_so_when_it_never_does() {
        let mut f = GraphDepth {
            reached: vec![],
            timings: vec![
                timing(Engine::Postgres, 1, 1),
                timing(Engine::FalkorDb, 1, 2),
                timing(Engine::Postgres, 4, 40),
                timing(Engine::FalkorDb, 4, 10),
            ],
            graph_overtakes_at: Some(4),
            graph_faster_at: vec![4],
            graph_bfs: vec![],
            compared: true,
        };
        assert!(
            verdict(&f).contains("overtook it at 4 hops"),
            "{}",
            verdict(&f)
        );
        f.graph_overtakes_at = None;
        f.graph_faster_at = vec![];
        assert!(verdict(&f).contains("did not overtake"), "{}", verdict(&f));
        // Faster shallow, slower deep: neither "every depth" nor "never".
        f.graph_faster_at = vec![1, 2];
        let said = verdict(&f);
        assert!(
            said.contains("faster than the recursive CTE at 1, 2 hop(s) but not at 4"),
            "{said}"
        );
        assert_eq!(overtakes_at(&[1, 2]), None);
        assert_eq!(overtakes_at(&[2, 3, 4]), Some(2));
    }
}
