//! The truth: posts and likes in PostgreSQL (or SQLite when PostgreSQL is unreachable), through
//! diesel. Every strategy reads and writes through this, and it counts the queries it runs, so the
//! demo and the tests can say exactly how much work a cache saved.
//!
//! The queries are written once against [`AnyConnection`] (diesel's multi-backend connection, from
//! the shared `support::db`), so the same source runs on both databases. diesel is synchronous,
//! so each call runs inside [`Db::interact`], on Tokio's blocking pool: the async executor never
//! waits on a socket. The tables come from embedded migrations (`migrations/postgres`,
//! `migrations/sqlite`), applied when the store opens.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use diesel::connection::SimpleConnection as _;
use diesel::dsl::count;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
use support::db::{AnyConnection, Db, Migrations, Target};

use crate::model::{Post, PostUpdate, TopPost};
use crate::schema::{caching_likes as likes, caching_posts as posts};

pub use support::db::Backend;

/// The tables, one migration set per dialect (`BIGSERIAL` versus `INTEGER PRIMARY KEY`), compiled
/// into the binary so the demo needs no migration tool.
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// How many rows "top posts" returns.
pub const TOP_LIMIT: i64 = 10;

/// How much data to seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seed {
    pub posts: i64,
    pub likes: i64,
}

/// The store: a connection pool and a query counter. Cheap to clone (both are shared).
#[derive(Clone)]
pub struct Store {
    db: Db,
    queries: Arc<AtomicU64>,
    /// Added before every read: the round trip to a database on another machine, made explicit.
    read_latency: Duration,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .field("queries", &self.queries())
            .finish()
    }
}

impl Store {
    /// A pool of `size` connections to `target`, its tables created (the embedded migrations).
    /// SQLite's per-connection settings (WAL, a busy timeout so a writer waits for the lock
    /// instead of failing) are applied once per connection by the pool, not before each query.
    pub async fn open(target: &Target, size: usize) -> anyhow::Result<Self> {
        let migrations = Migrations {
            postgres: POSTGRES_MIGRATIONS,
            sqlite: SQLITE_MIGRATIONS,
        };
        let db = Db::open(target, size, migrations).await?;
        Ok(Self {
            db,
            queries: Arc::new(AtomicU64::new(0)),
            read_latency: Duration::ZERO,
        })
    }

    /// The same store (same pool, same query counter) whose every read first waits `latency`.
    ///
    /// A stampede is a slow load meeting many concurrent misses. On loopback, and above all on
    /// an embedded SQLite file, a primary-key read finishes in microseconds, before most of the
    /// "concurrent" requests have even looked in the cache, so whether the lesson shows would
    /// depend on which store happened to answer. The stampede demo states the load's cost
    /// instead (the round trip to a database in another zone, say) and prints it beside the
    /// table. The wait holds no connection: it stands for the network, not for the database.
    pub fn with_read_latency(&self, latency: Duration) -> Self {
        Self {
            read_latency: latency,
            ..self.clone()
        }
    }

    async fn before_read(&self) {
        self.count(1);
        if !self.read_latency.is_zero() {
            tokio::time::sleep(self.read_latency).await;
        }
    }

