//! Across instances: two instances with moka in front of one Redis; one writes, how long does
//! the other serve the old value, with and without pub/sub invalidation?

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use support::narrate::Narrator;
use support::report::{Chart, Table, Unit};

use super::{Bench, update};
use crate::config::INVALIDATION_CHANNEL;
use crate::strategies::Strategy as _;
use crate::strategies::cache_aside::CacheAside;
use crate::strategies::invalidation::OnWrite;
use crate::tiers::moka::MokaTier;
use crate::tiers::redis::RedisTier;
use crate::tiers::two_tier::TwoTier;

/// How long instance B kept serving the old value after A's write returned.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Staleness {
    pub old_value_ms: f64,
    pub stale_reads: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AcrossInstancesFigures {
    pub local_ttl_ms: f64,
    pub without_pubsub: Staleness,
    pub with_pubsub: Staleness,
}

/// `None` without Redis: two instances need a shared Redis to disagree about.
pub async fn run(n: &mut Narrator, b: &Bench) -> anyhow::Result<Option<AcrossInstancesFigures>> {
    n.section("Across instances");
    let Some(pool) = &b.redis else {
        n.say("Left out: two instances need a shared Redis to disagree about.");
        n.figures(&None::<AcrossInstancesFigures>)?;
        return Ok(None);
    };
    n.say(&format!(
        "Two instances of the service in this process, each with moka in front of the same Redis \
         (local TTL {} ms). Both have post cached; instance A updates it; instance B is read every \
         millisecond until it returns the new version.",
        b.config.local_ttl.as_millis()
    ));
    let without_pubsub = staleness(b, pool, false).await?;
    let with_pubsub = staleness(b, pool, true).await?;
    let mut table = Table::new("two-tier")
        .column("B served the old value for", Unit::Millis)
        .column("stale reads on B", Unit::Count)
        .chart(
            Chart::bars()
                .log()
                .of(&["B served the old value for"])
                .titled("how long the other instance served the old value (log scale)"),
        );
    for (label, row) in [
        ("without pub/sub (local TTL only)", without_pubsub),
        ("with pub/sub invalidation", with_pubsub),
    ] {
        table.row(label, [row.old_value_ms.into(), row.stale_reads.into()]);
    }
    n.table(table);
    let figures = AcrossInstancesFigures {
        local_ttl_ms: b.config.local_ttl.as_secs_f64() * 1e3,
        without_pubsub,
        with_pubsub,
    };
    n.figures(&figures)?;
    Ok(Some(figures))
}

/// Two instances over one Redis; A writes; how long B serves the old value.
async fn staleness(
    b: &Bench,
    pool: &deadpool_redis::Pool,
    pubsub: bool,
) -> anyhow::Result<Staleness> {
    let id = b.ids.one()?;
    let prefix = b.redis_prefix(&format!("instances pubsub {pubsub}"));
    let channel = format!("{prefix}{INVALIDATION_CHANNEL}");
    let make = || async {
        let remote = RedisTier::new(pool.clone(), prefix.clone(), b.config.redis_timeout);
        let local = MokaTier::new(1000);
        let tier = if pubsub {
            TwoTier::with_pubsub(
                local,
                remote,
                b.config.local_ttl,
                &b.config.settings.redis_url,
                &channel,
            )
            .await?
        } else {
            TwoTier::without_pubsub(local, remote, b.config.local_ttl)
        };
        anyhow::Ok(CacheAside::new(b.deps(Arc::new(tier)), OnWrite::Invalidate))
    };
    let (a, bee) = (make().await?, make().await?);
    a.get_post(id).await?;
    bee.get_post(id).await?;
    let written = a.update_post(id, update(1)).await?;
    let started = Instant::now();
    let mut stale_reads = 0u64;
    // Bounded: without pub/sub the local TTL ends it; three of them means something broke.
    let limit = b.config.local_ttl * 3;
    while bee.get_post(id).await?.version < written.version {
        anyhow::ensure!(
            started.elapsed() < limit,
            "instance B still served the old value {} ms after the write (local TTL {} ms)",
            limit.as_millis(),
            b.config.local_ttl.as_millis()
        );
        stale_reads += 1;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(Staleness {
        old_value_ms: started.elapsed().as_secs_f64() * 1e3,
        stale_reads,
    })
}
