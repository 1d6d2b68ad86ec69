//! Run with: `cargo demo sessions-vs-jwt` (the demo), or
//! `cargo run -p sessions-vs-jwt -- serve --port 8080` (the server, for curl).

use std::net::TcpListener;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use sessions_vs_jwt::clock::SystemClock;
use sessions_vs_jwt::users::UserStore;
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
    /// Keep the server running over plain HTTP (so cookies are not `Secure`).
    Serve {
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Address to bind; `0.0.0.0` inside a container.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// HS256 secret shared by every instance (at least 32 bytes); random per process if unset.
        #[arg(long, env = "SVJ_JWT_SECRET", hide_env_values = true)]
        jwt_secret: Option<String>,
    },
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::from_env()?;
    let Some(Command::Serve {
        port,
        host,
        jwt_secret,
    }) = cli.command
    else {
        support::telemetry::init("warn");
        sessions_vs_jwt::demo(&settings, &cli.demo).await?;
        return Ok(());
    };
    support::telemetry::init("info");
    let redis = Services::probe_only(&settings, &[Service::Redis])
        .await
        .is_up(Service::Redis);
    let pool = redis
        .then(|| app::redis_pool(&settings.redis_url))
        .transpose()?;
    let mut config = Config::new(settings).for_localhost();
    if let Some(secret) = jwt_secret {
        anyhow::ensure!(
            secret.len() >= 32,
            "SVJ_JWT_SECRET must be at least 32 bytes"
        );
        config.jwt.hs256_secret = secret.into_bytes();
    }
    let users = UserStore::seeded(config.hash_cost).await?;
    let (clock, namespace) = (Arc::new(SystemClock), app::KEY_NAMESPACE.to_owned());
    let state = AppState::new(Parts {
        config,
        clock,
        users,
        redis: pool,
        namespace,
        keys: None,
    })?;
    tracing::info!(redis, "listening on http://{host}:{port}");
    app::run(TcpListener::bind((host.as_str(), port))?, state)?.await?;
    Ok(())
}
