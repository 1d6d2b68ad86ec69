//! `webhooks serve`: the provider's API with its dispatcher, as one process would run them.
//!
//! PostgreSQL when it answers, otherwise an SQLite file in the temp directory that survives
//! restarts, so an event committed before a stop is delivered after the next start. The
//! dispatcher is woken by the API's commits and also polls, for writers in other processes.

use std::net::TcpListener;

use anyhow::Context as _;
use support::Settings;
use support::cli::ServeArgs;
use support::db::Target;

use crate::config::Config;
use crate::dispatcher::Dispatcher;
use crate::provider::{self, Provider};
use crate::store;

/// Runs until interrupted. Loopback endpoints are allowed (a consumer on this machine is what
/// one tries first); private and link-local ones stay refused.
pub async fn serve(settings: &Settings, serve: &ServeArgs) -> anyhow::Result<()> {
    let config = Config {
        allow_loopback: true,
        ..Config::default()
    };
    let sqlite = std::env::temp_dir()
        .join("webhooks-serve.sqlite3")
        .to_string_lossy()
        .into_owned();
    let target = Target::choose(settings, &sqlite).await?;
    tracing::info!(backend = target.backend().name(), "opening the outbox");
    let db = store::open(&target, 8).await?;
    let state = Provider::new(db.clone(), config.clone());
    let dispatcher = Dispatcher::new(db, config)?
        .woken_by(state.changes())
        .start();
    let (host, port) = serve.address();
    let listener = TcpListener::bind((host.as_str(), port))
        .with_context(|| format!("Failed to listen on {host}:{port}"))?;
    tracing::info!("try: curl -i -X POST http://{host}:{port}/orders");
    let result = provider::run(listener, state)?.await;
    dispatcher.stop().await;
    Ok(result?)
}
