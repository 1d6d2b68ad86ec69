//! Two tiers: moka in front of Redis, with cross-instance invalidation over Redis pub/sub.
//!
//! Reads try the local copy first (nanoseconds), then Redis (one round trip), then the store.
//! The catch is the local copy: a write on instance A updates Redis and A's moka, but instance B's
//! moka still holds the old value. Two defences, both here:
//! - a short local TTL bounds how long B can serve the old value, even if a message is lost;
//! - a publish on every write tells every other instance to evict the key *now*.
//!
//! Redis pub/sub is fire-and-forget: `PUBLISH` hands the message to the subscribers connected at
//! that instant and keeps nothing. An instance that is reconnecting, or whose subscription
//! connection dropped, never sees it, and nothing tells the publisher (the subscriber count it
//! gets back says who was there, not who acted). That is why the local TTL stays short even
//! with pub/sub: it is the bound that holds when a message is lost; the message only makes the
//! common case faster. Production systems that need more use a stream with offsets (Redis
//! Streams, Kafka, so a reconnecting instance reads what it missed) or version checks on read.
//!
//! Writes go local copy, then Redis, then the announcement, in that order: this instance's next
//! read sees its own write at once, and another instance that evicts on the message and reloads
//! finds Redis already changed. Announcing first would let it reload the old value from Redis
//! and keep it for a whole local TTL.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use futures_util::StreamExt as _;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::error::Error;
use crate::model::Entry;
use crate::tiers::Tier;
use crate::tiers::moka::MokaTier;
use crate::tiers::redis::RedisTier;

/// The cross-instance invalidation channel: where to publish, and who we are.
struct Bus {
    channel: String,
    /// Messages are `instance|key`; an instance ignores its own (a subscriber receives its own
    /// publishes too), because it already updated its local copy and evicting it would only
    /// cost it a miss.
    instance: String,
    evicted: broadcast::Sender<String>,
    listener: JoinHandle<()>,
}

/// moka in front of Redis.
pub struct TwoTier {
    local: MokaTier,
    remote: RedisTier,
    local_ttl: Duration,
    bus: Option<Bus>,
}

impl std::fmt::Debug for TwoTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwoTier")
            .field("local_ttl", &self.local_ttl)
            .field("pubsub", &self.bus.is_some())
            .finish()
    }
}

impl Drop for TwoTier {
    fn drop(&mut self) {
        if let Some(bus) = &self.bus {
            bus.listener.abort();
        }
    }
}

impl TwoTier {
    /// Local copies only bounded by `local_ttl`; no messages between instances.
    pub fn without_pubsub(local: MokaTier, remote: RedisTier, local_ttl: Duration) -> Self {
        Self {
            local,
            remote,
            local_ttl,
            bus: None,
        }
    }

    /// Subscribes to `channel` on the Redis at `redis_url` before returning, so no message
    /// published after this call is missed. (Subscribing in the background would leave a window
    /// at start-up in which another instance's write goes unheard.) The subscription has its own
    /// connection, outside the pool: a subscribed connection can do nothing else.
    pub async fn with_pubsub(
        local: MokaTier,
        remote: RedisTier,
        local_ttl: Duration,
        redis_url: &str,
        channel: &str,
    ) -> anyhow::Result<Self> {
        let client = redis::Client::open(redis_url).context("Failed to parse REDIS_URL")?;
        let mut pubsub = client
            .get_async_pubsub()
            .await
            .context("Failed to open the invalidation subscription")?;
        pubsub
            .subscribe(channel)
            .await
            .context("Failed to subscribe to the invalidation channel")?;
        let instance = uuid::Uuid::new_v4().simple().to_string();
        // For tests and the demo to watch evictions; a slow watcher loses old notices, never
        // blocks the listener.
        let (evicted, _) = broadcast::channel(1024);
        let listener = {
            let (local, me, evicted) = (local.clone(), instance.clone(), evicted.clone());
            let mut messages = pubsub.into_on_message();
            tokio::spawn(async move {
                while let Some(message) = messages.next().await {
                    let Ok(payload) = message.get_payload::<String>() else {
                        continue;
                    };
                    let Some((from, key)) = payload.split_once('|') else {
                        continue;
                    };
                    if from != me {
                        local.invalidate(key).await;
                        // Nobody listening is fine: the receiver is for tests and the demo.
                        let _ = evicted.send(key.to_owned());
                    }
                }
                // The connection is gone and with it every message until a resubscribe. This
                // lesson stops here and relies on the local TTL; production would reconnect
                // and clear the local cache on reconnect, since it cannot know what it missed.
                tracing::warn!(
                    "invalidation subscription ended: local copies now live until their TTL"
                );
            })
        };
        Ok(Self {
            local,
            remote,
            local_ttl,
            bus: Some(Bus {
                channel: channel.to_owned(),
                instance,
                evicted,
                listener,
            }),
        })
    }

