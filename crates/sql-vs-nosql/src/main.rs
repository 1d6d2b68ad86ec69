//! Run with: `cargo demo sql-vs-nosql` (add `-- --quick` for a small data set), or
//! `cargo run -p sql-vs-nosql -- serve --port 8080` and ask any engine with curl;
//! `cargo run -p sql-vs-nosql -- forget` removes the data sets kept between runs.

use support::cli::{Mode, NoFlags};

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let (settings, mode) = support::cli::start::<NoFlags>(
        "One social data model on relational, key-value, document and graph engines, side by side; ACID shown on the real engines.",
    )?;
    match mode {
        Mode::Demo(args) => sql_vs_nosql::demo::demo(&settings, &args).await.map(drop),
        Mode::Serve { serve, demo, .. } => sql_vs_nosql::app::serve(&settings, &demo, &serve).await,
        Mode::Forget => {
            let data_dir = sql_vs_nosql::config::Config::new(settings.clone(), false).data_dir;
            sql_vs_nosql::engines::forget(
                &settings,
                &data_dir,
                sql_vs_nosql::engines::DATA_SET_PREFIX,
            )
            .await
            .map(|forgotten| forgotten.print("sql-vs-nosql"))
        }
    }
}
