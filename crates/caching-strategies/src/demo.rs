//! The demo: every strategy and tier measured side by side, then what each one gets wrong.
//!
//! Sections: speed (post-by-id and top posts under a Zipf load, the cost of one hit, writes),
//! stampede (a thousand concurrent cold requests), correctness (stale reads, write-back loss on a
//! real abort, the cache-aside race and its fix), across instances (pub/sub or not), Redis lost
//! mid-run, and HTTP caching (a revalidating client against one that is not).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures_util::FutureExt as _;
use support::demo::DemoArgs;
use support::measure::{measure, measure_sync};
use support::narrate::Narrator;
use support::report::{Table, Unit};
use support::{Plan, Report, Service, Services, Settings};

use crate::app::{self, StrategyKind, TierKind};
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, INVALIDATION_CHANNEL};
use crate::fault::Link;
use crate::http::Mounted;
use crate::model::{PostUpdate, keys};
use crate::store::Store;
use crate::strategies::cache_aside::CacheAside;
use crate::strategies::invalidation::OnWrite;
use crate::strategies::no_cache::NoCache;
use crate::strategies::write_back::{FlushPolicy, WriteBack};
use crate::strategies::{Deps, Strategy};
use crate::tiers::Tier;
use crate::tiers::moka::MokaTier;
use crate::tiers::redis::{self as redis_tier, RedisTier};
use crate::tiers::two_tier::TwoTier;
use crate::zipf::Zipf;
use crate::{AppState, run};

pub const TOPIC: &str = "caching-strategies";
const TITLE: &str = "Caching strategies: where the cache lives, what it saves, what it gets wrong";
/// Table and row names the closing section reads back.
const NO_CACHE: &str = "no-cache";
const BARE_GET: &str = "bare Redis GET";
const MOKA_HIT: &str = "moka hit (tier)";
const REDIS_HIT: &str = "Redis hit (tier)";

/// Everything the sections share.
struct Bench {
    config: Config,
    store: Store,
    redis: Option<deadpool_redis::Pool>,
    clock: Arc<dyn Clock>,
    zipf: Zipf,
    quick: bool,
}

impl Bench {
    fn kinds(&self) -> Vec<TierKind> {
        if self.redis.is_some() {
            vec![TierKind::Moka, TierKind::Redis, TierKind::TwoTier]
        } else {
            vec![TierKind::Moka]
        }
    }

    async fn tier(&self, kind: TierKind, name: &str) -> anyhow::Result<Arc<dyn Tier>> {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        app::tier(
            kind,
            &format!("{name}:{}", &unique[..8]),
            &self.config,
            self.redis.as_ref(),
        )
        .await
    }

    fn deps(&self, tier: Arc<dyn Tier>) -> Deps {
        Deps {
            store: self.store.clone(),
            tier,
            clock: Arc::clone(&self.clock),
            ttls: self.config.ttls,
        }
    }

    async fn strategy(
        &self,
        kind: TierKind,
        strategy: StrategyKind,
    ) -> anyhow::Result<Arc<dyn Strategy>> {
        let tier = self.tier(kind, strategy.name()).await?;
        Ok(strategy.build(self.deps(tier), &self.config))
    }

    fn plan(&self, iterations: u64, budget: Duration) -> Plan {
        Plan::iterations(iterations)
            .budget(budget)
            .warmup(0)
            .scaled_for(self.quick)
    }
}

/// The strategy set `serve` mounts.
pub async fn serve_state(config: &Config) -> anyhow::Result<Vec<Mounted>> {
    let services =
        Services::probe_only(&config.settings, &[Service::Postgres, Service::Redis]).await;
    for line in services.summary_lines() {
        tracing::info!("{line}");
    }
    let store = app::open_store(config, &services).await?;
    let redis = app::open_redis(config, &services)?;
    app::mount_all(config, &store, redis.as_ref(), Arc::new(SystemClock)).await
}

pub async fn demo(settings: &Settings, args: &DemoArgs) -> anyhow::Result<Report> {
    let mut n = Narrator::new(TOPIC, TITLE, args);
    let mut config = Config::new(settings.clone());
    // Each run writes under its own Redis prefix, so a rerun starts cold and never reads the
    // last run's entries (they expire on their own).
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    config.redis_prefix = format!("{}{}:", config.redis_prefix, &run_id[..8]);
    if args.quick {
        config.local_ttl = Duration::from_millis(300);
    }
    let services = Services::probe_only(settings, &[Service::Postgres, Service::Redis]).await;
    n.services(
        &services,
        &[
            (Service::Postgres, "posts and likes live in an SQLite file instead"),
            (
                Service::Redis,
                "moka only: the Redis and two-tier rows, the cross-instance and Redis-loss sections are left out",
            ),
        ],
    );
    let seeding = Instant::now();
    let store = app::open_store(&config, &services).await?;
    let redis = app::open_redis(&config, &services)?;
    n.say(&format!(
        "The truth: {} posts and {} likes in {} (ready in {:.1} s; the tables are reused across runs). \
         A post by id is a primary-key read; \"top posts\" joins and groups every like: the expensive read.",
        config.seed.posts,
        config.seed.likes,
        store.backend().name(),
        seeding.elapsed().as_secs_f64()
    ));
    let bench = Bench {
        zipf: Zipf::new(usize::try_from(config.seed.posts).unwrap_or(1), 1.0),
        config,
        store,
        redis,
        clock: Arc::new(SystemClock),
        quick: args.quick,
    };

    let speed = speed(&mut n, &bench).await?;
    let stampede = stampede(&mut n, &bench).await?;
    let correctness = correctness(&mut n, &bench).await?;
    let instances = across_instances(&mut n, &bench).await?;
    redis_lost(&mut n, &bench).await?;
    let http = http(&mut n, &bench).await?;
    closing(&mut n, &speed, &stampede, &correctness, instances, &http);
    n.finish(args.json.as_deref())
}

