//! Wiring: open the store and Redis (or say why not), build every strategy over every tier, and
//! mount them under parallel prefixes: `/no-cache`, `/moka/cache-aside`, `/redis/write-back`, ...
//! [`serve`] is the whole server `main` starts.

use std::net::TcpListener;
use std::sync::Arc;

use anyhow::Context as _;
use support::cli::ServeArgs;
use support::db::Target;
use support::{Service, Services, Settings};

use crate::AppState;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, INVALIDATION_CHANNEL, POSTGRES_SCHEMA};
use crate::http::Mounted;
use crate::store::Store;
use crate::strategies::cache_aside::CacheAside;
use crate::strategies::invalidation::OnWrite;
use crate::strategies::no_cache::NoCache;
use crate::strategies::read_through::ReadThrough;
use crate::strategies::write_back::WriteBack;
use crate::strategies::write_through::WriteThrough;
use crate::strategies::{Deps, Strategy};
use crate::tiers::Tier;
use crate::tiers::memcached::MemcachedTier;
use crate::tiers::moka::MokaTier;
use crate::tiers::redis::{self as redis_tier, RedisTier};
use crate::tiers::two_tier::TwoTier;

/// Where a strategy keeps its entries: the `src/tiers/` axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TierKind {
    Moka,
    Redis,
    TwoTier,
    /// Measured beside Redis in the speed section, over a server the demo starts itself; not in
    /// [`TierKind::ALL`], because `serve` has no Memcached to point at and the sections that
    /// compare staleness and outages are about the Redis tiers.
    Memcached,
}

impl TierKind {
    /// The tiers the server mounts and every section runs, in the order tables list them.
    pub const ALL: [TierKind; 3] = [TierKind::Moka, TierKind::Redis, TierKind::TwoTier];

    /// The name in route prefixes and tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Moka => "moka",
            Self::Redis => "redis",
            Self::TwoTier => "two-tier",
            Self::Memcached => "memcached",
        }
    }

    /// Whether this tier needs a Redis server.
    pub fn needs_redis(self) -> bool {
        match self {
            Self::Moka | Self::Memcached => false,
            Self::Redis | Self::TwoTier => true,
        }
    }
}

/// The strategies mounted on every tier: the `src/strategies/` axis (no-cache is mounted once,
/// having no tier). The names are the route prefixes' second segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StrategyKind {
    /// Cache-aside, invalidating (deleting the key) on a write.
    CacheAside,
    /// Cache-aside, putting the new value on a write.
    CacheAsideUpdate,
    /// Cache-aside with the race fix: tombstones and version-checked fills.
    CacheAsideVersioned,
    ReadThrough,
    WriteThrough,
    WriteBack,
}

impl StrategyKind {
    /// Every strategy, in the order routes and tables list them.
    pub const ALL: [StrategyKind; 6] = [
        StrategyKind::CacheAside,
        StrategyKind::CacheAsideUpdate,
        StrategyKind::CacheAsideVersioned,
        StrategyKind::ReadThrough,
        StrategyKind::WriteThrough,
        StrategyKind::WriteBack,
    ];

    /// The name in route prefixes and tables (what [`Strategy::name`] returns).
    pub fn name(self) -> &'static str {
        match self {
            Self::CacheAside => "cache-aside",
            Self::CacheAsideUpdate => "cache-aside-update",
            Self::CacheAsideVersioned => "cache-aside-versioned",
            Self::ReadThrough => "read-through",
            Self::WriteThrough => "write-through",
            Self::WriteBack => "write-back",
        }
    }

    /// This strategy over `deps`. Write-back starts its flusher on the current runtime.
    pub fn build(self, deps: Deps, config: &Config) -> Arc<dyn Strategy> {
        match self {
            Self::CacheAside => Arc::new(CacheAside::new(deps, OnWrite::Invalidate)),
            Self::CacheAsideUpdate => Arc::new(CacheAside::new(deps, OnWrite::Update)),
            Self::CacheAsideVersioned => {
                Arc::new(CacheAside::new(deps, OnWrite::Invalidate).versioned())
            }
            Self::ReadThrough => Arc::new(ReadThrough::new(deps)),
            Self::WriteThrough => Arc::new(WriteThrough::new(deps)),
            Self::WriteBack => Arc::new(WriteBack::spawn(deps, config.flush)),
        }
    }
}

/// PostgreSQL (its schema [`POSTGRES_SCHEMA`]) when it answers, the SQLite file otherwise (an
/// error under `require_services`); tables created (the store's migrations) and seeded, unless an
/// earlier run left them seeded.
pub async fn open_store(config: &Config, services: &Services) -> anyhow::Result<Store> {
    let target = if services.is_up(Service::Postgres) {
        Target::Postgres(config.settings.database_url.clone())
            .in_schema(POSTGRES_SCHEMA)
            .await?
    } else {
        anyhow::ensure!(
            !config.settings.require_services,
            "PostgreSQL is unreachable and BF_REQUIRE_SERVICES=1"
        );
        Target::Sqlite(config.sqlite_path.to_string_lossy().into_owned())
    };
    let store = Store::open(&target, config.db_pool_size).await?;
    store.seed(config.seed).await?;
    Ok(store)
}

