//! Run with: `cargo demo sessions-vs-jwt` (the demo), or
//! `cargo run -p sessions-vs-jwt -- serve --port 8080` (the server, for curl).

use clap::{Parser, Subcommand};
use sessions_vs_jwt::app::{self, ServeOptions};
use support::Settings;
use support::demo::DemoArgs;

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
    /// Keep the server running over plain HTTP (so cookies are not `Secure`), with EdDSA tokens
    /// and their public key at /.well-known/jwks.json unless told otherwise.
    Serve(ServeOptions),
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::from_env()?;
    match cli.command {
        Some(Command::Serve(options)) => {
            support::telemetry::init("info");
            app::serve(settings, options).await
        }
        None => {
            support::telemetry::init("warn");
            sessions_vs_jwt::demo(&settings, &cli.demo).await?;
            Ok(())
        }
    }
}