    /// Keys this instance evicted because another instance wrote them (`None` without pub/sub).
    pub fn evictions(&self) -> Option<broadcast::Receiver<String>> {
        self.bus.as_ref().map(|b| b.evicted.subscribe())
    }

    /// The local tier (the demo looks at it directly).
    pub fn local(&self) -> &MokaTier {
        &self.local
    }

    async fn announce(&self, key: &str) {
        let Some(bus) = &self.bus else { return };
        // A lost announcement joins the remote tier's repair journal and goes out when Redis
        // answers again; until then the local TTL bounds how stale another instance can be.
        let _ = self
            .remote
            .announce(key, &bus.channel, format!("{}|{key}", bus.instance))
            .await;
    }

    fn local_ttl(&self, ttl: Duration) -> Duration {
        ttl.min(self.local_ttl)
    }
}

#[async_trait]
impl Tier for TwoTier {
    fn name(&self) -> &'static str {
        "two-tier"
    }

    async fn get(&self, key: &str) -> Result<Option<Arc<Entry>>, Error> {
        if let Some(entry) = self.local.get(key).await? {
            return Ok(Some(entry));
        }
        let remote = self.remote.get(key).await?;
        // The local copy of a Redis hit lives for the local TTL, not the entry's remaining TTL:
        // the local TTL is the staleness bound this tier promises when a message is lost.
        if let Some(entry) = &remote {
            self.local
                .fill(key, Entry::clone(entry), self.local_ttl)
                .await?;
        }
        Ok(remote)
    }

    async fn fill(&self, key: &str, entry: Entry, ttl: Duration) -> Result<(), Error> {
        self.local
            .fill(key, entry.clone(), self.local_ttl(ttl))
            .await?;
        self.remote.fill(key, entry, ttl).await
    }

    async fn fill_if_not_older(
        &self,
        key: &str,
        entry: Entry,
        ttl: Duration,
    ) -> Result<bool, Error> {
        // Redis decides (it is shared); the local copy follows only what Redis accepted.
        let stored = self
            .remote
            .fill_if_not_older(key, entry.clone(), ttl)
            .await?;
        if stored {
            self.local
                .fill_if_not_older(key, entry, self.local_ttl(ttl))
                .await?;
        }
        Ok(stored)
    }

    async fn put(&self, key: &str, entry: Entry, ttl: Duration) -> Result<(), Error> {
        self.local
            .put(key, entry.clone(), self.local_ttl(ttl))
            .await?;
        let remote = self.remote.put(key, entry, ttl).await;
        // Announced even when Redis refused the put: the other instances' local copies are old
        // either way (a lost announcement waits in the remote tier's journal).
        self.announce(key).await;
        remote
    }

    async fn put_if_not_older(
        &self,
        key: &str,
        entry: Entry,
        ttl: Duration,
    ) -> Result<bool, Error> {
        let stored = match self.remote.put_if_not_older(key, entry.clone(), ttl).await {
            Ok(stored) => stored,
            Err(e) => {
                // Redis refused the write: at least do not keep serving the old local copy, and
                // tell the other instances as soon as Redis can carry the message.
                self.local.delete(key).await?;
                self.announce(key).await;
                return Err(e);
            }
        };
        if stored {
            self.local
                .put_if_not_older(key, entry, self.local_ttl(ttl))
                .await?;
            self.announce(key).await;
        }
        Ok(stored)
    }

    async fn delete(&self, key: &str) -> Result<(), Error> {
        self.local.delete(key).await?;
        let remote = self.remote.delete(key).await;
        self.announce(key).await;
        remote
    }

    async fn ensure_writable(&self) -> Result<(), Error> {
        self.remote.ensure_writable().await
    }
}
