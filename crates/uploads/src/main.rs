//! Run with: `cargo demo uploads` (add `-- --quick` for seconds), or
//! `cargo run -p uploads -- serve --port 8080` and upload with curl.

use support::cli::{Mode, NoFlags};

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let (settings, mode) = support::cli::start::<NoFlags>(
        "File uploads: through the backend, straight to object storage, or resumable, measured",
    )?;
    match mode {
        Mode::Demo(args) => uploads::demo::demo(&settings, &args).await.map(drop),
        Mode::Serve { serve, .. } => uploads::app::serve(&settings, &serve).await,
        Mode::Forget => {
            support::demo::keeps_no_data_sets("uploads");
            Ok(())
        }
    }
}
