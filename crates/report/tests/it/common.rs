//! Shared by the suite: the committed fixtures, in the reading order, and the page built from them.

use std::path::{Path, PathBuf};

use report::load::Loaded;
use report::page::Expected;

/// The folder of committed demo reports.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Every topic with a demo, in the justfile's reading order.
pub fn topics() -> Vec<String> {
    report::run::topics(&report::run::workspace_root())
}

/// One fixture per topic, in reading order (a missing one is still listed: its test says so).
pub fn fixture_paths() -> Vec<PathBuf> {
    topics()
        .iter()
        .map(|t| report::run::report_path(&fixtures_dir(), t))
        .collect()
}

/// The page built from `inputs` into a fresh folder: the folder (kept alive), the page's path,
/// its HTML and what was loaded.
pub struct Built {
    /// Held, not read: dropping it deletes the page.
    pub _dir: tempfile::TempDir,
    pub page: PathBuf,
    pub html: String,
    pub loaded: Vec<Loaded>,
}

pub fn build(inputs: &[PathBuf]) -> anyhow::Result<Built> {
    let dir = tempfile::tempdir()?;
    let page = dir.path().join("report.html");
    let loaded = report::build(inputs, &page)?;
    let html = std::fs::read_to_string(&page)?;
    Ok(Built {
        _dir: dir,
        page,
        html,
        loaded,
    })
}

/// Every chart the loaded reports should show.
pub fn expected(loaded: &[Loaded]) -> Vec<Expected> {
    loaded
        .iter()
        .filter_map(|l| l.report.as_ref().ok())
        .flat_map(report::page::expected)
        .collect()
}

/// The HTML of the element whose id is `id`, from its opening tag to the end of its figure.
pub fn figure<'a>(html: &'a str, id: &str) -> Option<&'a str> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let start = html[..at].rfind('<')?;
    let end = html[at..].find("</figure>")? + at;
    Some(&html[start..end])
}

/// Undoes HTML escaping, so text escaped by the page and text serialised by a browser (which
/// leaves quotes alone) compare equal.
pub fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The text of every SVG `<text>` element in `html`, trimmed and unescaped.
pub fn svg_texts(html: &str) -> Vec<String> {
    html.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..];
            Some(unescape(body[..body.find("</text>")?].trim()))
        })
        .collect()
}
