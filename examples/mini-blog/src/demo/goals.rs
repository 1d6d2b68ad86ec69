//! "Performance goals": the one this demo can judge; the throughput goal is the benchmark's
//! (`just bench mini-blog`), since it needs a load generator against the release build.

use serde::Serialize;
use support::narrate::Narrator;
use support::report::{Goal, Table, Unit, format_ratio};

use super::top_posts::TopPosts;

/// `GET /api/articles/top` from the cache should be at least this many times faster (median)
/// than computed from the database.
pub const TOP_SPEEDUP_TARGET: f64 = 100.0;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Goals {
    pub top_speedup: Goal,
}

pub fn run(n: &mut Narrator, top: &TopPosts) -> anyhow::Result<Goals> {
    n.section("Performance goals");
    let goals = Goals {
        top_speedup: Goal::at_least(top.speedup(), TOP_SPEEDUP_TARGET),
    };
    let mut table = Table::new("goal")
        .column("target", Unit::Text)
        .column("measured", Unit::Text)
        .column("met", Unit::Text);
    table.row(
        "top list from the cache vs computed (p50)",
        [
            format!("≥ {}", format_ratio(TOP_SPEEDUP_TARGET)).into(),
            format_ratio(goals.top_speedup.measured).into(),
            goals.top_speedup.verdict().into(),
        ],
    );
    n.table(table);
    n.figures(&goals)?;
    Ok(goals)
}
