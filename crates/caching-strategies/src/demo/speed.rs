//! Speed: post by id under a Zipf load and top posts, per strategy and tier; what one read costs
//! at each layer; and what each write path costs.

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt as _;
use serde::{Deserialize, Serialize};
use support::Measurement;
use support::measure::{measure, measure_sync};
use support::narrate::Narrator;
use support::report::{Chart, Table, Unit};

use super::{Bench, update};
use crate::app::{StrategyKind, TierKind};
use crate::model::keys;
use crate::strategies::Strategy;
use crate::strategies::cache_aside::CacheAside;
use crate::strategies::invalidation::OnWrite;
use crate::strategies::no_cache::{self, NoCache};
use crate::strategies::write_back::WriteBack;
use crate::tiers::Tier;
use crate::tiers::memcached::MemcachedTier;
use crate::tiers::moka::MokaTier;
use crate::tiers::redis::RedisTier;

/// The baseline row's label, and the row every ratio column divides by.
const NO_CACHE: &str = no_cache::NAME;
const BARE_GET: &str = "bare Redis GET";
const BARE_MEMCACHED_GET: &str = "bare Memcached get";

/// A row of the read tables: a strategy on a tier, or the store alone (`tier` and `strategy`
/// both `None`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadRow {
    pub tier: Option<TierKind>,
    pub strategy: Option<StrategyKind>,
    pub p50_us: f64,
    pub p99_us: f64,
    pub throughput: f64,
    /// What the measured run sent to the store.
    pub db_queries: u64,
    /// Post by id only: the share of reads the cache answered.
    pub hit_ratio_percent: Option<f64>,
}

impl ReadRow {
    fn label(&self) -> String {
        match (self.tier, self.strategy) {
            (Some(tier), Some(strategy)) => format!("{} / {}", tier.name(), strategy.name()),
            _ => NO_CACHE.to_owned(),
        }
    }

    pub(crate) fn is_baseline(&self) -> bool {
        self.strategy.is_none()
    }
}

/// The median and the tail of one operation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    pub p50_us: f64,
    pub p99_us: f64,
}

impl From<&Measurement> for Cost {
    fn from(m: &Measurement) -> Self {
        Self {
            p50_us: m.p50_us(),
            p99_us: m.p99_us(),
        }
    }
}

/// What one read costs, one at a time, at each layer (`None`: Redis was not part of the run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HitCosts {
    pub moka_hit: Cost,
    pub moka_strategy_hit: Cost,
    pub bare_redis_get: Option<Cost>,
    pub redis_hit: Option<Cost>,
    pub redis_strategy_hit: Option<Cost>,
    pub store_post: Cost,
    pub store_top: Cost,
    /// A bare `get` on the Memcached tier's own connections (`None`: Memcached was left out).
    #[serde(default)]
    pub bare_memcached_get: Option<Cost>,
    #[serde(default)]
    pub memcached_hit: Option<Cost>,
    #[serde(default)]
    pub memcached_strategy_hit: Option<Cost>,
}

impl HitCosts {
    /// A Redis tier hit (GET plus decoding) over a bare GET on the same pool, at the median.
    pub fn redis_hit_vs_bare_get(&self) -> Option<f64> {
        let (hit, bare) = (self.redis_hit?, self.bare_redis_get?);
        (bare.p50_us > 0.0).then(|| hit.p50_us / bare.p50_us)
    }

    /// A Memcached tier hit (get plus decoding) over a bare get on the same connections.
    pub fn memcached_hit_vs_bare_get(&self) -> Option<f64> {
        let (hit, bare) = (self.memcached_hit?, self.bare_memcached_get?);
        (bare.p50_us > 0.0).then(|| hit.p50_us / bare.p50_us)
    }

    /// A bare Memcached get over a bare Redis GET, both measured in this run.
    pub fn memcached_vs_redis_get(&self) -> Option<f64> {
        let (memcached, redis) = (self.bare_memcached_get?, self.bare_redis_get?);
        (redis.p50_us > 0.0).then(|| memcached.p50_us / redis.p50_us)
    }
}

/// A row of the writes table (moka tier; `strategy` `None` is no-cache).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriteRow {
    pub strategy: Option<StrategyKind>,
    pub p50_us: f64,
    pub writes: u64,
    /// Row writes the store received (write-back's after a final flush).
    pub db_queries: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeedFigures {
    pub posts_by_id: Vec<ReadRow>,
    pub top_posts: Vec<ReadRow>,
    pub hit_costs: HitCosts,
    pub writes: Vec<WriteRow>,
}

