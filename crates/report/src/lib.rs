//! # report: every demo's comparison on one offline page
//!
//! Each demo writes its figures as JSON (`--json PATH`, a [`support::report::Report`]). This crate
//! reads those files and writes one self-contained HTML page: a section per topic, a chart per
//! table the demo chose to chart, drawn as inline SVG by plotters, the run's machine and build
//! under each chart, the demo's closing paragraph beside them, and every table kept.
//!
//! What to chart is the demo's decision, carried in the JSON ([`support::report::Chart`] on a
//! table): this crate knows tables, never topics.
//!
//! | module | what it does |
//! |---|---|
//! | [`load`] | reads one demo's JSON, or a precise error naming the file |
//! | [`chart`] | a table and its chart description to SVG panels (plotters, SVG backend only) |
//! | [`page`] | the HTML page, and the list of charts it is expected to show |
//! | [`run`] | finds the topics with a demo and runs the ones not yet reported, with progress |
//! | [`browser`] | headless Chromium with the network closed: the rendered DOM, a screenshot |
#![doc = include_str!("../README.md")]

pub mod browser;
pub mod chart;
pub mod load;
pub mod page;
pub mod run;

use std::path::Path;

/// Loads every file (in order) and writes the page to `out`; returns what was loaded (a file that
/// failed is named on the page with its error).
pub fn build(inputs: &[std::path::PathBuf], out: &Path) -> anyhow::Result<Vec<load::Loaded>> {
    use anyhow::Context as _;
    let loaded: Vec<load::Loaded> = inputs.iter().map(|p| load::load(p)).collect();
    let now = chrono_now();
    let html = page::render(&loaded, &now);
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("Failed to create {}", parent.display()))?;
    }
    std::fs::write(out, html).with_context(|| format!("Failed to write {}", out.display()))?;
    Ok(loaded)
}

fn chrono_now() -> String {
    chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string()
}
