//! Tracing set-up shared by every binary.
//!
//! `RUST_LOG` wins when set; otherwise `default_filter` applies. Demos pass `"warn"` so their
//! narration is not buried in logs; servers pass `"info"`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs a formatting subscriber. Calling it twice (two tests in one process) is harmless.
pub fn init(default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        // Colour codes only for a terminal: CI logs and files stay readable.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}
