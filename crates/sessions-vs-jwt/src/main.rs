//! Run with: `cargo demo sessions-vs-jwt` (the demo), or
//! `cargo run -p sessions-vs-jwt -- serve --port 8080` (the server, for curl).

use sessions_vs_jwt::app::{self, ServeOptions};
use support::cli::Mode;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    // `serve` runs over plain HTTP (so cookies are not `Secure`), with EdDSA tokens and their
    // public key at /.well-known/jwks.json unless its flags ask otherwise.
    let (settings, mode) = support::cli::start::<ServeOptions>(
        "Sessions in memory, sessions in Redis, and JWTs, side by side",
    )?;
    match mode {
        Mode::Demo(args) => sessions_vs_jwt::demo(&settings, &args).await.map(drop),
        Mode::Serve { serve, topic, .. } => app::serve(settings, &serve, &topic).await,
        Mode::Forget => {
            support::demo::keeps_no_data_sets("sessions-vs-jwt");
            Ok(())
        }
    }
}