impl SpeedFigures {
    /// The store's median over moka cache-aside's, for a post by id.
    pub fn post_speedup(&self) -> Option<f64> {
        speedup(&self.posts_by_id)
    }

    /// The same for top posts: recomputing the aggregation over a cached list.
    pub fn top_speedup(&self) -> Option<f64> {
        speedup(&self.top_posts)
    }
}

fn speedup(rows: &[ReadRow]) -> Option<f64> {
    let base = rows.iter().find(|r| r.is_baseline())?;
    let cached = rows
        .iter()
        .find(|r| r.tier == Some(TierKind::Moka) && r.strategy == Some(StrategyKind::CacheAside))?;
    (cached.p50_us > 0.0).then(|| base.p50_us / cached.p50_us)
}

pub async fn run(n: &mut Narrator, b: &Bench) -> anyhow::Result<SpeedFigures> {
    n.section("Speed");
    n.say(
        "Reads of posts by id, keys drawn from a Zipf distribution over every post (a few hot \
         posts, a long tail), 8 requests in flight. Each row first runs a warm-up that fills its \
         cache, then the measured run; \"DB queries\" counts what the measured run sent to the \
         store. Cache-aside, write-through and write-back share one read path, so cache-aside \
         stands for all three here; read-through differs only on a miss.",
    );
    let mut rows: Vec<Row> = vec![(
        None,
        Arc::new(NoCache::new(b.store.clone(), Arc::clone(&b.clock))),
    )];
    // Memcached after the Redis tiers, when this run started one: the same two strategies over
    // a second shared cache, unchanged.
    let memcached = b.memcached.is_some().then_some(TierKind::Memcached);
    for kind in b.kinds().into_iter().chain(memcached) {
        for strategy in [StrategyKind::CacheAside, StrategyKind::ReadThrough] {
            rows.push((
                Some((kind, strategy)),
                b.strategy(kind, strategy, "speed").await?,
            ));
        }
    }
    let posts_by_id = posts_by_id(n, b, &rows).await?;
    let top_posts = top_posts(n, b, &rows).await?;
    let hit_costs = hit_costs(n, b).await?;
    let writes = writes(n, b).await?;
    let figures = SpeedFigures {
        posts_by_id,
        top_posts,
        hit_costs,
        writes,
    };
    n.figures(&figures)?;
    Ok(figures)
}

/// A strategy to measure, and where it runs (`None`: the store alone).
type Row = (Option<(TierKind, StrategyKind)>, Arc<dyn Strategy>);
type Rows = [Row];

fn read_row(
    at: Option<(TierKind, StrategyKind)>,
    m: &Measurement,
    db_queries: u64,
    hit_ratio_percent: Option<f64>,
) -> ReadRow {
    ReadRow {
        tier: at.map(|(tier, _)| tier),
        strategy: at.map(|(_, strategy)| strategy),
        p50_us: m.p50_us(),
        p99_us: m.p99_us(),
        throughput: m.throughput,
        db_queries,
        hit_ratio_percent,
    }
}

async fn posts_by_id(n: &mut Narrator, b: &Bench, rows: &Rows) -> anyhow::Result<Vec<ReadRow>> {
    let mut table = Table::latency("strategy / tier")
        .column("DB queries", Unit::Count)
        .column("hit ratio", Unit::Percent)
        .ratio_against("p50", NO_CACHE)
        .chart(
            Chart::bars()
                .log()
                .of(&["p50", "p99", "DB queries"])
                .titled("post by id: latency and store queries per strategy and tier (log scale)"),
        );
    let mut out = Vec::new();
    for (at, strategy) in rows {
        let op = |i: u64| {
            let strategy = Arc::clone(strategy);
            let id = b.zipf.id(i);
            async move { strategy.get_post(id).await }
        };
        // Warm-up with other draws than the measured ones.
        measure(
            b.plan(3_000, Duration::from_millis(700)).concurrency(8),
            |i| op(i + 1_000_000),
        )
        .await;
        let before = b.store.queries();
        let m = measure(
            b.plan(20_000, Duration::from_millis(1_200)).concurrency(8),
            op,
        )
        .await;
        let queries = b.store.queries() - before;
        let hit = if at.is_none() {
            0.0
        } else {
            100.0 * (1.0 - queries as f64 / m.ok.max(1) as f64)
        };
        let row = read_row(*at, &m, queries, Some(hit));
        table.row_measured(row.label(), &m, [queries.into(), hit.into()]);
        out.push(row);
    }
    n.table(table);
    Ok(out)
}

