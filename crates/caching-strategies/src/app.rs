//! Wiring: open the store and Redis (or say why not), build every strategy over every tier, and
//! mount them under parallel prefixes: `/no-cache`, `/moka/cache-aside`, `/redis/write-back`, ...

use std::sync::Arc;

use anyhow::Context as _;
use support::db::Target;
use support::{Service, Services};

use crate::clock::Clock;
use crate::config::{Config, INVALIDATION_CHANNEL};
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
use crate::tiers::moka::MokaTier;
use crate::tiers::redis::{self as redis_tier, RedisTier};
use crate::tiers::two_tier::TwoTier;

/// Where a strategy keeps its entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TierKind {
    Moka,
    Redis,
    TwoTier,
}

impl TierKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Moka => "moka",
            Self::Redis => "redis",
            Self::TwoTier => "two-tier",
        }
    }
}

/// The strategies mounted on every tier, by name.
pub const STRATEGIES: [&str; 6] = [
    "cache-aside",
    "cache-aside-update",
    "cache-aside-versioned",
    "read-through",
    "write-through",
    "write-back",
];

/// PostgreSQL when it answers, the SQLite file otherwise (an error under `require_services`);
/// tables created (the store's migrations) and seeded.
pub async fn open_store(config: &Config, services: &Services) -> anyhow::Result<Store> {
    let target = if services.is_up(Service::Postgres) {
        Target::Postgres(config.settings.database_url.clone())
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
/// own Redis prefix and channel), so strategies mounted side by side never see each other's data.
pub async fn tier(
    kind: TierKind,
    name: &str,
    config: &Config,
    redis: Option<&deadpool_redis::Pool>,
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
    })
}

/// One strategy by name over `deps`.
pub fn strategy(name: &str, deps: Deps, config: &Config) -> anyhow::Result<Arc<dyn Strategy>> {
    Ok(match name {
        "cache-aside" => Arc::new(CacheAside::new(deps, OnWrite::Invalidate)),
        "cache-aside-update" => Arc::new(CacheAside::new(deps, OnWrite::Update)),
        "cache-aside-versioned" => Arc::new(CacheAside::new(deps, OnWrite::Invalidate).versioned()),
        "read-through" => Arc::new(ReadThrough::new(deps)),
        "write-through" => Arc::new(WriteThrough::new(deps)),
        "write-back" => Arc::new(WriteBack::spawn(deps, config.flush)),
        other => anyhow::bail!("no strategy is called {other}"),
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
        prefix: "/no-cache".to_owned(),
        strategy: Arc::new(NoCache::new(store.clone(), Arc::clone(&clock))),
    }];
    let kinds: &[TierKind] = if redis.is_some() {
        &[TierKind::Moka, TierKind::Redis, TierKind::TwoTier]
    } else {
        &[TierKind::Moka]
    };
    for kind in kinds {
        for name in STRATEGIES {
            let deps = Deps {
                store: store.clone(),
                tier: tier(*kind, &format!("{}:{name}", kind.name()), config, redis).await?,
                clock: Arc::clone(&clock),
                ttls: config.ttls,
            };
            mounted.push(Mounted {
                prefix: format!("/{}/{name}", kind.name()),
                strategy: strategy(name, deps, config)?,
            });
        }
    }
    Ok(mounted)
}
