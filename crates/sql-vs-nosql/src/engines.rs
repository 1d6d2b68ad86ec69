//! Opens every engine this run can reach, each on its own database, file or key prefix named
//! after the data set's size, so a later run with the same sizes finds its data and reuses it.

use std::path::Path;
use std::sync::Arc;

use support::Settings;
use support::demo::{Forgotten, bytes};
use support::report::format_number;
use support::services::{self, Service, Status};

use crate::config::{Config, Targets};
use crate::document::DocumentStore;
use crate::graph::GraphStore;
use crate::graph_server::{Binaries, GraphServer, GraphServerError, Options, Snapshot};
use crate::key_value::{self, FeedStrategy, KeyValueStore};
use crate::relational::{self, RelationalStore};
use crate::store::{Engine, SocialStore};

/// The connected stores; `None` where the server was unreachable.
#[derive(Clone)]
pub struct Stores {
    pub postgres: Option<Arc<RelationalStore>>,
    pub mariadb: Option<Arc<RelationalStore>>,
    pub sqlite: Arc<RelationalStore>,
    pub redis_on_write: Option<Arc<KeyValueStore>>,
    pub redis_on_read: Option<Arc<KeyValueStore>>,
    pub documents: Option<Arc<DocumentStore>>,
    pub graph: Option<Arc<GraphStore>>,
    /// The FalkorDB server this run started (stopped when the last clone is dropped).
    pub graph_server: Option<Arc<GraphServer>>,
    /// The URL of the PostgreSQL database the relational and document stores use.
    pub postgres_url: Option<String>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.all().iter().map(|s| s.engine()))
            .finish()
    }
}

impl Stores {
    /// Every connected store, in [`Engine::ALL`] order.
    pub fn all(&self) -> Vec<&dyn SocialStore> {
        let mut out: Vec<&dyn SocialStore> = Vec::new();
        if let Some(s) = &self.postgres {
            out.push(s.as_ref());
        }
        if let Some(s) = &self.mariadb {
            out.push(s.as_ref());
        }
        out.push(self.sqlite.as_ref());
        if let Some(s) = &self.redis_on_write {
            out.push(s.as_ref());
        }
        if let Some(s) = &self.redis_on_read {
            out.push(s.as_ref());
        }
        if let Some(s) = &self.documents {
            out.push(s.as_ref());
        }
        if let Some(s) = &self.graph {
            out.push(s.as_ref());
        }
        out
    }

    /// The same stores, shareable (for the HTTP API).
    pub fn shared(&self) -> Vec<Arc<dyn SocialStore>> {
        let mut out: Vec<Arc<dyn SocialStore>> = Vec::new();
        if let Some(s) = &self.postgres {
            out.push(s.clone());
        }
        if let Some(s) = &self.mariadb {
            out.push(s.clone());
        }
        out.push(self.sqlite.clone());
        if let Some(s) = &self.redis_on_write {
            out.push(s.clone());
        }
        if let Some(s) = &self.redis_on_read {
            out.push(s.clone());
        }
        if let Some(s) = &self.documents {
            out.push(s.clone());
        }
        if let Some(s) = &self.graph {
            out.push(s.clone());
        }
        out
    }
}

/// What every data set's database (PostgreSQL, MariaDB) or key prefix (Redis) starts with.
pub const DATA_SET_PREFIX: &str = "svn_";

/// The database (PostgreSQL, MariaDB) or key prefix (Redis) of the data set of `config`'s sizes.
pub fn dataset_name(config: &Config) -> String {
    format!("{DATA_SET_PREFIX}{}", config.sizes.label())
}

/// Removes every data set of every size whose name starts with `prefix` (the demo's is
/// [`DATA_SET_PREFIX`]) from each engine that answers: the PostgreSQL and MariaDB databases, the
/// Redis keys in [`REDIS_DATABASE`], and `data_dir` with its SQLite files and FalkorDB
/// snapshots. `sql-vs-nosql forget`; an engine that does not answer is reported, not an error.
pub async fn forget(
    settings: &Settings,
    data_dir: &Path,
    prefix: &str,
) -> anyhow::Result<Forgotten> {
    let mut forgotten = Forgotten::default();
    for (service, engine) in [
        (Service::Postgres, Engine::Postgres),
        (Service::MariaDb, Engine::MariaDb),
    ] {
        let url = service.url(settings);
        if let Status::Down(why) = services::probe(service, url).await {
            forgotten.not_checked(format!(
                "{} at {} ({why})",
                service.name(),
                services::redact(url)
            ));
            continue;
        }
        for (name, size) in relational::databases_named(engine, url, prefix).await? {
            relational::drop_database(engine, url, &name).await?;
            forgotten.removed(format!(
                "{} database {name} ({})",
                service.name(),
                bytes(size)
            ));
        }
    }
    let redis = &settings.redis_url;
    match services::probe(Service::Redis, redis).await {
        Status::Up => {
            let url = data_set_database(redis)?;
            let keys = key_value::forget_keys(&url, prefix).await?;
            if keys > 0 {
                forgotten.removed(format!(
                    "{} Redis keys under {prefix} in database {REDIS_DATABASE}",
                    format_number(keys as f64)
                ));
            }
        }
        Status::Down(why) => {
            forgotten.not_checked(format!("Redis at {} ({why})", services::redact(redis)));
        }
    }
    if let Ok(size) = directory_size(data_dir) {
        std::fs::remove_dir_all(data_dir)?;
        forgotten.removed(format!("{} ({})", data_dir.display(), bytes(size)));
    }
    Ok(forgotten)
}

