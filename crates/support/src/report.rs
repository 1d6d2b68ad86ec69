//! The side-by-side table every demo prints, and the [`Report`] value it returns.
//!
//! A demo builds a [`Table`] (the same columns for every alternative, optionally a ratio against a
//! baseline row), hands it to the [`Narrator`](crate::narrate::Narrator), which prints it and keeps it
//! in the report. The report is plain data: `--json PATH` writes it, and a report page can chart it
//! without parsing terminal output.

use std::fmt::Write as _;
use std::path::Path;

use comfy_table::{CellAlignment, ContentArrangement, presets};
use serde::{Deserialize, Serialize};

use crate::measure::Measurement;

/// What a column's numbers mean. The unit is printed in the header, never guessed by a reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Nanos,
    Micros,
    Millis,
    Seconds,
    PerSecond,
    Count,
    Bytes,
    Percent,
    Ratio,
    Text,
}

impl Unit {
    /// The unit as an axis label names it (`µs`, `requests per second`, `count`).
    pub fn axis_label(self) -> &'static str {
        match self {
            Unit::Nanos => "ns",
            Unit::Micros => "µs",
            Unit::Millis => "ms",
            Unit::Seconds => "s",
            Unit::PerSecond => "per second",
            Unit::Count => "count",
            Unit::Bytes => "bytes",
            Unit::Percent => "%",
            Unit::Ratio => "ratio (×)",
            Unit::Text => "",
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            Unit::Nanos => " (ns)",
            Unit::Micros => " (µs)",
            Unit::Millis => " (ms)",
            Unit::Seconds => " (s)",
            Unit::PerSecond => " (/s)",
            Unit::Bytes => " (B)",
            Unit::Percent => " (%)",
            Unit::Count | Unit::Ratio | Unit::Text => "",
        }
    }
}

/// One column: a title and a unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub title: String,
    pub unit: Unit,
}

/// One cell: a measured number, a word, or nothing (an alternative that does not apply).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Cell {
    Number(f64),
    Text(String),
    Empty,
}

macro_rules! cell_from_number {
    ($($t:ty),*) => {$(
        impl From<$t> for Cell {
            #[allow(clippy::cast_precision_loss, clippy::cast_lossless)]
            fn from(value: $t) -> Self {
                Cell::Number(value as f64)
            }
        }
    )*};
}
cell_from_number!(f64, f32, u64, u32, usize, i64, i32);

impl From<&str> for Cell {
    fn from(value: &str) -> Self {
        Cell::Text(value.to_owned())
    }
}

impl From<String> for Cell {
    fn from(value: String) -> Self {
        Cell::Text(value)
    }
}

impl<T: Into<Cell>> From<Option<T>> for Cell {
    fn from(value: Option<T>) -> Self {
        value.map_or(Cell::Empty, Into::into)
    }
}

/// One alternative's measured values, in column order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub label: String,
    pub cells: Vec<Cell>,
    /// This row's value in the ratio column divided by the baseline row's, when the table has one.
    pub ratio: Option<f64>,
}

/// Which column a ratio is taken of, and against which row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    /// Index into `columns`.
    pub column: usize,
    /// Label of the baseline row.
    pub baseline: String,
}

/// A side-by-side comparison: one row per alternative, the same columns for all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// Header of the label column ("strategy", "depth", ...).
    pub label: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
    pub ratio: Option<Ratio>,
    /// How a report page should chart this table, when the demo says it is worth a chart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<Chart>,
}

/// How a table is drawn: bars per category or lines across an ordered axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChartKind {
    Bars,
    Lines,
}

/// The value axis: linear, or logarithmic when the alternatives differ by orders of magnitude.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    #[default]
    Linear,
    Log,
}

/// A table's chart, described rather than drawn: which columns are plotted, on what scale, and how
/// rows map to the x axis. A report page reads this from the JSON, so a topic gets its chart by
/// describing it, and this crate never draws.
///
/// Without [`Chart::split`], the x axis is the rows' labels and each plotted column is one series
/// (one panel per unit, so microseconds and counts never share an axis). With `split`, each row
/// label reads `<series><separator><x>` (`cursor @ page 10`): rows sharing a series name form one
/// line, and each plotted column gets its own panel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chart {
    pub kind: ChartKind,
    #[serde(default)]
    pub scale: Scale,
    /// Column titles to plot; empty means every numeric column.
    #[serde(default)]
    pub series: Vec<String>,
    /// The separator that splits a row label into series name and x value.
    #[serde(default)]
    pub split: Option<String>,
    /// The chart's title; the section's title when absent.
    #[serde(default)]
    pub title: Option<String>,
}

