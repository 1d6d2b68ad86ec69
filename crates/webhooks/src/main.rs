//! Run with: `cargo demo webhooks` (add `-- --quick` for a short run), or
//! `cargo run -p webhooks -- serve --port 8080` and register an endpoint with curl.

use support::cli::{Mode, NoFlags};

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let (settings, mode) = support::cli::start::<NoFlags>(
        "Polling versus webhooks: requests, bytes and notice latency side by side; an outage; attacks.",
    )?;
    match mode {
        Mode::Demo(args) => webhooks::demo::demo(&settings, &args).await.map(drop),
        Mode::Serve { serve, .. } => webhooks::serve::serve(&settings, &serve).await,
        Mode::Forget => {
            support::demo::keeps_no_data_sets("webhooks");
            Ok(())
        }
    }
}
