//! From a table's chart description to panels: what goes on which axis, and what a log axis
//! leaves out.

use report::chart::{draw, panel_data};
use support::report::{Chart, Table, Unit};

fn depth_table() -> Table {
    let mut t = Table::new("scheme @ depth")
        .column("p50", Unit::Micros)
        .column("rows touched", Unit::Count);
    t.row("cursor @ page 1", [300.0.into(), 21.0.into()]);
    t.row("cursor @ page 100", [310.0.into(), 21.0.into()]);
    t.row("offset @ page 1", [305.0.into(), 21.0.into()]);
    t.row("offset @ page 100", [900.0.into(), 2001.0.into()]);
    t
}

#[test]
fn a_split_chart_makes_one_line_per_series_across_the_x_values() -> anyhow::Result<()> {
    let chart = Chart::lines().log().split(" @ ");
    let panels = panel_data(&depth_table(), &chart, "Cost by depth")?;
    assert_eq!(panels.len(), 2, "one panel per column");
    let p50 = &panels[0];
    assert_eq!(p50.categories, ["page 1", "page 100"]);
    assert_eq!(p50.category_axis, "depth");
    assert_eq!(p50.value_axis, "p50 (µs)");
    let names: Vec<&str> = p50.series.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["cursor", "offset"]);
    assert_eq!(p50.series[1].1, [Some(305.0), Some(900.0)]);
    Ok(())
}

#[test]
fn two_units_never_share_a_panel() -> anyhow::Result<()> {
    let chart = Chart::bars();
    let panels = panel_data(&depth_table(), &chart, "Cost")?;
    let units: Vec<Unit> = panels.iter().map(|p| p.unit).collect();
    assert_eq!(units, [Unit::Micros, Unit::Count]);
    assert_eq!(panels[1].value_axis, "rows touched");
    Ok(())
}

#[test]
fn a_log_chart_leaves_out_zero_instead_of_failing() -> anyhow::Result<()> {
    let mut t = Table::new("strategy").column("DB queries", Unit::Count);
    t.row("cached", [0.0.into()]);
    t.row("no cache", [300.0.into()]);
    let panels = draw(&t, &Chart::bars().log(), "Queries")?;
    assert_eq!(panels.len(), 1);
    assert!(panels[0].svg.contains("<rect"));
    Ok(())
}

#[test]
fn a_chart_naming_a_column_the_table_lacks_says_which() -> anyhow::Result<()> {
    let chart = Chart::bars().of(&["p95"]);
    let error = panel_data(&depth_table(), &chart, "Cost")
        .err()
        .ok_or_else(|| anyhow::anyhow!("an unknown column was charted"))?;
    assert!(error.to_string().contains("\"p95\""), "{error}");
    Ok(())
}

#[test]
fn a_chart_whose_columns_this_run_left_empty_is_a_note_not_an_empty_frame() -> anyhow::Result<()> {
    let mut t = Table::new("engine")
        .column("load", Unit::Seconds)
        .column("records per second", Unit::PerSecond)
        .chart(Chart::bars().of(&["records per second"]));
    // The data set was reused, so nothing was loaded and no rate was measured.
    t.row("PostgreSQL", [0.0.into(), Option::<f64>::None.into()]);
    let chart = t.chart.clone().ok_or_else(|| anyhow::anyhow!("no chart"))?;
    let error = panel_data(&t, &chart, "Loading")
        .err()
        .ok_or_else(|| anyhow::anyhow!("an empty chart was drawn"))?;
    assert!(
        matches!(error, report::chart::ChartError::NoNumbers),
        "{error}"
    );
    Ok(())
}
