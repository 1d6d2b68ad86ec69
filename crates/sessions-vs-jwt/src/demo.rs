//! placeholder
use support::Settings;
use support::demo::DemoArgs;
pub async fn demo(settings: &Settings, args: &DemoArgs) -> anyhow::Result<support::Report> {
    let _ = settings;
    support::narrate::Narrator::new("sessions-vs-jwt", "x", args).finish(None)
}
