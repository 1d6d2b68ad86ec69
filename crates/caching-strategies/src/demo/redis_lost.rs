//! Redis lost mid-run, through a TCP link the demo cuts and mends: reads fall back to the store;
//! then a write during the outage, per strategy, on a tier that forgets the invalidation it could
//! not send (before) and on the repair journal (after).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use support::measure::measure;
use support::narrate::Narrator;
use support::report::{Chart, Table, Unit};

use super::Bench;
use crate::app::StrategyKind;
use crate::fault::Link;
use crate::model::PostUpdate;
use crate::strategies::Strategy as _;
use crate::strategies::cache_aside::CacheAside;
use crate::strategies::invalidation::OnWrite;
use crate::tiers::redis::{self as redis_tier, RedisTier};

/// Upper bound on one Redis call through the link: a cut link costs this, not a hang.
const LINK_TIMEOUT: Duration = Duration::from_millis(200);

/// Reads of the post after Redis returns, per row of the outage table.
pub const OUTAGE_READS: u64 = 5;

/// Strategies whose write path meets the outage, in the order the table lists them (write-back
/// is left out: it refuses every write without its Redis, see the tests).
const OUTAGE_STRATEGIES: [StrategyKind; 5] = [
    StrategyKind::CacheAside,
    StrategyKind::CacheAsideUpdate,
    StrategyKind::CacheAsideVersioned,
    StrategyKind::ReadThrough,
    StrategyKind::WriteThrough,
];

/// Reads before and after the cut.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadPhase {
    pub redis_cut: bool,
    pub p50_us: f64,
    pub p99_us: f64,
    pub errors: u64,
    pub db_queries: u64,
}

/// What one strategy did with a write made while Redis was cut, with and without the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutageWrite {
    pub strategy: StrategyKind,
    pub journal: bool,
    /// The write's HTTP status: 200 acknowledged, 503 refused.
    pub status: u16,
    pub repairs_queued: usize,
    /// Reads after Redis returned that served the title from before the write.
    pub stale_reads: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedisLostFigures {
    pub reads: Vec<ReadPhase>,
    /// Redis calls that failed and fell back, in the read phases.
    pub failures: u64,
    pub writes: Vec<OutageWrite>,
}

/// `None` without Redis.
pub async fn run(n: &mut Narrator, b: &Bench) -> anyhow::Result<Option<RedisLostFigures>> {
    n.section("Redis lost mid-run");
    if b.redis.is_none() {
        n.say("Left out: needs Redis.");
        n.figures(&None::<RedisLostFigures>)?;
        return Ok(None);
    }
    let (reads, failures) = reads_fall_back(n, b).await?;
    let writes = writes_during_outage(n, b).await?;
    n.say(&outage_sentence(&writes));
    let figures = RedisLostFigures {
        reads,
        failures,
        writes,
    };
    n.figures(&figures)?;
    Ok(Some(figures))
}

/// Reads with Redis up, then with the link cut: they still succeed, from the store.
async fn reads_fall_back(n: &mut Narrator, b: &Bench) -> anyhow::Result<(Vec<ReadPhase>, u64)> {
    n.say(
        "Cache-aside over Redis, reached through a TCP link this demo can cut. Reads run, the link \
         is cut, reads run again: they still succeed, from the store, and the log says so once \
         (the warning above or below this table, written to stderr).",
    );
    let link = Link::to_redis(&b.config.settings.redis_url).await?;
    let pool = redis_tier::pool(&link.redis_url(), 4, LINK_TIMEOUT)?;
    let tier = RedisTier::new(pool, b.redis_prefix("lost"), LINK_TIMEOUT);
    let strategy = CacheAside::new(b.deps(Arc::new(tier.clone())), OnWrite::Invalidate);
    let mut table = Table::latency("phase")
        .column("errors", Unit::Count)
        .column("DB queries", Unit::Count)
        .chart(
            Chart::bars()
                .log()
                .of(&["p50", "DB queries"])
                .titled("reads before, during and after the outage (log scale)"),
        );
    let mut phases = Vec::new();
    for cut in [false, true] {
        if cut {
            link.cut();
        }
        let before = b.store.queries();
        let m = measure(
            b.plan(2_000, Duration::from_millis(600))
                .concurrency(4)
                .warmup(200),
            |i| strategy.get_post(b.zipf.id(i)),
        )
        .await;
        let label = if cut {
            "Redis cut: store fallback"
        } else {
            "Redis up: cache hits"
        };
        let phase = ReadPhase {
            redis_cut: cut,
            p50_us: m.p50_us(),
            p99_us: m.p99_us(),
            errors: m.errors,
            db_queries: b.store.queries() - before,
        };
        table.row_measured(label, &m, [phase.errors.into(), phase.db_queries.into()]);
        phases.push(phase);
    }
    n.table(table);
    n.say(&format!(
        "Redis calls that failed and fell back: {}; the tier now reports Redis {}.",
        tier.failures(),
        if tier.is_up() { "up" } else { "down" }
    ));
    Ok((phases, tier.failures()))
}

