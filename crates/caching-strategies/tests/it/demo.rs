//! The demo itself: it runs (quick, silent) and reports every section with measured tables.

use support::demo::DemoArgs;

/// The quick demo finishes and its report holds every section, each with at least one table
/// (sections that need Redis say why they are empty when it is missing).
#[actix_web::test]
async fn the_quick_demo_reports_every_section() -> anyhow::Result<()> {
    let settings = support::Settings::from_env()?;

    let report = caching_strategies::demo::demo(&settings, &DemoArgs::for_tests()).await?;

    for title in [
        "Speed",
        "Stampede",
        "Correctness",
        "HTTP caching",
        "What you just saw",
    ] {
        assert!(report.section(title).is_some(), "missing section {title}");
    }
    assert!(report.tables().count() >= 8);
    let stampede = report
        .section("Stampede")
        .and_then(|s| s.tables().next())
        .ok_or_else(|| anyhow::anyhow!("no stampede table"))?;
    assert_eq!(
        stampede.value("moka / read-through (post by id)", "DB loads"),
        Some(1.0)
    );
    assert_eq!(
        stampede.value("moka / cache-aside (post by id)", "DB loads"),
        Some(1000.0)
    );
    Ok(())
}
