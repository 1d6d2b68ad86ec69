//! The page: one self-contained HTML file (inline CSS and SVG, a few lines of inline script that
//! only mark what rendered), a section per topic with its charts, the run's machine and build under
//! each chart, the demo's "what you just saw" beside them, and every table kept under its chart.

use std::fmt::Write as _;

use support::html::escape;
use support::report::{Block, Cell, Report, Table, format_number, format_ratio};

use crate::chart;
use crate::load::Loaded;

/// A chart the page shows: its element id and title (what a browser test looks for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub id: String,
    pub title: String,
    /// The value axis' name with its unit (`µs`, `throughput (per second)`).
    pub value_axis: String,
}

/// The title of the section whose paragraphs are the demo's closing.
const CLOSING: &str = "what you just saw";

fn slug(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// Every charted table of a report, with the id and title its first panel gets.
fn charted(report: &Report) -> Vec<(String, String, &Table)> {
    let mut out = Vec::new();
    for (s, section) in report.sections.iter().enumerate() {
        for (t, table) in section.tables().enumerate() {
            if table.chart.is_some() {
                let id = format!("chart-{}-{s}-{t}", slug(&report.topic));
                out.push((id, section.title.clone(), table));
            }
        }
    }
    out
}

/// The charts a report's page shows, panel by panel (a table whose chart cannot be drawn shows an
/// error instead and is not expected).
pub fn expected(report: &Report) -> Vec<Expected> {
    let mut out = Vec::new();
    for (id, section, table) in charted(report) {
        let Some(description) = &table.chart else {
            continue;
        };
        if let Ok(panels) = chart::panel_data(table, description, &section) {
            for (p, panel) in panels.into_iter().enumerate() {
                out.push(Expected {
                    id: format!("{id}-{p}"),
                    title: panel.title,
                    value_axis: panel.value_axis,
                });
            }
        }
    }
    out
}

fn machine_line(report: &Report) -> String {
    let m = &report.machine;
    let cpu = if m.cpu.is_empty() {
        "unknown CPU"
    } else {
        &m.cpu
    };
    let commit = if m.commit.is_empty() {
        "unknown"
    } else {
        &m.commit
    };
    let mode = if report.quick { "quick" } else { "full" };
    // RFC 3339 from the demo; shown to the minute in UTC, or as written when it does not parse.
    let when = chrono::DateTime::parse_from_rfc3339(&report.started_at).map_or_else(
        |_| report.started_at.clone(),
        |t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M UTC")
                .to_string()
        },
    );
    format!(
        "Measured {when} on {cpu}, {} cores, {}; {} build, {mode} run, commit {commit}.",
        m.cores, m.os, report.profile
    )
}

