//! From a table and its [`Chart`] description to panels of inline SVG, drawn by plotters.
//!
//! The description decides everything topic-specific (which columns, which scale, how rows map to
//! the x axis); this module only knows tables. One panel per unit (or per column when rows are
//! split into series), so two units never share an axis.

use plotters::coord::combinators::LogCoord;
use plotters::coord::ranged1d::{
    AsRangedCoord, DefaultFormatting, KeyPointHint, Ranged, ValueFormatter,
};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use support::report::{Cell, Chart, ChartKind, Scale, Table, Unit};

/// Why a table could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("the chart names column {0:?}, which the table does not have")]
    UnknownColumn(String),
    #[error("this run measured none of the charted columns")]
    NoNumbers,
    #[error("plotters could not draw the chart: {0}")]
    Draw(String),
}

/// One drawn panel: what it plots, its legend, and the SVG.
#[derive(Debug, Clone)]
pub struct Panel {
    /// The panel's own title (the chart title, plus the columns when there are several panels).
    pub title: String,
    /// Each series' name and colour (`#1f77b4`), for a legend beside the plot rather than over it.
    pub legend: Vec<(String, String)>,
    pub svg: String,
}

/// What one panel plots: categories along one axis, one or more series of values.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelData {
    pub title: String,
    pub unit: Unit,
    /// The value axis' name, unit included (`µs`, `requests per second`, `rows touched`).
    pub value_axis: String,
    /// The category axis' name: the table's label column (`method`, or `depth` of `scheme @ depth`).
    pub category_axis: String,
    pub categories: Vec<String>,
    pub series: Vec<(String, Vec<Option<f64>>)>,
}

const WIDTH: u32 = 860;
const COLOURS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

fn colour(j: usize) -> RGBColor {
    COLOURS[j % COLOURS.len()]
}

