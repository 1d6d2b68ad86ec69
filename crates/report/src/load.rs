//! Reading the demos' JSON: each file is a report or a precise error naming it, never a panic, so
//! one broken file costs its own topic and not the page.

use std::path::{Path, PathBuf};

use support::report::Report;

/// Why a demo's JSON could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{}: missing (the demo did not write it; run it with `--json {}`){}", .path.display(), .path.display(), .log.as_ref().map(|l| format!("; its errors are in {}", l.display())).unwrap_or_default())]
    Missing {
        path: PathBuf,
        /// The failed run's stderr, when `report` ran the demo and kept it beside the JSON.
        log: Option<PathBuf>,
    },
    #[error("{}: cannot be read: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a demo report: {source}", .path.display())]
    Parse {
        path: PathBuf,
        source: serde_path_to_error::Error<serde_json::Error>,
    },
}

/// One input file, loaded or not.
#[derive(Debug)]
pub struct Loaded {
    pub path: PathBuf,
    pub report: Result<Report, LoadError>,
}

/// Reads and parses one demo's JSON.
pub fn load(path: &Path) -> Loaded {
    let report = match std::fs::read_to_string(path) {
        Err(source) if source.kind() == std::io::ErrorKind::NotFound => {
            let log = path.with_extension("log");
            let failed = std::fs::metadata(&log).is_ok_and(|m| m.len() > 0);
            Err(LoadError::Missing {
                path: path.to_owned(),
                log: failed.then_some(log),
            })
        }
        Err(source) => Err(LoadError::Read {
            path: path.to_owned(),
            source,
        }),
        Ok(text) => {
            let mut de = serde_json::Deserializer::from_str(&text);
            serde_path_to_error::deserialize(&mut de).map_err(|source| LoadError::Parse {
                path: path.to_owned(),
                source,
            })
        }
    };
    Loaded {
        path: path.to_owned(),
        report,
    }
}
