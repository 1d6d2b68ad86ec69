//! A loopback TCP relay that counts the bytes a method puts on the wire.
//!
//! Each method in the demo talks through its own relay, so "bytes moved" is what crossed the
//! connection in both directions: request lines, every header, bodies, chunk framing, SSE
//! keep-alives. Counting bodies alone would flatter conditional polling, whose 304 saves the body
//! but not the headers around it. The relay adds one loopback hop to every method alike.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// A relay in front of `upstream`, counting as it copies. Dropping it closes every connection.
#[derive(Debug)]
pub struct Relay {
    pub addr: SocketAddr,
    bytes: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Relay {
    /// Listens on a free loopback port and forwards each connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let bytes = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(accept(listener, upstream, Arc::clone(&bytes)));
        Ok(Self { addr, bytes, task })
    }

    /// `http://ADDR` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Bytes copied so far, both directions.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // The accept task owns the pumps' JoinSet: aborting it drops the set, which aborts them.
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, upstream: SocketAddr, bytes: Arc<AtomicU64>) {
    let mut pumps = JoinSet::new();
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let Ok(server) = TcpStream::connect(upstream).await else {
            // The upstream is down (the outage): the client sees its connection closed.
            continue;
        };
        // Without NODELAY, Nagle's algorithm would hold small writes back and the relay itself
        // would add latency to every method.
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (client_read, client_write) = client.into_split();
        let (server_read, server_write) = server.into_split();
        pumps.spawn(pump(client_read, server_write, Arc::clone(&bytes)));
        pumps.spawn(pump(server_read, client_write, Arc::clone(&bytes)));
        // Reap finished pumps so a long run does not keep every connection's task around.
        while pumps.try_join_next().is_some() {}
    }
}

/// Copies one direction until either side closes, counting every byte.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, bytes: Arc<AtomicU64>) {
    let mut buffer = vec![0_u8; 16 * 1024];
    loop {
        match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                bytes.fetch_add(n as u64, Ordering::Relaxed);
                if to.write_all(&buffer[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown().await;
}
