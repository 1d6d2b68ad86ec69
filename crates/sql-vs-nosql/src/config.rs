//! The crate's one typed configuration: which servers this run can use, and how big the data is.
//!
//! Built once (in `main` from [`support::Settings`] and the probe, or by a test) and passed down;
//! nothing reads the environment after that.

use std::path::PathBuf;

use support::Settings;

use crate::seed::Sizes;

/// The servers a run uses: `None` where a service is unreachable, so every section knows which
/// rows it can fill and says which it left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets {
    /// A PostgreSQL database URL (relational rows, JSONB documents, the isolation cases).
    pub postgres: Option<String>,
    /// A MariaDB database URL (`mysql://...`).
    pub mariadb: Option<String>,
    /// A Redis URL.
    pub redis: Option<String>,
    /// A FalkorDB URL (`redis://127.0.0.1:<port>`), for a server this run started.
    pub falkordb: Option<String>,
    /// Where SQLite files live (SQLite is always available: it is embedded).
    pub sqlite_dir: PathBuf,
}

/// Everything the demo and `serve` need.
#[derive(Debug, Clone)]
pub struct Config {
    pub settings: Settings,
    pub sizes: Sizes,
    /// Connections per pool; two cores gain nothing from more.
    pub pool_size: usize,
    /// Where reusable data lives between runs (SQLite files, FalkorDB's snapshot).
    pub data_dir: PathBuf,
}

impl Config {
    /// The configuration for `settings`, with the full or the `--quick` data set.
    pub fn new(settings: Settings, quick: bool) -> Self {
        Self {
            settings,
            sizes: if quick { Sizes::QUICK } else { Sizes::FULL },
            pool_size: 4,
            data_dir: std::env::temp_dir().join("sql-vs-nosql"),
        }
    }
}
