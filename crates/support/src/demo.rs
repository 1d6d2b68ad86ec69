//! The flags every demo accepts, so `--quick` and `--json` mean the same in every topic, the
//! per-run allocator that keeps a demo's sections out of each other's way, and [`Forgotten`],
//! what `<topic> forget` says it removed of the data sets a demo seeds once and reuses.

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

/// What `<topic> forget` removed (one line per database, schema, file or set of keys, with its
/// size where the store tells it) and what it could not look at (a server that did not answer).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forgotten {
    pub removed: Vec<String>,
    pub not_checked: Vec<String>,
}

impl Forgotten {
    pub fn removed(&mut self, what: impl Into<String>) {
        self.removed.push(what.into());
    }

    pub fn not_checked(&mut self, what: impl Into<String>) {
        self.not_checked.push(what.into());
    }

    /// Removes `path` if it exists, saying so with its size; a missing file is no error.
    pub fn remove_file(&mut self, path: &std::path::Path) -> std::io::Result<()> {
        let Ok(meta) = std::fs::metadata(path) else {
            return Ok(());
        };
        std::fs::remove_file(path)?;
        self.removed(format!("{} ({})", path.display(), bytes(meta.len())));
        Ok(())
    }

    /// Prints the outcome for `topic`, one line each.
    pub fn print(&self, topic: &str) {
        if self.removed.is_empty() {
            println!("{topic}: no data set of its demo was found; nothing removed.");
        }
        for line in &self.removed {
            println!("{topic}: removed {line}");
        }
        for line in &self.not_checked {
            println!("{topic}: not checked: {line}");
        }
    }
}

/// `<topic> forget` for a topic whose demo keeps nothing: every run builds what it measures and
/// removes it at the end.
pub fn keeps_no_data_sets(topic: &str) {
    println!("{topic}: its demo keeps no data set between runs; nothing to remove.");
}

/// A size for a person: `812.4 MB`, `64.0 kB`, `512 B` (decimal units, as `df -H` prints).
pub fn bytes(n: u64) -> String {
    // Display only: any byte count is exact enough as an f64 to one decimal.
    let f = n as f64;
    match n {
        0..1_000 => format!("{n} B"),
        1_000..1_000_000 => format!("{:.1} kB", f / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", f / 1e6),
        _ => format!("{:.1} GB", f / 1e9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_in_decimal_units() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(64_000), "64.0 kB");
        assert_eq!(bytes(1_234_567_890), "1.2 GB");
    }

    #[test]
    fn removing_a_kept_file_says_so_and_a_missing_one_is_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kept.sqlite3");
        std::fs::write(&file, [0u8; 2_000]).unwrap();
        let mut forgotten = Forgotten::default();
        forgotten.remove_file(&file).unwrap();
        forgotten.remove_file(&file).unwrap();
        assert!(!file.exists());
        assert_eq!(forgotten.removed, [format!("{} (2.0 kB)", file.display())]);
    }

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
