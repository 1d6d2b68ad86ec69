//! `serve`: the API on a port until Ctrl-C, on whatever backends this machine has.
//!
//! Graceful shutdown: actix stops accepting on SIGINT/SIGTERM and lets requests in flight finish
//! (up to its 30-second shutdown timeout); then the notification worker settles the job it holds
//! and hands back what it prefetched, so a broker redelivers it to the next instance.

use std::net::TcpListener;
use std::sync::Arc;

use anyhow::Context as _;
use support::Settings;
use support::cli::ServeArgs;

use crate::config::Config;
use crate::db::{self, Target};
use crate::state::{AppState, CacheChoice, QueueChoice};

/// The database `serve` and the demo use: PostgreSQL at `DATABASE_URL` in schema `schema` when
/// it answers, else the SQLite file named after `schema`.
pub async fn target(settings: &Settings, schema: &str) -> anyhow::Result<Target> {
    Target::choose(settings, &db::sqlite_file(schema))
        .await?
        .in_schema(schema)
        .await
}

/// Opens the database and builds the state with every backend chosen automatically.
pub async fn state(
    settings: &Settings,
    config: Config,
    target: &Target,
) -> anyhow::Result<Arc<AppState>> {
    let db = db::open(target, config.pool_size).await?;
    AppState::build(settings, config, db, CacheChoice::Auto, QueueChoice::Auto).await
}

/// Serves until Ctrl-C.
pub async fn serve(settings: &Settings, args: &ServeArgs) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let target = target(settings, "mini_blog").await?;
    let state = state(settings, config, &target).await?;
    for line in state.left_out() {
        tracing::warn!("{line}");
    }
    let listener = TcpListener::bind(args.address())
        .with_context(|| format!("Failed to bind {}:{}", args.host, args.port))?;
    tracing::info!(
        "mini-blog on http://{}/api (Swagger UI at {}, storage {}, cache {}, jobs {})",
        listener.local_addr()?,
        crate::openapi::SWAGGER_PATH,
        target.backend().name(),
        state.top.description,
        state.notifier.backend(),
    );
    crate::http::run(listener, state.clone(), support::server::WORKERS)?.await?;
    state.notifier.shutdown(false).await;
    Ok(())
}
