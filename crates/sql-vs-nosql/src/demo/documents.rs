//! "Documents": the operations a MongoDB user would recognise, each beside the `JSONB` SQL that
//! stands in for it on PostgreSQL, measured on the seeded data set.
//!
//! Three things to see: a read by `_id` that returns a whole page because the page is embedded;
//! what the one GIN index buys on a selective filter and on an unselective one; and what the
//! unbounded `liked_by` array costs (the largest document, and an `$inc` on it against one on a
//! small document). The writes are undone before the section returns: the scratch posts are
//! deleted, the author's document put back, the sequence rewound and the `$inc`s reversed.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use serde::Serialize;
use support::measure::{Measurement, Plan, measure};
use support::narrate::Narrator;
use support::report::{Chart, Table, Unit};

use crate::document::{
    DocSizes, DocumentStore, GIN_INDEX, Lookup, RECENT_POSTS_CAP, SeqScan, UserFilter,
};
use crate::model::{NewPost, PostId, UserId};
use crate::seed;
use crate::store::SocialStore;

pub const TITLE: &str = "Documents: MongoDB's operations on PostgreSQL JSONB";

/// The author whose document the `$push` rows write to (and which is put back afterwards): user 1,
/// the most followed and among the most prolific, so the cap is always full.
const AUTHOR: UserId = 1;
/// The city of the unselective nested-field filter.
const CITY: &str = seed::CITIES[0];

/// A median and a 99th percentile, in µs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Timing {
    pub p50_us: f64,
    pub p99_us: f64,
}

impl From<&Measurement> for Timing {
    fn from(m: &Measurement) -> Self {
        Self {
            p50_us: m.p50_us(),
            p99_us: m.p99_us(),
        }
    }
}

/// What the section measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DocumentFigures {
    pub users: i64,
    /// `findOne({_id})` with a projection: the point lookup.
    pub find_by_id: Timing,
    /// The profile page: one read of the user document, its recent posts embedded.
    pub profile: Timing,
    pub city: String,
    /// Users whose `profile.city` is [`DocumentFigures::city`].
    pub city_matches: usize,
    /// `doc @> {"profile": {"city": ...}}`, which the GIN index can serve.
    pub city_indexed: Timing,
    /// `doc->'profile'->>'city' = ...`, which no index serves.
    pub city_scan: Timing,
    /// Whether the planner chose the GIN index for the city containment query on this data.
    pub city_plan_uses_index: bool,
    /// `doc @> {"handle": ...}`: a filter one document matches.
    pub handle_indexed: Timing,
    pub handle_scan: Timing,
    pub handle_plan_uses_index: bool,
    /// `insertOne` + `updateOne({$push: {$each, $sort, $slice}, $inc})`: a whole `create_post`.
    pub push_slice: Timing,
    /// `$inc` on a freshly created (small) post document.
    pub inc_small: Timing,
    /// `$inc` on the largest post document.
    pub inc_largest: Timing,
    pub sizes: DocSizes,
    pub recent_posts_cap: usize,
}

impl DocumentFigures {
    /// How many times faster the indexed city query was than the scan (below 1: slower).
    pub fn city_index_speedup(&self) -> f64 {
        self.city_scan.p50_us / self.city_indexed.p50_us
    }

    /// How many times faster the indexed handle query was than the scan.
    pub fn handle_index_speedup(&self) -> f64 {
        self.handle_scan.p50_us / self.handle_indexed.p50_us
    }

    /// How many times longer an `$inc` took on the largest post document than on a small one.
    pub fn large_inc_slowdown(&self) -> f64 {
        self.inc_largest.p50_us / self.inc_small.p50_us
    }
}

