//! Run with: `cargo demo pagination` (add `-- --quick` for a small table), or
//! `cargo run -p pagination -- serve --port 8080` and page with curl.

use support::cli::{Mode, NoFlags};

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let (settings, mode) = support::cli::start::<NoFlags>(
        "Offset versus cursor pagination, measured on PostgreSQL or SQLite",
    )?;
    match mode {
        Mode::Demo(args) => pagination::demo::demo(&settings, &args).await.map(drop),
        Mode::Serve { serve, demo, .. } => pagination::app::serve(&settings, &demo, &serve).await,
        Mode::Forget => pagination::seed::forget(&settings)
            .await
            .map(|forgotten| forgotten.print("pagination")),
    }
}
