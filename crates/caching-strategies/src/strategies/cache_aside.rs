//! Cache-aside (lazy loading): the application looks in the cache, and on a miss loads from the
//! store and puts the value back itself. The cache knows nothing about the store.
//!
//! ```text
//! read:  cache.get ─hit─▶ return
//!            └─miss─▶ store.get ─▶ cache.fill ─▶ return
//! write: store.update ─▶ cache.delete (invalidate)  or  cache.put (update on write)
//! ```
//!
//! Cheap to add to existing code and only caches what is read. Its costs: every miss is a full
//! store read, N concurrent misses are N store reads (no coalescing, see the stampede demo), and
//! the read-then-fill is not atomic. That last one is **the cache-aside race**:
//!
//! ```text
//! reader: miss ─▶ store.get (v1) ───────────────(slow)───────────────▶ cache.fill(v1)  ← stale!
//! writer:                        store.update (v2) ─▶ cache.delete
//! ```
//!
//! The delete happens *between* the reader's load and its fill, so the old value goes back and
//! stays until its TTL. [`CacheAside::versioned`] fixes it: the writer leaves a *tombstone* that
//! remembers version 2 instead of deleting, and the reader's fill is conditional ("only if what is
//! there is not newer"), done atomically by the tier (moka's per-key compute, a Lua script in
//! Redis). The stale fill is refused. [`CacheAside::pause_next_fill`] opens the race window on
//! demand so a test can reproduce it deterministically.

use std::sync::Mutex;

use async_trait::async_trait;
use tokio::sync::oneshot;

use crate::error::Error;
use crate::model::{CacheValue, Entry, Post, PostUpdate, TopPost, keys};
use crate::strategies::invalidation::OnWrite;
use crate::strategies::{Deps, Strategy, like_in_store, validate, wrong_kind};

/// A pause between a reader's store load and its cache fill: the race window, held open.
struct Pause {
    loaded: oneshot::Sender<()>,
    resume: oneshot::Receiver<()>,
}

/// Cache-aside over any tier.
pub struct CacheAside {
    deps: Deps,
    on_write: OnWrite,
    versioned: bool,
    pause: Mutex<Option<Pause>>,
}

impl CacheAside {
    pub fn new(deps: Deps, on_write: OnWrite) -> Self {
        Self {
            deps,
            on_write,
            versioned: false,
            pause: Mutex::new(None),
        }
    }

    /// The race fix: writers leave versioned tombstones (or versioned values) and fills never
    /// replace a newer version.
    pub fn versioned(mut self) -> Self {
        self.versioned = true;
        self
    }

    pub fn deps(&self) -> &Deps {
        &self.deps
    }

    /// Makes the next post fill stop after its store load: `loaded` fires when the reader holds
    /// the value it read, and the reader waits for `resume` before it fills the cache.
    /// Returns `(loaded, resume)`.
    pub fn pause_next_fill(&self) -> (oneshot::Receiver<()>, oneshot::Sender<()>) {
        let (loaded_tx, loaded_rx) = oneshot::channel();
        let (resume_tx, resume_rx) = oneshot::channel();
        if let Ok(mut slot) = self.pause.lock() {
            *slot = Some(Pause {
                loaded: loaded_tx,
                resume: resume_rx,
            });
        }
        (loaded_rx, resume_tx)
    }

    async fn race_window(&self) {
        let pause = self.pause.lock().ok().and_then(|mut slot| slot.take());
        if let Some(pause) = pause {
            let _ = pause.loaded.send(());
            let _ = pause.resume.await;
        }
    }
}

#[async_trait]
impl crate::strategies::Strategy for CacheAside {
    fn name(&self) -> String {
        match (self.on_write, self.versioned) {
            (OnWrite::Invalidate, false) => "cache-aside".to_owned(),
            (OnWrite::Update, false) => "cache-aside-update".to_owned(),
            (OnWrite::Invalidate, true) => "cache-aside-versioned".to_owned(),
            (OnWrite::Update, true) => "cache-aside-update-versioned".to_owned(),
        }
    }

    async fn get_post(&self, id: i64) -> Result<Post, Error> {
        let key = keys::post(id);
        let now = self.deps.clock.now_ms();
        match self.deps.cached(&key, now).await {
            Some(CacheValue::Post(post)) => return Ok(post),
            Some(_) => return Err(wrong_kind(&key)),
            None => {}
        }
        let post = self.deps.load_post(id).await?;
        self.race_window().await;
        let (expires, ttl) = self.deps.expiry(self.deps.ttls.post, &key, now);
        let entry = Entry::post(post.clone(), expires);
        // A failed fill only costs the next reader a miss; the tier has logged why.
        if self.versioned {
            let _ = self.deps.tier.fill_if_not_older(&key, entry, ttl).await;
        } else {
            let _ = self.deps.tier.fill(&key, entry, ttl).await;
        }
        Ok(post)
    }

    async fn top_posts(&self) -> Result<Vec<TopPost>, Error> {
        let key = keys::TOP;
        let now = self.deps.clock.now_ms();
        match self.deps.cached(key, now).await {
            Some(CacheValue::Top(top)) => return Ok(top),
            Some(_) => return Err(wrong_kind(key)),
            None => {}
        }
        let top = self.deps.store.top_posts().await?;
        let (expires, ttl) = self.deps.expiry(self.deps.ttls.top, key, now);
        let _ = self
            .deps
            .tier
            .fill(key, Entry::top(top.clone(), expires), ttl)
            .await;
        Ok(top)
    }

    async fn update_post(&self, id: i64, update: PostUpdate) -> Result<Post, Error> {
        validate(&update)?;
        let now = self.deps.clock.now_ms();
        let post = self
            .deps
            .store
            .update_post(id, update, i64::try_from(now).unwrap_or(i64::MAX))
            .await?
            .ok_or(Error::NotFound(id))?;
        let key = keys::post(id);
        let (expires, ttl) = self.deps.expiry(self.deps.ttls.post, &key, now);
        let tier = &self.deps.tier;
        // The store has the write; a failed cache step leaves a stale copy until its TTL, which
        // is why TTLs stay finite even for "invalidated" data. Production would retry or queue it.
        let _ = match (self.on_write, self.versioned) {
            (OnWrite::Invalidate, false) => tier.delete(&key).await,
            (OnWrite::Invalidate, true) => {
                tier.put(&key, Entry::tombstone(post.version, expires), ttl)
                    .await
            }
            (OnWrite::Update, false) => {
                tier.put(&key, Entry::post(post.clone(), expires), ttl)
                    .await
            }
            (OnWrite::Update, true) => tier
                .put_if_not_older(&key, Entry::post(post.clone(), expires), ttl)
                .await
                .map(drop),
        };
        Ok(post)
    }

    async fn like(&self, id: i64, user_id: i64) -> Result<(), Error> {
        like_in_store(&self.deps.store, id, user_id).await
    }
}

impl CacheAside {
    /// `Strategy::get_post`, for strategies that reuse this read path.
    pub(crate) async fn read_post(&self, id: i64) -> Result<Post, Error> {
        Strategy::get_post(self, id).await
    }

    pub(crate) async fn read_top(&self) -> Result<Vec<TopPost>, Error> {
        Strategy::top_posts(self).await
    }
}
