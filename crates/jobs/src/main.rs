//! Run with: `cargo run -p jobs` (the demo) or `cargo run -p jobs -- serve`.

use clap::{Parser, Subcommand};
use support::Settings;
use support::demo::DemoArgs;

#[derive(Parser)]
#[command(
    about = "Background jobs in-process, on Redis and on RabbitMQ: speed, retries, dead letters, crashes."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    demo: DemoArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Keep the service (and its mail sink and workers) running for curl or Postman.
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
            jobs::demo::demo(&settings, &cli.demo).await?;
        }
        Some(Command::Serve { port }) => {
            support::telemetry::init("info");
            jobs::demo::serve(settings, port).await?;
        }
    }
    Ok(())
}