/// Measures every row, prints the table and the sentence that reads it, and returns the figures.
pub async fn run(
    n: &mut Narrator,
    store: &DocumentStore,
    quick: bool,
) -> anyhow::Result<DocumentFigures> {
    n.section(TITLE);
    n.say(
        "MongoDB cannot be installed on this machine, so PostgreSQL stands in for it: each \
         collection is a table of one JSONB column, modelled the document way. A user document \
         embeds its 20 latest posts (embed what you read together, and cap the array); a post \
         document keeps the ids of everyone who liked it (the unbounded array a schema review \
         would flag). Each row shows the MongoDB operation and the SQL that does its work here.",
    );
    let users = store
        .seeded()
        .await?
        .ok_or_else(|| anyhow::anyhow!("the document store holds no seeded data set"))?
        .users;
    let spread = |i: u64| 1 + (i as i64 * 7_919) % users;
    let fast = Plan::iterations(2_000)
        .warmup(200)
        .budget(Duration::from_millis(500))
        .scaled_for(quick);
    let slow = Plan::iterations(200)
        .warmup(10)
        .budget(Duration::from_millis(500))
        .scaled_for(quick);
    let writes = Plan::iterations(500)
        .warmup(20)
        .budget(Duration::from_millis(500))
        .scaled_for(quick);

    let find_by_id = checked(
        "findOne({_id})",
        measure(fast, |i| store.user(spread(i))).await,
    )?;
    let profile = checked(
        "the profile",
        measure(fast, |i| store.profile(spread(i), RECENT_POSTS_CAP)).await,
    )?;

    let city = UserFilter::City(CITY);
    let city_matches = store.find_users(city, Lookup::Containment).await?.len();
    let city_indexed = checked(
        "the city containment query",
        measure(slow, |_| store.find_users(city, Lookup::Containment)).await,
    )?;
    let city_scan = checked(
        "the city scan",
        measure(slow, |_| store.find_users(city, Lookup::ExtractedField)).await,
    )?;
    let find_handle = |lookup: Lookup| {
        move |i: u64| async move {
            let handle = format!("user{}", spread(i));
            store.find_users(UserFilter::Handle(&handle), lookup).await
        }
    };
    let handle_indexed = checked(
        "the handle containment query",
        measure(fast, find_handle(Lookup::Containment)).await,
    )?;
    let handle_scan = checked(
        "the handle scan",
        measure(slow, find_handle(Lookup::ExtractedField)).await,
    )?;
    let city_plan = store
        .explain_find_users(city, Lookup::Containment, SeqScan::Allowed)
        .await?;
    let scan_plan = store
        .explain_find_users(city, Lookup::ExtractedField, SeqScan::Allowed)
        .await?;
    let handle_plan = store
        .explain_find_users(
            UserFilter::Handle("user1"),
            Lookup::Containment,
            SeqScan::Allowed,
        )
        .await?;

    let sizes = store.document_sizes().await?;
    let (push_slice, inc_small, inc_largest) =
        measure_writes(store, writes, sizes.largest_post.id).await?;

    let figures = DocumentFigures {
        users,
        find_by_id: (&find_by_id).into(),
        profile: (&profile).into(),
        city: CITY.to_owned(),
        city_matches,
        city_indexed: (&city_indexed).into(),
        city_scan: (&city_scan).into(),
        city_plan_uses_index: city_plan.contains(GIN_INDEX),
        handle_indexed: (&handle_indexed).into(),
        handle_scan: (&handle_scan).into(),
        handle_plan_uses_index: handle_plan.contains(GIN_INDEX),
        push_slice: (&push_slice).into(),
        inc_small: (&inc_small).into(),
        inc_largest: (&inc_largest).into(),
        sizes,
        recent_posts_cap: RECENT_POSTS_CAP,
    };

    n.table(table(&figures));
    n.transcript(vec![
        format!("plan of doc @> '{{\"profile\":{{\"city\":\"{CITY}\"}}}}':"),
        format!("  {}", scans_of_plan(&city_plan)),
        format!("plan of doc->'profile'->>'city' = '{CITY}':"),
        format!("  {}", scans_of_plan(&scan_plan)),
    ]);
    n.say(&what_you_saw(&figures));
    n.figures(&figures)?;
    Ok(figures)
}

