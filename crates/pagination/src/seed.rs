//! Filling the table fast: one statement per 50,000 rows, generated inside the database.
//!
//! A million single-row INSERTs would be a million round trips (minutes). Instead the database
//! generates the rows itself: PostgreSQL with `generate_series`, SQLite with a recursive CTE, in
//! chunks so a progress bar can move, and the feed index is built once at the end (maintaining
//! it row by row is slower than one sort). Three posts share each second, so the `id`
//! tie-breaker is exercised. A table that already holds the requested number of rows is reused.

use diesel::connection::SimpleConnection as _;
use diesel::{Connection as _, QueryResult};
use indicatif::{ProgressBar, ProgressStyle};
use support::demo::DemoArgs;

use crate::db::{self, AnyConnection, Db};
use crate::error::Error;
use crate::post;

/// The feed the demo measures and `serve` serves: a million rows, enough for offset's cost to
/// dwarf the fixed cost of a request.
pub const FEED_ROWS: i64 = 1_000_000;
/// The feed with `--quick`: small enough to seed in a second, large enough to show the trend.
pub const QUICK_FEED_ROWS: i64 = 50_000;

/// The table the demo's consistency section changes while it pages, apart from the feed.
pub const CHURN_DATA_SET: &str = "churn";

/// The feed's size for these demo flags.
pub fn feed_rows(args: &DemoArgs) -> i64 {
    args.pick(FEED_ROWS, QUICK_FEED_ROWS)
}

/// Removes every data set the demo and `serve` keep between runs (both feed sizes and the churn
/// table): `cargo run -p pagination -- forget`.
pub async fn forget(settings: &support::Settings) -> anyhow::Result<support::demo::Forgotten> {
    let names = [
        FEED_ROWS.to_string(),
        QUICK_FEED_ROWS.to_string(),
        CHURN_DATA_SET.to_owned(),
    ];
    let schemas = names
        .iter()
        .map(|name| db::schema(name))
        .collect::<Vec<_>>();
    let files = names
        .iter()
        .map(|name| db::sqlite_file(name))
        .collect::<Vec<_>>();
    support::db::forget_data_sets(settings, &schemas, &files).await
}

/// Rows per generated INSERT.
const CHUNK: i64 = 50_000;
/// 2020-01-01T00:00:00Z: the first seeded post.
const EPOCH_SECS: i64 = 1_577_836_800;

const DROP_INDEX: &str = "DROP INDEX IF EXISTS pagination_posts_feed_idx";
const CREATE_INDEX: &str = "CREATE INDEX IF NOT EXISTS pagination_posts_feed_idx \
                            ON pagination_posts (created_at DESC, id DESC)";

/// What seeding did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seeded {
    /// The table already held exactly this many rows.
    Reused(i64),
    /// The table was (re)filled with this many rows.
    Filled(i64),
}

/// Makes the table hold exactly `rows` seeded posts, reusing it when it already does.
/// `progress` draws a bar on the terminal (demos); tests pass `false`.
pub async fn ensure(db: &Db, rows: i64, progress: bool) -> Result<Seeded, Error> {
    let existing = db.interact(post::count).await?;
    if existing == rows {
        return Ok(Seeded::Reused(rows));
    }
    let bar = if progress {
        let bar = ProgressBar::new(u64::try_from(rows).unwrap_or(0));
        if let Ok(style) =
            ProgressStyle::with_template("  seeding {bar:40} {pos:>9}/{len:9} rows  {elapsed}")
        {
            bar.set_style(style);
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    let for_task = bar.clone();
    db.interact(move |conn| fill(conn, rows, &for_task)).await?;
    bar.finish_and_clear();
    Ok(Seeded::Filled(rows))
}

fn fill(conn: &mut AnyConnection, rows: i64, bar: &ProgressBar) -> QueryResult<()> {
    // One transaction: all or nothing, and on SQLite one fsync instead of one per chunk.
    conn.transaction::<_, diesel::result::Error, _>(|conn| {
        match conn {
            AnyConnection::Postgresql(c) => {
                c.batch_execute("TRUNCATE pagination_posts RESTART IDENTITY")?;
            }
            AnyConnection::Sqlite(c) => c.batch_execute(
                "DELETE FROM pagination_posts; \
                 DELETE FROM sqlite_sequence WHERE name = 'pagination_posts';",
            )?,
        }
        conn.batch_execute(DROP_INDEX)?;
        let mut start = 1;
        while start <= rows {
            let end = (start + CHUNK - 1).min(rows);
            conn.batch_execute(&insert_chunk(conn, start, end))?;
            bar.inc(u64::try_from(end - start + 1).unwrap_or(0));
            start = end + 1;
        }
        conn.batch_execute(CREATE_INDEX)?;
        Ok(())
    })?;
    // Fresh statistics, so the planner knows the table is large (outside the transaction:
    // SQLite's ANALYZE is fine inside, but keeping both the same is simpler).
    conn.batch_execute("ANALYZE pagination_posts")
}

/// One generated INSERT of rows `start..=end`. The numbers are our own integers, never client
/// input, so formatting them into SQL is safe.
fn insert_chunk(conn: &AnyConnection, start: i64, end: i64) -> String {
    match conn {
        AnyConnection::Postgresql(_) => format!(
            "INSERT INTO pagination_posts (created_at, author, title, body) \
             SELECT to_timestamp({EPOCH_SECS} + g / 3) AT TIME ZONE 'UTC', \
                    'author-' || (g % 997), 'Post number ' || g, repeat(md5(g::text), 8) \
             FROM generate_series({start}::bigint, {end}::bigint) AS g"
        ),
        AnyConnection::Sqlite(_) => format!(
            "WITH RECURSIVE g(n) AS (SELECT {start} UNION ALL SELECT n + 1 FROM g WHERE n < {end}) \
             INSERT INTO pagination_posts (created_at, author, title, body) \
             SELECT strftime('%Y-%m-%d %H:%M:%S', {EPOCH_SECS} + n / 3, 'unixepoch'), \
                    'author-' || (n % 997), 'Post number ' || n, hex(zeroblob(128)) \
             FROM g"
        ),
    }
}
