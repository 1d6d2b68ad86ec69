//! Fan-out on write or on read: who pays for a home feed, the author or the reader?
//!
//! The same Redis, the same data, two layouts. On write, a post is copied into every follower's
//! timeline, so a celebrity's post costs one insert per follower and a feed is one range read.
//! On read, a post is written once, and every feed merges the latest posts of everyone the
//! reader follows. The section times three things on both: a post by the most-followed author,
//! a post by an author with a median following, and home feeds read user after user.
//!
//! The posts it creates are taken back afterwards ([`KeyValueStore::take_back`]), so no later
//! section sees them, and they are dated before the first seeded post. That is so they sort last
//! everywhere: in a timeline already at its cap the trim removes the demo's post itself instead
//! of evicting a seeded one, so taking them back has no evicted entries to restore (a real post
//! evicts the oldest entry; the work, one insert and one trim per follower, is the same).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use support::Measurement;
use support::measure::{Plan, measure};
use support::narrate::Narrator;
use support::report::{Chart, Table, Unit, format_number, format_ratio};

use crate::key_value::{Footprint, KeyValueStore};
use crate::model::{NewPost, PostId, UserId};
use crate::seed::{self, Dataset};
use crate::store::{SocialStore, StoreError};

pub const TITLE: &str = "Fan-out on write or on read";
/// The feed page the section reads.
const FEED_LIMIT: usize = 20;
/// Within this factor either way, two timings are "about the same" in the sentence.
const SAME: f64 = 1.1;

/// The median and the tail of one operation, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Cost {
    pub p50_us: f64,
    pub p99_us: f64,
}

impl From<&Measurement> for Cost {
    fn from(m: &Measurement) -> Self {
        Self {
            p50_us: m.p50_us(),
            p99_us: m.p99_us(),
        }
    }
}

/// One strategy's three timings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StrategyCosts {
    pub celebrity_post: Cost,
    pub median_post: Cost,
    pub feed: Cost,
}

/// What the section measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FanOutFigures {
    /// The most-followed author, and how many followers each of their posts is copied to.
    pub celebrity: UserId,
    pub celebrity_followers: u64,
    /// An author with the median number of followers (among authors with at least one).
    pub median_author: UserId,
    pub median_author_followers: u64,
    pub on_write: StrategyCosts,
    pub on_read: StrategyCosts,
    /// What fan-out on write keeps for the feeds.
    pub timelines: Footprint,
}

impl FanOutFigures {
    /// The celebrity's post on write over on read, at the median (above 1: on write is slower).
    pub fn celebrity_ratio(&self) -> f64 {
        ratio(
            self.on_write.celebrity_post.p50_us,
            self.on_read.celebrity_post.p50_us,
        )
    }

    /// The median author's post on write over on read, at the median.
    pub fn median_ratio(&self) -> f64 {
        ratio(
            self.on_write.median_post.p50_us,
            self.on_read.median_post.p50_us,
        )
    }

    /// The feed on write over on read, at the median (below 1: on write is faster).
    pub fn feed_ratio(&self) -> f64 {
        ratio(self.on_write.feed.p50_us, self.on_read.feed.p50_us)
    }