/// The three write rows, on a scratch copy of the author's page and the largest post, undone
/// whether or not the measuring succeeded.
async fn measure_writes(
    store: &DocumentStore,
    plan: Plan,
    largest_post: PostId,
) -> anyhow::Result<(Measurement, Measurement, Measurement)> {
    let last_post = store.max_post_id().await?;
    let snapshot = store.snapshot_users(&[AUTHOR]).await?;
    let net_increment = AtomicI64::new(0);
    // The first scratch post's id, as the store gave it (not `last_post + 1`: an earlier section
    // may have drawn ids from the sequence for posts it deleted since).
    let first_scratch = std::sync::OnceLock::new();
    let first_scratch = &first_scratch;
    let measured = async {
        let start = seed::EPOCH_MS + last_post * seed::POST_SPACING_MS;
        let push = checked(
            "the $push/$slice post",
            measure(plan, |i| async move {
                let post = NewPost {
                    author: AUTHOR,
                    body: format!("scratch post {i}"),
                    created_at: start + i as i64,
                };
                let created = store.create_post(&post).await?;
                let _ = first_scratch.set(created.id);
                Ok::<_, crate::store::StoreError>(())
            })
            .await,
        )?;
        // The first scratch post: a small document (no likes yet) to `$inc`.
        let small = *first_scratch
            .get()
            .ok_or_else(|| anyhow::anyhow!("no scratch post was created"))?;
        let inc = |post: PostId| {
            let net_increment = &net_increment;
            move |_| async move {
                store.increment_likes(post, 1).await?;
                net_increment.fetch_add(i64::from(post == largest_post), Ordering::Relaxed);
                Ok::<_, crate::store::StoreError>(())
            }
        };
        let inc_small = checked("the small $inc", measure(plan, inc(small)).await)?;
        let inc_largest = checked("the large $inc", measure(plan, inc(largest_post)).await)?;
        anyhow::Ok((push, inc_small, inc_largest))
    }
    .await;
    // The undo: the largest post's count back down, the scratch posts gone (the small one with
    // them), the author's document as it was, the sequence rewound.
    let undone = net_increment.load(Ordering::Relaxed);
    if undone > 0 {
        store.increment_likes(largest_post, -undone).await?;
    }
    store.restore(&snapshot, last_post).await?;
    measured
}

/// `m`, or an error naming `what` when any operation failed: a figure with failures in it would
/// time error paths.
fn checked(what: &str, m: Measurement) -> anyhow::Result<Measurement> {
    anyhow::ensure!(m.errors == 0, "{} of {what} failed", m.errors);
    Ok(m)
}

/// The scan nodes of an `EXPLAIN`, outermost first, without their cost estimates:
/// `Bitmap Heap Scan on user_docs ← Bitmap Index Scan on user_docs_doc_gin`.
fn scans_of_plan(plan: &str) -> String {
    plan.lines()
        .filter(|line| line.contains(" Scan "))
        .map(|line| {
            let node = line.split("  (cost=").next().unwrap_or(line);
            node.trim().trim_start_matches("->").trim()
        })
        .collect::<Vec<_>>()
        .join(" ← ")
}

