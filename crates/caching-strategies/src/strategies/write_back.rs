//! Write-back (write-behind): a write updates the cache and is acknowledged at once; a background
//! flusher writes the dirty values to the store later, in batches.
//!
//! ```text
//! write: cache.put(v+1) ─▶ queue ─▶ ack            (microseconds: no store on the path)
//! later: flusher ─▶ one transaction with the latest value of every dirty post
//! ```
//!
//! What it buys: write latency off the store, and *write coalescing*: ten edits of a hot post
//! between two flushes become one row update. What it costs: until a flush, the only copy of an
//! acknowledged write is in the cache and this process's queue. Kill the process (the demo
//! really aborts the flusher task) and exactly the unflushed writes are gone; the store also
//! lags the cache, so anything reading the store directly (reports, other services) sees old
//! data. Use it for data whose loss is tolerable (view counters, last-seen timestamps), or put the
//! queue somewhere durable (a Redis stream, a log) — which is most of the way to a database.
//!
//! Simplifications, said plainly: the new version is computed from the cached copy without a
//! per-key lock, so two concurrent edits of one post can both produce version N+1 (production
//! would use `INCR` or compare-and-set); dirty entries get a long TTL so they cannot expire before
//! their flush, and are not shortened after it; likes go to the store directly.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::Error;
use crate::model::{Entry, Post, PostUpdate, TopPost, keys};
use crate::store::Store;
use crate::strategies::cache_aside::CacheAside;
use crate::strategies::invalidation::OnWrite;
use crate::strategies::{Deps, Strategy, like_in_store, validate};

/// How long a dirty entry lives in the cache: far longer than any flush interval, because until
/// the flush the cache *is* the only copy.
const DIRTY_TTL: Duration = Duration::from_secs(3600);

/// When the flusher writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushPolicy {
    /// Flush whatever is dirty this often.
    pub every: Duration,
    /// Flush early when this many distinct posts are dirty.
    pub max_batch: usize,
}

/// Counters the demo and tests read.
#[derive(Debug, Default)]
pub struct WriteBackStats {
    /// Writes acknowledged to callers.
    pub acked: AtomicU64,
    /// Acknowledged writes that a successful flush covered.
    pub flushed: AtomicU64,
    /// Flush transactions committed.
    pub batches: AtomicU64,
}

enum Command {
    Write(Post),
    Flush(oneshot::Sender<usize>),
}

pub struct WriteBack {
    reads: CacheAside,
    queue: mpsc::UnboundedSender<Command>,
    flusher: Mutex<Option<JoinHandle<()>>>,
    stats: Arc<WriteBackStats>,
}

impl WriteBack {
    /// Starts the flusher on the current runtime.
    pub fn spawn(deps: Deps, policy: FlushPolicy) -> Self {
        let (queue, commands) = mpsc::unbounded_channel();
        let stats = Arc::new(WriteBackStats::default());
        let flusher = tokio::spawn(flusher(
            deps.store.clone(),
            commands,
            policy,
            Arc::clone(&stats),
        ));
        Self {
            reads: CacheAside::new(deps, OnWrite::Update),
            queue,
            flusher: Mutex::new(Some(flusher)),
            stats,
        }
    }

    pub fn stats(&self) -> &WriteBackStats {
        &self.stats
    }

    /// Flushes now and waits; returns how many posts were written.
    pub async fn flush(&self) -> Result<usize, Error> {
        let (ack, done) = oneshot::channel();
        self.queue
            .send(Command::Flush(ack))
            .map_err(|_| flusher_gone())?;
        done.await.map_err(|_| flusher_gone())
    }

    /// Kills the flusher as a crash would: whatever it had not written is gone. Returns the
    /// number of acknowledged writes that never reached the store.
    pub fn abort(&self) -> u64 {
        if let Some(handle) = self.flusher.lock().ok().and_then(|mut h| h.take()) {
            handle.abort();
        }
        self.stats.acked.load(Ordering::SeqCst) - self.stats.flushed.load(Ordering::SeqCst)
    }
}