/// The bytes of the files directly in `dir` (the data directory has no subdirectories).
fn directory_size(dir: &Path) -> std::io::Result<u64> {
    let mut size = 0;
    for entry in std::fs::read_dir(dir)? {
        size += entry?.metadata()?.len();
    }
    Ok(size)
}

/// The Redis database (a logical database of the same server) the data sets live in. Not the
/// default database 0: a full data set is over a million keys, and every tool or test that walks
/// database 0's keyspace would walk them too.
pub const REDIS_DATABASE: i64 = 1;

/// `url` pointed at [`REDIS_DATABASE`], unless it already names a database other than 0.
pub fn data_set_database(url: &str) -> anyhow::Result<String> {
    let mut parsed = url::Url::parse(url)?;
    let named = parsed.path().trim_start_matches('/');
    if named.is_empty() || named == "0" {
        parsed.set_path(&format!("/{REDIS_DATABASE}"));
    }
    Ok(parsed.to_string())
}

/// Opens a store on each reachable target.
pub async fn open(config: &Config, targets: &Targets) -> anyhow::Result<Stores> {
    let name = dataset_name(config);
    let pool = config.pool_size;
    let postgres_url = match &targets.postgres {
        Some(server) => Some(relational::ensure_database(Engine::Postgres, server, &name).await?),
        None => None,
    };
    let postgres = match &postgres_url {
        Some(url) => Some(Arc::new(RelationalStore::postgres(url, pool)?)),
        None => None,
    };
    let documents = match &postgres_url {
        Some(url) => Some(Arc::new(DocumentStore::connect(url, pool).await?)),
        None => None,
    };
    let mariadb = match &targets.mariadb {
        Some(server) => {
            let url = relational::ensure_database(Engine::MariaDb, server, &name).await?;
            Some(Arc::new(RelationalStore::mariadb(&url, pool)?))
        }
        None => None,
    };
    std::fs::create_dir_all(&targets.sqlite_dir)?;
    let file = targets.sqlite_dir.join(format!("{name}.sqlite3"));
    let sqlite = Arc::new(RelationalStore::sqlite(&file.to_string_lossy(), pool)?);
    let (redis_on_write, redis_on_read) = match targets.redis.as_deref().map(data_set_database) {
        Some(url) => {
            let url = url?;
            let url = url.as_str();
            (
                Some(Arc::new(
                    KeyValueStore::connect(url, format!("{name}:on-write:"), FeedStrategy::OnWrite)
                        .await?,
                )),
                Some(Arc::new(
                    KeyValueStore::connect(url, format!("{name}:on-read:"), FeedStrategy::OnRead)
                        .await?,
                )),
            )
        }
        None => (None, None),
    };
    Ok(Stores {
        postgres,
        mariadb,
        sqlite,
        redis_on_write,
        redis_on_read,
        documents,
        graph: None,
        graph_server: None,
        postgres_url,
    })
}

/// Why this run has no graph engine: FalkorDB is not installed (a line to print, and an error
/// under `BF_REQUIRE_SERVICES=1`), as opposed to a server that was found and failed (always an
/// error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphAbsent(pub String);

/// Starts FalkorDB on a free loopback port with its snapshot in `config.data_dir` (so a graph
/// loaded by an earlier run is loaded from disk, not from the data set) and connects a store.
pub async fn start_graph(
    config: &Config,
) -> anyhow::Result<Result<(GraphServer, GraphStore), GraphAbsent>> {
    let binaries = match Binaries::from_env().await {
        Ok(binaries) => binaries,
        Err(e) if e.is_absent() => return Ok(Err(GraphAbsent(e.to_string()))),
        Err(e) => return Err(e.into()),
    };
    std::fs::create_dir_all(&config.data_dir)?;
    let options = Options {
        snapshot: Some(Snapshot {
            dir: config.data_dir.clone(),
            file: format!("graph-{}.rdb", config.sizes.label()),
        }),
        log: Some(config.data_dir.join("falkordb.log")),
        ..Options::default()
    };
    let server = GraphServer::start(&binaries, &options).await?;
    let store = GraphStore::connect(&server.url(), "social").await?;
    Ok(Ok((server, store)))
}

/// Saves the graph's snapshot after a load, so the next run starts with it.
pub async fn save_graph(server: &GraphServer) -> Result<(), GraphServerError> {
    server.save().await
}
