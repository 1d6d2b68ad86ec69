//! Run with: `cargo demo pagination` (add `-- --quick` for a small table), or
//! `cargo run -p pagination -- serve --port 8080` and page with curl.

use clap::{Parser, Subcommand};
use support::demo::DemoArgs;

#[derive(Debug, Parser)]
#[command(about = "Offset versus cursor pagination, measured on PostgreSQL or SQLite")]
struct Cli {
    #[command(flatten)]
    demo: DemoArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Seed the table (reused if present) and keep the server up for curl.
    Serve {
        #[arg(long, default_value_t = 8080)]
        port: u16,
    },
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    support::telemetry::init(if cli.command.is_some() {
        "info"
    } else {
        "warn"
    });
    let settings = support::Settings::from_env()?;
    match cli.command {
        None => pagination::demo::demo(&settings, &cli.demo).await.map(drop),
        Some(Command::Serve { port }) => pagination::demo::serve(&settings, &cli.demo, port).await,
    }
}