fn hex(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// A value axis names its unit; a count axis names what it counts when it plots one thing, since
/// "count" alone would not say of what.
fn value_axis_name(unit: Unit, series: &[String]) -> String {
    match (unit, series) {
        (Unit::Count | Unit::Text, [only]) => only.clone(),
        (Unit::Count | Unit::Text, _) => "count".to_owned(),
        (Unit::PerSecond, [only]) if only.contains("per second") => only.clone(),
        (Unit::PerSecond, [only]) if !only.contains('/') => format!("{only} (per second)"),
        (Unit::PerSecond, _) => "per second".to_owned(),
        (other, _) => other.axis_label().to_owned(),
    }
}

fn number(cell: Option<&Cell>) -> Option<f64> {
    match cell {
        Some(Cell::Number(n)) if n.is_finite() => Some(*n),
        _ => None,
    }
}

/// The columns a chart plots, by index: the named ones, or every column holding a number.
fn plotted_columns(table: &Table, chart: &Chart) -> Result<Vec<usize>, ChartError> {
    let columns: Vec<usize> = if chart.series.is_empty() {
        (0..table.columns.len())
            .filter(|&i| table.columns[i].unit != Unit::Text)
            .filter(|&i| table.rows.iter().any(|r| number(r.cells.get(i)).is_some()))
            .collect()
    } else {
        chart
            .series
            .iter()
            .map(|name| {
                table
                    .columns
                    .iter()
                    .position(|c| &c.title == name)
                    .ok_or_else(|| ChartError::UnknownColumn(name.clone()))
            })
            .collect::<Result<_, _>>()?
    };
    if columns.is_empty() {
        return Err(ChartError::NoNumbers);
    }
    Ok(columns)
}

/// Splits the table into panels as the description says.
pub fn panel_data(table: &Table, chart: &Chart, title: &str) -> Result<Vec<PanelData>, ChartError> {
    let columns = plotted_columns(table, chart)?;
    let title = chart.title.as_deref().unwrap_or(title);
    let panels: Vec<PanelData> = match &chart.split {
        None => {
            let categories: Vec<String> = table.rows.iter().map(|r| r.label.clone()).collect();
            let mut units: Vec<Unit> = Vec::new();
            for &c in &columns {
                if !units.contains(&table.columns[c].unit) {
                    units.push(table.columns[c].unit);
                }
            }
            units
                .iter()
                .map(|&unit| {
                    let series: Vec<(String, Vec<Option<f64>>)> = columns
                        .iter()
                        .filter(|&&c| table.columns[c].unit == unit)
                        .map(|&c| {
                            let values = table.rows.iter().map(|r| number(r.cells.get(c)));
                            (table.columns[c].title.clone(), values.collect())
                        })
                        .collect();
                    let names: Vec<String> = series.iter().map(|(n, _)| n.clone()).collect();
                    PanelData {
                        // Several panels: each says which columns it holds.
                        title: if units.len() > 1 {
                            format!("{title}: {}", names.join(", "))
                        } else {
                            title.to_owned()
                        },
                        unit,
                        value_axis: value_axis_name(unit, &names),
                        category_axis: table.label.clone(),
                        categories: categories.clone(),
                        series,
                    }
                })
                .collect()
        }
        Some(separator) => {
            let split = |label: &str| -> (String, String) {
                match label.split_once(separator.as_str()) {
                    Some((series, x)) => (series.trim().to_owned(), x.trim().to_owned()),
                    None => (label.to_owned(), String::new()),
                }
            };
            let mut names: Vec<String> = Vec::new();
            let mut categories: Vec<String> = Vec::new();
            for row in &table.rows {
                let (name, x) = split(&row.label);
                if !names.contains(&name) {
                    names.push(name);
                }
                if !categories.contains(&x) {
                    categories.push(x);
                }
            }
            // `scheme @ depth`: the part after the separator names the x axis.
            let category_axis = split(&table.label).1;
            let category_axis = if category_axis.is_empty() {
                table.label.clone()
            } else {
                category_axis
            };
            columns
                .iter()
                .map(|&c| {
                    let column = &table.columns[c];
                    PanelData {
                        title: if columns.len() > 1 {
                            format!("{title}: {}", column.title)
                        } else {
                            title.to_owned()
                        },
                        unit: column.unit,
                        value_axis: match column.unit {
                            Unit::Count | Unit::Text => column.title.clone(),
                            other => format!("{} ({})", column.title, other.axis_label()),
                        },
                        category_axis: category_axis.clone(),
                        categories: categories.clone(),
                        series: names
                            .iter()
                            .map(|name| {
                                let values = categories.iter().map(|x| {
                                    table
                                        .rows
                                        .iter()
                                        .find(|r| split(&r.label) == (name.clone(), x.clone()))
                                        .and_then(|r| number(r.cells.get(c)))
                                });
                                (name.clone(), values.collect())
                            })
                            .collect(),
                    }
                })
                .collect()
        }
    };
    // A panel with nothing to draw (a column this run left empty, or only zeros on a log axis)
    // would be an empty frame that looks like a rendering failure: it is left out, and a chart
    // with no panel left says why instead.
    let log = chart.scale == Scale::Log;
    let panels: Vec<PanelData> = panels
        .into_iter()
        .map(|mut panel| {
            for (_, values) in &mut panel.series {
                for v in values.iter_mut() {
                    *v = drawable(*v, log);
                }
            }
            panel
        })
        .filter(|panel| {
            panel
                .series
                .iter()
                .any(|(_, v)| v.iter().any(Option::is_some))
        })
        .collect();
    if panels.is_empty() {
        return Err(ChartError::NoNumbers);
    }
    Ok(panels)
}

/// Draws every panel of a charted table.
pub fn draw(table: &Table, chart: &Chart, title: &str) -> Result<Vec<Panel>, ChartError> {
    panel_data(table, chart, title)?
        .into_iter()
        .map(|data| {
            let log = chart.scale == Scale::Log;
            let svg = match (chart.kind, log) {
                (ChartKind::Bars, false) => bars(&data, linear_range(&data), false),
                (ChartKind::Bars, true) => bars(&data, LogAxis::new(log_range(&data)), true),
                (ChartKind::Lines, false) => lines(&data, linear_range(&data), false),
                (ChartKind::Lines, true) => lines(&data, LogAxis::new(log_range(&data)), true),
            }
            .map_err(|e| ChartError::Draw(e.to_string()))?;
            let legend = data
                .series
                .iter()
                .enumerate()
                .map(|(j, (name, _))| (name.clone(), hex(colour(j))))
                .collect();
            Ok(Panel {
                title: data.title,
                legend,
                svg,
            })
        })
        .collect()
}

fn values(data: &PanelData) -> impl Iterator<Item = f64> + '_ {
    data.series
        .iter()
        .flat_map(|(_, v)| v.iter().flatten().copied())
}