fn table(f: &DocumentFigures) -> Table {
    const BY_ID: &str = "findOne({_id})";
    let city = &f.city;
    let mut t = Table::new("MongoDB")
        .column("PostgreSQL JSONB", Unit::Text)
        .column("p50", Unit::Micros)
        .column("p99", Unit::Micros)
        .ratio_against("p50", BY_ID)
        .chart(
            Chart::bars()
                .log()
                .of(&["p50", "p99"])
                .titled("MongoDB's operations on PostgreSQL JSONB"),
        );
    let mut row = |label: String, sql: String, timing: Timing| {
        t.row(
            label,
            [sql.into(), timing.p50_us.into(), timing.p99_us.into()],
        );
    };
    row(
        BY_ID.to_owned(),
        "doc->>'handle', … WHERE id = $1 (primary key)".to_owned(),
        f.find_by_id,
    );
    row(
        "findOne({_id}, {following: 0, liked: 0})".to_owned(),
        format!("doc - 'following' - 'liked' (profile, {RECENT_POSTS_CAP} posts embedded)"),
        f.profile,
    );
    row(
        format!(r#"find({{"profile.city": "{city}"}})"#),
        format!(r#"doc @> '{{"profile":{{"city":"{city}"}}}}' (GIN)"#),
        f.city_indexed,
    );
    row(
        format!(r#"find({{"profile.city": "{city}"}}), no index"#),
        format!("doc->'profile'->>'city' = '{city}' (scan)"),
        f.city_scan,
    );
    row(
        "find({handle: h})".to_owned(),
        r#"doc @> '{"handle": h}' (GIN)"#.to_owned(),
        f.handle_indexed,
    );
    row(
        "find({handle: h}), no index".to_owned(),
        "doc->>'handle' = h (scan)".to_owned(),
        f.handle_scan,
    );
    row(
        format!("insertOne + $push {{$each, $sort, $slice: {RECENT_POSTS_CAP}}} + $inc"),
        "INSERT post_docs; UPDATE user_docs SET doc = jsonb_set(…)".to_owned(),
        f.push_slice,
    );
    row(
        "$inc: {likes: 1} on a new post".to_owned(),
        "jsonb_set(doc, '{likes}', to_jsonb((doc->>'likes')::bigint + 1))".to_owned(),
        f.inc_small,
    );
    row(
        format!(
            "$inc: {{likes: 1}} on post {} ({} likers)",
            f.sizes.largest_post.id, f.sizes.largest_post_liked_by
        ),
        format!(
            "the same, rewriting {} bytes",
            f.sizes.largest_post.stored_bytes
        ),
        f.inc_largest,
    );
    t
}

/// `12.3× faster`, `1.4× slower`, or `about as fast` within ten per cent.
fn faster_or_slower(ratio: f64) -> String {
    if ratio >= 1.1 {
        format!("{ratio:.1}× faster than")
    } else if ratio <= 0.9 && ratio > 0.0 {
        format!("{:.1}× slower than", 1.0 / ratio)
    } else {
        "about as fast as".to_owned()
    }
}

/// The closing sentences, read from the figures: if a ratio goes the other way, so do they.
pub fn what_you_saw(f: &DocumentFigures) -> String {
    let mut text = format!(
        "What you just saw: a read by _id took {:.0} µs, and the whole profile page, its posts \
         embedded, {:.0} µs: one read each, no join. ",
        f.find_by_id.p50_us, f.profile.p50_us
    );
    let one_in = if f.city_matches > 0 {
        (f.users as f64 / f.city_matches as f64).round()
    } else {
        0.0
    };
    text += &format!(
        "With the GIN index, the filter one document matches (handle) ran {} reading every \
         document, and the filter one user in {one_in:.0} matches (city = {}) ran {} the scan",
        faster_or_slower(f.handle_index_speedup()),
        f.city,
        faster_or_slower(f.city_index_speedup()),
    );
    text += if f.city_index_speedup() < f.handle_index_speedup() {
        ": an index pays in proportion to what it lets the query skip"
    } else {
        ": here the unselective filter gained as much, because the scan's cost is parsing every \
         document, not reading the pages"
    };
    text += if f.city_plan_uses_index {
        " (the planner chose the index for the city query). "
    } else {
        " (left alone, the planner chose a scan for the city query anyway). "
    };

    let (post, user) = (f.sizes.largest_post, f.sizes.largest_user);
    if post.stored_bytes > user.stored_bytes {
        text += &format!(
            "The largest post document (post {}, liked by {} users) is {} bytes stored, against \
             {} for the largest user document, whose embedded array is capped at {}: liked_by is \
             the unbounded array, and MongoDB refuses any document over 16 MiB. ",
            post.id,
            f.sizes.largest_post_liked_by,
            post.stored_bytes,
            user.stored_bytes,
            f.recent_posts_cap
        );
    } else {
        text += &format!(
            "The largest user document ({} bytes stored, its array capped at {}) is still larger \
             than the largest post document ({} bytes, {} likers), but liked_by grows with every \
             like while recent_posts cannot. ",
            user.stored_bytes, f.recent_posts_cap, post.stored_bytes, f.sizes.largest_post_liked_by
        );
    }
    let slowdown = f.large_inc_slowdown();
    text += &if slowdown >= 1.1 {
        format!(
            "An $inc on it took {slowdown:.1}× as long as on a small post: PostgreSQL writes a \
             new copy of the whole JSONB value on any change, so a write costs what the document \
             weighs."
        )
    } else {
        format!(
            "An $inc on it took about as long as on a small post ({slowdown:.2}×): at this size \
             the round trip, not the rewrite of the document, is the cost."
        )
    };
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::DocSize;

    fn timing(p50_us: f64) -> Timing {
        Timing {
            p50_us,
            p99_us: p50_us * 2.0,
        }
    }

    fn figures(city_scan: f64, inc_largest: f64, post_bytes: i64) -> DocumentFigures {
        DocumentFigures {
            users: 10_000,
            find_by_id: timing(50.0),
            profile: timing(80.0),
            city: "Lyon".into(),
            city_matches: 1_250,
            city_indexed: timing(1_000.0),
            city_scan: timing(city_scan),
            city_plan_uses_index: true,
            handle_indexed: timing(60.0),
            handle_scan: timing(6_000.0),
            handle_plan_uses_index: true,
            push_slice: timing(300.0),
            inc_small: timing(100.0),
            inc_largest: timing(inc_largest),
            sizes: DocSizes {
                largest_user: DocSize {
                    id: 1,
                    stored_bytes: 3_000,
                    json_bytes: 4_000,
                },
                largest_post: DocSize {
                    id: 1,
                    stored_bytes: post_bytes,
                    json_bytes: post_bytes * 2,
                },
                largest_post_liked_by: 8_000,
                mean_post_stored_bytes: 150.0,
            },
            recent_posts_cap: RECENT_POSTS_CAP,
        }
    }

    #[test]
    fn the_sentence_follows_the_figures_whichever_way_they_go() {
        let usual = what_you_saw(&figures(4_000.0, 900.0, 40_000));
        assert!(
            usual.contains("100.0× faster than reading every"),
            "{usual}"
        );
        assert!(usual.contains("ran 4.0× faster than the scan"), "{usual}");
        assert!(usual.contains("one user in 8"), "{usual}");
        assert!(usual.contains("liked_by is the unbounded array"), "{usual}");
        assert!(usual.contains("9.0× as long"), "{usual}");

        let reversed = what_you_saw(&figures(500.0, 100.0, 2_000));
        assert!(reversed.contains("2.0× slower than the scan"), "{reversed}");
        assert!(reversed.contains("is still larger"), "{reversed}");
        assert!(
            reversed.contains("about as long as on a small post"),
            "{reversed}"
        );
    }

    #[test]
    fn a_plan_is_cut_to_its_scans_without_cost_estimates() {
        let plan = "Sort  (cost=30.1..30.2 rows=9 width=8)\n  Sort Key: id\n  \
                    ->  Bitmap Heap Scan on user_docs  (cost=12.00..20.01 rows=9 width=8)\n  \
                    Recheck Cond: (doc @> $1)\n        \
                    ->  Bitmap Index Scan on user_docs_doc_gin  (cost=0.00..12.00 rows=9 width=0)";
        assert_eq!(
            scans_of_plan(plan),
            "Bitmap Heap Scan on user_docs ← Bitmap Index Scan on user_docs_doc_gin"
        );
    }
}
