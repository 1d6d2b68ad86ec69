//! Correctness: stale reads under a concurrent writer, top posts after a like, write-back on a
//! real abort, and the cache-aside race forced open.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use support::narrate::Narrator;
use support::report::{Chart, Table, Unit};

use super::{Bench, update};
use crate::app::{StrategyKind, TierKind};
use crate::strategies::Strategy;
use crate::strategies::cache_aside::CacheAside;
use crate::strategies::invalidation::OnWrite;
use crate::strategies::no_cache::{self, NoCache};
use crate::strategies::write_back::{FlushPolicy, WriteBack};

/// Acknowledged write-back edits before the flush, and after it (then the abort).
const EDITS_BEFORE_FLUSH: u64 = 30;
const EDITS_AFTER_FLUSH: u64 = 20;
/// How many posts the write-back edits cycle through.
const WRITE_BACK_POSTS: i64 = 25;

/// Stale reads of one strategy on one tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaleReads {
    pub tier: TierKind,
    pub strategy: StrategyKind,
    pub reads: u64,
    pub stale: u64,
}

/// Top posts before and after a like of the top post (`strategy` `None` is no-cache).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopAfterLike {
    pub strategy: Option<StrategyKind>,
    pub likes_before: i64,
    pub likes_after: i64,
}

impl TopAfterLike {
    pub fn fresh(&self) -> bool {
        self.likes_after > self.likes_before
    }
}

/// Write-back with its flusher really aborted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriteBackAbort {
    pub acknowledged: u64,
    pub flushed: u64,
    /// Acknowledged writes no flush covered when the flusher died.
    pub lost: u64,
    /// Posts whose stored version is older than the last one acknowledged.
    pub posts_behind: u64,
}

/// The forced race on one tier, plain or versioned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RaceRow {
    pub tier: TierKind,
    pub versioned: bool,
    pub reader_loaded: i64,
    pub writer_acknowledged: i64,
    pub cache_serves: i64,
}

