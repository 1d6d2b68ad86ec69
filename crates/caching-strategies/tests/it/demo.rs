//! The demo itself: it runs (quick, silent) and reports every section with measured tables and
//! the typed figures the closing paragraph was built from.

use caching_strategies::demo::stampede::{REQUESTS, StampedeFigures};
use support::demo::DemoArgs;
use support::report::Block;

/// The quick demo finishes and its report holds every section, each with at least one table
/// (sections that need Redis say why they are empty when it is missing), every chart it
/// describes plots columns its table has, and the stampede's
/// figures say what the lesson says: one load per request without coalescing, one with it.
#[actix_web::test]
async fn the_quick_demo_reports_every_section() -> anyhow::Result<()> {
    let settings = support::Settings::from_env()?;

    let report = caching_strategies::demo::demo(&settings, &DemoArgs::for_tests()).await?;

    for title in [
        "Speed",
        "Stampede",
        "Correctness",
        "Across instances",
        "Redis lost mid-run",
        "HTTP caching",
        "What you just saw",
    ] {
        assert!(report.section(title).is_some(), "missing section {title}");
    }
    assert!(report.tables().count() >= 8);
    // A chart names its columns by title: a typo would chart nothing, so every name must exist.
    let mut charted = 0;
    for table in report.tables() {
        let Some(chart) = &table.chart else { continue };
        charted += 1;
        for series in &chart.series {
            assert!(
                table.columns.iter().any(|c| &c.title == series),
                "table {:?} charts a column {series:?} it does not have",
                table.label
            );
        }
    }
    assert!(charted >= 5, "only {charted} tables describe a chart");
    // Memcached's section is there whenever the demo could start one (it says in one line what
    // it left out otherwise).
    if caching_strategies::memcached_server::locate().is_ok() {
        assert!(
            report.section("Memcached versus Redis").is_some(),
            "memcached is installed but its section is missing"
        );
    }
    let figures = report
        .section("Stampede")
        .and_then(|s| {
            s.blocks.iter().find_map(|b| match b {
                Block::Figures(value) => Some(value.clone()),
                _ => None,
            })
        })
        .ok_or_else(|| anyhow::anyhow!("no stampede figures"))?;
    let stampede: StampedeFigures = serde_json::from_value(figures)?;
    let loads = |row: Option<&caching_strategies::demo::stampede::StampedeRow>| {
        row.map(|r| (r.requests, r.db_loads))
    };
    assert_eq!(loads(stampede.coalesced()), Some((REQUESTS, 1)));
    assert_eq!(loads(stampede.unprotected()), Some((REQUESTS, REQUESTS)));
    Ok(())
}
