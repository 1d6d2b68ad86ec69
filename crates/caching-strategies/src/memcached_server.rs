//! Finds `memcached` on this machine and runs one on a free loopback port.
//!
//! Memcached has no shared instance here (unlike Redis): the demo and each test start their own,
//! a child process of this one on a port the kernel picked, killed when the handle is dropped.
//! Where the program is comes from, in order:
//!
//! 1. `MEMCACHED_SERVER`: the path of a `memcached` binary, or `none` to treat Memcached as
//!    absent even when it is installed (CI's bare-machine pass does);
//! 2. otherwise, `memcached` on `PATH`, then where Debian's package puts it
//!
//! ([`support::programs`] holds that rule, the same for every program a demo starts itself).
//!
//! A simplification: if this process is killed outright (`SIGKILL`), no destructor runs and the
//! server outlives it (a supervisor would use `PR_SET_PDEATHSIG`, which needs `unsafe`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::programs::{Program, free_port};

/// The variable naming the server binary (or `none`).
pub const SERVER_VAR: &str = "MEMCACHED_SERVER";
/// How to install Memcached, for the messages that say it is missing.
pub const INSTALL: &str = "apt-get install -y memcached";
/// Another process can take the port between our probe and the server's bind; then the server
/// exits at once and a new port almost always works.
const START_ATTEMPTS: usize = 3;
const READY_WITHIN: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(20);
/// The server's memory for items, in megabytes: small, the demo's data is a few megabytes.
const MEMORY_MB: &str = "64";

#[derive(Debug, thiserror::Error)]
pub enum MemcachedServerError {
    /// Not on this machine (or [`SERVER_VAR`] says to act as if): a reason to skip.
    #[error("Memcached is not available ({reason}); install it with `{INSTALL}`")]
    Absent { reason: String },
    #[error("failed to run {}: {source}", server.display())]
    Spawn {
        server: PathBuf,
        source: std::io::Error,
    },
    #[error("memcached exited during start-up ({0})")]
    Exited(std::process::ExitStatus),
    #[error("memcached did not accept connections within {0:?}")]
    NotReady(Duration),
    #[error("memcached: {0}")]
    Io(#[from] std::io::Error),
}

impl MemcachedServerError {
    /// True when Memcached is simply not installed (or disabled): skip, do not fail.
    pub fn is_absent(&self) -> bool {
        matches!(self, Self::Absent { .. })
    }
}

/// The `memcached` program, found by the workspace's one rule for installed programs.
pub const PROGRAM: Program = Program {
    variable: SERVER_VAR,
    names: &["memcached"],
    fallbacks: &["/usr/bin/memcached"],
};

/// Where the `memcached` program is, or why there is none.
pub fn locate() -> Result<PathBuf, MemcachedServerError> {
    PROGRAM
        .locate()
        .map_err(|absent| MemcachedServerError::Absent {
            reason: absent.reason,
        })
}

/// A running memcached, killed on drop.
#[derive(Debug)]
pub struct MemcachedServer {
    child: Child,
    port: u16,
    server: PathBuf,
}

impl MemcachedServer {
    /// Starts one on a free loopback port and waits until it accepts connections.
    pub async fn start() -> Result<Self, MemcachedServerError> {
        let server = locate()?;
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            match Self::start_on(&server, free_port()?).await {
                Ok(running) => return Ok(running),
                Err(e @ MemcachedServerError::Exited(_)) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(MemcachedServerError::NotReady(READY_WITHIN)))
    }

    async fn start_on(server: &PathBuf, port: u16) -> Result<Self, MemcachedServerError> {
        let child = Self::spawn(server, port)?;
        let mut running = Self {
            child,
            port,
            server: server.clone(),
        };
        running.wait_ready().await?;
        Ok(running)
    }

    /// Stops the server and starts a new one on the same port: what a restart (a deploy, a
    /// crash and a supervisor) does to a cache that keeps nothing on disk.
    pub async fn restart(&mut self) -> Result<(), MemcachedServerError> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let started = Instant::now();
        loop {
            // The old socket can linger for a moment; the new server exits at once if it
            // cannot bind, and then another try a little later succeeds.
            self.child = Self::spawn(&self.server, self.port)?;
            match self.wait_ready().await {
                Err(MemcachedServerError::Exited(_)) if started.elapsed() < READY_WITHIN => {
                    tokio::time::sleep(POLL).await;
                }
                other => return other,
            }
        }
    }

    fn spawn(server: &PathBuf, port: u16) -> Result<Child, MemcachedServerError> {
        // `-u root`: memcached refuses to run as root without naming a user; `-U 0`: no UDP
        // listener (the amplification attacks of 2018 made it off by default; say so anyway).
        Command::new(server)
            .args(["-u", "root", "-l", "127.0.0.1", "-U", "0", "-m", MEMORY_MB])
            .arg("-p")
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| MemcachedServerError::Spawn {
                server: server.clone(),
                source,
            })
    }

    async fn wait_ready(&mut self) -> Result<(), MemcachedServerError> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(MemcachedServerError::Exited(status));
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return Ok(());
            }
            if started.elapsed() > READY_WITHIN {
                return Err(MemcachedServerError::NotReady(READY_WITHIN));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `host:port`, as [`MemcachedTier::connect`](crate::tiers::memcached::MemcachedTier::connect) takes it.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for MemcachedServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
