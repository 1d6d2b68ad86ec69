//! The demo: who carries the bytes (both paths beside the raw disk), a dropped connection
//! (restart versus tus), the hostile-input table, then a closing paragraph built from what those
//! sections measured.
//!
//! The backend under measurement is this crate's own binary running `serve` as a child process
//! (so `/proc` gives *its* CPU time and resident set), over a fresh directory, a fresh database
//! (a schema of its own on PostgreSQL, a file on SQLite) and the S3-compatible server this demo
//! starts on loopback. The hostile table runs in-process instead, against a server whose clock
//! the demo moves. Everything is removed at the end.

pub mod clients;
pub mod closing;
pub mod hostile;
pub mod process;
pub mod resume;
pub mod throughput;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use support::clock::ManualClock;
use support::demo::DemoArgs;
use support::narrate::Narrator;
use support::server::RunningServer;
use support::{Report, Service, Settings};

use crate::config::{self, Config, S3Config, Secret};
use crate::context::Shared;
use crate::http::{AppState, run};
use crate::inspect::Limits;
use crate::metadata::{self, Db, Target};
use crate::object_store::{LocalS3, ObjectStore};
use crate::presigned::Direct;
use crate::storage::StorageDir;
use process::BackendProcess;

/// The owner every demo upload belongs to.
pub const OWNER: &str = "demo";
/// The hostile table's size limit.
const LAB_LIMIT: u64 = 1024 * 1024;

/// What the measured sections use: the backend process, a client, the run's directory.
#[derive(Debug)]
pub struct Context {
    pub backend: BackendProcess,
    /// The backend process's database, opened by the demo too (to read what it recorded).
    pub db: Db,
    pub client: reqwest::Client,
    pub run_dir: PathBuf,
    /// The backend process's `UPLOADS_DIR`.
    pub child_dir: PathBuf,
    pub quick: bool,
}

/// The in-process server the hostile table runs against.
#[derive(Debug)]
pub struct Lab {
    pub shared: Shared,
    pub direct: Direct,
    pub clock: ManualClock,
    pub server: RunningServer,
    pub client: reqwest::Client,
}

/// Where a database for `name` lives: a schema of its own on PostgreSQL (see
/// [`Target::in_schema`]), a file in the run directory on SQLite.
async fn database(
    settings: &Settings,
    postgres: bool,
    run_dir: &std::path::Path,
    name: &str,
) -> anyhow::Result<Target> {
    if !postgres {
        return Ok(Target::Sqlite(
            run_dir
                .join(format!("{name}.sqlite3"))
                .to_string_lossy()
                .into_owned(),
        ));
    }
    Target::Postgres(settings.database_url.clone())
        .in_schema(name)
        .await
}

async fn drop_schemas(settings: &Settings, names: Vec<String>) -> anyhow::Result<()> {
    let server = Target::Postgres(settings.database_url.clone());
    for name in names {
        server.drop_schema(&name).await?;
    }
    Ok(())
}

/// Runs the demo and returns what it measured.
pub async fn demo(settings: &Settings, args: &DemoArgs) -> anyhow::Result<Report> {
    let mut n = Narrator::new(
        "uploads",
        "File uploads: who carries the bytes, and what the server checks",
        args,
    );
    let services = n
        .probe(
            settings,
            &[(
                Service::Postgres,
                "the metadata table is on embedded SQLite",
            )],
        )
        .await?;
    let postgres = services.is_up(Service::Postgres);
    let run = support::names::unique_name("uploads_demo");
    let run_dir = std::env::temp_dir().join(&run);
    std::fs::create_dir_all(&run_dir)?;
    let result = sections(&mut n, settings, args, postgres, &run, &run_dir).await;
    // Clean up whatever happened.
    let _ = std::fs::remove_dir_all(&run_dir);
    if postgres {
        drop_schemas(
            settings,
            vec![format!("{run}_backend"), format!("{run}_lab")],
        )
        .await?;
    }
    result?;
    n.finish(args.json.as_deref())
}

async fn sections(
    n: &mut Narrator,
    settings: &Settings,
    args: &DemoArgs,
    postgres: bool,
    run_name: &str,
    run_dir: &std::path::Path,
) -> anyhow::Result<()> {
    // The object store both the backend process and the lab sign for.
    let (access, secret) = config::random_credentials();
    let s3 = LocalS3::start(&run_dir.join("objects"), &access, &secret).await?;
    let s3_config = |bucket: &str| S3Config {
        endpoint: Some(s3.endpoint.clone()),
        bucket: bucket.to_owned(),
        region: "us-east-1".to_owned(),
        access_key: access.clone(),
        secret_key: Secret::new(secret.clone()),
    };

    let child_dir = run_dir.join("backend");
    let child_target =
        database(settings, postgres, run_dir, &format!("{run_name}_backend")).await?;
    let database_url = match &child_target {
        Target::Postgres(url) => url.clone(),
        // Point the child at a closed port so it falls back to its SQLite file, unless
        // PostgreSQL is required (then the probe above has already failed the demo).
        Target::Sqlite(_) => "postgres://postgres@127.0.0.1:1/none".to_owned(),
    };
    let env = [
        (config::DIR_VAR, child_dir.to_string_lossy().into_owned()),
        (config::S3_ENDPOINT_VAR, s3.endpoint.to_string()),
        (config::S3_ACCESS_KEY_VAR, access.clone()),
        (config::S3_SECRET_KEY_VAR, secret.clone()),
        (config::S3_BUCKET_VAR, "measured".to_owned()),
        ("DATABASE_URL", database_url),
        ("RUST_LOG", "warn".to_owned()),
    ];
    let backend = BackendProcess::start(&env, &run_dir.join("backend.log")).await?;
    let child_db_target = match child_target {
        Target::Postgres(url) => Target::Postgres(url),
        Target::Sqlite(_) => Target::Sqlite(
            child_dir
                .join("uploads.sqlite3")
                .to_string_lossy()
                .into_owned(),
        ),
    };
    let ctx = Context {
        db: metadata::open(&child_db_target, 2).await?,
        backend,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(600))
            .build()?,
        run_dir: run_dir.to_owned(),
        child_dir,
        quick: args.quick,
    };
    let throughput = throughput::run(n, &ctx).await?;
    let resume = resume::run(n, &ctx).await?;
    ctx.backend.stop().await;

    // The lab: in-process, its own database and directory, a clock the demo moves.
    let lab_target = database(settings, postgres, run_dir, &format!("{run_name}_lab")).await?;
    let store = ObjectStore::new(s3.endpoint.clone(), &s3_config("lab"))?;
    store.ensure_bucket().await?;
    let clock = ManualClock::starting_now();
    let mut config = Config::from_lookup(settings.clone(), |_| None)?;
    config.limits = Limits {
        max_bytes: LAB_LIMIT,
        ..config.limits
    };
    let shared = Shared {
        db: metadata::open(&lab_target, 2).await?,
        dir: StorageDir::create(run_dir.join("lab").join("store"))?,
        limits: config.limits,
        allow: config.allow.clone(),
    };
    let direct = Direct {
        store,
        ttl: config.presign_ttl,
        deadline: config.confirm_deadline,
        clock: Arc::new(clock.clone()),
    };
    let state = AppState::new(shared.clone(), Some(direct.clone()));
    let lab = Lab {
        server: support::server::spawn(|l| run(l, state))?,
        shared,
        direct,
        clock,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
    };
    let hostile = hostile::run(n, &lab).await?;
    lab.server.stop().await;
    s3.stop().await;

    closing::run(
        n,
        &closing::Figures {
            throughput,
            resume,
            hostile,
        },
    )
}
