//! The demo itself: it runs (quick, silent), reports every section, and its figures say what the
//! lesson says: every method heard every event, the outage lost nothing and processed nothing
//! twice, and no attack was processed.

use serde_json::Value;
use support::demo::DemoArgs;
use support::report::Block;

fn figures(report: &support::Report, title: &str) -> anyhow::Result<Value> {
    report
        .section(title)
        .and_then(|s| {
            s.blocks.iter().find_map(|b| match b {
                Block::Figures(value) => Some(value.clone()),
                _ => None,
            })
        })
        .ok_or_else(|| anyhow::anyhow!("no figures in {title}"))
}

#[actix_web::test]
async fn the_quick_demo_hears_every_event_by_every_method_loses_none_in_the_outage_and_processes_no_attack()
-> anyhow::Result<()> {
    let settings = support::Settings::from_env()?;

    let report = webhooks::demo::demo(&settings, &DemoArgs::for_tests()).await?;

    let f = figures(&report, "What you just saw")?;
    let events = f["methods"]["events"].as_u64().unwrap_or(0);
    assert!(events > 0, "{f:#}");
    for row in f["methods"]["rows"].as_array().into_iter().flatten() {
        assert_eq!(row["noticed"].as_u64(), Some(events), "{row:#}");
    }
    for row in f["outage"]["rows"].as_array().into_iter().flatten() {
        assert_eq!(row["missed"].as_u64(), Some(0), "{row:#}");
        assert_eq!(row["processed_twice"].as_u64(), Some(0), "{row:#}");
    }
    for row in f["attacks"]["rows"].as_array().into_iter().flatten() {
        if row["hostile"] == Value::Bool(true) {
            assert_eq!(row["processed"].as_u64(), Some(0), "{row:#}");
        }
    }
    assert!(report.tables().count() >= 4);
    Ok(())
}
