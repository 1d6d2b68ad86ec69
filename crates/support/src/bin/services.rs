//! Prints which real services are reachable and how to start the missing ones (`just services`).
//!
//! Run with: `cargo run -q -p support --bin services`

use support::{Services, Settings};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let services = Services::probe(&settings).await;
    for line in services.summary_lines() {
        println!("{line}");
    }
    println!("(probed in {} ms)", services.elapsed.as_millis());
    Ok(())
}
