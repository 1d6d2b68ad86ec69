//! The demo: the table, cost by depth, the price of a total count, and consistency under change,
//! measured through the HTTP API on PostgreSQL (or SQLite when PostgreSQL is not reachable), then
//! a closing paragraph built from what those sections measured.
//!
//! Each section is a file with one `run` that measures, prints its table and returns a typed
//! struct of its figures (also recorded in the JSON report). [`demo`] lists them in the order they
//! run; [`closing`] reads only those structs, so the paragraph cannot claim what the run did not
//! measure.

pub mod churn;
pub mod closing;
pub mod cost_by_depth;
mod explain;
pub mod total_count;

use std::time::{Duration, Instant};

use serde::Serialize;
use support::Settings;
use support::demo::DemoArgs;
use support::measure::Plan;
use support::narrate::Narrator;
use support::server::RunningServer;
use support::{Report, Service};

use crate::config::Config;
use crate::cursor::CursorCodec;
use crate::db::{self, Backend, Db, Target};
use crate::http::{AppState, run};
use crate::seed::{self, Seeded};

/// Rows per page everywhere in the demo.
pub const LIMIT: u32 = 20;
/// The longest any one request of the demo may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What every section uses: the seeded feed, a server over it, a client, and the timing plan.
#[derive(Debug)]
pub struct Context {
    pub config: Config,
    pub backend: Backend,
    /// The feed of [`Context::rows`] rows.
    pub db: Db,
    pub rows: i64,
    /// The server every measured request goes through.
    pub server: RunningServer,
    pub client: reqwest::Client,
    /// The server's cursor key, so a section can make the cursor a client would hold.
    pub codec: CursorCodec,
    pub plan: Plan,
}

impl Context {
    /// The state a server over `db` needs (the same key, so cursors work across the demo's
    /// servers).
    pub fn state(&self, db: Db) -> AppState {
        AppState {
            db,
            codec: self.codec.clone(),
            limits: self.config.limits,
        }
    }

    /// Opens the data set `name` on the backend this run uses (see [`db::dataset`]).
    pub async fn open_dataset(&self, name: &str) -> anyhow::Result<Db> {
        open_dataset(&self.config, self.backend, name).await
    }
}

async fn open_dataset(config: &Config, backend: Backend, name: &str) -> anyhow::Result<Db> {
    let chosen = match backend {
        Backend::Postgres => Target::Postgres(config.settings.database_url.clone()),
        Backend::Sqlite => Target::Sqlite(db::sqlite_file(name)),
    };
    db::open(&db::dataset(chosen, name).await?, config.pool_size).await
}

/// What "The table" section found or did.
#[derive(Debug, Clone, Serialize)]
pub struct Feed {
    pub backend: Backend,
    pub rows: i64,
    /// False when a table of the right size from an earlier run was reused.
    pub seeded_now: bool,
    /// Time spent seeding (zero when reused).
    pub seed_seconds: f64,
}

/// Runs the demo and returns what it measured.
pub async fn demo(settings: &Settings, args: &DemoArgs) -> anyhow::Result<Report> {
    let mut n = Narrator::new("pagination", "Offset versus cursor pagination", args);
    // Errors under BF_REQUIRE_SERVICES=1 when PostgreSQL is missing; otherwise prints what the
    // run leaves out and carries on with SQLite.
    let services = n
        .probe(
            settings,
            &[(
                Service::Postgres,
                "running on embedded SQLite, without EXPLAIN ANALYZE row counts",
            )],
        )
        .await?;
    let backend = if services.is_up(Service::Postgres) {
        Backend::Postgres
    } else {
        Backend::Sqlite
    };
    let config = Config::from_settings(settings.clone());

    // The sections, in the order they run.
    let (table, db) = the_table(&mut n, &config, backend, args).await?;
    let codec = CursorCodec::new(&config.cursor_key);
    let state = AppState {
        db: db.clone(),
        codec: codec.clone(),
        limits: config.limits,
    };
    let ctx = Context {
        server: support::server::spawn(|l| run(l, state))?,
        // A deadline on every request, so a stuck server fails the demo instead of hanging it
        // (the deepest offset page of a million rows takes well under a second in release).
        client: reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()?,
        codec,
        config,
        backend,
        db,
        rows: table.rows,
        // Many iterations so cheap pages get a stable median; the budget caps the deep offset
        // pages (each of which reads up to the whole table) at a couple of seconds per
        // measurement. `--quick` takes a tenth of each.
        plan: Plan::iterations(1_000)
            .warmup(20)
            .budget(Duration::from_secs(2))
            .scaled_for(args.quick),
    };
    let depth = cost_by_depth::run(&mut n, &ctx).await?;
    let total = total_count::run(&mut n, &ctx).await?;
    let churn = churn::run(&mut n, &ctx).await?;
    closing::run(&mut n, ctx.backend, &depth, &total, &churn)?;

    ctx.server.stop().await;
    n.finish(args.json.as_deref())
}

/// "The table": opens the feed of [`seed::feed_rows`] rows and seeds it unless an earlier run
/// left one of the right size.
async fn the_table(
    n: &mut Narrator,
    config: &Config,
    backend: Backend,
    args: &DemoArgs,
) -> anyhow::Result<(Feed, Db)> {
    let rows = seed::feed_rows(args);
    n.section("The table");
    let db = open_dataset(config, backend, &rows.to_string()).await?;
    let started = Instant::now();
    let seeded = seed::ensure(&db, rows, !args.silent).await?;
    let seed_seconds = started.elapsed().as_secs_f64();
    n.say(&match seeded {
        Seeded::Reused(r) => format!(
            "{} table `pagination_posts` with {r} rows already seeded: reused.",
            backend.name()
        ),
        Seeded::Filled(r) => format!(
            "Seeded {r} rows into {} in {seed_seconds:.1} s, generated inside the database in \
             chunks (generate_series / a recursive CTE), index built once at the end.",
            backend.name(),
        ),
    });
    let figures = Feed {
        backend,
        rows,
        seeded_now: matches!(seeded, Seeded::Filled(_)),
        seed_seconds: if matches!(seeded, Seeded::Filled(_)) {
            seed_seconds
        } else {
            0.0
        },
    };
    n.figures(&figures)?;
    Ok((figures, db))
}
