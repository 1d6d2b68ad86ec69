//! Run with: `cargo demo sessions-vs-jwt` (the demo), or
//! `cargo run -p sessions-vs-jwt -- serve --port 8080` (the server, for curl).

use std::net::TcpListener;

use clap::{Parser, Subcommand};
use sessions_vs_jwt::clock::SystemClock;
use sessions_vs_jwt::{AppState, Config, Parts, app};
use support::demo::DemoArgs;
use support::{Service, Services, Settings};

#[derive(Debug, Parser)]
#[command(about = "Sessions in memory, sessions in Redis, and JWTs, side by side")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    demo: DemoArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Keep the server running (plain HTTP on 127.0.0.1, so cookies are not `Secure`).
    Serve {
        #[arg(long, default_value_t = 8080)]
        port: u16,
    },
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::from_env()?;
    match cli.command {
        None => {
            support::telemetry::init("warn");
            sessions_vs_jwt::demo(&settings, &cli.demo).await?;
        }
        Some(Command::Serve { port }) => {
            support::telemetry::init("info");
            let services = Services::probe_only(&settings, &[Service::Redis]).await;
            let redis = services
                .is_up(Service::Redis)
                .then(|| app::redis_pool(&settings.redis_url))
                .transpose()?;
            let config = Config::new(settings).for_localhost();
            let users = sessions_vs_jwt::users::UserStore::seeded(config.hash_cost).await?;
            let state = AppState::new(Parts {
                config,
                clock: std::sync::Arc::new(SystemClock),
                users,
                redis,
                namespace: app::KEY_NAMESPACE.to_owned(),
                keys: None,
            })?;
            tracing::info!(port, "listening on http://127.0.0.1:{port}");
            app::run(TcpListener::bind(("127.0.0.1", port))?, state)?.await?;
        }
    }
    Ok(())
}
