//! A broken input costs its own topic, never the page: the error names the file, the rest renders.

use crate::common::{build, expected, figure, fixture_paths};

/// Builds the page from every fixture plus `extra`, and checks that `extra`'s error is on the
/// page, names the file, and that every other topic's charts are still there.
fn costs_only_itself(extra: &std::path::Path, says: &str) -> anyhow::Result<()> {
    let mut inputs = fixture_paths();
    inputs.insert(1, extra.to_owned());
    let built = build(&inputs)?;
    let failed = built
        .loaded
        .iter()
        .find(|l| l.path == extra)
        .ok_or_else(|| anyhow::anyhow!("the extra file was not loaded"))?;
    let error = match &failed.report {
        Ok(_) => anyhow::bail!("{} loaded", extra.display()),
        Err(e) => e.to_string(),
    };
    assert!(error.contains(&extra.display().to_string()), "{error}");
    assert!(error.contains(says), "{error}");
    assert!(
        built.html.contains(&support::html::escape(&error)),
        "the page does not show {error:?}"
    );
    let charts = expected(&built.loaded);
    assert!(!charts.is_empty());
    for chart in &charts {
        assert!(
            figure(&built.html, &chart.id).is_some(),
            "{} is missing",
            chart.id
        );
    }
    Ok(())
}

#[test]
fn a_malformed_file_is_named_with_its_error_and_the_other_topics_still_render() -> anyhow::Result<()>
{
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("broken.json");
    std::fs::write(&path, "{\"topic\": \"broken\", \"sections\": [")?;
    costs_only_itself(&path, "not a demo report")
}

#[test]
fn a_missing_file_is_named_and_the_other_topics_still_render() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("never-written.json");
    costs_only_itself(&path, "missing")
}

#[test]
fn a_report_of_the_wrong_shape_names_the_field_that_is_wrong() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("wrong-shape.json");
    let mut report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&fixture_paths()[0])?)?;
    report["sections"][0]["title"] = serde_json::json!(42);
    std::fs::write(&path, serde_json::to_string(&report)?)?;
    costs_only_itself(&path, "sections[0].title")
}

#[test]
fn a_demo_that_failed_is_named_with_the_file_holding_its_errors() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("jobs.json");
    let log = dir.path().join("jobs.log");
    std::fs::write(&log, "Error: the broker refused the connection\n")?;
    costs_only_itself(&path, &format!("its errors are in {}", log.display()))
}
