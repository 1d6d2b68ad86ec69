//! Headless Chromium, offline: the page is checked the way a reader sees it, in a real browser, with
//! every road to the network closed, so a chart that only drew because something was fetched would
//! show up as missing.
//!
//! Where the browser comes from follows `support::programs`' rule:
//!
//! 1. `CHROMIUM_BROWSER`: the path of a Chromium binary, or `none` to treat it as absent even when it
//!    is installed (CI's bare-machine pass does);
//! 2. otherwise `chromium` (or `chromium-browser`) on `PATH`, then `/usr/bin/chromium`.
//!
//! Each run gets its own throw-away profile directory, so runs in parallel never share state.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::programs::Program;

/// The variable naming the browser binary (or `none`).
pub const BROWSER_VAR: &str = "CHROMIUM_BROWSER";
/// What [`BROWSER_VAR`] is set to when Chromium must count as absent.
pub const DISABLED: &str = support::programs::DISABLED;
/// How to install Chromium, for the messages that say it is missing.
pub const INSTALL: &str = "apt-get install -y chromium";
/// Chromium, found by the workspace's one rule for programs a demo or test runs itself.
pub const PROGRAM: Program = Program {
    variable: BROWSER_VAR,
    names: &["chromium", "chromium-browser"],
    fallbacks: &["/usr/bin/chromium"],
};
/// A page of inline SVG loads in well under a second; this only bounds a browser that hangs.
const WITHIN: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(50);

/// Why the browser could not do its part.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    /// Not on this machine (or [`BROWSER_VAR`] says to act as if): a reason to skip.
    #[error("Chromium is not available ({reason}); install it with `{INSTALL}`")]
    Absent { reason: String },
    #[error("failed to run {}: {source}", program.display())]
    Spawn {
        program: PathBuf,
        source: std::io::Error,
    },
    #[error("{} exited with {status}: {stderr}", program.display())]
    Failed {
        program: PathBuf,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("{} did not finish within {WITHIN:?}", program.display())]
    Hung { program: PathBuf },
    #[error("chromium: {0}")]
    Io(#[from] std::io::Error),
}

impl BrowserError {
    /// True when Chromium is simply not installed (or disabled): skip, do not fail.
    pub fn is_absent(&self) -> bool {
        matches!(self, Self::Absent { .. })
    }
}

/// Where Chromium is, or why there is none.
pub fn locate() -> Result<PathBuf, BrowserError> {
    PROGRAM.locate().map_err(|absent| BrowserError::Absent {
        reason: absent.reason,
    })
}

/// One installed Chromium.
#[derive(Debug, Clone)]
pub struct Browser {
    program: PathBuf,
}

impl Browser {
    /// The browser [`locate`] finds.
    pub fn find() -> Result<Self, BrowserError> {
        locate().map(|program| Self { program })
    }

    /// The DOM of `page` (a local file) after its scripts ran, as Chromium serialises it.
    pub fn dump_dom(&self, page: &Path) -> Result<String, BrowserError> {
        let output = self.run(page, &["--dump-dom".to_owned()])?;
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// A PNG of `page` as a `width`×`height` window shows it.
    pub fn screenshot(
        &self,
        page: &Path,
        png: &Path,
        (width, height): (u32, u32),
    ) -> Result<(), BrowserError> {
        self.run(
            page,
            &[
                format!("--screenshot={}", png.display()),
                format!("--window-size={width},{height}"),
                // Scrollbars would take a strip off the right edge of the picture.
                "--hide-scrollbars".to_owned(),
            ],
        )?;
        Ok(())
    }

    fn run(&self, page: &Path, extra: &[String]) -> Result<Output, BrowserError> {
        let profile = tempfile::Builder::new()
            .prefix("report-chromium-")
            .tempdir()?;
        let page = std::path::absolute(page)?;
        let mut command = Command::new(&self.program);
        command
            .arg("--headless")
            // Containers and CI runners rarely allow the user namespaces Chromium's sandbox needs;
            // the page is our own file, not untrusted content.
            .arg("--no-sandbox")
            .arg("--disable-gpu")
            .arg("--no-first-run")
            .arg("--disable-background-networking")
            .arg(format!("--user-data-dir={}", profile.path().display()))
            // The network, closed three ways: every request through a proxy on the discard port
            // (loopback included, `<-loopback>`), and every host name resolving to nothing.
            .arg("--proxy-server=127.0.0.1:9")
            .arg("--proxy-bypass-list=<-loopback>")
            .arg("--host-resolver-rules=MAP * ~NOTFOUND")
            .args(extra)
            .arg(format!("file://{}", page.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = command.spawn().map_err(|source| BrowserError::Spawn {
            program: self.program.clone(),
            source,
        })?;
        // Bounded: a browser that never exits must not hang the caller. wait_with_output reads
        // both pipes while it waits (a large DOM cannot fill a pipe and stall the browser), so it
        // runs on another thread and this one keeps the clock.
        let started = Instant::now();
        let id = child.id();
        let waiter = std::thread::spawn(move || child.wait_with_output());
        while !waiter.is_finished() {
            if started.elapsed() > WITHIN {
                // Our own child, by its id: nothing else is touched.
                let _ = Command::new("kill").arg(id.to_string()).status();
                let _ = waiter.join();
                return Err(BrowserError::Hung {
                    program: self.program.clone(),
                });
            }
            std::thread::sleep(POLL);
        }
        let output = waiter
            .join()
            .map_err(|_| std::io::Error::other("the browser's waiting thread panicked"))??;
        if !output.status.success() {
            return Err(BrowserError::Failed {
                program: self.program.clone(),
                status: output.status,
                stderr: String::from_utf8_lossy(&output.stderr)
                    .lines()
                    .rev()
                    .take(5)
                    .collect::<Vec<_>>()
                    .join(" | "),
            });
        }
        Ok(output)
    }
}
