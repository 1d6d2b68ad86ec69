//! The truth: posts and likes in PostgreSQL (or SQLite when PostgreSQL is unreachable), through
//! diesel. Every strategy reads and writes through this, and it counts the queries it runs, so the
//! demo and the tests can say exactly how much work a cache saved.
//!
//! diesel is synchronous, so each call runs on a pooled connection inside deadpool-diesel's
//! `interact`, which moves it to Tokio's blocking pool: the async executor never waits on a socket.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use deadpool_diesel::Runtime;
use diesel::connection::SimpleConnection as _;
use diesel::dsl::count;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use crate::model::{Post, PostUpdate, TopPost};

/// diesel's view of the two tables. The names carry the topic so the demo's tables can live in
/// the shared default database next to other topics' tables.
pub mod schema {
    diesel::table! {
        caching_posts (id) {
            id -> BigInt,
            title -> Text,
            body -> Text,
            version -> BigInt,
            updated_at_ms -> BigInt,
        }
    }

    diesel::table! {
        caching_likes (id) {
            id -> BigInt,
            post_id -> BigInt,
            user_id -> BigInt,
        }
    }

    diesel::joinable!(caching_likes -> caching_posts (post_id));
    diesel::allow_tables_to_appear_in_same_query!(caching_posts, caching_likes);
}

use schema::{caching_likes as likes, caching_posts as posts};

/// How many rows "top posts" returns.
pub const TOP_LIMIT: i64 = 10;

/// How much data to seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seed {
    pub posts: i64,
    pub likes: i64,
}

/// Which database answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Self::Postgres => "PostgreSQL",
            Self::Sqlite => "SQLite",
        }
    }
}

#[derive(Clone)]
enum Db {
    Postgres(deadpool_diesel::postgres::Pool),
    Sqlite(deadpool_diesel::sqlite::Pool),
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

/// Runs `$body` (which returns `QueryResult<T>`) on a pooled connection of whichever backend the
/// store has. The body is compiled once per backend: diesel's query builder is generic over the
/// backend, so the same source serves PostgreSQL and SQLite.
macro_rules! on_conn {
    ($store:expr, |$conn:ident| $body:expr) => {{
        let result: anyhow::Result<_> = match &$store.db {
            Db::Postgres(pool) => {
                let obj = pool
                    .get()
                    .await
                    .map_err(|e| anyhow!("PostgreSQL pool: {e}"))?;
                obj.interact(
                    move |$conn: &mut diesel::PgConnection| -> diesel::QueryResult<_> { $body },
                )
                .await
                .map_err(|e| anyhow!("database task failed: {e}"))?
                .map_err(anyhow::Error::from)
            }
            Db::Sqlite(pool) => {
                let obj = pool.get().await.map_err(|e| anyhow!("SQLite pool: {e}"))?;
                obj.interact(
                    move |$conn: &mut diesel::SqliteConnection| -> diesel::QueryResult<_> {
                        // Per connection: wait for a competing writer instead of failing at once.
                        diesel::sql_query("PRAGMA busy_timeout = 5000").execute($conn)?;
                        $body
                    },
                )
                .await
                .map_err(|e| anyhow!("database task failed: {e}"))?
                .map_err(anyhow::Error::from)
            }
        };
        result
    }};
}

impl Store {
    /// A pool of `size` connections to PostgreSQL at `url`.
    pub fn postgres(url: &str, size: usize) -> anyhow::Result<Self> {
        let manager = deadpool_diesel::postgres::Manager::new(url, Runtime::Tokio1);
        let pool = deadpool_diesel::postgres::Pool::builder(manager)
            .max_size(size)
            .build()
            .context("Failed to build the PostgreSQL pool")?;
        Ok(Self::from_db(Db::Postgres(pool)))
    }

    /// A pool of `size` connections to the SQLite file at `path`.
    pub fn sqlite(path: &str, size: usize) -> anyhow::Result<Self> {
        let manager = deadpool_diesel::sqlite::Manager::new(path, Runtime::Tokio1);
        let pool = deadpool_diesel::sqlite::Pool::builder(manager)
            .max_size(size)
            .build()
            .context("Failed to build the SQLite pool")?;
        Ok(Self::from_db(Db::Sqlite(pool)))
    }

    fn from_db(db: Db) -> Self {
        Self {
            db,
            queries: Arc::new(AtomicU64::new(0)),
            read_latency: Duration::ZERO,
        }
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

    /// What [`Store::with_read_latency`] set (zero by default).
    pub fn read_latency(&self) -> Duration {
        self.read_latency
    }

    async fn before_read(&self) {
        self.count(1);
        if !self.read_latency.is_zero() {
            tokio::time::sleep(self.read_latency).await;
        }
    }

    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Postgres(_) => Backend::Postgres,
            Db::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Queries run on behalf of callers since this store was built (set-up and seeding excluded).
    pub fn queries(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    fn count(&self, n: u64) {
        self.queries.fetch_add(n, Ordering::Relaxed);
    }

    /// Creates the tables if they are missing.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let ddl = match self.backend() {
            Backend::Postgres => {
                "CREATE TABLE IF NOT EXISTS caching_posts (id BIGINT PRIMARY KEY, title TEXT NOT NULL, \
                 body TEXT NOT NULL, version BIGINT NOT NULL, updated_at_ms BIGINT NOT NULL);
                 CREATE TABLE IF NOT EXISTS caching_likes (id BIGSERIAL PRIMARY KEY, \
                 post_id BIGINT NOT NULL REFERENCES caching_posts(id), user_id BIGINT NOT NULL);"
            }
            Backend::Sqlite => {
                "PRAGMA journal_mode = WAL;
                 CREATE TABLE IF NOT EXISTS caching_posts (id INTEGER PRIMARY KEY, title TEXT NOT NULL, \
                 body TEXT NOT NULL, version BIGINT NOT NULL, updated_at_ms BIGINT NOT NULL);
                 CREATE TABLE IF NOT EXISTS caching_likes (id INTEGER PRIMARY KEY, \
                 post_id BIGINT NOT NULL REFERENCES caching_posts(id), user_id BIGINT NOT NULL);"
            }
        };
        on_conn!(self, |c| c.batch_execute(ddl)).context("Failed to create the tables")
    }