    /// Which database answers.
    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// Queries run on behalf of callers since this store was built (set-up and seeding excluded).
    pub fn queries(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    fn count(&self, n: u64) {
        self.queries.fetch_add(n, Ordering::Relaxed);
    }

    /// Makes the tables hold `seed.posts` posts and `seed.likes` likes, skewed so a few posts
    /// collect most likes. Reuses what an earlier run left when the counts still match, so the
    /// demo pays for seeding once. Returns whether it seeded.
    pub async fn seed(&self, seed: Seed) -> anyhow::Result<bool> {
        let (have_posts, have_likes) = self
            .db
            .interact(|c| {
                let p: i64 = posts::table.count().get_result(c)?;
                let l: i64 = likes::table.count().get_result(c)?;
                Ok((p, l))
            })
            .await
            .context("Failed to count the seeded rows")?;
        // Demo runs add a few likes each; a tenth more than seeded still counts as the same data.
        if have_posts == seed.posts
            && have_likes >= seed.likes
            && have_likes <= seed.likes + seed.likes / 10
        {
            return Ok(false);
        }
        let (posts_n, likes_n) = (seed.posts, seed.likes);
        let body = "A post long enough to look like one. ".repeat(8);
        // Seeding is one batch of SQL each dialect writes its own way (`generate_series` against
        // a recursive CTE), so it matches on the connection rather than going through the
        // shared query builder. The skew: the cube of a uniform number piles likes onto low post
        // ids, so "top posts" has a clear answer and the aggregation touches every like row.
        self.db
            .interact(move |conn| match conn {
                AnyConnection::Postgresql(c) => c.batch_execute(&format!(
                    "TRUNCATE caching_likes, caching_posts;
                     INSERT INTO caching_posts SELECT g, 'Post ' || g, '{body}', 1, 0 FROM generate_series(1, {posts_n}) g;
                     INSERT INTO caching_likes (post_id, user_id)
                       SELECT 1 + floor(power(random(), 3) * {posts_n})::bigint, g FROM generate_series(1, {likes_n}) g;
                     ANALYZE caching_posts; ANALYZE caching_likes;"
                )),
                AnyConnection::Sqlite(c) => c.batch_execute(&format!(
                    "DELETE FROM caching_likes; DELETE FROM caching_posts;
                     WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < {posts_n})
                       INSERT INTO caching_posts SELECT x, 'Post ' || x, '{body}', 1, 0 FROM s;
                     WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < {likes_n}),
                       u(x, r) AS (SELECT x, (abs(random()) % 1000000) / 1000000.0 FROM s)
                       INSERT INTO caching_likes (post_id, user_id)
                       SELECT 1 + CAST(r * r * r * {posts_n} AS INTEGER), x FROM u;
                     ANALYZE;"
                )),
            })
            .await
            .context("Failed to seed posts and likes")?;
        Ok(true)
    }

    /// One post by primary key: the cheap read.
    pub async fn get_post(&self, id: i64) -> anyhow::Result<Option<Post>> {
        self.before_read().await;
        self.db
            .interact(move |c| {
                posts::table
                    .find(id)
                    .select(Post::as_select())
                    .first(c)
                    .optional()
            })
            .await
            .context("Failed to read a post")
    }

    /// The ten most-liked posts: a join and a GROUP BY over every like, the expensive read.
    pub async fn top_posts(&self) -> anyhow::Result<Vec<TopPost>> {
        self.before_read().await;
        self.db
            .interact(|c| {
                likes::table
                    .inner_join(posts::table)
                    .group_by((posts::id, posts::title))
                    .select((posts::id, posts::title, count(likes::id)))
                    .order((count(likes::id).desc(), posts::id.asc()))
                    .limit(TOP_LIMIT)
                    .load::<TopPost>(c)
            })
            .await
            .context("Failed to compute top posts")
    }

    /// Updates a post and bumps its version, in one statement; `None` when it does not exist.
    pub async fn update_post(
        &self,
        id: i64,
        update: PostUpdate,
        now_ms: i64,
    ) -> anyhow::Result<Option<Post>> {
        self.count(1);
        // `RETURNING` is not in the SQL that diesel's multi-backend connection speaks, although
        // both databases have it (SQLite since 3.35): the same statement is written once and
        // run on whichever inner connection this is. The alternative, an UPDATE then a SELECT,
        // would need a transaction to be sure it reads its own write.
        macro_rules! update_returning {
            ($c:expr) => {
                diesel::update(posts::table.find(id))
                    .set((
                        posts::title.eq(update.title),
                        posts::body.eq(update.body),
                        posts::version.eq(posts::version + 1),
                        posts::updated_at_ms.eq(now_ms),
                    ))
                    .returning(Post::as_returning())
                    .get_result($c)
                    .optional()
            };
        }
        self.db
            .interact(move |conn| match conn {
                AnyConnection::Postgresql(c) => update_returning!(c),
                AnyConnection::Sqlite(c) => update_returning!(c),
            })
            .await
            .context("Failed to update a post")
    }

    /// Writes a batch of posts as the cache last saw them (the write-back flush), in one
    /// transaction: one statement per post. A row never moves to an older version.
    pub async fn write_posts(&self, batch: Vec<Post>) -> anyhow::Result<usize> {
        self.count(batch.len() as u64);
        self.db
            .interact(move |c| {
                c.write_transaction(|c| {
                    let mut written = 0;
                    for post in &batch {
                        written += diesel::update(
                            posts::table
                                .find(post.id)
                                .filter(posts::version.lt(post.version)),
                        )
                        .set((
                            posts::title.eq(&post.title),
                            posts::body.eq(&post.body),
                            posts::version.eq(post.version),
                            posts::updated_at_ms.eq(post.updated_at_ms),
                        ))
                        .execute(c)?;
                    }
                    Ok::<_, diesel::result::Error>(written)
                })
            })
            .await
            .context("Failed to flush posts")
    }

    /// Records a like; `false` when the post does not exist. One statement: the insert selects
    /// from the posts table, so a missing post inserts nothing on either backend.
    pub async fn like(&self, post_id: i64, user_id: i64) -> anyhow::Result<bool> {
        self.count(1);
        let inserted = self
            .db
            .interact(move |c| {
                diesel::insert_into(likes::table)
                    .values(
                        posts::table
                            .filter(posts::id.eq(post_id))
                            .select((posts::id, user_id.into_sql::<BigInt>())),
                    )
                    .into_columns((likes::post_id, likes::user_id))
                    .execute(c)
            })
            .await
            .context("Failed to record a like")?;
        Ok(inserted == 1)
    }
}