impl Chart {
    /// Grouped bars, one group per row.
    pub fn bars() -> Self {
        Self {
            kind: ChartKind::Bars,
            scale: Scale::Linear,
            series: Vec::new(),
            split: None,
            title: None,
        }
    }

    /// Lines across the rows, in row order.
    pub fn lines() -> Self {
        Self {
            kind: ChartKind::Lines,
            ..Self::bars()
        }
    }

    /// A logarithmic value axis.
    pub fn log(mut self) -> Self {
        self.scale = Scale::Log;
        self
    }

    /// Plots only these columns (by title), in this order.
    pub fn of(mut self, columns: &[&str]) -> Self {
        self.series = columns.iter().map(|c| (*c).to_owned()).collect();
        self
    }

    /// Row labels are `<series><separator><x>`.
    pub fn split(mut self, separator: &str) -> Self {
        self.split = Some(separator.to_owned());
        self
    }

    /// A title other than the section's.
    pub fn titled(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }
}

impl Table {
    /// An empty table whose first column is headed `label`.
    pub fn new(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            columns: Vec::new(),
            rows: Vec::new(),
            ratio: None,
            chart: None,
        }
    }

    /// Asks a report page to chart this table as `chart` describes.
    pub fn chart(mut self, chart: Chart) -> Self {
        self.chart = Some(chart);
        self
    }

    /// The standard latency table: p50, p90, p99, max (µs) and throughput.
    pub fn latency(label: impl Into<String>) -> Self {
        Self::new(label)
            .column("p50", Unit::Micros)
            .column("p90", Unit::Micros)
            .column("p99", Unit::Micros)
            .column("max", Unit::Micros)
            .column("throughput", Unit::PerSecond)
    }

    /// Adds a column.
    pub fn column(mut self, title: impl Into<String>, unit: Unit) -> Self {
        self.columns.push(Column {
            title: title.into(),
            unit,
        });
        self
    }

    /// Adds a ratio column: each row's value in `column` divided by the `baseline` row's.
    /// An unknown column title is ignored, so a typo shows up as a missing column, not a panic.
    pub fn ratio_against(mut self, column: &str, baseline: impl Into<String>) -> Self {
        if let Some(index) = self.columns.iter().position(|c| c.title == column) {
            self.ratio = Some(Ratio {
                column: index,
                baseline: baseline.into(),
            });
        }
        self
    }

    /// Appends a row; cells beyond the columns are dropped, missing ones are empty.
    pub fn row(&mut self, label: impl Into<String>, cells: impl IntoIterator<Item = Cell>) {
        let mut cells: Vec<Cell> = cells.into_iter().take(self.columns.len()).collect();
        cells.resize(self.columns.len(), Cell::Empty);
        self.rows.push(Row {
            label: label.into(),
            cells,
            ratio: None,
        });
        self.compute_ratios();
    }

    /// Appends a row of the standard latency columns, followed by `extra` cells for any columns
    /// added after them.
    pub fn row_measured(
        &mut self,
        label: impl Into<String>,
        m: &Measurement,
        extra: impl IntoIterator<Item = Cell>,
    ) {
        let us = |d: std::time::Duration| Cell::Number(d.as_secs_f64() * 1e6);
        let cells = [
            us(m.p50),
            us(m.p90),
            us(m.p99),
            us(m.max),
            m.throughput.into(),
        ];
        self.row(label, cells.into_iter().chain(extra));
    }

    /// The number in `column` of the row labelled `label`.
    pub fn value(&self, label: &str, column: &str) -> Option<f64> {
        let index = self.columns.iter().position(|c| c.title == column)?;
        let row = self.rows.iter().find(|r| r.label == label)?;
        match row.cells.get(index) {
            Some(Cell::Number(n)) => Some(*n),
            _ => None,
        }
    }

    fn compute_ratios(&mut self) {
        let Some(ratio) = &self.ratio else { return };
        let number = |row: &Row| match row.cells.get(ratio.column) {
            Some(Cell::Number(n)) => Some(*n),
            _ => None,
        };
        let base = self
            .rows
            .iter()
            .find(|r| r.label == ratio.baseline)
            .and_then(number);
        let ratios: Vec<Option<f64>> = self
            .rows
            .iter()
            .map(|row| match (number(row), base) {
                (Some(v), Some(b)) if b != 0.0 => Some(v / b),
                _ => None,
            })
            .collect();
        for (row, r) in self.rows.iter_mut().zip(ratios) {
            row.ratio = r;
        }
    }

    /// Renders the table for a terminal.
    pub fn render(&self) -> String {
        let mut table = comfy_table::Table::new();
        table
            .load_style(presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Dynamic);
        let mut header = vec![self.label.clone()];
        header.extend(
            self.columns
                .iter()
                .map(|c| format!("{}{}", c.title, c.unit.suffix())),
        );
        if let Some(ratio) = &self.ratio {
            let of = self
                .columns
                .get(ratio.column)
                .map_or("", |c| c.title.as_str());
            header.push(format!("{of} vs {}", ratio.baseline));
        }
        table.set_header(header);
        for row in &self.rows {
            let mut cells = vec![row.label.clone()];
            cells.extend(row.cells.iter().map(format_cell));
            if self.ratio.is_some() {
                cells.push(row.ratio.map_or_else(|| "–".to_owned(), format_ratio));
            }
            table.add_row(cells);
        }
        for index in 1..=self.columns.len() + usize::from(self.ratio.is_some()) {
            if let Some(column) = table.column_mut(index) {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }
        table.to_string()
    }
}

