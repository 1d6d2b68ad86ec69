//! The flags every demo accepts, so `--quick` and `--json` mean the same in every topic, and the
//! per-run allocator that keeps a demo's sections out of each other's way.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};

/// Common demo options; topic binaries flatten this into their own `clap` command.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
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

/// What a demo's sections must not share, handed out once per run: row ids from a seeded range
/// (two sections editing post 961 would measure each other) and names for queues, key prefixes
/// and schemas (a fixed queue name would collide with the previous run's leftovers, or with a
/// second demo running at the same time).
#[derive(Debug)]
pub struct RunIds {
    run: String,
    next: AtomicI64,
    end: i64,
}

impl RunIds {
    /// Ids from `ids` (the seeded rows a demo may change), and a fresh run token.
    pub fn new(ids: Range<i64>) -> Self {
        let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
        Self {
            run,
            next: AtomicI64::new(ids.start),
            end: ids.end,
        }
    }

    /// `n` ids no other caller of this allocator gets. Running out is a bug in the demo (its
    /// sections ask for more rows than it seeded), reported as an error rather than a wrap.
    pub fn take(&self, n: i64) -> anyhow::Result<Range<i64>> {
        let start = self.next.fetch_add(n, Ordering::Relaxed);
        anyhow::ensure!(
            start + n <= self.end,
            "the demo asked for ids up to {} but only seeded up to {}",
            start + n - 1,
            self.end - 1
        );
        Ok(start..start + n)
    }

    /// One id.
    pub fn one(&self) -> anyhow::Result<i64> {
        Ok(self.take(1)?.start)
    }

    /// `<label>_<run>`: a queue name, key prefix or schema name no other run uses.
    pub fn name(&self, label: &str) -> String {
        format!("{}_{}", crate::names::clean(label), self.run)
    }

    /// The token that makes this run's names unique.
    pub fn run(&self) -> &str {
        &self.run
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_handed_out_once_and_running_out_is_an_error() {
        let ids = RunIds::new(10..15);
        assert_eq!(ids.take(3).unwrap(), 10..13);
        assert_eq!(ids.one().unwrap(), 13);
        assert!(ids.take(2).is_err());
    }

    #[test]
    fn names_carry_the_run_token() {
        let ids = RunIds::new(0..1);
        let name = ids.name("thumb nails");
        assert!(name.starts_with("thumb_nails_"));
        assert!(name.ends_with(ids.run()));
        assert_ne!(RunIds::new(0..1).name("q"), ids.name("q"));
    }
}
