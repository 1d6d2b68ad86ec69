//! `cargo demo auth`.

use support::demo::DemoArgs;
use support::{Report, Settings};

/// Runs the demo.
pub async fn demo(_settings: &Settings, args: &DemoArgs) -> anyhow::Result<Report> {
    let n = support::narrate::Narrator::new("auth", "auth", args);
    n.finish(args.json.as_deref())
}
