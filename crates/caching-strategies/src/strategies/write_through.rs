//! Write-through: every write goes to the store *and* the cache before it is acknowledged, so
//! the cache always holds the latest acknowledged value. Reads are the cache-aside read path.
//!
//! ```text
//! write: store.update ─▶ cache.put_if_not_older ─▶ ack
//! ```
//!
//! Costs: every write pays both latencies, and values that are written but never read still take
//! cache space. The store goes first: if the cache step fails the write is still durable, and the
//! copy is at worst stale until its TTL (the other order could cache a write the store refused).
//! The put is versioned, so two concurrent writers cannot leave the older value in the cache.
//!
//! **With the cache unreachable, write-through refuses the write** (503 with `Retry-After`)
//! before it touches the store. Its whole promise is that a read sees the last acknowledged
//! write; a write that only the store saw cannot keep that promise on the other instances, so
//! acknowledging it would be a lie. Cache-aside makes the other choice: its writes go through and
//! the missed invalidation waits in the tier's repair journal. If the cache fails *between* the
//! store write and the put (the check passed a moment earlier), the write is already durable, so
//! it is acknowledged and the tier's journal owes the cache the newer version.

use async_trait::async_trait;

use crate::error::Error;
use crate::model::{Entry, Post, PostUpdate, TopPost, keys};
use crate::strategies::cache_aside::CacheAside;
use crate::strategies::invalidation::OnWrite;
use crate::strategies::{Deps, Strategy, like_in_store, validate};

pub struct WriteThrough {
    reads: CacheAside,
}

impl WriteThrough {
    pub fn new(deps: Deps) -> Self {
        Self {
            reads: CacheAside::new(deps, OnWrite::Update).versioned(),
        }
    }
}

#[async_trait]
impl Strategy for WriteThrough {
    fn name(&self) -> String {
        "write-through".to_owned()
    }

    async fn get_post(&self, id: i64) -> Result<Post, Error> {
        self.reads.read_post(id).await
    }

    async fn top_posts(&self) -> Result<Vec<TopPost>, Error> {
        self.reads.read_top().await
    }

    async fn update_post(&self, id: i64, update: PostUpdate) -> Result<Post, Error> {
        validate(&update)?;
        let deps = self.reads.deps();
        deps.tier.ensure_writable().await?;
        let now = deps.clock.now_ms();
        let post = deps
            .store
            .update_post(id, update, i64::try_from(now).unwrap_or(i64::MAX))
            .await?
            .ok_or(Error::NotFound(id))?;
        let key = keys::post(id);
        let (expires, ttl) = deps.expiry(deps.ttls.post, &key, now);
        if deps
            .tier
            .put_if_not_older(&key, Entry::post(post.clone(), expires), ttl)
            .await
            .is_err()
        {
            // Could not write the cache: make sure it does not keep serving the old value (the
            // tier has also journalled the put, and replays it before Redis is trusted again).
            let _ = deps.tier.delete(&key).await;
        }
        Ok(post)
    }

    async fn like(&self, id: i64, user_id: i64) -> Result<(), Error> {
        like_in_store(&self.reads.deps().store, id, user_id).await
    }
}
