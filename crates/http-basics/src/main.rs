//! Run with: `cargo run -p http-basics` (the demo) or `cargo run -p http-basics -- serve`.

use std::net::TcpListener;

use actix_web::web;
use clap::{Parser, Subcommand};
use http_basics::{AppState, Config, demo, run};
use support::demo::DemoArgs;

#[derive(Parser)]
#[command(about = "What HTTP methods, status codes, headers and bodies promise, shown live.")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    demo: DemoArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Keep the server running for curl or Postman.
    Serve {
        #[arg(long, default_value_t = 8080)]
        port: u16,
    },
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None => {
            support::telemetry::init("warn");
            demo::demo(&cli.demo).await?;
        }
        Some(Command::Serve { port }) => {
            support::telemetry::init("info");
            let listener = TcpListener::bind(("127.0.0.1", port))?;
            let config = Config::default();
            tracing::info!(port, writer = %config.tokens.writer, reader = %config.tokens.reader, "serving notes on http://127.0.0.1:{port}/notes");
            run(listener, web::Data::new(AppState::new(config)))?.await?;
        }
    }
    Ok(())
}