/// Removes the seeded store the demo and `serve` keep between runs, on PostgreSQL and in the
/// SQLite file (`cargo run -p caching-strategies -- forget`).
pub async fn forget(config: &Config) -> anyhow::Result<support::demo::Forgotten> {
    support::db::forget_data_sets(
        &config.settings,
        &[POSTGRES_SCHEMA.to_owned()],
        &[config.sqlite_path.to_string_lossy().into_owned()],
    )
    .await
}

/// A Redis pool when Redis answers; `None` (moka only) otherwise.
pub fn open_redis(
    config: &Config,
    services: &Services,
) -> anyhow::Result<Option<deadpool_redis::Pool>> {
    if !services.is_up(Service::Redis) {
        anyhow::ensure!(
            !config.settings.require_services,
            "Redis is unreachable and BF_REQUIRE_SERVICES=1"
        );
        return Ok(None);
    }
    redis_tier::pool(
        &config.settings.redis_url,
        config.redis_pool_size,
        config.redis_timeout,
    )
    .map(Some)
}

/// Builds one tier for the strategy `name`. Every strategy gets its own keys (its own moka, its
/// own Redis or Memcached prefix and channel), so strategies mounted side by side never see each
/// other's data. `memcached` is the `host:port` of a running server, for the Memcached tier.
pub async fn tier(
    kind: TierKind,
    name: &str,
    config: &Config,
    redis: Option<&deadpool_redis::Pool>,
    memcached: Option<&str>,
) -> anyhow::Result<Arc<dyn Tier>> {
    let prefix = format!("{}{name}:", config.redis_prefix);
    let remote = || -> anyhow::Result<RedisTier> {
        let pool = redis.context("this tier needs Redis")?.clone();
        Ok(RedisTier::new(pool, prefix.clone(), config.redis_timeout))
    };
    Ok(match kind {
        TierKind::Moka => Arc::new(MokaTier::new(config.moka_capacity)),
        TierKind::Redis => Arc::new(remote()?),
        TierKind::TwoTier => Arc::new(
            TwoTier::with_pubsub(
                MokaTier::new(config.moka_capacity),
                remote()?,
                config.local_ttl,
                &config.settings.redis_url,
                &format!("{prefix}{INVALIDATION_CHANNEL}"),
            )
            .await?,
        ),
        TierKind::Memcached => Arc::new(
            MemcachedTier::connect(
                memcached.context("this tier needs a Memcached server")?,
                prefix,
                config.memcached_pool_size,
                config.memcached_timeout,
            )
            .await
            .context("Failed to connect to Memcached")?,
        ),
    })
}

/// Everything the server mounts: `/no-cache`, then every strategy on moka, and on Redis and
/// two-tier when Redis is there.
pub async fn mount_all(
    config: &Config,
    store: &Store,
    redis: Option<&deadpool_redis::Pool>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Vec<Mounted>> {
    let mut mounted = vec![Mounted {
        prefix: format!("/{}", crate::strategies::no_cache::NAME),
        strategy: Arc::new(NoCache::new(store.clone(), Arc::clone(&clock))),
    }];
    let kinds = TierKind::ALL
        .into_iter()
        .filter(|kind| redis.is_some() || !kind.needs_redis());
    for kind in kinds {
        for strategy in StrategyKind::ALL {
            let (tier_name, name) = (kind.name(), strategy.name());
            let deps = Deps {
                store: store.clone(),
                tier: tier(kind, &format!("{tier_name}:{name}"), config, redis, None).await?,
                clock: Arc::clone(&clock),
                ttls: config.ttls,
            };
            mounted.push(Mounted {
                prefix: format!("/{tier_name}/{name}"),
                strategy: strategy.build(deps, config),
            });
        }
    }
    Ok(mounted)
}

/// The server `serve` runs: every strategy mounted (see [`mount_all`]) on the store and Redis the
/// settings name, until the process is stopped.
pub async fn serve(settings: &Settings, args: &ServeArgs) -> anyhow::Result<()> {
    let config = Config::new(settings.clone());
    let services =
        Services::probe_only(&config.settings, &[Service::Postgres, Service::Redis]).await;
    for line in services.summary_lines() {
        tracing::info!("{line}");
    }
    let store = open_store(&config, &services).await?;
    let redis = open_redis(&config, &services)?;
    let mounted = mount_all(&config, &store, redis.as_ref(), Arc::new(SystemClock)).await?;
    let listener = TcpListener::bind(args.address())
        .with_context(|| format!("Failed to bind {}:{}", args.host, args.port))?;
    tracing::info!(
        "serving on http://{}/ (GET / lists the prefixes)",
        listener.local_addr()?
    );
    crate::run(listener, AppState { mounted })?.await?;
    Ok(())
}
