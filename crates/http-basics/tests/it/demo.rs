use support::demo::DemoArgs;
use support::report::Block;

/// The demo keeps its shape: the same sections under the same titles, in order, each recording
/// the typed figures its table was printed from, and a closing paragraph after them.
#[actix_web::test]
async fn the_demo_runs_its_sections_in_order_and_records_their_figures() -> anyhow::Result<()> {
    let report = http_basics::demo::demo(&DemoArgs::for_tests()).await?;

    let titles: Vec<&str> = report
        .sections
        .iter()
        .map(|s| s.title.as_str())
        .filter(|t| !t.is_empty())
        .collect();
    assert_eq!(
        titles,
        [
            "1. A request, in full",
            "2. Methods: which ones are safe to retry? Measured.",
            "3. Status codes: one real request each",
            "What you just saw",
        ]
    );
    let figures = |title: &str| {
        report.section(title).map_or(0, |s| {
            s.blocks
                .iter()
                .filter(|b| matches!(b, Block::Figures(_)))
                .count()
        })
    };
    assert_eq!(figures("1. A request, in full"), 1);
    // The retry table and the latency table.
    assert_eq!(
        figures("2. Methods: which ones are safe to retry? Measured."),
        2
    );
    assert_eq!(figures("3. Status codes: one real request each"), 1);
    let closing = report
        .section("What you just saw")
        .and_then(|s| s.blocks.first());
    assert!(
        matches!(closing, Some(Block::Paragraph(p)) if p.contains("status codes came back")),
        "{closing:?}"
    );
    Ok(())
}
