//! A link that can be cut: a loopback TCP forwarder in front of a real server. Pointing a client
//! at it and then cutting it is how the demo and the tests lose Redis *while the service runs*
//! without touching the Redis everyone else shares.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// Forwards every connection on `addr` to `target` until [`Link::cut`].
pub struct Link {
    pub addr: SocketAddr,
    accept: tokio::task::JoinHandle<()>,
}

impl Link {
    /// Starts forwarding from a fresh `127.0.0.1` port to `target` (`host:port`).
    pub async fn open(target: String) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let accept = tokio::spawn(async move {
            // The connections live in this set: aborting the accept task drops the set, which
            // aborts every forwarded connection with it, so "cut" means cut.
            let mut connections = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Ok(Self { addr, accept })
    }

    /// A link in front of the Redis server that `redis_url` names.
    pub async fn to_redis(redis_url: &str) -> anyhow::Result<Self> {
        let url = url::Url::parse(redis_url)?;
        let host = url.host_str().unwrap_or("127.0.0.1");
        let target = format!("{host}:{}", url.port().unwrap_or(6379));
        Ok(Self::open(target).await?)
    }

    /// A Redis URL that goes through this link.
    pub fn redis_url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Drops the listener and every open connection: the server is gone, as far as clients know.
    pub fn cut(&self) {
        self.accept.abort();
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
