//! Run with: `cargo demo auth` (the demo), or
//! `cargo run -p auth -- serve --port 8080` (the server, for curl).

use support::cli::{Mode, NoFlags};

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let (settings, mode) = support::cli::start::<NoFlags>(
        "How a REST API knows who is calling: Basic, sessions, JWT, API keys and OAuth2, with RBAC",
    )?;
    match mode {
        Mode::Demo(args) => auth::demo(&settings, &args).await.map(drop),
        Mode::Serve { serve, .. } => auth::app::serve(settings, &serve).await,
        Mode::Forget => {
            support::demo::keeps_no_data_sets("auth");
            Ok(())
        }
    }
}
