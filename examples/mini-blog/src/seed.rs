//! A realistic data set, fast: users, articles with tags, follows, and favourites skewed the
//! way real popularity is (a few articles get most of them), for the demo and the benchmark.
//!
//! Rows are generated here and sent as multi-row `INSERT`s of 1,000 rows inside one
//! transaction: a single-row insert per favourite would be 200,000 round trips. The values are
//! numbers and text this module makes up (letters, digits, spaces), never outside input, which
//! is why building SQL text is safe here and nowhere else. A data set that is already complete
//! (same counts) is reused between runs.
//!
//! Every seeded user has the same password hash, made once at the configured argon2id cost:
//! hashing 1,000 passwords at 19 MiB each would take most of a minute and teach nothing the
//! login measurement does not.

use chrono::{Duration, NaiveDate, NaiveDateTime};
use diesel::connection::SimpleConnection as _;
use diesel::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};

use crate::db::{AnyConnection, Db};
use crate::schema::{blog_articles as a, blog_favorites as f, blog_users as u};

/// How big a data set to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Size {
    pub users: i64,
    pub articles: i64,
    /// Favourites asked for; duplicates drawn are skipped, so slightly fewer are stored.
    pub favorites: i64,
    /// How many authors each user follows.
    pub follows_per_user: i64,
}

impl Size {
    /// The data set: 1,000 users, 20,000 articles, 200,000 favourites.
    pub const FULL: Size = Size {
        users: 1_000,
        articles: 20_000,
        favorites: 200_000,
        follows_per_user: 20,
    };
    /// `--quick`: seeds in about a second.
    pub const QUICK: Size = Size {
        users: 100,
        articles: 2_000,
        favorites: 20_000,
        follows_per_user: 10,
    };
}

/// Where the demo and the benchmark keep a seeded blog between runs: a PostgreSQL schema of
/// this name, or an SQLite file named after it. Never `serve`'s own `mini_blog`.
pub fn data_set(quick: bool) -> &'static str {
    if quick {
        "mini_blog_quick"
    } else {
        "mini_blog_demo"
    }
}

/// Removes both seeded blogs (`cargo run -p mini-blog -- forget`); `serve`'s data stays.
pub async fn forget(settings: &support::Settings) -> anyhow::Result<support::demo::Forgotten> {
    let names = [data_set(false), data_set(true)];
    let schemas = names.map(str::to_owned);
    let files = names.map(crate::db::sqlite_file);
    support::db::forget_data_sets(settings, &schemas, &files).await
}

/// The password every seeded user has.
pub const PASSWORD: &str = "password123";

/// The tags articles are drawn from.
const TAGS: [&str; 12] = [
    "rust",
    "sql",
    "caching",
    "jobs",
    "http",
    "auth",
    "pagination",
    "redis",
    "postgres",
    "webhooks",
    "uploads",
    "nosql",
];

/// What is in the database after [`ensure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Seeded {
    pub users: i64,
    pub articles: i64,
    pub favorites: i64,
    /// False when a complete data set from an earlier run was reused.
    pub seeded_now: bool,
}

/// A small deterministic generator (SplitMix64): the same data set on every machine, no
/// dependency on a seeded RNG's stability across versions.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    fn below(&mut self, n: i64) -> i64 {
        i64::try_from(self.next() % u64::try_from(n.max(1)).unwrap_or(1)).unwrap_or(0)
    }

    /// Skewed in `0..n`: the cube of a uniform fraction, so low numbers come far more often
    /// (about 46% of draws land in the first tenth).
    fn skewed(&mut self, n: i64) -> i64 {
        let x = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        #[allow(clippy::cast_possible_truncation)]
        let i = (x * x * x * n as f64) as i64;
        i.clamp(0, n - 1)
    }
}

fn counts(conn: &mut AnyConnection) -> QueryResult<(i64, i64, i64)> {
    Ok((
        u::table.count().get_result(conn)?,
        a::table.count().get_result(conn)?,
        f::table.count().get_result(conn)?,
    ))
}