fn table_html(table: &Table) -> String {
    let mut html = String::from("<table><thead><tr>");
    let _ = write!(html, "<th>{}</th>", escape(&table.label));
    for c in &table.columns {
        let unit = c.unit.axis_label();
        if unit.is_empty() || unit == "count" {
            let _ = write!(html, "<th>{}</th>", escape(&c.title));
        } else {
            let _ = write!(html, "<th>{} ({})</th>", escape(&c.title), escape(unit));
        }
    }
    let ratio_column = table.ratio.as_ref().map(|r| {
        (
            table.columns.get(r.column).map(|c| c.title.clone()),
            r.baseline.clone(),
        )
    });
    if let Some((of, baseline)) = &ratio_column {
        let _ = write!(
            html,
            "<th>{} vs {}</th>",
            escape(of.as_deref().unwrap_or("")),
            escape(baseline)
        );
    }
    html.push_str("</tr></thead><tbody>");
    for row in &table.rows {
        let _ = write!(html, "<tr><th>{}</th>", escape(&row.label));
        for cell in &row.cells {
            let text = match cell {
                Cell::Number(n) => format_number(*n),
                Cell::Text(t) => t.clone(),
                Cell::Empty => "–".to_owned(),
            };
            let _ = write!(html, "<td>{}</td>", escape(&text));
        }
        if ratio_column.is_some() {
            let ratio = row.ratio.map_or_else(|| "–".to_owned(), format_ratio);
            let _ = write!(html, "<td>{}</td>", escape(&ratio));
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table>");
    html
}

fn closing(report: &Report) -> Vec<String> {
    report
        .sections
        .iter()
        .filter(|s| s.title.trim().eq_ignore_ascii_case(CLOSING))
        .flat_map(|s| s.blocks.iter())
        .filter_map(|b| match b {
            Block::Paragraph(p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

fn topic_html(report: &Report) -> String {
    let mut html = String::new();
    let _ = write!(
        html,
        "<section class=\"topic\" id=\"topic-{}\"><h2>{} <span class=\"crate\">{}</span></h2>",
        slug(&report.topic),
        escape(&report.title),
        escape(&report.topic)
    );
    let machine = machine_line(report);
    let mut notes = String::new();
    if !report.services_used.is_empty() {
        let _ = write!(
            notes,
            "<p class=\"services\">Services used: {}.</p>",
            escape(&report.services_used.join(", "))
        );
    }
    for line in &report.left_out {
        let _ = write!(
            notes,
            "<p class=\"left-out\">Left out: {}</p>",
            escape(line)
        );
    }
    html.push_str(&notes);
    html.push_str("<div class=\"layout\"><div class=\"charts\">");
    let charted = charted(report);
    if charted.is_empty() {
        html.push_str(
            "<p class=\"none\">This demo describes no chart yet; its tables are below.</p>",
        );
    }
    for (id, section, table) in &charted {
        let Some(description) = &table.chart else {
            continue;
        };
        match chart::draw(table, description, section) {
            Ok(panels) => {
                for (p, panel) in panels.iter().enumerate() {
                    let mut legend = String::new();
                    for (name, colour) in &panel.legend {
                        let _ = write!(
                            legend,
                            "<span class=\"key\"><i style=\"background:{colour}\"></i>{}</span>",
                            escape(name)
                        );
                    }
                    let _ = write!(
                        html,
                        "<figure class=\"chart\" id=\"{id}-{p}\"><h3 class=\"chart-title\">{}</h3>\
                         <div class=\"legend\">{legend}</div><div class=\"plot\">{}</div>\
                         <figcaption>{}</figcaption></figure>",
                        escape(&panel.title),
                        panel.svg,
                        escape(&machine)
                    );
                }
            }
            // Nothing measured is not a fault of the page: a quiet note, the table still follows.
            Err(e @ chart::ChartError::NoNumbers) => {
                let _ = write!(
                    html,
                    "<p class=\"no-chart\">“{}”: no chart, {}; the table has what it did.</p>",
                    escape(section),
                    escape(&e.to_string())
                );
            }
            Err(e) => {
                let _ = write!(
                    html,
                    "<p class=\"load-error\">{}: the chart of “{}” cannot be drawn: {}</p>",
                    escape(&report.topic),
                    escape(section),
                    escape(&e.to_string())
                );
            }
        }
        let _ = write!(
            html,
            "<details class=\"table\"><summary>The table</summary>{}</details>",
            table_html(table)
        );
    }
    html.push_str("</div><aside class=\"closing\"><h3>What you just saw</h3>");
    let paragraphs = closing(report);
    if paragraphs.is_empty() {
        html.push_str("<p>This demo wrote no closing paragraph.</p>");
    }
    for p in paragraphs {
        let _ = write!(html, "<p>{}</p>", escape(&p));
    }
    html.push_str("</aside></div>");
    html.push_str("<details class=\"all-tables\"><summary>Every table of this run</summary>");
    for section in &report.sections {
        let tables: Vec<&Table> = section.tables().collect();
        if tables.is_empty() {
            continue;
        }
        let _ = write!(html, "<h4>{}</h4>", escape(&section.title));
        for table in tables {
            html.push_str(&table_html(table));
        }
    }
    html.push_str("</details></section>");
    html
}

const STYLE: &str = r"
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 0; color: #1d2330; background: #f4f5f7; }
header { background: #1d2330; color: #fff; padding: 1.2rem 2rem; }
header h1 { margin: 0 0 .3rem; font-size: 1.5rem; }
header p { margin: 0; opacity: .8; }
nav { padding: .6rem 2rem; background: #fff; border-bottom: 1px solid #dde; position: sticky; top: 0; z-index: 1; }
nav a { margin-right: 1rem; color: #1f77b4; text-decoration: none; }
main { padding: 1rem 2rem 3rem; }
.topic { background: #fff; border-radius: 8px; padding: 1rem 1.5rem; margin: 1.5rem 0; box-shadow: 0 1px 3px rgba(0,0,0,.08); }
.topic h2 { margin-top: .3rem; }
.crate { font: 500 .8rem ui-monospace, monospace; color: #667; background: #eef; padding: .1rem .4rem; border-radius: 4px; }
.layout { display: grid; grid-template-columns: minmax(0, 880px) minmax(240px, 1fr); gap: 1.5rem; align-items: start; }
.closing { position: sticky; top: 3rem; background: #f8f9fb; border-left: 4px solid #1f77b4; padding: .5rem 1rem; font-size: .95rem; line-height: 1.45; }
figure.chart { margin: 1rem 0 .3rem; }
.chart-title { margin: 0 0 .3rem; font-size: 1.05rem; }
.plot svg { max-width: 100%; height: auto; border: 1px solid #e3e5ea; border-radius: 4px; }
figcaption { font-size: .8rem; color: #667; margin-top: .2rem; }
.legend { font-size: .85rem; margin: 0 0 .3rem; display: flex; flex-wrap: wrap; gap: .3rem 1rem; }
.key i { display: inline-block; width: .8rem; height: .8rem; border-radius: 2px; margin-right: .35rem; vertical-align: -1px; }
details { margin: .3rem 0 1rem; }
summary { cursor: pointer; color: #1f77b4; font-size: .9rem; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .85rem; }
th, td { border: 1px solid #dde; padding: .2rem .5rem; }
td { text-align: right; font-variant-numeric: tabular-nums; }
thead th { background: #f0f2f5; }
tbody th { text-align: left; font-weight: 500; }
.load-error { background: #fdecea; color: #8a1c12; border-left: 4px solid #d62728; padding: .5rem 1rem; font-family: ui-monospace, monospace; white-space: pre-wrap; }
.no-chart { font-size: .9rem; color: #667; font-style: italic; margin: 1rem 0 .2rem; }
.left-out, .services { font-size: .85rem; color: #667; margin: .2rem 0; }
";

/// Marks each chart as rendered once the browser has laid its SVG out with marks in it: what the
/// browser test reads back from the DOM. The page reads fine without it.
const SCRIPT: &str = r"
document.querySelectorAll('figure.chart').forEach(function (f) {
  var svg = f.querySelector('svg');
  // Data marks only: bars are rects after the background one, points are circles; axes and grid
  // lines do not count, so an empty frame is not marked rendered.
  var marks = svg ? svg.querySelectorAll('rect').length - 1 + svg.querySelectorAll('circle').length : 0;
  var box = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
  f.setAttribute('data-marks', String(marks));
  f.setAttribute('data-rendered', marks > 0 && box.width > 0 && box.height > 0 ? 'yes' : 'no');
});
";

/// The whole page for these inputs; an input that failed to load shows its error and the others
/// render regardless.
pub fn render(inputs: &[Loaded], generated_at: &str) -> String {
    let mut html = String::from(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Backend fundamentals: every demo's comparison</title><style>",
    );
    html.push_str(STYLE);
    html.push_str(
        "</style></head><body><header><h1>Backend fundamentals: every demo's comparison</h1>",
    );
    let _ = write!(
        html,
        "<p>Generated {} from {} demo report(s). Every figure was measured by the demo run named under its chart.</p></header><nav>",
        escape(generated_at),
        inputs.iter().filter(|i| i.report.is_ok()).count()
    );
    for input in inputs {
        if let Ok(report) = &input.report {
            let _ = write!(
                html,
                "<a href=\"#topic-{}\">{}</a>",
                slug(&report.topic),
                escape(&report.topic)
            );
        }
    }
    html.push_str("</nav><main>");
    for input in inputs {
        if let Err(e) = &input.report {
            let _ = write!(
                html,
                "<p class=\"load-error\">{}</p>",
                escape(&e.to_string())
            );
        }
    }
    for input in inputs {
        if let Ok(report) = &input.report {
            html.push_str(&topic_html(report));
        }
    }
    html.push_str("</main><script>");
    html.push_str(SCRIPT);
    html.push_str("</script></body></html>\n");
    html
}
