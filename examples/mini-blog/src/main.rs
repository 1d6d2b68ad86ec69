//! Run with: `cargo demo mini-blog` (add `-- --quick` for a small data set), or
//! `cargo run -p mini-blog -- serve --port 8080` and point a RealWorld front end, Postman or
//! curl at `http://127.0.0.1:8080/api` (Swagger UI at `/api/docs/`).

use support::cli::{Mode, NoFlags};

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let (settings, mode) = support::cli::start::<NoFlags>(
        "The RealWorld (Conduit) blog API, built from the topic lessons",
    )?;
    match mode {
        Mode::Demo(args) => mini_blog::demo::run(&settings, &args).await.map(drop),
        Mode::Serve { serve, .. } => mini_blog::serve::serve(&settings, &serve).await,
        Mode::Forget => mini_blog::seed::forget(&settings)
            .await
            .map(|forgotten| forgotten.print("mini-blog")),
    }
}
