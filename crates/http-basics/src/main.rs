//! Run with: `cargo run -p http-basics` (the demo) or `cargo run -p http-basics -- serve`.

use support::cli::{Mode, NoFlags};

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let (settings, mode) = support::cli::start::<NoFlags>(
        "What HTTP methods, status codes, headers and bodies promise, shown live.",
    )?;
    match mode {
        Mode::Demo(args) => http_basics::demo::demo(&args).await.map(drop),
        Mode::Serve { serve, .. } => http_basics::serve(&settings, &serve).await,
        Mode::Forget => {
            support::demo::keeps_no_data_sets("http-basics");
            Ok(())
        }
    }
}
