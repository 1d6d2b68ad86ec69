//! A link that can be cut and mended: a loopback TCP forwarder in front of a real server.
//! Pointing a client at it and then cutting it is how the demo and the tests lose Redis *while
//! the service runs* without touching the Redis everyone else shares, and mending it is Redis
//! coming back with its data intact (a healed network partition, a failover back).

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Forwards every connection on `addr` to `target` while the link is up.
pub struct Link {
    pub addr: SocketAddr,
    up: watch::Sender<bool>,
    accept: tokio::task::JoinHandle<()>,
}

impl Link {
    /// Starts forwarding from a fresh `127.0.0.1` port to `target` (`host:port`).
    pub async fn open(target: String) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (up, watch_up) = watch::channel(true);
        let accept = tokio::spawn(async move {
            // The connections live in this set: aborting the accept task drops the set, which
            // aborts every forwarded connection with it.
            let mut connections = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                while connections.try_join_next().is_some() {}
                // While cut, a new connection is closed at once: the client sees a reset, as
                // it would from a host that refuses it, and fails fast instead of hanging.
                if !*watch_up.borrow() {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let mut cut = watch_up.clone();
                connections.spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    // Forward until either side closes or the link is cut; a cut drops both
                    // sockets, so an established connection dies with the link.
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Ok(Self { addr, up, accept })
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

    /// Drops every open connection and refuses new ones: the server is gone, as far as clients
    /// know, while it keeps its data.
    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    /// Forwards again: the server is back, with whatever it held when the link was cut.
    pub fn mend(&self) {
        self.up.send_replace(true);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
