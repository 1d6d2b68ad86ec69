//! Run with: `just bench mini-blog` (or `cargo run --release -p mini-blog --bin mini-blog-bench`,
//! add `-- --quick` for one second per endpoint). Needs `wrk` (`apt-get install -y wrk`).

use support::cli::{Mode, NoFlags};

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let (settings, mode) =
        support::cli::start::<NoFlags>("mini-blog under load: wrk against the release build")?;
    match mode {
        Mode::Demo(args) => mini_blog::bench::run(&settings, &args).await.map(drop),
        Mode::Serve { .. } => anyhow::bail!("the benchmark has no `serve`; use `mini-blog serve`"),
        Mode::Forget => anyhow::bail!(
            "the benchmark uses the demo's data sets; `mini-blog forget` removes them"
        ),
    }
}
