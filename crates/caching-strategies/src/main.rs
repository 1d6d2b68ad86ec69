//! Run with: `cargo demo caching-strategies` (the demo) or `cargo run -p caching-strategies -- serve`
//! (`GET /` lists the strategy prefixes).

use caching_strategies::{app, demo};
use support::cli::{Mode, NoFlags};

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let (settings, mode) = support::cli::start::<NoFlags>(
        "Caching strategies over moka, Redis and both, plus HTTP caching, measured.",
    )?;
    match mode {
        Mode::Demo(args) => demo::demo(&settings, &args).await.map(drop),
        Mode::Serve { serve, .. } => app::serve(&settings, &serve).await,
        Mode::Forget => app::forget(&caching_strategies::config::Config::new(settings))
            .await
            .map(|forgotten| forgotten.print("caching-strategies")),
    }
}
