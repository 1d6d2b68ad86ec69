//! The demo itself, run quick and silent: every section it promises is in the report.

use support::Settings;
use support::demo::DemoArgs;
use support::report::Block;

/// The quick demo runs end to end and its tables show the lesson (memory sessions fail on the
/// second instance; verify-only JWTs outlive logout; sessions do not).
#[actix_web::test]
async fn quick_demo_reports_every_section_with_the_expected_shape() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;

    let report = sessions_vs_jwt::demo(&settings, &DemoArgs::for_tests()).await?;
    let table = |label: &str| report.tables().find(|t| t.label == label).cloned();
    let routing = table("mechanism, routing").ok_or_else(|| anyhow::anyhow!("no routing table"))?;
    let revocation = table("mechanism").ok_or_else(|| anyhow::anyhow!("no revocation table"))?;

    assert_eq!(routing.value("memory session", "client A/B"), Some(50.0));
    assert_eq!(
        routing.value("memory session", "client A only"),
        Some(100.0)
    );
    assert_eq!(
        routing.value("JWT (verify only)", "client A/B"),
        Some(100.0)
    );
    // Through nginx, when it is installed (the nginx tests hold the claims; this is the shape).
    if sessions_vs_jwt::nginx::missing().is_none() {
        let column = |title: &str| routing.value("memory session", title);
        assert_eq!(column("nginx ip_hash"), Some(100.0));
        assert_eq!(column("ip_hash, pinned killed"), Some(0.0));
        assert_eq!(
            routing.value("JWT (verify only)", "ip_hash, pinned killed"),
            Some(100.0)
        );
    }
    assert_eq!(
        revocation.value("memory session", "after logout: refused from"),
        Some(0.0)
    );
    assert!(revocation.value("JWT (verify only)", "after logout: refused from") > Some(0.0));
    assert!(report.section("What you just saw").is_some());
    Ok(())
}

/// Every measuring section records its typed figures in the report (what a chart reads), in the
/// order the sections ran; only the closing paragraph has none.
#[actix_web::test]
async fn every_measuring_section_records_its_figures() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;

    let report = sessions_vs_jwt::demo(&settings, &DemoArgs::for_tests()).await?;
    let figures = |title: &str| {
        report.section(title).map_or(0, |s| {
            s.blocks
                .iter()
                .filter(|b| matches!(b, Block::Figures(_)))
                .count()
        })
    };

    // Login cost, bytes, authentication cost and the whole request share the first heading.
    assert_eq!(figures(sessions_vs_jwt::demo::PER_REQUEST), 4);
    for title in [
        "Revocation: how long is the old credential still accepted?",
        "Two instances behind a load balancer",
        "The classic comparison, with a measured column beside each claim",
        "Performance goals",
    ] {
        assert_eq!(figures(title), 1, "{title}");
    }
    assert_eq!(figures("What you just saw"), 0);
    Ok(())
}