/// From zero (or the smallest negative value) to a tenth above the largest.
fn linear_range(data: &PanelData) -> std::ops::Range<f64> {
    let max = values(data).fold(0.0_f64, f64::max);
    let min = values(data).fold(0.0_f64, f64::min);
    let top = if max > 0.0 { max * 1.1 } else { 1.0 };
    (min * 1.1)..top
}

/// Around the positive values only: a log axis cannot show zero or less.
fn log_range(data: &PanelData) -> std::ops::Range<f64> {
    let positive = || values(data).filter(|v| *v > 0.0);
    let min = positive().fold(f64::INFINITY, f64::min);
    let max = positive().fold(0.0_f64, f64::max);
    if !min.is_finite() || max <= 0.0 {
        return 0.1..10.0;
    }
    // Down to the decade below the smallest value, so its bar has a visible length; up to a
    // little above the largest rather than the next decade, which would waste most of the width.
    // A value that is itself a power of ten (one request) would sit on the axis with no length.
    let low = 10f64.powf((min * 0.99).log10().floor());
    let high = (max * 1.3).max(low * 10.0);
    low..high
}

/// plotters' log axis, with its ticks made unique: it can list a decade twice (1,000 and a
/// rounding error away from it), and both would be labelled on the same spot.
struct LogAxis(LogCoord<f64>);

impl LogAxis {
    fn new(range: std::ops::Range<f64>) -> Self {
        Self(range.log_scale().into())
    }
}

impl Ranged for LogAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.0.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        let mut points = self.0.key_points(hint);
        points.sort_by(f64::total_cmp);
        points.dedup_by(|a, b| (*a - *b).abs() <= b.abs() * 1e-9);
        points
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.0.range()
    }
}

fn short(label: &str) -> String {
    const MAX: usize = 52;
    if label.chars().count() <= MAX {
        label.to_owned()
    } else {
        let cut: String = label.chars().take(MAX - 1).collect();
        format!("{cut}…")
    }
}

/// Rows as evenly spaced categories at 0, 1, 2, ...: plotters' numeric axes pick "nice" tick
/// values of their own, which would put a label between two rows, so this axis names its ticks.
struct Categories {
    n: usize,
    inner: RangedCoordf64,
}

fn category_axis(n: usize) -> Categories {
    #[allow(clippy::cast_precision_loss)]
    let inner: RangedCoordf64 = (-0.5..(n as f64 - 0.5)).into();
    Categories { n, inner }
}