fn timestamp(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

/// Makes the database hold a data set of `size`, reusing a complete one (one with at least
/// that many users and articles). `password_hash` is
/// the one hash every user gets; `progress` draws a bar (the demo), tests pass `false`.
pub async fn ensure(
    db: &Db,
    size: Size,
    password_hash: String,
    progress: bool,
) -> anyhow::Result<Seeded> {
    let (users, articles, favorites) = db.interact(counts).await?;
    // At least the size asked for: a demo run adds a few users and articles of its own, which
    // changes nothing the measurements depend on.
    if users >= size.users && articles >= size.articles && favorites > 0 {
        return Ok(Seeded {
            users,
            articles,
            favorites,
            seeded_now: false,
        });
    }
    let total = size.users + size.articles + size.favorites + size.users * size.follows_per_user;
    let bar = if progress {
        let bar = ProgressBar::new(u64::try_from(total).unwrap_or(0));
        if let Ok(style) =
            ProgressStyle::with_template("  seeding {bar:40} {pos:>9}/{len:9} rows  {elapsed}")
        {
            bar.set_style(style);
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    {
        let bar = bar.clone();
        db.interact(move |c| c.write_transaction(|c| fill(c, size, &password_hash, &bar)))
            .await?;
    }
    bar.finish_and_clear();
    let (users, articles, favorites) = db.interact(counts).await?;
    Ok(Seeded {
        users,
        articles,
        favorites,
        seeded_now: true,
    })
}

/// Sends `rows` as `INSERT INTO <head> VALUES …, …` statements of at most 1,000 rows.
fn insert_all(
    conn: &mut AnyConnection,
    head: &str,
    tail: &str,
    rows: impl Iterator<Item = String>,
    bar: &ProgressBar,
) -> QueryResult<()> {
    let mut batch: Vec<String> = Vec::with_capacity(1000);
    let flush = |batch: &mut Vec<String>, conn: &mut AnyConnection| -> QueryResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        conn.batch_execute(&format!(
            "INSERT INTO {head} VALUES {} {tail}",
            batch.join(",")
        ))?;
        bar.inc(batch.len() as u64);
        batch.clear();
        Ok(())
    };
    for row in rows {
        batch.push(row);
        if batch.len() == 1000 {
            flush(&mut batch, conn)?;
        }
    }
    flush(&mut batch, conn)
}

fn fill(conn: &mut AnyConnection, size: Size, hash: &str, bar: &ProgressBar) -> QueryResult<()> {
    // Children first: cascades would do it, but explicit is faster and clearer.
    conn.batch_execute(
        "DELETE FROM blog_notifications; DELETE FROM blog_comments; DELETE FROM blog_favorites; \
         DELETE FROM blog_article_tags; DELETE FROM blog_follows; DELETE FROM blog_articles; \
         DELETE FROM blog_users;",
    )?;
    let mut draw = Draw(42);
    // Ids are given explicitly (1..=n) so the rows below can refer to them without a lookup.
    insert_all(
        conn,
        "blog_users (id, username, email, password_hash, bio, image)",
        "",
        (1..=size.users)
            .map(|i| format!("({i}, 'user{i}', 'user{i}@example.com', '{hash}', NULL, NULL)")),
        bar,
    )?;
    let start = NaiveDate::from_ymd_opt(2026, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or_default();
    let mut tags = Vec::new();
    insert_all(
        conn,
        "blog_articles (id, slug, title, description, body, author_id, created_at, updated_at)",
        "",
        (1..=size.articles).map(|i| {
            let author = 1 + draw.skewed(size.users);
            // About 22 minutes apart: a year of posts for the full set.
            let at = timestamp(start + Duration::seconds(i * 1_300 + draw.below(600)));
            let (t1, t2) = (draw.below(12) as usize, draw.below(12) as usize);
            tags.push((i, TAGS[t1]));
            if t2 != t1 {
                tags.push((i, TAGS[t2]));
            }
            format!(
                "({i}, 'article-{i}', 'Article {i}', 'What article {i} is about', \
                 'The body of article {i}. It goes on for a while, as bodies do.', {author}, '{at}', '{at}')"
            )
        }),
        bar,
    )?;
    insert_all(
        conn,
        "blog_article_tags (article_id, tag)",
        "",
        tags.into_iter().map(|(id, tag)| format!("({id}, '{tag}')")),
        &ProgressBar::hidden(),
    )?;
    let mut follows = Vec::new();
    for user in 1..=size.users {
        for _ in 0..size.follows_per_user {
            let author = 1 + draw.skewed(size.users);
            if author != user {
                follows.push(format!("({user}, {author})"));
            }
        }
    }
    insert_all(
        conn,
        "blog_follows (follower_id, followee_id)",
        "ON CONFLICT DO NOTHING",
        follows.into_iter(),
        bar,
    )?;
    // Favourites: each drawn (user, article) pair, popular articles far more often.
    let per_user = size.favorites / size.users.max(1);
    let pairs = (1..=size.users).flat_map(move |user| (0..per_user).map(move |_| user));
    let mut favorite_draw = Draw(7);
    insert_all(
        conn,
        "blog_favorites (user_id, article_id)",
        "ON CONFLICT DO NOTHING",
        pairs.map(|user| format!("({user}, {})", 1 + favorite_draw.skewed(size.articles))),
        bar,
    )?;
    // Explicit ids leave PostgreSQL's sequences behind; move them past the seeded rows so the
    // API's own inserts do not collide. (SQLite's AUTOINCREMENT follows the largest id by itself.)
    if let AnyConnection::Postgresql(pg) = conn {
        pg.batch_execute(
            "SELECT setval('blog_users_id_seq', (SELECT max(id) FROM blog_users)); \
             SELECT setval('blog_articles_id_seq', (SELECT max(id) FROM blog_articles)); \
             ANALYZE;",
        )?;
    }
    Ok(())
}