async fn top_posts(n: &mut Narrator, b: &Bench, rows: &Rows) -> anyhow::Result<Vec<ReadRow>> {
    n.say(
        "Top posts: the same strategies, one key, so after the first load every cached read is a hit. \
         The no-cache row recomputes the aggregation on every request.",
    );
    let mut table = Table::latency("strategy / tier")
        .column("DB queries", Unit::Count)
        .ratio_against("p50", NO_CACHE)
        .chart(
            Chart::bars()
                .log()
                .of(&["p50", "p99", "DB queries"])
                .titled("top posts: latency and store queries per strategy and tier (log scale)"),
        );
    let mut out = Vec::new();
    for (at, strategy) in rows {
        let plan = if at.is_none() {
            b.plan(60, Duration::from_millis(2_000)).concurrency(2)
        } else {
            b.plan(5_000, Duration::from_millis(500)).concurrency(8)
        };
        if at.is_some() {
            strategy.top_posts().await?; // fill (no-cache has nothing to fill)
        }
        let before = b.store.queries();
        let m = measure(plan, |_| {
            let strategy = Arc::clone(strategy);
            async move { strategy.top_posts().await }
        })
        .await;
        let queries = b.store.queries() - before;
        let row = read_row(*at, &m, queries, None);
        table.row_measured(row.label(), &m, [queries.into()]);
        out.push(row);
    }
    n.table(table);
    Ok(out)
}

/// One read, sequentially, at each layer: what a hit costs against a bare Redis round trip.
async fn hit_costs(n: &mut Narrator, b: &Bench) -> anyhow::Result<HitCosts> {
    n.say(
        "What one read costs, one at a time: a moka hit (measured in batches with measure_sync, \
         since it is far below a microsecond), the same through the strategy, a bare Redis GET on \
         the same pool, a Redis tier hit (GET plus decoding), the same three for Memcached \
         when this run has it, and the two store reads.",
    );
    let mut table = Table::new("operation")
        .column("p50", Unit::Micros)
        .column("p99", Unit::Micros)
        .ratio_against("p50", BARE_GET)
        .chart(
            Chart::bars()
                .log()
                .of(&["p50", "p99"])
                .titled("what one read costs, by layer (log scale)"),
        );
    let mut row = |label: &str, m: &Measurement| {
        table.row(label, [m.p50_us().into(), m.p99_us().into()]);
        Cost::from(m)
    };

    let moka = MokaTier::new(1000);
    let moka_strategy = CacheAside::new(b.deps(Arc::new(moka.clone())), OnWrite::Invalidate);
    moka_strategy.get_post(1).await?;
    let key = keys::post(1);
    let m = measure_sync(b.plan(2_000_000, Duration::from_millis(800)), || {
        moka.get_now(std::hint::black_box(&key)).is_some()
    });
    let moka_hit = row("moka hit (tier)", &m);
    let m = measure_sync(b.plan(500_000, Duration::from_millis(800)), || {
        matches!(moka_strategy.get_post(1).now_or_never(), Some(Ok(_)))
    });
    let moka_strategy_hit = row("moka hit (cache-aside get_post)", &m);

    let (mut bare_redis_get, mut redis_hit, mut redis_strategy_hit) = (None, None, None);
    if let Some(pool) = &b.redis {
        let tier = RedisTier::new(
            pool.clone(),
            b.redis_prefix("costs"),
            b.config.redis_timeout,
        );
        let strategy = CacheAside::new(b.deps(Arc::new(tier.clone())), OnWrite::Invalidate);
        strategy.get_post(1).await?;
        let redis_key = tier.redis_key(&key);
        let plan = b.plan(5_000, Duration::from_millis(800)).warmup(200);
        let m = measure(plan, |_| async {
            let mut conn = pool.get().await.map_err(|e| anyhow::anyhow!("{e}"))?;
            let raw: Option<Vec<u8>> = redis::cmd("GET")
                .arg(&redis_key)
                .query_async(&mut conn)
                .await?;
            anyhow::ensure!(raw.is_some(), "the key is cached");
            Ok::<_, anyhow::Error>(())
        })
        .await;
        bare_redis_get = Some(row(BARE_GET, &m));
        let m = measure(plan, |_| async {
            matches!(tier.get(&key).await, Ok(Some(_)))
        })
        .await;
        redis_hit = Some(row("Redis hit (tier)", &m));
        let m = measure(plan, |_| strategy.get_post(1)).await;
        redis_strategy_hit = Some(row("Redis hit (cache-aside get_post)", &m));
    }
    let (mut bare_memcached_get, mut memcached_hit, mut memcached_strategy_hit) =
        (None, None, None);
    if let Some(server) = &b.memcached {
        let tier = MemcachedTier::connect(
            &server.address(),
            b.redis_prefix("costs"),
            b.config.memcached_pool_size,
            b.config.memcached_timeout,
        )
        .await?;
        let strategy = CacheAside::new(b.deps(Arc::new(tier.clone())), OnWrite::Invalidate);
        strategy.get_post(1).await?;
        let memcached_key = tier.memcached_key(&key);
        let plan = b.plan(5_000, Duration::from_millis(800)).warmup(200);
        let m = measure(plan, |_| async {
            let raw = tier.raw_get(&memcached_key).await?;
            anyhow::ensure!(raw.is_some(), "the key is cached");
            Ok::<_, anyhow::Error>(())
        })
        .await;
        bare_memcached_get = Some(row(BARE_MEMCACHED_GET, &m));
        let m = measure(plan, |_| async {
            matches!(tier.get(&key).await, Ok(Some(_)))
        })
        .await;
        memcached_hit = Some(row("Memcached hit (tier)", &m));
        let m = measure(plan, |_| strategy.get_post(1)).await;
        memcached_strategy_hit = Some(row("Memcached hit (cache-aside get_post)", &m));
    }
    let m = measure(b.plan(2_000, Duration::from_millis(600)).warmup(20), |i| {
        b.store.get_post(b.zipf.id(i))
    })
    .await;
    let store_post = row("store: post by id", &m);
    let m = measure(b.plan(20, Duration::from_millis(1_500)).warmup(1), |_| {
        b.store.top_posts()
    })
    .await;
    let store_top = row("store: top posts", &m);
    n.table(table);
    Ok(HitCosts {
        moka_hit,
        moka_strategy_hit,
        bare_redis_get,
        redis_hit,
        redis_strategy_hit,
        store_post,
        store_top,
        bare_memcached_get,
        memcached_hit,
        memcached_strategy_hit,
    })
}

