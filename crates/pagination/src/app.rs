//! `serve`: the same server the demo and the tests start, kept up for curl over the demo's feed.

use std::net::TcpListener;

use anyhow::Context as _;
use support::Settings;
use support::cli::ServeArgs;
use support::demo::DemoArgs;

use crate::config::Config;
use crate::cursor::CursorCodec;
use crate::db::{self, Target};
use crate::http::{AppState, CURSOR_PATH, run};
use crate::seed;

/// Opens the feed the demo uses (PostgreSQL when reachable, else its SQLite file; an error under
/// `BF_REQUIRE_SERVICES=1` without PostgreSQL), seeds it unless an earlier run left one of the
/// right size, and serves it until Ctrl-C.
pub async fn serve(settings: &Settings, demo: &DemoArgs, serve: &ServeArgs) -> anyhow::Result<()> {
    let config = Config::from_settings(settings.clone());
    let rows = seed::feed_rows(demo);
    let name = rows.to_string();
    let chosen = Target::choose(settings, &db::sqlite_file(&name)).await?;
    tracing::info!(backend = chosen.backend().name(), rows, "opening the feed");
    let db = db::open(&db::dataset(chosen, &name).await?, config.pool_size).await?;
    seed::ensure(&db, rows, true).await?;
    let state = AppState {
        db,
        codec: CursorCodec::new(&config.cursor_key),
        limits: config.limits,
    };
    let (host, port) = serve.address();
    let listener = TcpListener::bind((host.as_str(), port))
        .with_context(|| format!("Failed to listen on {host}:{port}"))?;
    tracing::info!("try: curl -i 'http://{host}:{port}{CURSOR_PATH}?limit=3'");
    run(listener, state)?.await?;
    Ok(())
}