// ── speed ──────────────────────────────────────────────────────────────────────────────────

struct SpeedFigures {
    moka_hit_ns: Option<f64>,
    redis_vs_bare: Option<f64>,
    top_speedup: Option<f64>,
    post_speedup: Option<f64>,
}

async fn speed(n: &mut Narrator, b: &Bench) -> anyhow::Result<SpeedFigures> {
    n.section("Speed");
    n.say(
        "Reads of posts by id, keys drawn from a Zipf distribution over every post (a few hot \
         posts, a long tail), 8 requests in flight. Each row first runs a warm-up that fills its \
         cache, then the measured run; \"DB queries\" counts what the measured run sent to the \
         store. Cache-aside, write-through and write-back share one read path, so cache-aside \
         stands for all three here; read-through differs only on a miss.",
    );
    let mut posts = Table::latency("strategy / tier")
        .column("DB queries", Unit::Count)
        .column("hit ratio", Unit::Percent)
        .ratio_against("p50", NO_CACHE);
    let mut rows: Vec<(String, Arc<dyn Strategy>)> = vec![(
        NO_CACHE.to_owned(),
        Arc::new(NoCache::new(b.store.clone(), Arc::clone(&b.clock))),
    )];
    for kind in b.kinds() {
        for strategy in [StrategyKind::CacheAside, StrategyKind::ReadThrough] {
            rows.push((
                format!("{} / {}", kind.name(), strategy.name()),
                b.strategy(kind, strategy).await?,
            ));
        }
    }
    for (label, strategy) in &rows {
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
        let hit = if label == NO_CACHE {
            0.0
        } else {
            100.0 * (1.0 - queries as f64 / m.ok.max(1) as f64)
        };
        posts.row_measured(label.as_str(), &m, [queries.into(), hit.into()]);
    }
    n.table(posts.clone());

    n.say(
        "Top posts: the same strategies, one key, so after the first load every cached read is a hit. \
         The no-cache row recomputes the aggregation on every request.",
    );
    let mut top = Table::latency("strategy / tier")
        .column("DB queries", Unit::Count)
        .ratio_against("p50", NO_CACHE);
    for (label, strategy) in &rows {
        let recompute = label == NO_CACHE;
        let plan = if recompute {
            b.plan(60, Duration::from_millis(2_000)).concurrency(2)
        } else {
            b.plan(5_000, Duration::from_millis(500)).concurrency(8)
        };
        strategy.top_posts().await?; // fill
        let before = b.store.queries();
        let m = measure(plan, |_| {
            let strategy = Arc::clone(strategy);
            async move { strategy.top_posts().await }
        })
        .await;
        top.row_measured(label.as_str(), &m, [(b.store.queries() - before).into()]);
    }
    n.table(top.clone());

    let costs = hit_costs(n, b).await?;
    writes(n, b).await?;

    let speedup = |t: &Table| {
        let base = t.value(NO_CACHE, "p50")?;
        let cached = t.value("moka / cache-aside", "p50")?;
        Some(base / cached)
    };
    Ok(SpeedFigures {
        moka_hit_ns: costs.value(MOKA_HIT, "p50").map(|us| us * 1000.0),
        redis_vs_bare: costs
            .value(REDIS_HIT, "p50")
            .zip(costs.value(BARE_GET, "p50"))
            .map(|(hit, bare)| hit / bare),
        top_speedup: speedup(&top),
        post_speedup: speedup(&posts),
    })
}