    /// Makes the tables hold `seed.posts` posts and `seed.likes` likes, skewed so a few posts
    /// collect most likes. Reuses what an earlier run left when the counts still match, so the
    /// demo pays for seeding once. Returns whether it seeded.
    pub async fn seed(&self, seed: Seed) -> anyhow::Result<bool> {
        let (have_posts, have_likes) = on_conn!(self, |c| {
            let p: i64 = posts::table.count().get_result(c)?;
            let l: i64 = likes::table.count().get_result(c)?;
            Ok((p, l))
        })?;
        // Demo runs add a few likes each; a tenth more than seeded still counts as the same data.
        if have_posts == seed.posts
            && have_likes >= seed.likes
            && have_likes <= seed.likes + seed.likes / 10
        {
            return Ok(false);
        }
        let (posts_n, likes_n) = (seed.posts, seed.likes);
        let body = "A post long enough to look like one. ".repeat(8);
        // The skew: the cube of a uniform number piles likes onto low post ids, so "top posts"
        // has a clear answer and the aggregation touches every like row.
        let sql = match self.backend() {
            Backend::Postgres => format!(
                "TRUNCATE caching_likes, caching_posts;
                 INSERT INTO caching_posts SELECT g, 'Post ' || g, '{body}', 1, 0 FROM generate_series(1, {posts_n}) g;
                 INSERT INTO caching_likes (post_id, user_id)
                   SELECT 1 + floor(power(random(), 3) * {posts_n})::bigint, g FROM generate_series(1, {likes_n}) g;
                 ANALYZE caching_posts; ANALYZE caching_likes;"
            ),
            Backend::Sqlite => format!(
                "DELETE FROM caching_likes; DELETE FROM caching_posts;
                 WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < {posts_n})
                   INSERT INTO caching_posts SELECT x, 'Post ' || x, '{body}', 1, 0 FROM s;
                 WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < {likes_n}),
                   u(x, r) AS (SELECT x, (abs(random()) % 1000000) / 1000000.0 FROM s)
                   INSERT INTO caching_likes (post_id, user_id)
                   SELECT 1 + CAST(r * r * r * {posts_n} AS INTEGER), x FROM u;
                 ANALYZE;"
            ),
        };
        on_conn!(self, |c| c.batch_execute(&sql)).context("Failed to seed posts and likes")?;
        Ok(true)
    }

    /// One post by primary key: the cheap read.
    pub async fn get_post(&self, id: i64) -> anyhow::Result<Option<Post>> {
        self.before_read().await;
        on_conn!(self, |c| posts::table
            .find(id)
            .select(Post::as_select())
            .first(c)
            .optional())
        .context("Failed to read a post")
    }

    /// The ten most-liked posts: a join and a GROUP BY over every like, the expensive read.
    pub async fn top_posts(&self) -> anyhow::Result<Vec<TopPost>> {
        self.before_read().await;
        on_conn!(self, |c| likes::table
            .inner_join(posts::table)
            .group_by((posts::id, posts::title))
            .select((posts::id, posts::title, count(likes::id)))
            .order((count(likes::id).desc(), posts::id.asc()))
            .limit(TOP_LIMIT)
            .load::<TopPost>(c))
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
        on_conn!(self, |c| diesel::update(posts::table.find(id))
            .set((
                posts::title.eq(update.title),
                posts::body.eq(update.body),
                posts::version.eq(posts::version + 1),
                posts::updated_at_ms.eq(now_ms),
            ))
            .returning(Post::as_returning())
            .get_result(c)
            .optional())
        .context("Failed to update a post")
    }

    /// Writes a batch of posts as the cache last saw them (the write-back flush), in one
    /// transaction: one statement per post. A row never moves to an older version.
    pub async fn write_posts(&self, batch: Vec<Post>) -> anyhow::Result<usize> {
        self.count(batch.len() as u64);
        on_conn!(self, |c| c.transaction(|c| {
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
        }))
        .context("Failed to flush posts")
    }

    /// Records a like; `false` when the post does not exist. One statement: the insert selects
    /// from the posts table, so a missing post inserts nothing on either backend.
    pub async fn like(&self, post_id: i64, user_id: i64) -> anyhow::Result<bool> {
        self.count(1);
        let inserted = on_conn!(self, |c| diesel::insert_into(likes::table)
            .values(
                posts::table
                    .filter(posts::id.eq(post_id))
                    .select((posts::id, user_id.into_sql::<BigInt>())),
            )
            .into_columns((likes::post_id, likes::user_id))
            .execute(c))
        .context("Failed to record a like")?;
        Ok(inserted == 1)
    }
}