impl Ranged for Categories {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        // Every row gets its tick whatever the hint: a skipped category would be an unlabelled bar.
        #[allow(clippy::cast_precision_loss)]
        (0..self.n).map(|i| i as f64).collect()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

fn category_label(categories: &[String], x: f64) -> String {
    let rounded = x.round();
    if (x - rounded).abs() > 1e-6 || rounded < 0.0 {
        return String::new();
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    categories
        .get(rounded as usize)
        .map(|c| short(c))
        .unwrap_or_default()
}

/// Bars read top-down in the table's row order, while a y axis counts upwards: row `i` sits at
/// position `n - 1 - i`.
fn from_top(categories: &[String], y: f64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let top = (categories.len().max(1) - 1) as f64;
    category_label(categories, top - y)
}

/// A tick's label. On a log axis only 1, 2 and 5 times a power of ten are labelled: plotters puts
/// a tick at every multiple within a decade, and nine labels a decade overlap.
fn value_label(v: f64, log: bool) -> String {
    if log && v > 0.0 {
        let mantissa = v / 10f64.powf(v.log10().floor());
        // 10 as well: a decade can come out a rounding error below itself (999.999…).
        if ![1.0, 2.0, 5.0, 10.0]
            .iter()
            .any(|m| (mantissa - m).abs() < 1e-6)
        {
            return String::new();
        }
    }
    // A tick is a round number: "0.1", not the table's three significant digits "0.100".
    let text = support::report::format_number(v);
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

type DrawResult = Result<String, Box<dyn std::error::Error>>;

/// A value a log axis can show: zero and negatives have no place on it, so they are left out
/// (the table under the chart still has them).
fn drawable(v: Option<f64>, log: bool) -> Option<f64> {
    v.filter(|v| !log || *v > 0.0)
}

/// Horizontal grouped bars: categories down the side (labels can be long), values across.
fn bars<V>(data: &PanelData, value_axis: V, log: bool) -> DrawResult
where
    V: AsRangedCoord<Value = f64>,
    V::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let n = data.categories.len().max(1);
    let series = data.series.len().max(1);
    let row_px = (13 * series + 14).max(30);
    let height = u32::try_from(70 + row_px * n).unwrap_or(2_000);
    let longest = data
        .categories
        .iter()
        .map(|c| short(c).chars().count())
        .max()
        .unwrap_or(4);
    // About 7 px a character (plotters draws size 16 as 13 px), plus room for the axis name
    // turned on its side.
    let label_px = u32::try_from(longest * 7 + 44).unwrap_or(400);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .margin_right(28)
            .x_label_area_size(44)
            .y_label_area_size(label_px)
            .build_cartesian_2d(value_axis, category_axis(n))?;
        // The category axis' name, turned on its side, only where it fits beside the rows (the
        // rows' own labels say what they are either way).
        let fits = data.category_axis.chars().count() * 8 < row_px * n;
        let category_axis = if fits {
            data.category_axis.as_str()
        } else {
            ""
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(RGBColor(238, 240, 243))
            .max_light_lines(4)
            .x_desc(data.value_axis.as_str())
            .y_desc(category_axis)
            .x_label_formatter(&|v| value_label(*v, log))
            .y_label_formatter(&|y| from_top(&data.categories, *y))
            .label_style(("sans-serif", 16))
            .axis_desc_style(("sans-serif", 17))
            .draw()?;
        // Bars grow from zero (a linear axis always holds it, negative values go left of it),
        // or from the axis' start on a log axis, which has no zero.
        let base = if log { chart.x_range().start } else { 0.0 };
        #[allow(clippy::cast_precision_loss)]
        let thickness = 0.8 / series as f64;
        for (j, (_, values)) in data.series.iter().enumerate() {
            let colour = colour(j);
            #[allow(clippy::cast_precision_loss)]
            let bars = values.iter().enumerate().filter_map(|(i, v)| {
                let v = drawable(*v, log)?;
                // The first series on top within its group, as the legend lists them.
                let top = (n - 1 - i) as f64 + 0.4 - thickness * (j + 1) as f64;
                Some(Rectangle::new(
                    [(base, top + thickness * 0.1), (v, top + thickness)],
                    colour.filled(),
                ))
            });
            chart.draw_series(bars)?;
        }
        root.present()?;
    }
    Ok(svg)
}

/// Lines across ordered categories (depths, steps), one line per series, a dot per value.
fn lines<V>(data: &PanelData, value_axis: V, log: bool) -> DrawResult
where
    V: AsRangedCoord<Value = f64>,
    V::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let n = data.categories.len().max(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 360)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .margin_right(40)
            .x_label_area_size(48)
            .y_label_area_size(90)
            .build_cartesian_2d(category_axis(n), value_axis)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(RGBColor(238, 240, 243))
            .max_light_lines(4)
            .x_desc(data.category_axis.as_str())
            .y_desc(data.value_axis.as_str())
            .x_label_formatter(&|x| category_label(&data.categories, *x))
            .y_label_formatter(&|v| value_label(*v, log))
            .label_style(("sans-serif", 16))
            .axis_desc_style(("sans-serif", 17))
            .draw()?;
        for (j, (_, values)) in data.series.iter().enumerate() {
            let colour = colour(j);
            #[allow(clippy::cast_precision_loss)]
            let points: Vec<(f64, f64)> = values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| drawable(*v, log).map(|v| (i as f64, v)))
                .collect();
            chart.draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?;
            chart.draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 4, colour.filled())),
            )?;
        }
        root.present()?;
    }
    Ok(svg)
}
