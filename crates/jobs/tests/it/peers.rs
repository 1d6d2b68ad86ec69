//! What the interoperability tests share: finding the other language's tools, running its
//! programs as child processes that are killed on drop, waiting (bounded) for them to say they
//! are ready, and deleting a Celery queue's broker objects afterwards.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use support::testkit::{find_program, present};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

/// The longest a peer may take to start (Celery imports and connects in a few seconds on a busy
/// 2-core machine) or to answer.
pub const PEER_WAIT: Duration = Duration::from_secs(45);

/// `crates/jobs/interop/<peer>`.
pub fn interop_dir(peer: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("interop")
        .join(peer)
}

/// `python3` when Celery and the Redis client import, or why not (printed by `present`).
pub fn celery_python() -> Option<PathBuf> {
    let hint = "pip install -r crates/jobs/interop/celery/requirements.txt";
    let missing = match find_program("python3", hint) {
        Err(why) => Some(why),
        Ok(python) => {
            let imports = std::process::Command::new(&python)
                .args(["-c", "import celery, redis"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            match imports {
                Ok(status) if status.success() => return Some(python),
                _ => Some(format!("Celery is not installed for python3 ({hint})")),
            }
        }
    };
    present(missing);
    None
}

/// `node` when BullMQ is installed under `interop/bullmq`, or why not.
pub fn bullmq_node() -> Option<PathBuf> {
    let hint = "npm ci --prefix crates/jobs/interop/bullmq";
    let missing = match find_program("node", hint) {
        Err(why) => Some(why),
        Ok(node) => {
            if interop_dir("bullmq")
                .join("node_modules/bullmq/package.json")
                .is_file()
            {
                return Some(node);
            }
            Some(format!("BullMQ is not installed ({hint})"))
        }
    };
    present(missing);
    None
}

/// A program of another language, running for one test. Dropping it kills it (SIGKILL via
/// `kill_on_drop`), so a failing test leaves no worker behind.
pub struct Peer {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Peer {
    /// Starts `command` and waits until a line of its output contains `ready`, failing with the
    /// output so far when it exits first or takes longer than [`PEER_WAIT`].
    pub async fn start(mut command: Command, ready: &str) -> anyhow::Result<Self> {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().context("Failed to start the peer")?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let (seen, mut seen_rx) = tokio::sync::watch::channel(false);
        let seen = Arc::new(seen);
        if let Some(out) = child.stdout.take() {
            collect(out, Arc::clone(&log), ready.to_owned(), Arc::clone(&seen));
        }
        if let Some(err) = child.stderr.take() {
            collect(err, Arc::clone(&log), ready.to_owned(), Arc::clone(&seen));
        }
        let mut peer = Self { child, log };
        let waiting = async {
            tokio::select! {
                r = seen_rx.wait_for(|ready| *ready) => r.map(|_| ()).map_err(anyhow::Error::from),
                status = peer.child.wait() => Err(anyhow::anyhow!("the peer exited first: {:?}", status?)),
            }
        };
        match tokio::time::timeout(PEER_WAIT, waiting).await {
            Ok(Ok(())) => Ok(peer),
            Ok(Err(e)) => Err(e.context(peer.output())),
            Err(_) => anyhow::bail!(
                "no {ready:?} within {PEER_WAIT:?}; output:\n{}",
                peer.output()
            ),
        }
    }

    /// Everything the peer printed so far.
    pub fn output(&self) -> String {
        self.log.lock().map(|l| l.join("\n")).unwrap_or_default()
    }
}

fn collect(
    stream: impl AsyncRead + Unpin + Send + 'static,
    log: Arc<Mutex<Vec<String>>>,
    ready: String,
    seen: Arc<tokio::sync::watch::Sender<bool>>,
) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains(&ready) {
                seen.send_replace(true);
            }
            if let Ok(mut log) = log.lock() {
                log.push(line);
            }
        }
    });
}

/// Runs a program to completion (bounded by [`PEER_WAIT`]) and returns its last stdout line as
/// JSON; fails with its stderr when it fails.
pub async fn run_json(mut command: Command) -> anyhow::Result<serde_json::Value> {
    command.kill_on_drop(true).stdin(Stdio::null());
    let output = tokio::time::timeout(PEER_WAIT, command.output())
        .await
        .map_err(|_| anyhow::anyhow!("the program did not finish within {PEER_WAIT:?}"))??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success(),
        "exited with {}; stdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).with_context(|| format!("not JSON: {last:?}"))
}

/// Deletes a Celery queue and its exchange (both named `queue`) when dropped, even when the test
/// failed midway. `Drop` cannot await: the deletion runs on a thread with its own runtime.
pub struct CeleryQueueCleanup {
    pub url: String,
    pub queue: String,
}

impl Drop for CeleryQueueCleanup {
    fn drop(&mut self) {
        let (url, queue) = (self.url.clone(), self.queue.clone());
        let deleting = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
                let Ok(connection) =
                    lapin::Connection::connect(&url, lapin::ConnectionProperties::default()).await
                else {
                    return;
                };
                if let Ok(channel) = connection.create_channel().await {
                    let _ = channel
                        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                        .await;
                    let _ = channel
                        .exchange_delete(queue.as_str().into(), ExchangeDeleteOptions::default())
                        .await;
                }
                let _ = connection.close(200, "test cleanup".into()).await;
            });
        });
        let _ = deleting.join();
    }
}
