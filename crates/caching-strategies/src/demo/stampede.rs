//! Stampede: a thousand concurrent requests for one cold post, without protection and with
//! read-through's coalescing; then the expensive read, top posts.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use support::Plan;
use support::measure::measure;
use support::narrate::Narrator;
use support::report::{Chart, Table, Unit};

use super::Bench;
use crate::app::{StrategyKind, TierKind};
use crate::strategies::Deps;

/// What every store read costs in the stampede section, on top of the query itself: the round
/// trip to a database in another zone. Stated, not hidden, so the lesson holds on any store.
pub const STAMPEDE_LOAD_LATENCY: Duration = Duration::from_millis(50);

/// Concurrent requests for one cold post.
pub const REQUESTS: u64 = 1_000;

/// What the requests asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Read {
    PostById,
    TopPosts,
}

impl Read {
    fn name(self) -> &'static str {
        match self {
            Self::PostById => "post by id",
            Self::TopPosts => "top posts",
        }
    }
}

/// One row: `requests` concurrent cold requests and the store loads they caused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StampedeRow {
    pub tier: TierKind,
    pub strategy: StrategyKind,
    pub read: Read,
    pub requests: u64,
    pub db_loads: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub wall_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StampedeFigures {
    /// The stated cost added to every store read in this section.
    pub load_cost_ms: f64,
    pub rows: Vec<StampedeRow>,
}

impl StampedeFigures {
    /// The row for `strategy` on `tier` reading `read`.
    pub fn row(&self, tier: TierKind, strategy: StrategyKind, read: Read) -> Option<&StampedeRow> {
        self.rows
            .iter()
            .find(|r| r.tier == tier && r.strategy == strategy && r.read == read)
    }

    /// Plain cache-aside on moka, one cold post: no protection.
    pub fn unprotected(&self) -> Option<&StampedeRow> {
        self.row(TierKind::Moka, StrategyKind::CacheAside, Read::PostById)
    }

    /// Read-through on moka, the same post: coalesced.
    pub fn coalesced(&self) -> Option<&StampedeRow> {
        self.row(TierKind::Moka, StrategyKind::ReadThrough, Read::PostById)
    }
}

pub async fn run(n: &mut Narrator, b: &Bench) -> anyhow::Result<StampedeFigures> {
    let latency_ms = STAMPEDE_LOAD_LATENCY.as_millis();
    n.section("Stampede");
    n.say(&format!(
        "{REQUESTS} concurrent requests for one cold post, all in flight at once. A stampede is a \
         slow load meeting many concurrent misses, so in this section every store read first waits \
         {latency_ms} ms (the round trip to a database in another zone): a local {} read alone \
         can finish before most requests have looked in the cache, and hide the stampede. \
         Cache-aside has no protection: every request misses and goes to the store. Read-through \
         coalesces with moka's try_get_with: one request loads, the rest wait for its result. \
         Then the same for the expensive read, top posts, with fewer requests.",
        b.store.backend().name()
    ));
    let store = b.store.with_read_latency(STAMPEDE_LOAD_LATENCY);
    let mut table = Table::new("strategy / tier")
        .column("requests", Unit::Count)
        .column("load cost added", Unit::Millis)
        .column("DB loads", Unit::Count)
        .column("p50", Unit::Micros)
        .column("p99", Unit::Micros)
        .column("wall time", Unit::Millis)
        .chart(
            Chart::bars()
                .log()
                .of(&["requests", "DB loads"])
                .titled("stampede: requests against the loads the store received (log scale)"),
        );
    let top_requests = if b.quick { 5 } else { 30 };
    let load_cost_ms = STAMPEDE_LOAD_LATENCY.as_secs_f64() * 1e3;
    let mut rows = Vec::new();
    for kind in b.kinds() {
        for strategy_kind in [StrategyKind::CacheAside, StrategyKind::ReadThrough] {
            for read in [Read::PostById, Read::TopPosts] {
                // --quick stampedes top posts on moka only: the unprotected row is the slow one.
                if read == Read::TopPosts && b.quick && kind != TierKind::Moka {
                    continue;
                }
                let label = format!("stampede {} {}", strategy_kind.name(), read.name());
                let deps = Deps {
                    store: store.clone(),
                    ..b.deps(b.tier(kind, &label).await?)
                };
                let strategy = strategy_kind.build(deps, &b.config);
                let (requests, cold_id) = match read {
                    Read::PostById => (REQUESTS, b.ids.one()?),
                    Read::TopPosts => (top_requests, 0),
                };
                let before = b.store.queries();
                let plan = Plan::iterations(requests)
                    .warmup(0)
                    .concurrency(usize::try_from(requests).unwrap_or(1))
                    .budget(Duration::from_secs(30));
                let m = measure(plan, |_| {
                    let strategy = Arc::clone(&strategy);
                    async move {
                        match read {
                            Read::PostById => strategy.get_post(cold_id).await.map(drop),
                            Read::TopPosts => strategy.top_posts().await.map(drop),
                        }
                    }
                })
                .await;
                let row = StampedeRow {
                    tier: kind,
                    strategy: strategy_kind,
                    read,
                    requests,
                    db_loads: b.store.queries() - before,
                    p50_us: m.p50_us(),
                    p99_us: m.p99_us(),
                    wall_ms: m.elapsed.as_secs_f64() * 1e3,
                };
                table.row(
                    format!(
                        "{} / {} ({})",
                        kind.name(),
                        strategy_kind.name(),
                        read.name()
                    ),
                    [
                        requests.into(),
                        load_cost_ms.into(),
                        row.db_loads.into(),
                        row.p50_us.into(),
                        row.p99_us.into(),
                        row.wall_ms.into(),
                    ],
                );
                rows.push(row);
            }
        }
    }
    n.table(table);
    let figures = StampedeFigures { load_cost_ms, rows };
    n.figures(&figures)?;
    Ok(figures)
}
