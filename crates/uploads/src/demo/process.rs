//! The backend as a process of its own, so that its CPU time and resident set can be read
//! from `/proc` without counting the demo's client or the storage server.
//!
//! Linux only: `/proc/<pid>/stat` (user + system time, in the kernel's fixed 100 ticks per
//! second that `/proc` reports), `/proc/<pid>/status` (`VmRSS`, and `VmHWM`, the peak), and
//! `/proc/<pid>/clear_refs` (writing `5` resets the peak, so each upload's peak is its own).
//! Elsewhere these figures are `None` and the demo says so.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;

/// `/proc` reports CPU times in USER_HZ ticks, 100 per second on every Linux architecture.
const TICKS_PER_SECOND: f64 = 100.0;

/// The crate's own binary running `serve`, killed when dropped.
#[derive(Debug)]
pub struct BackendProcess {
    child: tokio::process::Child,
    pub pid: u32,
    pub addr: SocketAddr,
}

impl BackendProcess {
    /// Starts `<this binary> serve --port <free port>` with `env`, and waits until it listens.
    pub async fn start(env: &[(&str, String)], log: &Path) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("Failed to find the demo's own binary")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let log = std::fs::File::create(log)?;
        let mut cmd = tokio::process::Command::new(exe);
        cmd.args(["serve", "--port", &port.to_string()])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().context("Failed to start the backend process")?;
        let pid = child.id().context("the backend process has no pid")?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut process = Self { child, pid, addr };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(process);
            }
            if let Some(status) = process.child.try_wait()? {
                anyhow::bail!("the backend process exited at start ({status})");
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the backend process did not start listening"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// User + system CPU seconds so far.
    pub fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).ok()?;
        // Fields after the parenthesised command name: state is the first, utime the 12th.
        let rest = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        Some((utime + stime) / TICKS_PER_SECOND)
    }

    fn status_bytes(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        let line = status.lines().find(|l| l.starts_with(field))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    }

    /// The resident set now.
    pub fn rss_bytes(&self) -> Option<u64> {
        self.status_bytes("VmRSS:")
    }

    /// The peak resident set since the last [`BackendProcess::reset_peak`].
    pub fn peak_bytes(&self) -> Option<u64> {
        self.status_bytes("VmHWM:")
    }

    /// Resets the peak to the current resident set; false where that is not possible.
    pub fn reset_peak(&self) -> bool {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5").is_ok()
    }

    /// Stops the process (it holds no state worth a graceful shutdown: the run directory is
    /// removed next).
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
