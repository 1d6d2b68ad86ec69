//! The demo: every strategy and tier measured side by side, then what each one gets wrong.
//!
//! A list of sections, in the order they run ([`demo`] lists them). Each section measures,
//! prints its tables, and returns its figures as a typed struct, which goes into the JSON report
//! as it is; the closing paragraph is built from those structs alone.
//!
//! | section | file | what it shows |
//! |---|---|---|
//! | Speed | [`speed`] | post by id and top posts under a Zipf load, what one read costs, writes |
//! | Stampede | [`stampede`] | a thousand concurrent cold requests, with and without coalescing |
//! | Correctness | [`correctness`] | stale reads, top posts after a like, write-back on a real abort, the race |
//! | Across instances | [`across_instances`] | two instances with and without pub/sub |
//! | Redis lost mid-run | [`redis_lost`] | reads fall back to the store; a write during the outage, before and after the journal |
//! | HTTP caching | [`http`] | a revalidating client against one that is not |
//! | Memcached versus Redis | [`memcached_vs_redis`] | threads, persistence, eviction, value size, pub/sub: asked of both servers |
//! | What you just saw | [`closing`] | the closing paragraph, from the figures |

pub mod across_instances;
pub mod closing;
pub mod correctness;
pub mod http;
pub mod memcached_vs_redis;
pub mod redis_lost;
pub mod speed;
pub mod stampede;

use std::sync::Arc;
use std::time::{Duration, Instant};

use support::demo::{DemoArgs, RunIds};
use support::narrate::Narrator;
use support::{Plan, Report, Service, Settings};

use crate::app::{self, StrategyKind, TierKind};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::memcached_server::{self, MemcachedServer, MemcachedServerError};
use crate::model::PostUpdate;
use crate::store::Store;
use crate::strategies::{Deps, Strategy};
use crate::tiers::Tier;
use crate::zipf::Zipf;

pub use stampede::STAMPEDE_LOAD_LATENCY;

pub const TOPIC: &str = "caching-strategies";
const TITLE: &str = "Caching strategies: where the cache lives, what it saves, what it gets wrong";

/// The seeded posts sections may take for themselves (see [`Bench::ids`]): the upper half, which
/// the Zipf load of the speed section rarely reaches. The lower half holds the hot posts that the
/// Zipf load, top posts and the HTTP section read on purpose.
const OWN_POSTS_FROM: i64 = 501;

/// How much smaller a measurement's time budget is with `--quick` (see [`Bench::plan`]).
const QUICK_BUDGET_DIVISOR: u32 = 40;

/// Everything the sections share.
pub struct Bench {
    pub config: Config,
    pub store: Store,
    pub redis: Option<deadpool_redis::Pool>,
    pub clock: Arc<dyn Clock>,
    pub zipf: Zipf,
    pub quick: bool,
    /// Post ids a section changes and no other section may (a stale-read count on a post that
    /// another section's write-back left behind would measure that section), and the names of
    /// this run's Redis key prefixes, so a rerun starts cold and never reads the last run's
    /// entries (they expire on their own).
    pub ids: RunIds,
    /// The Memcached server this run started, or `None` (left out: not installed).
    pub memcached: Option<MemcachedServer>,
}

impl Bench {
    /// The tiers this run has: moka always, Redis and two-tier when Redis answers.
    pub fn kinds(&self) -> Vec<TierKind> {
        TierKind::ALL
            .into_iter()
            .filter(|kind| self.redis.is_some() || !kind.needs_redis())
            .collect()
    }

    /// A fresh tier of `kind` under this run's key prefix for `label`. Each call site passes its
    /// own label: two tiers with one label would share Redis keys.
    pub async fn tier(&self, kind: TierKind, label: &str) -> anyhow::Result<Arc<dyn Tier>> {
        let memcached = self.memcached.as_ref().map(MemcachedServer::address);
        app::tier(
            kind,
            &self.redis_name(&format!("{label} {}", kind.name())),
            &self.config,
            self.redis.as_ref(),
            memcached.as_deref(),
        )
        .await
    }

    /// This run's name for `label`, as a Redis key segment.
    pub fn redis_name(&self, label: &str) -> String {
        self.ids.name(label)
    }

    /// This run's full Redis key prefix for `label` (for tiers a section builds by hand).
    pub fn redis_prefix(&self, label: &str) -> String {
        format!("{}{}:", self.config.redis_prefix, self.redis_name(label))
    }