/// One read, sequentially, at each layer: what a hit costs against a bare Redis round trip.
async fn hit_costs(n: &mut Narrator, b: &Bench) -> anyhow::Result<Table> {
    n.say(
        "What one read costs, one at a time: a moka hit (measured in batches with measure_sync, \
         since it is far below a microsecond), the same through the strategy, a bare Redis GET on \
         the same pool, a Redis tier hit (GET plus decoding), and the two store reads.",
    );
    let mut t = Table::new("operation")
        .column("p50", Unit::Micros)
        .column("p99", Unit::Micros)
        .ratio_against("p50", BARE_GET);
    let row = |t: &mut Table, label: &str, m: &support::Measurement| {
        t.row(label, [m.p50_us().into(), m.p99_us().into()]);
    };

    let moka = MokaTier::new(1000);
    let moka_strategy = CacheAside::new(b.deps(Arc::new(moka.clone())), OnWrite::Invalidate);
    moka_strategy.get_post(1).await?;
    let key = keys::post(1);
    let m = measure_sync(b.plan(2_000_000, Duration::from_millis(800)), || {
        moka.get_now(std::hint::black_box(&key)).is_some()
    });
    row(&mut t, MOKA_HIT, &m);
    let m = measure_sync(b.plan(500_000, Duration::from_millis(800)), || {
        matches!(moka_strategy.get_post(1).now_or_never(), Some(Ok(_)))
    });
    row(&mut t, "moka hit (cache-aside get_post)", &m);

    if let Some(pool) = &b.redis {
        let tier = RedisTier::new(
            pool.clone(),
            format!("{}costs:", b.config.redis_prefix),
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
        row(&mut t, BARE_GET, &m);
        let m = measure(plan, |_| async {
            matches!(tier.get(&key).await, Ok(Some(_)))
        })
        .await;
        row(&mut t, REDIS_HIT, &m);
        let m = measure(plan, |_| strategy.get_post(1)).await;
        row(&mut t, "Redis hit (cache-aside get_post)", &m);
    }
    let m = measure(b.plan(2_000, Duration::from_millis(600)).warmup(20), |i| {
        b.store.get_post(b.zipf.id(i))
    })
    .await;
    row(&mut t, "store: post by id", &m);
    let m = measure(b.plan(20, Duration::from_millis(1_500)).warmup(1), |_| {
        b.store.top_posts()
    })
    .await;
    row(&mut t, "store: top posts", &m);
    n.table(t.clone());
    Ok(t)
}

fn update(i: u64) -> PostUpdate {
    PostUpdate {
        title: format!("Edited title {i}"),
        body: "Edited body.".to_owned(),
    }
}

/// Writes per strategy on moka: what each write path costs, and what the store sees.
async fn writes(n: &mut Narrator, b: &Bench) -> anyhow::Result<()> {
    n.say(
        "Writes (post updates, Zipf keys, 4 in flight) on the moka tier. Write-back acknowledges \
         after the cache write; its DB queries are counted after a final flush, so repeated edits \
         of a hot post between flushes show up as fewer row writes.",
    );
    let mut t = Table::latency("strategy")
        .column("writes", Unit::Count)
        .column("DB queries", Unit::Count)
        .ratio_against("p50", NO_CACHE);
    let mut rows: Vec<(&str, Arc<dyn Strategy>)> = vec![(
        NO_CACHE,
        Arc::new(NoCache::new(b.store.clone(), Arc::clone(&b.clock))),
    )];
    for strategy in [
        StrategyKind::CacheAside,
        StrategyKind::CacheAsideUpdate,
        StrategyKind::WriteThrough,
    ] {
        rows.push((strategy.name(), b.strategy(TierKind::Moka, strategy).await?));
    }
    let write_back = Arc::new(WriteBack::spawn(
        b.deps(b.tier(TierKind::Moka, "write-back").await?),
        b.config.flush,
    ));
    rows.push(("write-back", write_back.clone()));
    for (label, strategy) in rows {
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
        if label == "write-back" {
            write_back.flush().await?;
        }
        t.row_measured(
            label,
            &m,
            [m.ok.into(), (b.store.queries() - before).into()],
        );
    }
    n.table(t);
    Ok(())
}

// ── stampede ───────────────────────────────────────────────────────────────────────────────

/// (requests, store loads) for one cold post on moka, without and with coalescing.
struct StampedeFigures {
    unprotected: Option<(u64, u64)>,
    coalesced: Option<(u64, u64)>,
}

/// What every store read costs in the stampede section, on top of the query itself: the round
/// trip to a database in another zone. Stated, not hidden, so the lesson holds on any store.
pub const STAMPEDE_LOAD_LATENCY: Duration = Duration::from_millis(50);

async fn stampede(n: &mut Narrator, b: &Bench) -> anyhow::Result<StampedeFigures> {
    const REQUESTS: u64 = 1_000;
    let latency_ms = STAMPEDE_LOAD_LATENCY.as_millis();
    n.section("Stampede");
    n.say(&format!(
        "{REQUESTS} concurrent requests for one cold post, all in flight at once. A stampede is a \
         slow load meeting many concurrent misses, so in this section every store read first waits \
         {latency_ms} ms (the round trip to a database in another zone; a local {} read alone \
         takes microseconds, and would finish before most requests had looked in the cache). \
         Cache-aside has no protection: every request misses and goes to the store. Read-through \
         coalesces with moka's try_get_with: one request loads, the rest wait for its result. \
         Then the same for the expensive read, top posts, with fewer requests.",
        b.store.backend().name()
    ));
    let store = b.store.with_read_latency(STAMPEDE_LOAD_LATENCY);
    let mut t = Table::new("strategy / tier")
        .column("requests", Unit::Count)
        .column("load cost added", Unit::Millis)
        .column("DB loads", Unit::Count)
        .column("p50", Unit::Micros)
        .column("p99", Unit::Micros)
        .column("wall time", Unit::Millis);
    let top_requests = if b.quick { 5 } else { 30 };
    let mut figures = StampedeFigures {
        unprotected: None,
        coalesced: None,
    };
    let mut cold_id = 500;
    for kind in b.kinds() {
        for kind_of_strategy in [StrategyKind::CacheAside, StrategyKind::ReadThrough] {
            let name = kind_of_strategy.name();
            for top in [false, true] {
                // --quick stampedes top posts on moka only: the unprotected row is the slow one.
                if top && b.quick && kind != TierKind::Moka {
                    continue;
                }
                let tier = b.tier(kind, name).await?;
                let deps = Deps {
                    store: store.clone(),
                    ..b.deps(tier)
                };
                let strategy = kind_of_strategy.build(deps, &b.config);
                let requests = if top { top_requests } else { REQUESTS };
                cold_id += 1;
                let before = b.store.queries();
                let plan = Plan::iterations(requests)
                    .warmup(0)
                    .concurrency(usize::try_from(requests).unwrap_or(1))
                    .budget(Duration::from_secs(30));
                let m = measure(plan, |_| {
                    let strategy = Arc::clone(&strategy);
                    async move {
                        if top {
                            strategy.top_posts().await.map(drop)
                        } else {
                            strategy.get_post(cold_id).await.map(drop)
                        }
                    }
                })
                .await;
                let loads = b.store.queries() - before;
                if kind == TierKind::Moka && !top {
                    if kind_of_strategy == StrategyKind::CacheAside {
                        figures.unprotected = Some((requests, loads));
                    } else {
                        figures.coalesced = Some((requests, loads));
                    }
                }
                let what = if top { "top posts" } else { "post by id" };
                t.row(
                    format!("{} / {name} ({what})", kind.name()),
                    [
                        requests.into(),
                        (STAMPEDE_LOAD_LATENCY.as_secs_f64() * 1e3).into(),
                        loads.into(),
                        m.p50_us().into(),
                        m.p99_us().into(),
                        (m.elapsed.as_secs_f64() * 1e3).into(),
                    ],
                );
            }
        }
    }
    n.table(t);
    Ok(figures)
}

// ── correctness ────────────────────────────────────────────────────────────────────────────

struct CorrectnessFigures {
    acked: u64,
    lost: u64,
    lost_in_store: u64,
    race_stale: bool,
    race_fixed: bool,
}

async fn correctness(n: &mut Narrator, b: &Bench) -> anyhow::Result<CorrectnessFigures> {
    n.section("Correctness");
    let writes = if b.quick { 5 } else { 40 };
    n.say(&format!(
        "Stale reads: one writer updates a post {writes} times while 4 readers read it as fast as \
         they can; a read is stale when it returns a version older than a write that had already \
         been acknowledged when the read began. On two-tier, plain cache-aside has a second race \
         window: a reader that fetched the old value from Redis refills its local moka after the \
         writer's delete, and that copy lives for the local TTL."
    ));
    let mut t = Table::new("strategy / tier")
        .column("reads", Unit::Count)
        .column("stale reads", Unit::Count);
    let mut post_id = 900;
    for kind in b.kinds() {
        for name in StrategyKind::ALL {
            let strategy = b.strategy(kind, name).await?;
            let name = name.name();
            post_id += 1;
            let (reads, stale) = stale_reads(&strategy, post_id, writes).await?;
            t.row(
                format!("{} / {name}", kind.name()),
                [reads.into(), stale.into()],
            );
        }
    }
    n.table(t);
    top_after_like(n, b).await?;

    let (acked, lost, lost_in_store) = write_back_abort(n, b).await?;
    let (race_stale, race_fixed) = race(n, b).await?;
    Ok(CorrectnessFigures {
        acked,
        lost,
        lost_in_store,
        race_stale,
        race_fixed,
    })
}

/// Likes never invalidate top posts (every like would), so a cached list is stale until its TTL.
async fn top_after_like(n: &mut Narrator, b: &Bench) -> anyhow::Result<()> {
    n.say(&format!(
        "Top posts after a like: no strategy here invalidates the list on a like (that would make \
         it uncacheable), so a cached list is stale until its {} s TTL; only no-cache shows the like.",
        b.config.ttls.top.base.as_secs()
    ));
    let mut t = Table::new("strategy")
        .column("likes of #1 before", Unit::Count)
        .column("likes of #1 after a like", Unit::Count)
        .column("top posts", Unit::Text);
    let rows: [(&str, Arc<dyn Strategy>); 2] = [
        (
            NO_CACHE,
            Arc::new(NoCache::new(b.store.clone(), Arc::clone(&b.clock))),
        ),
        (
            "moka / cache-aside",
            b.strategy(TierKind::Moka, StrategyKind::CacheAside).await?,
        ),
    ];
    for (label, strategy) in rows {
        let before = strategy.top_posts().await?;
        let first = before.first().map_or((1, 0), |p| (p.id, p.likes));
        strategy.like(first.0, 1).await?;
        let after = strategy.top_posts().await?;
        let now = after
            .iter()
            .find(|p| p.id == first.0)
            .map_or(0, |p| p.likes);
        let verdict = if now > first.1 {
            "fresh"
        } else {
            "stale until TTL"
        };
        t.row(label, [first.1.into(), now.into(), verdict.into()]);
    }
    n.table(t);
    Ok(())
}

/// One writer, four readers, one post: how many reads saw a version older than an acknowledged write.
async fn stale_reads(
    strategy: &Arc<dyn Strategy>,
    id: i64,
    writes: u64,
) -> anyhow::Result<(u64, u64)> {
    strategy.get_post(id).await?;
    let acked = Arc::new(AtomicI64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let stale = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    for _ in 0..4 {
        let (strategy, acked, done, reads, stale) = (
            Arc::clone(strategy),
            Arc::clone(&acked),
            Arc::clone(&done),
            Arc::clone(&reads),
            Arc::clone(&stale),
        );
        readers.push(tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                let floor = acked.load(Ordering::SeqCst);
                if let Ok(post) = strategy.get_post(id).await {
                    reads.fetch_add(1, Ordering::Relaxed);
                    if post.version < floor {
                        stale.fetch_add(1, Ordering::Relaxed);
                    }
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    for i in 0..writes {
        let post = strategy.update_post(id, update(i)).await?;
        acked.fetch_max(post.version, Ordering::SeqCst);
        tokio::task::yield_now().await;
    }
    done.store(true, Ordering::SeqCst);
    for reader in readers {
        reader.await.context("a reader task failed")?;
    }
    Ok((reads.load(Ordering::Relaxed), stale.load(Ordering::Relaxed)))
}

/// Write-back with a real abort: acknowledged writes, one flush, more writes, then the flusher
/// task is killed. The loss is counted by the strategy and checked against the store.
async fn write_back_abort(n: &mut Narrator, b: &Bench) -> anyhow::Result<(u64, u64, u64)> {
    n.say(
        "Write-back, killed: 30 acknowledged edits, a flush, 20 more edits, then the flusher task \
         is aborted (as a crash would end it) before its next tick. The store is then read back.",
    );
    let policy = FlushPolicy {
        every: Duration::from_secs(3600),
        max_batch: 10_000,
    };
    let strategy = WriteBack::spawn(
        b.deps(b.tier(TierKind::Moka, "write-back-abort").await?),
        policy,
    );
    let mut last_acked: HashMap<i64, i64> = HashMap::new();
    for i in 0..50u64 {
        if i == 30 {
            strategy.flush().await?;
        }
        let id = 950 + i64::try_from(i % 25).unwrap_or(0);
        let post = strategy.update_post(id, update(i)).await?;
        last_acked.insert(id, post.version);
    }
    let lost = strategy.abort();
    let mut behind = 0;
    for (id, version) in &last_acked {
        let stored = b.store.get_post(*id).await?.map_or(0, |p| p.version);
        if stored < *version {
            behind += 1;
        }
    }
    let stats = strategy.stats();
    let mut t = Table::new("write-back")
        .column("acknowledged", Unit::Count)
        .column("flushed", Unit::Count)
        .column("lost on abort", Unit::Count)
        .column("posts behind in store", Unit::Count);
    t.row(
        "flush, then abort",
        [
            stats.acked.load(Ordering::SeqCst).into(),
            stats.flushed.load(Ordering::SeqCst).into(),
            lost.into(),
            u64::try_from(behind).unwrap_or(0).into(),
        ],
    );
    n.table(t);
    Ok((
        stats.acked.load(Ordering::SeqCst),
        lost,
        u64::try_from(behind).unwrap_or(0),
    ))
}

/// The cache-aside race, forced with a pause between a reader's load and its fill.
async fn race(n: &mut Narrator, b: &Bench) -> anyhow::Result<(bool, bool)> {
    n.say(
        "The cache-aside race, forced: a reader loads version N and is held before it fills the \
         cache; a writer updates to N+1 and invalidates; the reader resumes and fills. Plain \
         cache-aside keeps N until the TTL; the versioned fix (a tombstone plus a version-checked \
         fill) refuses it.",
    );
    let mut t = Table::new("variant / tier")
        .column("reader loaded", Unit::Text)
        .column("writer acknowledged", Unit::Text)
        .column("cache serves", Unit::Text)
        .column("verdict", Unit::Text);
    let (mut stale_seen, mut fixed_everywhere) = (false, true);
    let mut id = 980;
    for kind in b.kinds() {
        for versioned in [false, true] {
            id += 1;
            let tier = b.tier(kind, "race").await?;
            let plain = CacheAside::new(b.deps(tier), OnWrite::Invalidate);
            let strategy = Arc::new(if versioned { plain.versioned() } else { plain });
            let (loaded, resume) = strategy.pause_next_fill();
            let reader = {
                let strategy = Arc::clone(&strategy);
                tokio::spawn(async move { strategy.get_post(id).await })
            };
            loaded.await.context("the reader never loaded")?;
            let written = strategy.update_post(id, update(0)).await?;
            let _ = resume.send(());
            let read = reader.await.context("the reader task failed")??;
            let cached = strategy.get_post(id).await?;
            let stale = cached.version < written.version;
            if versioned {
                fixed_everywhere &= !stale;
            } else {
                stale_seen |= stale;
            }
            let variant = if versioned {
                "versioned fix"
            } else {
                "plain cache-aside"
            };
            t.row(
                format!("{variant} / {}", kind.name()),
                [
                    format!("v{}", read.version).into(),
                    format!("v{}", written.version).into(),
                    format!("v{}", cached.version).into(),
                    (if stale { "stale until TTL" } else { "fresh" }).into(),
                ],
            );
        }
    }
    n.table(t);
    Ok((stale_seen, fixed_everywhere))
}

// ── across instances ───────────────────────────────────────────────────────────────────────

async fn across_instances(n: &mut Narrator, b: &Bench) -> anyhow::Result<Option<(f64, f64)>> {
    n.section("Across instances");
    let Some(pool) = &b.redis else {
        n.say("Left out: two instances need a shared Redis to disagree about.");
        return Ok(None);
    };
    n.say(&format!(
        "Two instances of the service in this process, each with moka in front of the same Redis \
         (local TTL {} ms). Both have post cached; instance A updates it; instance B is read every \
         millisecond until it returns the new version.",
        b.config.local_ttl.as_millis()
    ));
    let mut t = Table::new("two-tier")
        .column("B served the old value for", Unit::Millis)
        .column("stale reads on B", Unit::Count);
    let mut figures = Vec::new();
    for (pubsub, id) in [(false, 961_i64), (true, 962)] {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let prefix = format!("{}instances:{}:", b.config.redis_prefix, &unique[..8]);
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
        let mut stale = 0u64;
        let limit = b.config.local_ttl * 3;
        while bee.get_post(id).await?.version < written.version && started.elapsed() < limit {
            stale += 1;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let ms = started.elapsed().as_secs_f64() * 1e3;
        figures.push(ms);
        let label = if pubsub {
            "with pub/sub invalidation"
        } else {
            "without pub/sub (local TTL only)"
        };
        t.row(label, [ms.into(), stale.into()]);
    }
    n.table(t);
    Ok(Some((figures[0], figures[1])))
}

// ── Redis lost mid-run ─────────────────────────────────────────────────────────────────────

async fn redis_lost(n: &mut Narrator, b: &Bench) -> anyhow::Result<()> {
    n.section("Redis lost mid-run");
    if b.redis.is_none() {
        n.say("Left out: needs Redis.");
        return Ok(());
    }
    n.say(
        "Cache-aside over Redis, reached through a TCP link this demo can cut. Reads run, the link \
         is cut, reads run again: they still succeed, from the store, and the log says so once \
         (the warning above or below this table, written to stderr).",
    );
    let link = Link::to_redis(&b.config.settings.redis_url).await?;
    let pool = redis_tier::pool(&link.redis_url(), 4, Duration::from_millis(200))?;
    let tier = RedisTier::new(
        pool,
        format!("{}lost:", b.config.redis_prefix),
        Duration::from_millis(200),
    );
    let strategy = CacheAside::new(b.deps(Arc::new(tier.clone())), OnWrite::Invalidate);
    let mut t = Table::latency("phase")
        .column("errors", Unit::Count)
        .column("DB queries", Unit::Count);
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
        t.row_measured(
            label,
            &m,
            [m.errors.into(), (b.store.queries() - before).into()],
        );
    }
    n.table(t);
    n.say(&format!(
        "Redis calls that failed and fell back: {}; the tier now reports Redis {}.",
        tier.failures(),
        if tier.is_up() { "up" } else { "down" }
    ));
    let writes = writes_during_outage(n, b).await?;
    n.say(&outage_sentence(&writes));
    Ok(())
}

/// What one strategy did with a write made while Redis was cut, with and without the journal.
#[derive(Debug, Clone)]
struct OutageWrite {
    strategy: &'static str,
    journal: bool,
    /// The write's HTTP status: 200 acknowledged, 503 refused.
    status: u16,
    repairs_queued: usize,
    /// Reads after Redis returned that served the title from before the write.
    stale_reads: u64,
}

/// Reads of the post after Redis returns, per row of the outage table.
const OUTAGE_READS: u64 = 5;

/// Strategies whose write path meets the outage, in the order the table lists them.
const OUTAGE_STRATEGIES: [StrategyKind; 5] = [
    StrategyKind::CacheAside,
    StrategyKind::CacheAsideUpdate,
    StrategyKind::CacheAsideVersioned,
    StrategyKind::ReadThrough,
    StrategyKind::WriteThrough,
];

/// Each strategy, before (a tier that forgets failed writes) and after (the repair journal):
/// cache a post, cut the link, update the post, mend the link, read it a few times.
async fn writes_during_outage(n: &mut Narrator, b: &Bench) -> anyhow::Result<Vec<OutageWrite>> {
    const READS: u64 = OUTAGE_READS;
    n.say(
        "Now the write side, which is the one that hurts in production. A post is cached in Redis, \
         the link is cut (Redis keeps its data, as in a partition or a paused server), the post is \
         updated, the link is mended, and the post is read five times. Each strategy runs twice: \
         on a tier that forgets the invalidation it could not send (before), and on the tier's \
         repair journal, which replays it before Redis is trusted again (after).",
    );
    let mut t = Table::new("strategy / tier")
        .column("write answered", Unit::Count)
        .column("repairs queued", Unit::Count)
        .column("stale reads after return", Unit::Count)
        .column("reads", Unit::Count);
    let mut out = Vec::new();
    // 701..=710: a range no other section touches.
    let mut id = 700;
    for journal in [false, true] {
        for kind in OUTAGE_STRATEGIES {
            let name = kind.name();
            id += 1;
            let link = Link::to_redis(&b.config.settings.redis_url).await?;
            let pool = redis_tier::pool(&link.redis_url(), 2, Duration::from_millis(200))?;
            let mut tier = RedisTier::new(
                pool,
                format!("{}outage:{name}:{journal}:", b.config.redis_prefix),
                Duration::from_millis(200),
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
            for _ in 0..READS {
                let read = strategy.get_post(id).await?;
                if read.title != truth.title && read.title == before.title {
                    stale_reads += 1;
                }
            }
            t.row(
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
                    READS.into(),
                ],
            );
            out.push(OutageWrite {
                strategy: name,
                journal,
                status,
                repairs_queued,
                stale_reads,
            });
        }
    }
    n.table(t);
    Ok(out)
}

/// The outage table's sentence, from its rows.
fn outage_sentence(rows: &[OutageWrite]) -> String {
    let stale = |journal: bool| {
        rows.iter()
            .filter(|r| r.journal == journal && r.status == 200 && r.stale_reads > 0)
            .map(|r| format!("{} ({} of {OUTAGE_READS} reads)", r.strategy, r.stale_reads))
            .collect::<Vec<_>>()
    };
    let refused: Vec<&str> = rows
        .iter()
        .filter(|r| r.journal && r.status != 200)
        .map(|r| r.strategy)
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

// ── HTTP ───────────────────────────────────────────────────────────────────────────────────

struct HttpFigures {
    plain_bytes: Option<f64>,
    revalidating_bytes: Option<f64>,
}

async fn http(n: &mut Narrator, b: &Bench) -> anyhow::Result<HttpFigures> {
    n.section("HTTP caching");
    n.say(
        "The same posts over HTTP (moka cache-aside on the server). One client keeps each post's \
         ETag and revalidates with If-None-Match; the other always asks plainly. Both read the 20 \
         hottest posts over and over; one post is updated half-way.",
    );
    let strategy: Arc<dyn Strategy> = b.strategy(TierKind::Moka, StrategyKind::CacheAside).await?;
    let state = AppState {
        mounted: vec![Mounted {
            prefix: "/moka/cache-aside".to_owned(),
            strategy,
        }],
    };
    let server = support::server::spawn(|l| run(l, state))?;
    let client = reqwest::Client::new();
    let url = |id: i64| server.url(&format!("/moka/cache-aside/posts/{id}"));

    let mut transcript = Vec::new();
    let first = client.get(url(1)).send().await?;
    let etag = first
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    transcript.push(format!(
        "GET /posts/1 → {} ETag: {etag}  Cache-Control: {}  Last-Modified: {}",
        first.status().as_u16(),
        header(&first, "cache-control"),
        header(&first, "last-modified")
    ));
    let again = client
        .get(url(1))
        .header("if-none-match", &etag)
        .send()
        .await?;
    transcript.push(format!(
        "GET /posts/1, If-None-Match: {etag} → {} ({} body bytes)",
        again.status().as_u16(),
        again.bytes().await?.len()
    ));
    let put = client
        .put(url(1))
        .json(&serde_json::json!({ "title": "A new title", "body": "A new body." }))
        .send()
        .await?;
    transcript.push(format!(
        "PUT /posts/1 → {} ETag: {}",
        put.status().as_u16(),
        header(&put, "etag")
    ));
    let after = client
        .get(url(1))
        .header("if-none-match", &etag)
        .send()
        .await?;
    transcript.push(format!(
        "GET /posts/1, If-None-Match: {etag} → {} ETag: {}",
        after.status().as_u16(),
        header(&after, "etag")
    ));
    n.transcript(transcript);

    let mut t = Table::latency("client")
        .column("200s", Unit::Count)
        .column("304s", Unit::Count)
        .column("body bytes", Unit::Bytes);
    let requests = if b.quick { 200 } else { 2_000 };
    for revalidate in [false, true] {
        let etags: Mutex<HashMap<i64, String>> = Mutex::new(HashMap::new());
        let (oks, not_modified, bytes) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
        let plan = Plan::iterations(requests)
            .warmup(0)
            .concurrency(4)
            .budget(Duration::from_secs(10));
        let m = measure(plan, |i| {
            let id = 1 + i64::try_from(i % 20).unwrap_or(0);
            let known = if revalidate {
                etags.lock().ok().and_then(|e| e.get(&id).cloned())
            } else {
                None
            };
            let (client, url, etags, oks, not_modified, bytes) =
                (&client, url(id), &etags, &oks, &not_modified, &bytes);
            async move {
                if i == requests / 2 {
                    client
                        .put(url.clone())
                        .json(&serde_json::json!({ "title": format!("Half-way {revalidate}"), "body": "Changed." }))
                        .send()
                        .await?;
                }
                let mut request = client.get(url);
                if let Some(tag) = known {
                    request = request.header("if-none-match", tag);
                }
                let response = request.send().await?;
                let status = response.status();
                if let Some(tag) = response.headers().get("etag").and_then(|v| v.to_str().ok())
                    && let Ok(mut e) = etags.lock()
                {
                    e.insert(id, tag.to_owned());
                }
                let body = response.bytes().await?;
                bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                match status.as_u16() {
                    200 => oks.fetch_add(1, Ordering::Relaxed),
                    304 => not_modified.fetch_add(1, Ordering::Relaxed),
                    other => anyhow::bail!("unexpected status {other}"),
                };
                anyhow::Ok(())
            }
        })
        .await;
        let label = if revalidate {
            "revalidating (If-None-Match)"
        } else {
            "plain (no validators)"
        };
        t.row_measured(
            label,
            &m,
            [
                oks.load(Ordering::Relaxed).into(),
                not_modified.load(Ordering::Relaxed).into(),
                bytes.load(Ordering::Relaxed).into(),
            ],
        );
    }
    n.table(t.clone());
    server.stop().await;
    Ok(HttpFigures {
        plain_bytes: t.value("plain (no validators)", "body bytes"),
        revalidating_bytes: t.value("revalidating (If-None-Match)", "body bytes"),
    })
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("–")
        .to_owned()
}

/// The stampede's sentence, from its figures: how many loads each way, and whether coalescing
/// made the difference this run.
fn stampede_sentence(stampede: &StampedeFigures) -> String {
    let ms = STAMPEDE_LOAD_LATENCY.as_millis();
    match (stampede.unprotected, stampede.coalesced) {
        (Some((requests, plain)), Some((_, coalesced))) if coalesced < plain => format!(
            "{requests} concurrent cold requests, each store read costing {ms} ms more, made \
             {plain} store loads with plain cache-aside and {coalesced} with read-through's \
             coalescing."
        ),
        (Some((requests, plain)), Some((_, coalesced))) => format!(
            "{requests} concurrent cold requests made {plain} store loads with plain cache-aside \
             and {coalesced} with read-through: coalescing saved nothing this run, because the \
             requests did not overlap the {ms} ms load."
        ),
        _ => "The stampede section did not run.".to_owned(),
    }
}

// ── closing ────────────────────────────────────────────────────────────────────────────────

fn closing(
    n: &mut Narrator,
    speed: &SpeedFigures,
    stampede: &StampedeFigures,
    correctness: &CorrectnessFigures,
    instances: Option<(f64, f64)>,
    http: &HttpFigures,
) {
    n.section("What you just saw");
    let num = |v: Option<f64>, digits: usize| {
        v.map_or_else(|| "–".to_owned(), |v| format!("{v:.digits$}"))
    };
    let redis = speed.redis_vs_bare.map_or_else(
        || "Redis was not part of this run".to_owned(),
        |r| format!("a Redis hit cost {r:.2}× a bare Redis GET (the network hop is the cost; decoding is noise)"),
    );
    let instances = instances.map_or_else(
        || "the cross-instance comparison needs Redis".to_owned(),
        |(without, with)| {
            format!(
                "instance B served the old value for {without:.0} ms without pub/sub and {with:.1} ms with it"
            )
        },
    );
    n.say(&format!(
        "A moka hit cost {} ns inside the process and {redis}. Served from cache, a post by id was \
         {}× faster at the median than the store, and top posts {}× faster than recomputing the \
         aggregation. {} The price: write-back acknowledged {} writes and lost \
         {} of them when its flusher was aborted ({} posts left behind in the store); plain cache-aside \
         {} the race, the versioned fill {} it; {instances}. Over HTTP, revalidation moved {} body \
         bytes instead of {}. Recommendation: cache-aside with TTL jitter and versioned fills as the \
         default, read-through (coalescing) for expensive keys, moka for hot read-mostly data and \
         two-tier with pub/sub when there are several instances, write-through when reads must see \
         the last write, write-back only for data you can afford to lose; and ETags on everything \
         a client may read twice.",
        num(speed.moka_hit_ns, 0),
        num(speed.post_speedup, 0),
        num(speed.top_speedup, 0),
        stampede_sentence(stampede),
        correctness.acked,
        correctness.lost,
        correctness.lost_in_store,
        if correctness.race_stale { "lost" } else { "did not lose" },
        if correctness.race_fixed { "fixed" } else { "did not fix" },
        num(http.revalidating_bytes, 0),
        num(http.plain_bytes, 0),
    ));
}