impl Drop for WriteBack {
    fn drop(&mut self) {
        if let Some(handle) = self.flusher.lock().ok().and_then(|mut h| h.take()) {
            handle.abort();
        }
    }
}

fn flusher_gone() -> Error {
    Error::Unexpected(anyhow::anyhow!("the write-back flusher has stopped"))
}

#[async_trait]
impl Strategy for WriteBack {
    fn name(&self) -> String {
        "write-back".to_owned()
    }

    async fn get_post(&self, id: i64) -> Result<Post, Error> {
        self.reads.read_post(id).await
    }

    async fn top_posts(&self) -> Result<Vec<TopPost>, Error> {
        self.reads.read_top().await
    }

    async fn update_post(&self, id: i64, update: PostUpdate) -> Result<Post, Error> {
        validate(&update)?;
        let current = self.reads.read_post(id).await?;
        let deps = self.reads.deps();
        let now = deps.clock.now_ms();
        let post = Post {
            id,
            title: update.title,
            body: update.body,
            version: current.version + 1,
            updated_at_ms: i64::try_from(now).unwrap_or(i64::MAX),
        };
        let expires = now.saturating_add(DIRTY_TTL.as_millis() as u64);
        // No cache, no acknowledgement: the cache is the only place this write will live.
        deps.tier
            .put(
                &keys::post(id),
                Entry::post(post.clone(), expires),
                DIRTY_TTL,
            )
            .await
            .map_err(|e| Error::CacheUnavailable(e.to_string()))?;
        self.queue
            .send(Command::Write(post.clone()))
            .map_err(|_| flusher_gone())?;
        self.stats.acked.fetch_add(1, Ordering::SeqCst);
        Ok(post)
    }

    async fn like(&self, id: i64, user_id: i64) -> Result<(), Error> {
        like_in_store(&self.reads.deps().store, id, user_id).await
    }
}

/// The background loop: collect writes (the newest version of each post wins), write them in one
/// transaction on a timer, when the batch is full, or when asked.
async fn flusher(
    store: Store,
    mut commands: mpsc::UnboundedReceiver<Command>,
    policy: FlushPolicy,
    stats: Arc<WriteBackStats>,
) {
    let mut dirty: HashMap<i64, Post> = HashMap::new();
    let mut writes_in_batch = 0u64;
    // The first tick one period from now (a plain `interval` fires at once, which would flush
    // a batch of one right after start-up).
    let mut tick =
        tokio::time::interval_at(tokio::time::Instant::now() + policy.every, policy.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Write(post)) => {
                    writes_in_batch += 1;
                    let newer = dirty.get(&post.id).is_none_or(|p| p.version < post.version);
                    if newer {
                        dirty.insert(post.id, post);
                    }
                    if dirty.len() >= policy.max_batch {
                        flush(&store, &mut dirty, &mut writes_in_batch, &stats).await;
                    }
                }
                Some(Command::Flush(ack)) => {
                    let written = flush(&store, &mut dirty, &mut writes_in_batch, &stats).await;
                    let _ = ack.send(written);
                }
                None => {
                    // Every sender is gone (the strategy was dropped): a clean shutdown flushes.
                    flush(&store, &mut dirty, &mut writes_in_batch, &stats).await;
                    return;
                }
            },
            _ = tick.tick() => {
                flush(&store, &mut dirty, &mut writes_in_batch, &stats).await;
            }
        }
    }
}

async fn flush(
    store: &Store,
    dirty: &mut HashMap<i64, Post>,
    writes_in_batch: &mut u64,
    stats: &WriteBackStats,
) -> usize {
    if dirty.is_empty() {
        return 0;
    }
    let batch: Vec<Post> = dirty.values().cloned().collect();
    let size = batch.len();
    match store.write_posts(batch).await {
        Ok(_) => {
            stats.flushed.fetch_add(*writes_in_batch, Ordering::SeqCst);
            stats.batches.fetch_add(1, Ordering::SeqCst);
            dirty.clear();
            *writes_in_batch = 0;
            size
        }
        Err(e) => {
            // Keep the batch: the next tick retries. The writes are still only in memory.
            tracing::error!(error = ?e, "write-back flush failed; retrying on the next tick");
            0
        }
    }
}