    pub fn deps(&self, tier: Arc<dyn Tier>) -> Deps {
        Deps {
            store: self.store.clone(),
            tier,
            clock: Arc::clone(&self.clock),
            ttls: self.config.ttls,
        }
    }

    /// `strategy` over a fresh tier of `kind`; `label` as for [`Bench::tier`].
    pub async fn strategy(
        &self,
        kind: TierKind,
        strategy: StrategyKind,
        label: &str,
    ) -> anyhow::Result<Arc<dyn Strategy>> {
        let tier = self
            .tier(kind, &format!("{label} {}", strategy.name()))
            .await?;
        Ok(strategy.build(self.deps(tier), &self.config))
    }

    /// A measurement plan: `iterations` within `budget`. With `--quick`, a tenth of the
    /// iterations and a fortieth of the budget: the quick run is a smoke run that must finish
    /// in a few seconds even in a debug build, and most rows are bound by their budget.
    pub fn plan(&self, iterations: u64, budget: Duration) -> Plan {
        let plan = Plan::iterations(iterations)
            .budget(budget)
            .warmup(0)
            .scaled_for(self.quick);
        if self.quick {
            plan.budget(budget / QUICK_BUDGET_DIVISOR)
        } else {
            plan
        }
    }
}

/// Starts this run's Memcached on a free loopback port, or says in one line what the run leaves
/// out without it (an error under `BF_REQUIRE_SERVICES=1`).
async fn start_memcached(
    n: &mut Narrator,
    config: &Config,
) -> anyhow::Result<Option<MemcachedServer>> {
    match MemcachedServer::start().await {
        Ok(server) => Ok(Some(server)),
        Err(e) => {
            anyhow::ensure!(
                !config.settings.require_services,
                "{e}, and BF_REQUIRE_SERVICES=1 requires it"
            );
            let reason = match &e {
                MemcachedServerError::Absent { reason } => reason.clone(),
                other => other.to_string(),
            };
            n.left_out(format!(
                "Memcached left out ({reason}): no Memcached rows in the speed tables and no \
                 Memcached-versus-Redis section; install it (`{}`) and the demo starts its own.",
                memcached_server::INSTALL
            ));
            Ok(None)
        }
    }
}

/// The edit every section's writers make: a new title per write, so a stale read is visible.
pub fn update(i: u64) -> PostUpdate {
    PostUpdate {
        title: format!("Edited title {i}"),
        body: "Edited body.".to_owned(),
    }
}

/// Every section's figures, as the closing paragraph reads them.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RunFigures {
    pub speed: speed::SpeedFigures,
    pub stampede: stampede::StampedeFigures,
    pub correctness: correctness::CorrectnessFigures,
    /// `None` without Redis.
    pub across_instances: Option<across_instances::AcrossInstancesFigures>,
    /// `None` without Redis.
    pub redis_lost: Option<redis_lost::RedisLostFigures>,
    pub http: http::HttpFigures,
    /// `None` without Memcached.
    #[serde(default)]
    pub memcached_vs_redis: Option<memcached_vs_redis::MemcachedVsRedisFigures>,
}

pub async fn demo(settings: &Settings, args: &DemoArgs) -> anyhow::Result<Report> {
    let mut n = Narrator::new(TOPIC, TITLE, args);
    let mut config = Config::new(settings.clone());
    if args.quick {
        config.local_ttl = Duration::from_millis(300);
    }
    let services = n
        .probe(
            settings,
            &[
                (Service::Postgres, "posts and likes live in an SQLite file instead"),
                (
                    Service::Redis,
                    "moka only: the Redis and two-tier rows, the cross-instance and Redis-loss sections are left out",
                ),
            ],
        )
        .await?;
    // Right after the services, so its left-out line (if any) sits with theirs.
    let memcached = start_memcached(&mut n, &config).await?;
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
        ids: RunIds::new(OWN_POSTS_FROM..config.seed.posts + 1),
        config,
        store,
        redis,
        clock: Arc::new(SystemClock),
        quick: args.quick,
        memcached,
    };

    let figures = RunFigures {
        speed: speed::run(&mut n, &bench).await?,
        stampede: stampede::run(&mut n, &bench).await?,
        correctness: correctness::run(&mut n, &bench).await?,
        across_instances: across_instances::run(&mut n, &bench).await?,
        redis_lost: redis_lost::run(&mut n, &bench).await?,
        http: http::run(&mut n, &bench).await?,
        memcached_vs_redis: memcached_vs_redis::run(&mut n, &bench).await?,
    };
    closing::run(&mut n, &figures);
    n.finish(args.json.as_deref())
}