impl RaceRow {
    pub fn stale(&self) -> bool {
        self.cache_serves < self.writer_acknowledged
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorrectnessFigures {
    pub writes_per_post: u64,
    pub stale_reads: Vec<StaleReads>,
    pub top_after_like: Vec<TopAfterLike>,
    pub write_back: WriteBackAbort,
    pub race: Vec<RaceRow>,
}

impl CorrectnessFigures {
    /// Whether plain cache-aside served a value older than the write on some tier.
    pub fn race_stale(&self) -> bool {
        self.race.iter().any(|r| !r.versioned && r.stale())
    }

    /// Whether the versioned fill left every tier fresh.
    pub fn race_fixed(&self) -> bool {
        self.race.iter().filter(|r| r.versioned).all(|r| !r.stale())
    }
}

pub async fn run(n: &mut Narrator, b: &Bench) -> anyhow::Result<CorrectnessFigures> {
    n.section("Correctness");
    let writes = if b.quick { 5 } else { 40 };
    let stale_reads = stale_reads(n, b, writes).await?;
    let top_after_like = top_after_like(n, b).await?;
    let write_back = write_back_abort(n, b).await?;
    let race = race(n, b).await?;
    let figures = CorrectnessFigures {
        writes_per_post: writes,
        stale_reads,
        top_after_like,
        write_back,
        race,
    };
    n.figures(&figures)?;
    Ok(figures)
}

async fn stale_reads(n: &mut Narrator, b: &Bench, writes: u64) -> anyhow::Result<Vec<StaleReads>> {
    n.say(&format!(
        "Stale reads: one writer updates a post {writes} times while 4 readers read it as fast as \
         they can; a read is stale when it returns a version older than a write that had already \
         been acknowledged when the read began. On two-tier, plain cache-aside has a second race \
         window: a reader that fetched the old value from Redis refills its local moka after the \
         writer's delete, and that copy lives for the local TTL."
    ));
    let mut table = Table::new("strategy / tier")
        .column("reads", Unit::Count)
        .column("stale reads", Unit::Count)
        .chart(
            Chart::bars()
                .of(&["stale reads"])
                .titled("stale reads under a concurrent writer"),
        );
    let mut out = Vec::new();
    for kind in b.kinds() {
        for strategy_kind in StrategyKind::ALL {
            let strategy = b.strategy(kind, strategy_kind, "stale reads").await?;
            let (reads, stale) = count_stale_reads(&strategy, b.ids.one()?, writes).await?;
            table.row(
                format!("{} / {}", kind.name(), strategy_kind.name()),
                [reads.into(), stale.into()],
            );
            out.push(StaleReads {
                tier: kind,
                strategy: strategy_kind,
                reads,
                stale,
            });
        }
    }
    n.table(table);
    Ok(out)
}

/// Likes never invalidate top posts (every like would), so a cached list is stale until its TTL.
async fn top_after_like(n: &mut Narrator, b: &Bench) -> anyhow::Result<Vec<TopAfterLike>> {
    n.say(&format!(
        "Top posts after a like: no strategy here invalidates the list on a like (that would make \
         it uncacheable), so a cached list is stale until its {} s TTL; only no-cache shows the like.",
        b.config.ttls.top.base.as_secs()
    ));
    let mut table = Table::new("strategy")
        .column("likes of #1 before", Unit::Count)
        .column("likes of #1 after a like", Unit::Count)
        .column("top posts", Unit::Text);
    let rows: [(Option<StrategyKind>, Arc<dyn Strategy>); 2] = [
        (
            None,
            Arc::new(NoCache::new(b.store.clone(), Arc::clone(&b.clock))),
        ),
        (
            Some(StrategyKind::CacheAside),
            b.strategy(TierKind::Moka, StrategyKind::CacheAside, "top after like")
                .await?,
        ),
    ];
    let mut out = Vec::new();
    for (strategy_kind, strategy) in rows {
        let before = strategy.top_posts().await?;
        // The top post on purpose: it is the row a reader of the list looks at.
        let (id, likes_before) = before.first().map_or((1, 0), |p| (p.id, p.likes));
        strategy.like(id, 1).await?;
        let after = strategy.top_posts().await?;
        let likes_after = after.iter().find(|p| p.id == id).map_or(0, |p| p.likes);
        let row = TopAfterLike {
            strategy: strategy_kind,
            likes_before,
            likes_after,
        };
        let label = match strategy_kind {
            None => no_cache::NAME.to_owned(),
            Some(s) => format!("{} / {}", TierKind::Moka.name(), s.name()),
        };
        let verdict = if row.fresh() {
            "fresh"
        } else {
            "stale until TTL"
        };
        table.row(
            label,
            [likes_before.into(), likes_after.into(), verdict.into()],
        );
        out.push(row);
    }
    n.table(table);
    Ok(out)
}

/// One writer, four readers, one post: how many reads saw a version older than an acknowledged write.
async fn count_stale_reads(
    strategy: &Arc<dyn Strategy>,
    id: i64,
    writes: u64,
) -> anyhow::Result<(u64, u64)> {
    strategy.get_post(id).await?;
    let acked = Arc::new(AtomicI64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let stale = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    for _ in 0..4 {
        let (strategy, acked, done, reads, stale) = (
            Arc::clone(strategy),
            Arc::clone(&acked),
            Arc::clone(&done),
            Arc::clone(&reads),
            Arc::clone(&stale),
        );
        readers.push(tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                let floor = acked.load(Ordering::SeqCst);
                if let Ok(post) = strategy.get_post(id).await {
                    reads.fetch_add(1, Ordering::Relaxed);
                    if post.version < floor {
                        stale.fetch_add(1, Ordering::Relaxed);
                    }
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    for i in 0..writes {
        let post = strategy.update_post(id, update(i)).await?;
        acked.fetch_max(post.version, Ordering::SeqCst);
        tokio::task::yield_now().await;
    }
    done.store(true, Ordering::SeqCst);
    for reader in readers {
        reader.await.context("a reader task failed")?;
    }
    Ok((reads.load(Ordering::Relaxed), stale.load(Ordering::Relaxed)))
}

/// Write-back with a real abort: acknowledged writes, one flush, more writes, then the flusher
/// task is killed. The loss is counted by the strategy and checked against the store.
async fn write_back_abort(n: &mut Narrator, b: &Bench) -> anyhow::Result<WriteBackAbort> {
    n.say(&format!(
        "Write-back, killed: {EDITS_BEFORE_FLUSH} acknowledged edits, a flush, \
         {EDITS_AFTER_FLUSH} more edits, then the flusher task is aborted (as a crash would end \
         it) before its next tick. The store is then read back."
    ));
    let policy = FlushPolicy {
        every: Duration::from_secs(3600),
        max_batch: 10_000,
    };
    let strategy = WriteBack::spawn(
        b.deps(b.tier(TierKind::Moka, "write-back abort").await?),
        policy,
    );
    let posts = b.ids.take(WRITE_BACK_POSTS)?;
    let mut last_acked: HashMap<i64, i64> = HashMap::new();
    for i in 0..EDITS_BEFORE_FLUSH + EDITS_AFTER_FLUSH {
        if i == EDITS_BEFORE_FLUSH {
            strategy.flush().await?;
        }
        let id = posts.start + i64::try_from(i).unwrap_or(0) % WRITE_BACK_POSTS;
        let post = strategy.update_post(id, update(i)).await?;
        last_acked.insert(id, post.version);
    }
    let lost = strategy.abort();
    let mut posts_behind = 0;
    for (id, version) in &last_acked {
        let stored = b.store.get_post(*id).await?.map_or(0, |p| p.version);
        if stored < *version {
            posts_behind += 1;
        }
    }
    let stats = strategy.stats();
    let figures = WriteBackAbort {
        acknowledged: stats.acked.load(Ordering::SeqCst),
        flushed: stats.flushed.load(Ordering::SeqCst),
        lost,
        posts_behind,
    };
    let mut table = Table::new("write-back")
        .column("acknowledged", Unit::Count)
        .column("flushed", Unit::Count)
        .column("lost on abort", Unit::Count)
        .column("posts behind in store", Unit::Count)
        .chart(
            Chart::bars()
                .of(&["acknowledged", "flushed", "lost on abort"])
                .titled("write-back: acknowledged, flushed and lost writes"),
        );
    table.row(
        "flush, then abort",
        [
            figures.acknowledged.into(),
            figures.flushed.into(),
            figures.lost.into(),
            figures.posts_behind.into(),
        ],
    );
    n.table(table);
    Ok(figures)
}

/// The cache-aside race, forced with a pause between a reader's load and its fill.
async fn race(n: &mut Narrator, b: &Bench) -> anyhow::Result<Vec<RaceRow>> {
    n.say(
        "The cache-aside race, forced: a reader loads version N and is held before it fills the \
         cache; a writer updates to N+1 and invalidates; the reader resumes and fills. Plain \
         cache-aside keeps N until the TTL; the versioned fix (a tombstone plus a version-checked \
         fill) refuses it.",
    );
    let mut table = Table::new("variant / tier")
        .column("reader loaded", Unit::Text)
        .column("writer acknowledged", Unit::Text)
        .column("cache serves", Unit::Text)
        .column("verdict", Unit::Text);
    let mut out = Vec::new();
    for kind in b.kinds() {
        for versioned in [false, true] {
            let id = b.ids.one()?;
            let variant = if versioned {
                "versioned fix"
            } else {
                "plain cache-aside"
            };
            let tier = b.tier(kind, &format!("race {variant}")).await?;
            let plain = CacheAside::new(b.deps(tier), OnWrite::Invalidate);
            let strategy = Arc::new(if versioned { plain.versioned() } else { plain });
            let (loaded, resume) = strategy.pause_next_fill();
            let reader = {
                let strategy = Arc::clone(&strategy);
                tokio::spawn(async move { strategy.get_post(id).await })
            };
            loaded.await.context("the reader never loaded")?;
            let written = strategy.update_post(id, update(0)).await?;
            let _ = resume.send(());
            let read = reader.await.context("the reader task failed")??;
            let cached = strategy.get_post(id).await?;
            let row = RaceRow {
                tier: kind,
                versioned,
                reader_loaded: read.version,
                writer_acknowledged: written.version,
                cache_serves: cached.version,
            };
            table.row(
                format!("{variant} / {}", kind.name()),
                [
                    format!("v{}", row.reader_loaded).into(),
                    format!("v{}", row.writer_acknowledged).into(),
                    format!("v{}", row.cache_serves).into(),
                    (if row.stale() {
                        "stale until TTL"
                    } else {
                        "fresh"
                    })
                    .into(),
                ],
            );
            out.push(row);
        }
    }
    n.table(table);
    Ok(out)
}
