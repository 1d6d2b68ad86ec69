//! Run with: `cargo demo sql-vs-nosql` (add `-- --quick` for a small data set), or
//! `cargo run -p sql-vs-nosql -- serve --port 8080` and ask any engine with curl.

use support::cli::{Mode, NoFlags};

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let (settings, mode) = support::cli::start::<NoFlags>(
        "One social data model on relational, key-value, document and graph engines, side by side; ACID shown on the real engines.",
    )?;
    match mode {
        Mode::Demo(args) => sql_vs_nosql::demo::demo(&settings, &args).await.map(drop),
        Mode::Serve { serve, demo, .. } => sql_vs_nosql::app::serve(&settings, &demo, &serve).await,
    }
}
