//! The page from the committed fixtures: every topic, every chart its demo describes.

use crate::common::{
    build, expected, figure, fixture_paths, fixtures_dir, svg_texts, topics, unescape,
};

/// The topics whose demos describe charts: every topic with a demo.
const CHARTED: &[&str] = &[
    "http-basics",
    "sessions-vs-jwt",
    "auth",
    "sql-vs-nosql",
    "caching-strategies",
    "jobs",
    "webhooks",
    "uploads",
    "pagination",
    "mini-blog",
];

#[test]
fn every_topic_with_a_demo_has_a_committed_fixture() -> anyhow::Result<()> {
    let topics = topics();
    assert!(topics.len() >= CHARTED.len(), "topics found: {topics:?}");
    for topic in &topics {
        let path = report::run::report_path(&fixtures_dir(), topic);
        assert!(path.is_file(), "{} is missing", path.display());
    }
    Ok(())
}

#[test]
fn every_fixture_loads_as_a_demo_report() -> anyhow::Result<()> {
    let built = build(&fixture_paths())?;
    for loaded in &built.loaded {
        if let Err(e) = &loaded.report {
            anyhow::bail!("{e}");
        }
    }
    Ok(())
}

#[test]
fn the_page_shows_every_expected_chart_with_its_title_and_axis_unit() -> anyhow::Result<()> {
    let built = build(&fixture_paths())?;
    let expected = expected(&built.loaded);
    assert!(expected.len() >= CHARTED.len(), "{} charts", expected.len());
    for chart in &expected {
        let figure = figure(&built.html, &chart.id)
            .ok_or_else(|| anyhow::anyhow!("chart {} is not on the page", chart.id))?;
        let text = unescape(figure);
        assert!(
            text.contains(&chart.title),
            "{}: title {:?}",
            chart.id,
            chart.title
        );
        assert!(figure.contains("<svg"), "{}: no SVG", chart.id);
        assert!(
            svg_texts(figure).contains(&chart.value_axis),
            "{}: no axis labelled {:?}",
            chart.id,
            chart.value_axis
        );
    }
    Ok(())
}

#[test]
fn every_topic_that_describes_charts_gets_them_with_the_machine_it_ran_on() -> anyhow::Result<()> {
    let built = build(&fixture_paths())?;
    for topic in CHARTED {
        let report = built
            .loaded
            .iter()
            .filter_map(|l| l.report.as_ref().ok())
            .find(|r| r.topic == *topic)
            .ok_or_else(|| anyhow::anyhow!("no report for {topic}"))?;
        let charts = report::page::expected(report);
        assert!(!charts.is_empty(), "{topic} describes no chart");
        let first = figure(&built.html, &charts[0].id)
            .ok_or_else(|| anyhow::anyhow!("{topic}: first chart missing"))?;
        assert!(
            first.contains(&report.machine.cpu) && first.contains(&report.profile),
            "{topic}: the caption does not name the machine and build"
        );
    }
    Ok(())
}

#[test]
fn every_chart_a_demo_describes_names_columns_its_table_has() -> anyhow::Result<()> {
    let built = build(&fixture_paths())?;
    for report in built.loaded.iter().filter_map(|l| l.report.as_ref().ok()) {
        for section in &report.sections {
            for table in section.tables() {
                let Some(chart) = &table.chart else { continue };
                match report::chart::draw(table, chart, &section.title) {
                    // A run may leave a charted column empty (a data set reused, not loaded).
                    Ok(_) | Err(report::chart::ChartError::NoNumbers) => {}
                    Err(e) => anyhow::bail!("{}, {:?}: {e}", report.topic, section.title),
                }
            }
        }
    }
    Ok(())
}

#[test]
fn the_page_keeps_every_table_and_each_topics_closing_paragraph() -> anyhow::Result<()> {
    let built = build(&fixture_paths())?;
    for report in built.loaded.iter().filter_map(|l| l.report.as_ref().ok()) {
        for table in report.tables() {
            let header = format!("<th>{}</th>", support::html::escape(&table.label));
            assert!(
                built.html.contains(&header),
                "{}: table {:?}",
                report.topic,
                table.label
            );
        }
    }
    assert_eq!(
        built.html.matches("<aside class=\"closing\">").count(),
        built.loaded.len(),
        "one closing aside per topic"
    );
    Ok(())
}

#[test]
fn the_page_loads_nothing_from_anywhere() -> anyhow::Result<()> {
    let built = build(&fixture_paths())?;
    for needle in ["src=", "<link", "url(", "@import", "href=\"http", "fetch("] {
        assert!(!built.html.contains(needle), "the page contains {needle:?}");
    }
    Ok(())
}

#[test]
fn the_topics_come_in_the_justfiles_reading_order_without_the_report_itself() -> anyhow::Result<()>
{
    let justfile = std::fs::read_to_string(report::run::workspace_root().join("justfile"))?;
    let order: Vec<&str> = justfile
        .lines()
        .find_map(|l| l.strip_prefix("topics :="))
        .and_then(|l| l.split('"').nth(1))
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    let topics = topics();
    assert!(!topics.iter().any(|t| t == "report"), "{topics:?}");
    let listed: Vec<&str> = topics
        .iter()
        .map(String::as_str)
        .filter(|t| order.contains(t))
        .collect();
    let expected: Vec<&str> = order
        .iter()
        .copied()
        .filter(|t| listed.contains(t))
        .collect();
    assert_eq!(listed, expected);
    Ok(())
}
