//! `cargo run -p report`: runs each topic's demo that has no report yet, then writes the page.

use std::path::PathBuf;

use clap::Parser;

/// Every demo's comparison on one offline HTML page of charts.
#[derive(Debug, Parser)]
#[command(name = "report")]
struct Args {
    /// Run every demo again, even those with a report already.
    #[arg(long)]
    fresh: bool,
    /// Pass `--quick` to every demo run.
    #[arg(long)]
    quick: bool,
    /// Run the demos from a debug build instead of release (faster to build, slower figures).
    #[arg(long)]
    debug: bool,
    /// Run no demo: chart only the reports already there.
    #[arg(long)]
    no_run: bool,
    /// Folder of `<topic>.json` reports (default `target/reports`).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The page to write (default `<dir>/report.html`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also save a PNG of the page as headless Chromium renders it (network disabled).
    #[arg(long, value_name = "PNG")]
    screenshot: Option<PathBuf>,
    /// The screenshot's window, `WIDTHxHEIGHT`.
    #[arg(long, default_value = "1400x4000", value_parser = parse_size)]
    window: (u32, u32),
    /// Chart exactly these report files instead of one per topic (runs no demo).
    files: Vec<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let root = report::run::workspace_root();
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| report::run::default_dir(&root));
    let inputs = if args.files.is_empty() {
        let topics = report::run::topics(&root);
        if !args.no_run {
            let options = report::run::RunOptions {
                quick: args.quick,
                release: !args.debug,
                fresh: args.fresh,
            };
            report::run::run_demos(&root, &dir, &topics, &options)?;
        }
        topics
            .iter()
            .map(|t| report::run::report_path(&dir, t))
            .collect()
    } else {
        args.files.clone()
    };
    let out = args.out.unwrap_or_else(|| dir.join("report.html"));
    let loaded = report::build(&inputs, &out)?;
    for failed in loaded.iter().filter_map(|l| l.report.as_ref().err()) {
        eprintln!("error: {failed}");
    }
    let charted = loaded.iter().filter(|l| l.report.is_ok()).count();
    println!(
        "{charted} of {} reports charted: {}",
        loaded.len(),
        out.display()
    );
    if let Some(png) = &args.screenshot {
        report::browser::Browser::find()?.screenshot(&out, png, args.window)?;
        println!("screenshot: {}", png.display());
    }
    Ok(())
}

fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let invalid = || format!("{text:?} is not WIDTHxHEIGHT (1400x4000)");
    let (w, h) = text.split_once('x').ok_or_else(invalid)?;
    Ok((
        w.parse().map_err(|_| invalid())?,
        h.parse().map_err(|_| invalid())?,
    ))
}
