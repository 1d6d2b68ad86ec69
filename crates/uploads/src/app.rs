//! `serve`: the server with every path, its own object store unless one is configured, and the
//! reconciliation sweep on a timer. The demo starts this same binary as a child process, so the
//! backend it measures is a process of its own.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use support::Settings;
use support::cli::ServeArgs;
use support::clock::SystemClock;

use crate::config::Config;
use crate::context::Shared;
use crate::http::{AppState, run};
use crate::metadata::{self, Target};
use crate::object_store::{LocalS3, ObjectStore};
use crate::presigned::{self, Direct};
use crate::storage::StorageDir;
use crate::tus;

/// How often `serve` sweeps unconfirmed direct uploads.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Serves until Ctrl-C (or until killed, when the demo is done with it).
pub async fn serve(settings: &Settings, serve: &ServeArgs) -> anyhow::Result<()> {
    let config = Config::from_env(settings.clone())?;
    let dir = StorageDir::create(config.storage_dir.join("backend"))
        .with_context(|| format!("Failed to create {}", config.storage_dir.display()))?;
    let sqlite = config.storage_dir.join("uploads.sqlite3");
    let target = Target::choose(settings, &sqlite.to_string_lossy()).await?;
    let db = metadata::open(&target, config.pool_size).await?;
    // Without a configured endpoint, a local S3-compatible server next to the files.
    let (endpoint, _local) = match &config.s3.endpoint {
        Some(url) => (url.clone(), None),
        None => {
            let local = LocalS3::start(
                &config.storage_dir.join("objects"),
                &config.s3.access_key,
                config.s3.secret_key.expose(),
            )
            .await?;
            tracing::info!(endpoint = %local.endpoint, "started a local S3-compatible server");
            (local.endpoint.clone(), Some(local))
        }
    };
    let store = ObjectStore::new(endpoint, &config.s3)?;
    store.ensure_bucket().await?;
    let shared = Shared {
        db,
        dir,
        limits: config.limits,
        allow: config.allow.clone(),
    };
    let direct = Direct {
        store,
        ttl: config.presign_ttl,
        deadline: config.confirm_deadline,
        clock: Arc::new(SystemClock),
    };
    let state = AppState::new(shared.clone(), Some(direct.clone()));
    let sweeper = {
        let (shared, direct, locks) = (shared, direct, state.tus_locks.clone());
        let tus_deadline = chrono::Duration::from_std(config.tus_deadline)?;
        tokio::spawn(async move {
            let mut every = tokio::time::interval(SWEEP_EVERY);
            loop {
                every.tick().await;
                match presigned::sweep(&shared, &direct).await {
                    Ok(s) if s.rows > 0 => {
                        tracing::info!(rows = s.rows, "swept unconfirmed direct uploads");
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "direct sweep failed"),
                }
                match tus::sweep(&shared, &locks, metadata::now() - tus_deadline).await {
                    Ok(n) if n > 0 => tracing::info!(rows = n, "swept unfinished tus uploads"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "tus sweep failed"),
                }
            }
        })
    };
    let (host, port) = serve.address();
    let listener = TcpListener::bind((host.as_str(), port))
        .with_context(|| format!("Failed to listen on {host}:{port}"))?;
    tracing::info!(
        backend = target.backend().name(),
        "try: curl -i -H 'x-owner: me' -F 'file=@photo.png' http://{host}:{port}{}",
        crate::through_backend::PATH
    );
    let served = run(listener, state)?.await;
    sweeper.abort();
    Ok(served?)
}
