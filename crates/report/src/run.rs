//! Running the demos: which topics have one, and running each that has no report yet (or all of
//! them), one at a time so they never compete for the cores, with a progress line per demo.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// The workspace this crate lives in.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from("."))
}

/// Where reports go by default: `<target>/reports`.
pub fn default_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), PathBuf::from)
        .join("reports")
}

/// Every workspace crate with a demo (a `src/main.rs` under `crates/` or `examples/`), in the
/// justfile's reading order, then any others by name. A new topic needs no entry here.
pub fn topics(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for parent in ["crates", "examples"] {
        let Ok(entries) = std::fs::read_dir(root.join(parent)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name != env!("CARGO_PKG_NAME") && entry.path().join("src/main.rs").is_file() {
                found.push(name);
            }
        }
    }
    found.sort();
    let order: Vec<String> = std::fs::read_to_string(root.join("justfile"))
        .ok()
        .and_then(|j| {
            j.lines().find(|l| l.starts_with("topics :=")).map(|l| {
                l.split('"')
                    .nth(1)
                    .unwrap_or("")
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect()
            })
        })
        .unwrap_or_default();
    found.sort_by_key(|t| order.iter().position(|o| o == t).unwrap_or(usize::MAX));
    found
}

/// How the demos are run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub quick: bool,
    pub release: bool,
    pub fresh: bool,
}

/// The report file of a topic in `dir`.
pub fn report_path(dir: &Path, topic: &str) -> PathBuf {
    dir.join(format!("{topic}.json"))
}

/// Runs each topic's demo whose report is missing (every one with `fresh`), writing
/// `<dir>/<topic>.json` and the printed story to `<dir>/<topic>.txt`. A failed demo is reported
/// and skipped: the page then names its missing file.
pub fn run_demos(
    root: &Path,
    dir: &Path,
    topics: &[String],
    options: &RunOptions,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    std::fs::create_dir_all(dir).with_context(|| format!("Failed to create {}", dir.display()))?;
    let todo: Vec<&String> = topics
        .iter()
        .filter(|t| options.fresh || !report_path(dir, t).is_file())
        .collect();
    let bars = MultiProgress::new();
    let style = ProgressStyle::with_template("{spinner} {prefix:<20} {elapsed:>4} {wide_msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let lines: Vec<ProgressBar> = todo
        .iter()
        .map(|t| {
            let bar = bars.add(ProgressBar::new_spinner().with_style(style.clone()));
            bar.set_prefix((*t).clone());
            bar.set_message("waiting");
            bar
        })
        .collect();
    if !todo.is_empty() {
        let build = bars.insert(0, ProgressBar::new_spinner().with_style(style.clone()));
        build.set_prefix("build");
        build.set_message(format!("cargo build of {} demo(s)", todo.len()));
        build.enable_steady_tick(Duration::from_millis(120));
        let started = Instant::now();
        match build_demos(root, &todo, options) {
            Ok(()) => {
                build.finish_with_message(format!("done in {}s", started.elapsed().as_secs()))
            }
            Err(e) => {
                build.abandon_with_message(format!("failed: {e:#}"));
                return Err(e);
            }
        }
    }
    for (topic, bar) in todo.iter().zip(&lines) {
        // Each line's clock starts with its own demo, not with the build or the demos before it.
        bar.reset_elapsed();
        bar.enable_steady_tick(Duration::from_millis(120));
        bar.set_message("starting");
        let started = Instant::now();
        let outcome = run_one(root, dir, topic, options, bar);
        let seconds = started.elapsed().as_secs();
        match outcome {
            Ok(()) => bar.finish_with_message(format!("done in {seconds}s")),
            Err(e) => bar.abandon_with_message(format!("failed after {seconds}s: {e:#}")),
        }
    }
    Ok(())
}

/// Builds every demo to run in one cargo invocation: one feature resolution for all of them (so
/// nothing is rebuilt between two demos) and both cores busy, before any demo measures anything.
fn build_demos(root: &Path, topics: &[&String], options: &RunOptions) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let mut command = Command::new(cargo());
    command
        .current_dir(root)
        .args(["build", "--quiet", "--bins"]);
    if options.release {
        command.arg("--release");
    }
    for topic in topics {
        command.arg("-p").arg(topic.as_str());
    }
    let output = command
        .stdin(Stdio::null())
        .output()
        .context("Failed to start cargo")?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last: Vec<&str> = stderr.lines().rev().take(8).collect();
        anyhow::bail!("cargo build: {}", last.join(" | "));
    }
    Ok(())
}

fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// Where cargo put a topic's binary.
fn binary(root: &Path, topic: &str, options: &RunOptions) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root.join("target"), PathBuf::from)
        .join(if options.release { "release" } else { "debug" })
        .join(topic)
}

fn run_one(
    root: &Path,
    dir: &Path,
    topic: &str,
    options: &RunOptions,
    bar: &ProgressBar,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let json = report_path(dir, topic);
    let text = dir.join(format!("{topic}.txt"));
    let log = dir.join(format!("{topic}.log"));
    // An old report left in place would be charted as if this run had written it.
    match std::fs::remove_file(&json) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("Failed to remove {}", json.display()));
        }
        _ => {}
    }
    // The binary itself, built above: `cargo run` would resolve features for this one package
    // and could rebuild shared dependencies before every demo.
    let mut command = Command::new(binary(root, topic, options));
    command.current_dir(root).arg("--json").arg(&json);
    if options.quick {
        command.arg("--quick");
    }
    let errors = std::fs::File::create(&log)
        .with_context(|| format!("Failed to create {}", log.display()))?;
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(errors)
        .spawn()
        .with_context(|| format!("Failed to start the {topic} demo"))?;
    let mut story = String::new();
    let mut sections = 0;
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // A section heading is the demo's progress: how many so far, and which one.
            if let Some(heading) = line.strip_prefix("── ") {
                sections += 1;
                let heading = heading.trim_end_matches(['─', ' ']);
                bar.set_message(format!("section {sections}: {heading}"));
            }
            story.push_str(&line);
            story.push('\n');
        }
    }
    let status = child.wait().context("Failed to wait for the demo")?;
    std::fs::write(&text, story).with_context(|| format!("Failed to write {}", text.display()))?;
    if !status.success() {
        anyhow::bail!("{status}; see {}", log.display());
    }
    Ok(())
}