/// Each strategy, before (a tier that forgets failed writes) and after (the repair journal):
/// cache a post, cut the link, update the post, mend the link, read it a few times.
async fn writes_during_outage(n: &mut Narrator, b: &Bench) -> anyhow::Result<Vec<OutageWrite>> {
    n.say(
        "Now the write side, which is the one that hurts in production. A post is cached in Redis, \
         the link is cut (Redis keeps its data, as in a partition or a paused server), the post is \
         updated, the link is mended, and the post is read five times. Each strategy runs twice: \
         on a tier that forgets the invalidation it could not send (before), and on the tier's \
         repair journal, which replays it before Redis is trusted again (after).",
    );
    let mut table = Table::new("strategy / tier")
        .column("write answered", Unit::Count)
        .column("repairs queued", Unit::Count)
        .column("stale reads after return", Unit::Count)
        .column("reads", Unit::Count);
    let mut out = Vec::new();
    for journal in [false, true] {
        for kind in OUTAGE_STRATEGIES {
            let name = kind.name();
            let id = b.ids.one()?;
            let link = Link::to_redis(&b.config.settings.redis_url).await?;
            let pool = redis_tier::pool(&link.redis_url(), 2, LINK_TIMEOUT)?;
            let mut tier = RedisTier::new(
                pool,
                b.redis_prefix(&format!("outage {name} {journal}")),
                LINK_TIMEOUT,
            );
            if !journal {
                tier = tier.forgetting_failed_writes();
            }
            let strategy = kind.build(b.deps(Arc::new(tier.clone())), &b.config);
            let before = strategy.get_post(id).await?;
            link.cut();
            // A read first, as traffic would: it is what tells the tier Redis is gone.
            strategy.get_post(id).await?;
            // A title no earlier run wrote: the store is kept between runs.
            let title = format!(
                "Written during the outage {}",
                uuid::Uuid::new_v4().simple()
            );
            let write = strategy
                .update_post(
                    id,
                    PostUpdate {
                        title,
                        body: "Edited body.".to_owned(),
                    },
                )
                .await;
            let status = match &write {
                Ok(_) => 200,
                Err(refused) => actix_web::ResponseError::status_code(refused).as_u16(),
            };
            let repairs_queued = tier.pending_repairs();
            link.mend();
            let truth = b.store.get_post(id).await?.context("a seeded post")?;
            let mut stale_reads = 0;
            for _ in 0..OUTAGE_READS {
                let read = strategy.get_post(id).await?;
                if read.title != truth.title && read.title == before.title {
                    stale_reads += 1;
                }
            }
            table.row(
                format!(
                    "{name} / {}",
                    if journal {
                        "journal (after)"
                    } else {
                        "forgets (before)"
                    }
                ),
                [
                    u64::from(status).into(),
                    repairs_queued.into(),
                    stale_reads.into(),
                    OUTAGE_READS.into(),
                ],
            );
            out.push(OutageWrite {
                strategy: kind,
                journal,
                status,
                repairs_queued,
                stale_reads,
            });
        }
    }
    n.table(table);
    Ok(out)
}

/// The outage table's sentence, from its rows.
pub fn outage_sentence(rows: &[OutageWrite]) -> String {
    let stale = |journal: bool| {
        rows.iter()
            .filter(|r| r.journal == journal && r.status == 200 && r.stale_reads > 0)
            .map(|r| {
                format!(
                    "{} ({} of {OUTAGE_READS} reads)",
                    r.strategy.name(),
                    r.stale_reads
                )
            })
            .collect::<Vec<_>>()
    };
    let refused: Vec<&str> = rows
        .iter()
        .filter(|r| r.journal && r.status != 200)
        .map(|r| r.strategy.name())
        .collect();
    let (before, after) = (stale(false), stale(true));
    let mut text = if before.is_empty() {
        "Without the journal no strategy served the old title after Redis returned this run."
            .to_owned()
    } else {
        format!(
            "Without the journal, {} acknowledged the write and then served the old title after \
             Redis returned (an entry stays stale until its TTL).",
            before.join(", ")
        )
    };
    let queued: usize = rows
        .iter()
        .filter(|r| r.journal)
        .map(|r| r.repairs_queued)
        .sum();
    if after.is_empty() {
        text.push_str(&format!(
            " With it, the {queued} repairs queued during the outage were replayed before Redis \
             was read again, and every acknowledged write was visible on the first read after \
             Redis returned."
        ));
    } else {
        text.push_str(&format!(
            " With it, {} still served the old title: the journal did not cover them this run.",
            after.join(", ")
        ));
    }
    if !refused.is_empty() {
        text.push_str(&format!(
            " {} refused the write instead (503): nothing to repair, nothing stale.",
            refused.join(", ")
        ));
    }
    text
}