fn format_cell(cell: &Cell) -> String {
    match cell {
        Cell::Number(n) => format_number(*n),
        Cell::Text(t) => t.clone(),
        Cell::Empty => "–".to_owned(),
    }
}

/// Three significant digits below 100, whole numbers with thousands separators above.
pub fn format_number(n: f64) -> String {
    if !n.is_finite() {
        return "–".to_owned();
    }
    let abs = n.abs();
    if abs >= 100.0 || n.fract() == 0.0 {
        return group_thousands(n.round());
    }
    let decimals = if abs >= 10.0 {
        1
    } else if abs >= 1.0 {
        2
    } else if abs >= 0.1 {
        3
    } else {
        // Enough decimals for three significant digits of a small number.
        (3 - abs.log10().floor() as i32 - 1).clamp(3, 9) as usize
    };
    format!("{n:.decimals$}")
}

fn group_thousands(n: f64) -> String {
    let digits = format!("{:.0}", n.abs());
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0.0 {
        out.insert(0, '-');
    }
    out
}

/// A measured value against a target a demo sets itself, and whether this run met it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Goal {
    pub measured: f64,
    pub target: f64,
    pub met: bool,
}

impl Goal {
    /// Met when `measured` is strictly under `target` (a cost ceiling).
    pub fn below(measured: f64, target: f64) -> Self {
        Self {
            measured,
            target,
            met: measured < target,
        }
    }

    /// Met when `measured` is at most `target` (a ratio ceiling).
    pub fn at_most(measured: f64, target: f64) -> Self {
        Self {
            measured,
            target,
            met: measured <= target,
        }
    }

    /// Met when `measured` is at least `target` (a speed-up floor).
    pub fn at_least(measured: f64, target: f64) -> Self {
        Self {
            measured,
            target,
            met: measured >= target,
        }
    }

    /// `yes` or `no`, for a goals table's last column.
    pub fn verdict(&self) -> &'static str {
        if self.met { "yes" } else { "no" }
    }
}

/// `1.00×`, `0.25×`, `12.5×`, `3,012×`.
pub fn format_ratio(r: f64) -> String {
    let mut s = if !r.is_finite() || r.abs() >= 100.0 {
        format_number(r)
    } else if r.abs() >= 10.0 {
        format!("{r:.1}")
    } else if r.abs() >= 0.01 {
        format!("{r:.2}")
    } else {
        format_number(r)
    };
    let _ = write!(s, "×");
    s
}

/// One part of a section, in the order it was narrated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Block {
    Paragraph(String),
    Transcript(Vec<String>),
    Table(Table),
    /// A section's typed figures, as the section returned them: what the closing paragraph and a
    /// chart read, instead of looking a number up in a printed table.
    Figures(serde_json::Value),
}

/// A titled part of a demo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Section {
    pub title: String,
    pub blocks: Vec<Block>,
}

impl Section {
    /// The tables of this section, in order.
    pub fn tables(&self) -> impl Iterator<Item = &Table> {
        self.blocks.iter().filter_map(|b| match b {
            Block::Table(t) => Some(t),
            _ => None,
        })
    }
}

