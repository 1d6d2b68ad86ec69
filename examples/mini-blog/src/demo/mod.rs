//! The demo (placeholder while the API lands).

use support::Settings;
use support::demo::DemoArgs;

pub async fn run(_settings: &Settings, _args: &DemoArgs) -> anyhow::Result<()> {
    Ok(())
}
