//! The flags every demo accepts, so `--quick` and `--json` mean the same in every topic.

use std::path::PathBuf;

/// Common demo options; topic binaries flatten this into their own `clap` command.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DemoArgs {
    /// Smaller workloads: finishes in seconds (CI smoke runs use this).
    // Global, so `<topic> serve --quick` means the same as `<topic> --quick serve`.
    #[arg(long, global = true)]
    pub quick: bool,
    /// Also write the measured report as JSON to this path.
    #[arg(long, value_name = "PATH", global = true)]
    pub json: Option<PathBuf>,
    /// Print nothing; only build the report (used by tests).
    #[arg(skip)]
    pub silent: bool,
}

impl DemoArgs {
    /// Options for running a demo from a test: quick and silent.
    pub fn for_tests() -> Self {
        Self {
            quick: true,
            json: None,
            silent: true,
        }
    }

    /// `full` normally, `quick` with `--quick`.
    pub fn pick<T>(&self, full: T, quick: T) -> T {
        if self.quick { quick } else { full }
    }
}