/// The machine and build a run was measured on: figures from different machines or builds are not
/// comparable, so every chart shows them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Machine {
    /// The CPU model (`/proc/cpuinfo`), or `unknown`.
    pub cpu: String,
    /// Logical cores available to the process.
    pub cores: usize,
    /// `linux/x86_64`.
    pub os: String,
    /// The workspace's git commit (short), with `-dirty` when the tree had changes, or `unknown`.
    pub commit: String,
}

impl Machine {
    /// This machine, now. Nothing here fails: an unreadable detail reads `unknown`.
    pub fn current() -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
        let git = |args: &[&str]| {
            std::process::Command::new("git")
                .args(args)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        };
        let commit = match git(&["rev-parse", "--short", "HEAD"]) {
            Some(hash) => {
                let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                    .is_some_and(|s| !s.is_empty());
                if dirty { format!("{hash}-dirty") } else { hash }
            }
            None => "unknown".to_owned(),
        };
        Self {
            cpu,
            cores,
            os: format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
            commit,
        }
    }
}

/// Everything a demo printed, as data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The topic crate's name (`http-basics`).
    pub topic: String,
    pub title: String,
    /// When the run started (UTC, RFC 3339).
    pub started_at: String,
    /// `release` or `debug`: numbers from a debug build are not comparable with release ones.
    pub profile: String,
    pub quick: bool,
    /// Where it ran (absent in reports written before this field existed).
    #[serde(default)]
    pub machine: Machine,
    /// Real services this run used.
    pub services_used: Vec<String>,
    /// What the run left out for lack of a service, one line each.
    pub left_out: Vec<String>,
    pub sections: Vec<Section>,
}

impl Report {
    /// The section with this title.
    pub fn section(&self, title: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.title == title)
    }

    /// Every table in the report, in order.
    pub fn tables(&self) -> impl Iterator<Item = &Table> {
        self.sections.iter().flat_map(Section::tables)
    }

    /// Writes the report as pretty JSON, creating parent folders.
    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        use anyhow::Context as _;
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("Failed to create {}", parent.display()))?;
        }
        let json = serde_json::to_string_pretty(self).context("Failed to serialise the report")?;
        std::fs::write(path, json).with_context(|| format!("Failed to write {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_are_taken_against_the_baseline_row() {
        let mut t = Table::new("scheme")
            .column("p50", Unit::Micros)
            .ratio_against("p50", "cursor");
        t.row("offset", [Cell::from(300.0)]);
        t.row("cursor", [Cell::from(100.0)]);
        assert_eq!(t.rows[0].ratio, Some(3.0));
        assert_eq!(t.rows[1].ratio, Some(1.0));
        let text = t.render();
        assert!(
            text.contains("3.00×") && text.contains("p50 vs cursor"),
            "{text}"
        );
    }

    #[test]
    fn numbers_keep_three_significant_digits_or_group_thousands() {
        assert_eq!(format_number(1234567.0), "1,234,567");
        assert_eq!(format_number(12.345), "12.3");
        assert_eq!(format_number(1.2345), "1.23");
        assert_eq!(format_number(0.012345), "0.0123");
        assert_eq!(format_number(-4200.0), "-4,200");
        assert_eq!(format_number(7.0), "7");
    }

    #[test]
    fn a_report_round_trips_through_json() {
        let mut t = Table::latency("strategy");
        t.row(
            "a",
            [1.0.into(), 2.0.into(), 3.0.into(), 4.0.into(), 5.0.into()],
        );
        let report = Report {
            topic: "t".into(),
            title: "T".into(),
            started_at: "now".into(),
            profile: "debug".into(),
            quick: true,
            machine: Machine::current(),
            services_used: vec![],
            left_out: vec![],
            sections: vec![Section {
                title: "s".into(),
                blocks: vec![Block::Paragraph("p".into()), Block::Table(t)],
            }],
        };
        let json = serde_json::to_string(&report).unwrap();
        let back: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(back, report);
        assert_eq!(back.tables().count(), 1);
    }

    #[test]
    fn a_chart_description_round_trips_and_a_table_without_one_still_parses() {
        let t = Table::new("depth")
            .column("p50", Unit::Micros)
            .chart(Chart::lines().log().of(&["p50"]).split(" @ "));
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["chart"]["kind"], "lines");
        assert_eq!(json["chart"]["scale"], "log");
        let back: Table = serde_json::from_value(json).unwrap();
        assert_eq!(back, t);
        let old = r#"{"label":"x","columns":[],"rows":[],"ratio":null}"#;
        let old: Table = serde_json::from_str(old).unwrap();
        assert_eq!(old.chart, None);
    }
}
