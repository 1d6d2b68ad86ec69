//! Run with: `cargo demo caching-strategies` (the demo) or `cargo run -p caching-strategies -- serve`.

use std::net::TcpListener;

use caching_strategies::{AppState, Config, demo, run};
use clap::{Parser, Subcommand};
use support::demo::DemoArgs;
use support::{Settings, telemetry};

#[derive(Parser)]
#[command(about = "Caching strategies over moka, Redis and both, plus HTTP caching, measured.")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    demo: DemoArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Keep the server running for curl or Postman (`GET /` lists the strategy prefixes).
    Serve {
        #[arg(long, default_value_t = 8080)]
        port: u16,
    },
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::new(Settings::from_env()?);
    match cli.command {
        None => {
            telemetry::init("warn");
            demo::demo(&config.settings, &cli.demo).await?;
        }
        Some(Command::Serve { port }) => {
            telemetry::init("info");
            let mounted = demo::serve_state(&config).await?;
            tracing::info!("serving on http://127.0.0.1:{port}/ (GET / lists the prefixes)");
            run(
                TcpListener::bind(("127.0.0.1", port))?,
                AppState { mounted },
            )?
            .await?;
        }
    }
    Ok(())
}