    /// The "what you just saw" sentence, read off the figures: each clause turns around when
    /// its figure does.
    pub fn sentence(&self) -> String {
        format!(
            "What you just saw: fan-out on write made the celebrity's post (copied to {} \
             followers) {}, a median author's post (to {}) {}, and the home feed {}. The fast \
             feed is also paid for in memory: {} post ids in {} timelines, {} MB.",
            format_number(self.celebrity_followers as f64),
            compared(self.celebrity_ratio(), "to create"),
            format_number(self.median_author_followers as f64),
            compared(self.median_ratio(), "to create"),
            compared(self.feed_ratio(), "to read"),
            format_number(self.timelines.entries as f64),
            format_number(self.timelines.timelines as f64),
            format_number(self.timelines.bytes as f64 / 1e6),
        )
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    a / b.max(1e-9)
}

/// "12.5× slower to create", "3.10× faster to read", "about as fast to read".
fn compared(ratio: f64, what: &str) -> String {
    if ratio >= SAME {
        format!("{} slower {what}", format_ratio(ratio))
    } else if ratio <= 1.0 / SAME {
        format!("{} faster {what}", format_ratio(1.0 / ratio))
    } else {
        format!("about as fast {what}")
    }
}

/// Runs the section on the two stores (`write` fans out on write, `read` on read), both loaded
/// with `data`.
pub async fn run(
    n: &mut Narrator,
    write: &KeyValueStore,
    read: &KeyValueStore,
    data: &Dataset,
    quick: bool,
) -> anyhow::Result<FanOutFigures> {
    n.section(TITLE);
    let followers = follower_counts(data);
    let (celebrity, celebrity_followers) = followers
        .iter()
        .max_by_key(|(user, count)| (**count, -**user))
        .map(|(u, c)| (*u, *c))
        .ok_or_else(|| anyhow::anyhow!("the data set has no follows"))?;
    let (median_author, median_author_followers) = median_author(data, &followers)?;
    n.say(&format!(
        "Redis twice, with the same data: fan-out on write copies each post into every \
         follower's timeline (capped at {} posts); fan-out on read stores it once and merges a \
         feed from the latest posts of everyone the reader follows. Timed on both: a post by \
         user {celebrity}, the most followed ({} followers), a post by user {median_author}, an \
         author with a median following ({}), and home feeds of {FEED_LIMIT} posts, read for \
         one user after another.",
        format_number(crate::key_value::TIMELINE_CAP as f64),
        format_number(celebrity_followers as f64),
        format_number(median_author_followers as f64),
    ));

    // The strategy moves the work, never the answer: both give the same feed.
    let sample = 1 + data.sizes.users / 2;
    anyhow::ensure!(
        write.home_feed(sample, FEED_LIMIT).await? == read.home_feed(sample, FEED_LIMIT).await?,
        "the two strategies disagree about user {sample}'s feed"
    );

    let writes = Plan::iterations(200)
        .warmup(10)
        .budget(Duration::from_millis(1_500))
        .scaled_for(quick);
    let reads = Plan::iterations(2_000)
        .warmup(50)
        .budget(Duration::from_millis(700))
        .scaled_for(quick);
    let users = data.sizes.users;
    let mut costs = Vec::new();
    for store in [write, read] {
        // Feeds first, while the data is exactly as loaded.
        let feed = measure(reads, |i| async move {
            let user = 1 + (i as i64).wrapping_mul(7_919).rem_euclid(users);
            store.home_feed(user, FEED_LIMIT).await.map(drop)
        })
        .await;
        let celebrity_post = posts_by(store, celebrity, writes).await?;
        let median_post = posts_by(store, median_author, writes).await?;
        costs.push(StrategyCosts {
            celebrity_post: (&celebrity_post).into(),
            median_post: (&median_post).into(),
            feed: (&feed).into(),
        });
    }
    let [on_write, on_read] = costs[..] else {
        anyhow::bail!("two strategies measured, {} results", costs.len());
    };
    let all_users: Vec<UserId> = data.users.iter().map(|u| u.id).collect();
    let figures = FanOutFigures {
        celebrity,
        celebrity_followers,
        median_author,
        median_author_followers,
        on_write,
        on_read,
        timelines: write.timeline_footprint(&all_users).await?,
    };

    let mut table = Table::new("operation")
        .column("on write p50", Unit::Micros)
        .column("on write p99", Unit::Micros)
        .column("on read p50", Unit::Micros)
        .column("on read p99", Unit::Micros)
        .column("on write ÷ on read (p50)", Unit::Ratio)
        .chart(
            Chart::bars()
                .log()
                .of(&["on write p50", "on read p50", "on write p99", "on read p99"])
                .titled("Fan-out on write or on read"),
        );
    let rows = [
        (
            format!(
                "post by the celebrity ({} followers)",
                format_number(celebrity_followers as f64)
            ),
            on_write.celebrity_post,
            on_read.celebrity_post,
        ),
        (
            format!(
                "post by a median author ({} followers)",
                format_number(median_author_followers as f64)
            ),
            on_write.median_post,
            on_read.median_post,
        ),
        (
            format!("home feed ({FEED_LIMIT} latest)"),
            on_write.feed,
            on_read.feed,
        ),
    ];
    for (label, w, r) in rows {
        table.row(
            label,
            [
                w.p50_us.into(),
                w.p99_us.into(),
                r.p50_us.into(),
                r.p99_us.into(),
                ratio(w.p50_us, r.p50_us).into(),
            ],
        );
    }
    n.table(table);
    n.say(&figures.sentence());
    n.say(
        "Which is why large feeds are built both ways at once: fanned out on write for most \
         authors, whose audience is small, and merged on read for the few whose audience would \
         turn every post into one write per follower.",
    );
    n.figures(&figures)?;
    Ok(figures)
}

/// Times `author`'s posts under `plan` on `store`, then takes every one of them back.
async fn posts_by(
    store: &KeyValueStore,
    author: UserId,
    plan: Plan,
) -> anyhow::Result<Measurement> {
    let created: Mutex<Vec<PostId>> = Mutex::new(Vec::new());
    let m = measure(plan, |i| {
        let created = &created;
        async move {
            let post = NewPost {
                author,
                body: format!("fan-out demo post {i}"),
                // Before every seeded post (see the module's note).
                created_at: seed::EPOCH_MS - 1 - i as i64,
            };
            let made = store.create_post(&post).await?;
            if let Ok(mut ids) = created.lock() {
                ids.push(made.id);
            }
            Ok::<_, StoreError>(())
        }
    })
    .await;
    let ids = created.into_inner().unwrap_or_default();
    store.take_back(&ids).await?;
    Ok(m)
}

/// Followers per followed user.
fn follower_counts(data: &Dataset) -> HashMap<UserId, u64> {
    let mut counts = HashMap::new();
    for (_, followee) in &data.follows {
        *counts.entry(*followee).or_default() += 1;
    }
    counts
}

/// An author (someone with posts) whose follower count is the median among authors with
/// followers; the lowest id among equals, so the choice is the same on every run.
fn median_author(
    data: &Dataset,
    followers: &HashMap<UserId, u64>,
) -> anyhow::Result<(UserId, u64)> {
    let mut authors: Vec<(u64, UserId)> = data
        .posts
        .iter()
        .map(|p| p.author)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter_map(|a| followers.get(&a).map(|c| (*c, a)))
        .collect();
    authors.sort_unstable();
    let (count, _) = *authors
        .get(authors.len() / 2)
        .ok_or_else(|| anyhow::anyhow!("no author has followers"))?;
    let author = authors
        .iter()
        .find(|(c, _)| *c == count)
        .map_or(0, |(_, a)| *a);
    Ok((author, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(celebrity_write: f64, feed_write: f64) -> FanOutFigures {
        let cost = |p50_us| Cost {
            p50_us,
            p99_us: p50_us * 2.0,
        };
        FanOutFigures {
            celebrity: 1,
            celebrity_followers: 9_000,
            median_author: 40,
            median_author_followers: 12,
            on_write: StrategyCosts {
                celebrity_post: cost(celebrity_write),
                median_post: cost(120.0),
                feed: cost(feed_write),
            },
            on_read: StrategyCosts {
                celebrity_post: cost(100.0),
                median_post: cost(100.0),
                feed: cost(400.0),
            },
            timelines: Footprint {
                timelines: 10,
                entries: 1_000,
                bytes: 2_500_000,
            },
        }
    }

    #[test]
    fn the_sentence_reads_the_figures_as_measured() {
        let s = figures(50_000.0, 100.0).sentence();
        assert!(
            s.contains("post (copied to 9,000 followers) 500× slower to create"),
            "{s}"
        );
        assert!(s.contains("(to 12) 1.20× slower to create"), "{s}");
        assert!(s.contains("home feed 4.00× faster to read"), "{s}");
        assert!(s.contains("2.50 MB"), "{s}");
    }

    #[test]
    fn the_sentence_turns_around_when_the_figures_do() {
        let s = figures(50.0, 1_000.0).sentence();
        assert!(s.contains("2.00× faster to create"), "{s}");
        assert!(s.contains("home feed 2.50× slower to read"), "{s}");
        let s = figures(100.0, 400.0).sentence();
        assert!(
            s.contains("post (copied to 9,000 followers) about as fast to create"),
            "{s}"
        );
        assert!(s.contains("home feed about as fast to read"), "{s}");
    }

    #[test]
    fn the_median_author_is_an_author_with_the_median_following() {
        let data = seed::generate(seed::Sizes::QUICK);
        let followers = follower_counts(&data);
        let (author, count) = median_author(&data, &followers).unwrap();
        assert!(data.posts.iter().any(|p| p.author == author));
        assert_eq!(followers[&author], count);
        let max = followers.values().max().copied().unwrap();
        assert!(count < max / 4, "far from the celebrity's {max}");
    }
}
