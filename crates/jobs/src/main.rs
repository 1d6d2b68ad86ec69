//! Run with: `cargo run -p jobs` (the demo) or `cargo run -p jobs -- serve`.

use support::cli::{Mode, NoFlags};

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let (settings, mode) = support::cli::start::<NoFlags>(
        "Background jobs in-process, on Redis and on RabbitMQ: speed, retries, dead letters, crashes.",
    )?;
    match mode {
        Mode::Demo(args) => jobs::demo::demo(&settings, &args).await.map(drop),
        Mode::Serve { serve, .. } => jobs::serve::serve(settings, &serve).await,
        Mode::Forget => {
            support::demo::keeps_no_data_sets("jobs");
            Ok(())
        }
    }
}