/// Writes per strategy on moka: what each write path costs, and what the store sees.
async fn writes(n: &mut Narrator, b: &Bench) -> anyhow::Result<Vec<WriteRow>> {
    n.say(
        "Writes (post updates, Zipf keys, 4 in flight) on the moka tier. Write-back acknowledges \
         after the cache write; its DB queries are counted after a final flush, so repeated edits \
         of a hot post between flushes show up as fewer row writes.",
    );
    let mut table = Table::latency("strategy")
        .column("writes", Unit::Count)
        .column("DB queries", Unit::Count)
        .ratio_against("p50", NO_CACHE)
        .chart(
            Chart::bars()
                .of(&["writes", "DB queries"])
                .titled("writes acknowledged against row writes the store received"),
        );
    let mut rows: Vec<(Option<StrategyKind>, Arc<dyn Strategy>)> = vec![(
        None,
        Arc::new(NoCache::new(b.store.clone(), Arc::clone(&b.clock))),
    )];
    for strategy in [
        StrategyKind::CacheAside,
        StrategyKind::CacheAsideUpdate,
        StrategyKind::WriteThrough,
    ] {
        rows.push((
            Some(strategy),
            b.strategy(TierKind::Moka, strategy, "writes").await?,
        ));
    }
    // Built here rather than through the registry: the table needs its `flush`.
    let write_back = Arc::new(WriteBack::spawn(
        b.deps(b.tier(TierKind::Moka, "writes write-back").await?),
        b.config.flush,
    ));
    rows.push((Some(StrategyKind::WriteBack), write_back.clone()));
    let mut out = Vec::new();
    for (strategy_kind, strategy) in rows {
        let before = b.store.queries();
        let m = measure(
            b.plan(2_000, Duration::from_millis(800)).concurrency(4),
            |i| {
                let strategy = Arc::clone(&strategy);
                let id = b.zipf.id(i + 7_000_000);
                async move { strategy.update_post(id, update(i)).await }
            },
        )
        .await;
        if strategy_kind == Some(StrategyKind::WriteBack) {
            write_back.flush().await?;
        }
        let db_queries = b.store.queries() - before;
        table.row_measured(
            strategy_kind.map_or(NO_CACHE, StrategyKind::name),
            &m,
            [m.ok.into(), db_queries.into()],
        );
        out.push(WriteRow {
            strategy: strategy_kind,
            p50_us: m.p50_us(),
            writes: m.ok,
            db_queries,
        });
    }
    n.table(table);
    Ok(out)
}
