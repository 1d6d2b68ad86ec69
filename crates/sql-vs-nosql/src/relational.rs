//! Relational: PostgreSQL, MariaDB and SQLite, through one diesel query text.
//!
//! Four normalised tables (`users`, `follows`, `posts`, `likes`) with primary and foreign keys,
//! and one denormalised counter (`posts.like_count`) kept by the same transaction that inserts a
//! like. Every operation below is written once: `on_connection!` expands it for each engine's
//! connection type, so the compiler checks the same code against all three backends. What cannot
//! be the same SQL (DDL, how an insert returns its id, raw placeholders) lives in `dialect`.
//!
//! The drivers are diesel-async over pure-Rust clients (tokio-postgres, mysql_async) and SQLite
//! bundled: diesel's own MySQL backend links `libmysqlclient`, a system C library that a machine
//! with only Rust does not have.

mod dialect;
mod pool;
mod rows;
mod schema;

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::{
    AsyncConnection, AsyncMysqlConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection,
};

pub use self::dialect::AsyncSqliteConnection;
use self::dialect::{Dialect, NewPostRow};
pub use self::pool::{databases_named, drop_database, ensure_database};
use self::rows::{Batch, FollowRow, LikeRow, MarkerRow, PostRow, SeedPostRow, UserRow};
use self::schema::{follows, likes, posts, seed_marker, users};
use crate::model::{LikedAlike, NewPost, Post, PostId, Profile, TopPost, User, UserId};
use crate::seed::{Dataset, GENERATOR_VERSION, Sizes};
use crate::store::{Engine, SchemaChange, SocialStore, StoreError};

/// Rows per `INSERT` during the bulk load: under every engine's bind-parameter limit (SQLite's
/// 32,766 is the lowest) for the widest table (posts, 5 columns).
const LOAD_BATCH: usize = 4_000;

/// The pooled connections of one engine.
enum Pools {
    Postgres(Pool<AsyncPgConnection>),
    MariaDb(Pool<AsyncMysqlConnection>),
    Sqlite(Pool<AsyncSqliteConnection>),
}

/// One relational engine holding the social model.
pub struct RelationalStore {
    engine: Engine,
    pools: Pools,
}

impl std::fmt::Debug for RelationalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelationalStore")
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

/// Runs `$body` with `$conn` bound to a pooled connection of whichever engine `$store` is.
/// The body is written once and type-checked three times, once per backend.
macro_rules! on_connection {
    ($store:expr, |$conn:ident| $body:expr) => {{
        let engine = $store.engine;
        match &$store.pools {
            Pools::Postgres(pool) => {
                let mut held = pool
                    .get()
                    .await
                    .map_err(|e| StoreError::backend(engine, e))?;
                let $conn: &mut AsyncPgConnection = &mut held;
                $body
            }
            Pools::MariaDb(pool) => {
                let mut held = pool
                    .get()
                    .await
                    .map_err(|e| StoreError::backend(engine, e))?;
                let $conn: &mut AsyncMysqlConnection = &mut held;
                $body
            }
            Pools::Sqlite(pool) => {
                let mut held = pool
                    .get()
                    .await
                    .map_err(|e| StoreError::backend(engine, e))?;
                let $conn: &mut AsyncSqliteConnection = &mut held;
                $body
            }
        }
    }};
}

/// Why a transaction stopped: the database, or a rule of the model checked inside it.
#[derive(Debug)]
enum Abort {
    Db(diesel::result::Error),
    Missing { what: &'static str, id: i64 },
}

impl From<diesel::result::Error> for Abort {
    fn from(e: diesel::result::Error) -> Self {
        Abort::Db(e)
    }
}

impl Abort {
    fn into_store(self, engine: Engine) -> StoreError {
        match self {
            Abort::Db(e) => StoreError::backend(engine, e),
            Abort::Missing { what, id } => StoreError::NotFound { what, id },
        }
    }
}

#[derive(Debug, QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

impl RelationalStore {
    /// PostgreSQL at `url` (a database this store may drop and recreate tables in).
    pub fn postgres(url: &str, pool_size: usize) -> Result<Self, StoreError> {
        let engine = Engine::Postgres;
        Ok(Self {
            engine,
            pools: Pools::Postgres(pool::postgres(url, pool_size)?),
        })
    }

    /// MariaDB (or MySQL) at `url` (`mysql://user@host:port/database`).
    pub fn mariadb(url: &str, pool_size: usize) -> Result<Self, StoreError> {
        let engine = Engine::MariaDb;
        Ok(Self {
            engine,
            pools: Pools::MariaDb(pool::mariadb(url, pool_size)?),
        })
    }

    /// SQLite in the file at `path` (created when missing).
    pub fn sqlite(path: &str, pool_size: usize) -> Result<Self, StoreError> {
        let engine = Engine::Sqlite;
        Ok(Self {
            engine,
            pools: Pools::Sqlite(pool::sqlite(path, pool_size)?),
        })
    }

    fn fail(&self) -> impl Fn(diesel::result::Error) -> StoreError + use<> {
        let engine = self.engine;
        move |e| StoreError::backend(engine, e)
    }

    /// The same point lookup as [`SocialStore::user`], without diesel: one prepared
    /// `SELECT ... WHERE id = $1` on a bare connection, the baseline the goal compares with.
    pub async fn bare_user_lookup(&self, id: UserId) -> Result<(), StoreError> {
        // diesel-async caches the prepared statement per connection, so this is the prepared
        // statement's cost plus the pool checkout.
        let fail = self.fail();
        on_connection!(self, |c| {
            let sql = format!(
                "SELECT count(*) AS n FROM users WHERE id = {}",
                dialect_param(c, 1)
            );
            diesel::sql_query(sql)
                .bind::<BigInt, _>(id)
                .get_result::<Count>(c)
                .await
                .map(drop)
                .map_err(fail)
        })
    }
}

/// `C::param(n)` for a connection value (the macro binds values, not types).
fn dialect_param<C: Dialect>(_: &mut C, n: usize) -> String {
    C::param(n)
}

/// Whether user `$id` exists, on connection `$c` (a macro for the same reason as
/// [`on_connection!`]: one text, three backends).
macro_rules! user_exists {
    ($c:expr, $id:expr) => {
        diesel::select(diesel::dsl::exists(users::table.find($id)))
            .get_result::<bool>($c)
            .await
    };
}

#[async_trait]
impl SocialStore for RelationalStore {
    fn engine(&self) -> Engine {
        self.engine
    }

    async fn seeded(&self) -> Result<Option<Sizes>, StoreError> {
        let found: Result<Option<MarkerRow>, diesel::result::Error> = on_connection!(self, |c| {
            seed_marker::table
                .find(1)
                .first::<MarkerRow>(c)
                .await
                .optional()
        });
        match found {
            Ok(Some(m)) if m.generator_version == GENERATOR_VERSION => Ok(Some(Sizes {
                users: m.users,
                posts: m.posts,
                likes: m.likes,
                follows_per_user: m.follows_per_user,
            })),
            Ok(_) => Ok(None),
            // No marker table yet: nothing was ever loaded here.
            Err(diesel::result::Error::DatabaseError(..)) => Ok(None),
            Err(e) => Err(StoreError::backend(self.engine, e)),
        }
    }

    async fn load(
        &self,
        data: &Dataset,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<(), StoreError> {
        let fail = self.fail();
        let mut like_counts = vec![0_i64; data.posts.len() + 1];
        for &(_, post) in &data.likes {
            if let Some(n) = usize::try_from(post)
                .ok()
                .and_then(|i| like_counts.get_mut(i))
            {
                *n += 1;
            }
        }
        let like_counts = &like_counts;
        on_connection!(self, |c| {
            let ddl = dialect_ddl(c);
            c.batch_execute(ddl).await.map_err(&fail)?;
            let mut written = 0_u64;
            c.transaction(async |c| {
                for batch in batches(data, like_counts) {
                    written += batch.len() as u64;
                    c.insert_batch(batch).await?;
                    progress(written);
                }
                Ok::<_, diesel::result::Error>(())
            })
            .await
            .map_err(&fail)?;
            for index in schema::INDEXES {
                c.batch_execute(index).await.map_err(&fail)?;
            }
            c.after_load().await.map_err(&fail)?;
            diesel::insert_into(seed_marker::table)
                .values(MarkerRow {
                    id: 1,
                    generator_version: GENERATOR_VERSION,
                    users: data.sizes.users,
                    posts: data.sizes.posts,
                    likes: data.sizes.likes,
                    follows_per_user: data.sizes.follows_per_user,
                })
                .execute(c)
                .await
                .map_err(&fail)?;
            Ok(())
        })
    }

    async fn user(&self, id: UserId) -> Result<User, StoreError> {
        let fail = self.fail();
        let row = on_connection!(self, |c| users::table
            .find(id)
            .select(UserRow::as_select())
            .first(c)
            .await
            .optional()
            .map_err(&fail)?);
        row.map(User::from).ok_or(StoreError::no_user(id))
    }

    async fn create_post(&self, post: &NewPost) -> Result<Post, StoreError> {
        let engine = self.engine;
        let id = on_connection!(self, |c| c
            .transaction(async |c| {
                if !user_exists!(c, post.author)? {
                    return Err(Abort::Missing {
                        what: "user",
                        id: post.author,
                    });
                }
                let row = NewPostRow {
                    author: post.author,
                    body: &post.body,
                    created_at: post.created_at,
                };
                Ok(c.insert_post(row).await?)
            })
            .await
            .map_err(|e| e.into_store(engine))?);
        Ok(Post {
            id,
            author: post.author,
            body: post.body.clone(),
            created_at: post.created_at,
        })
    }

    async fn delete_post(&self, id: PostId) -> Result<(), StoreError> {
        let engine = self.engine;
        on_connection!(self, |c| c
            .transaction(async |c| {
                diesel::delete(likes::table.filter(likes::post_id.eq(id)))
                    .execute(c)
                    .await?;
                diesel::delete(posts::table.find(id)).execute(c).await?;
                Ok::<_, Abort>(())
            })
            .await
            .map_err(|e| e.into_store(engine)))
    }

    async fn like(&self, user: UserId, post: PostId) -> Result<(), StoreError> {
        let engine = self.engine;
        on_connection!(self, |c| c
            .transaction(async |c| {
                if !user_exists!(c, user)? {
                    return Err(Abort::Missing {
                        what: "user",
                        id: user,
                    });
                }
                let already = diesel::select(diesel::dsl::exists(likes::table.find((user, post))))
                    .get_result::<bool>(c)
                    .await?;
                if already {
                    return Ok(());
                }
                // The counter first: zero rows updated means no such post, before any like row
                // exists that a foreign key would have to refuse.
                let counted = diesel::update(posts::table.find(post))
                    .set(posts::like_count.eq(posts::like_count + 1))
                    .execute(c)
                    .await?;
                if counted == 0 {
                    return Err(Abort::Missing {
                        what: "post",
                        id: post,
                    });
                }
                diesel::insert_into(likes::table)
                    .values(LikeRow {
                        user_id: user,
                        post_id: post,
                    })
                    .execute(c)
                    .await?;
                Ok(())
            })
            .await
            .map_err(|e| e.into_store(engine)))
    }

    async fn profile(&self, user: UserId, limit: usize) -> Result<Profile, StoreError> {
        let found = self.user(user).await?;
        let fail = self.fail();
        let rows = on_connection!(self, |c| posts::table
            .filter(posts::author.eq(user))
            .order((posts::created_at.desc(), posts::id.desc()))
            .limit(limit as i64)
            .select(PostRow::as_select())
            .load(c)
            .await
            .map_err(&fail)?);
        Ok(Profile {
            user: found,
            posts: rows.into_iter().map(Post::from).collect(),
        })
    }

    async fn home_feed(&self, user: UserId, limit: usize) -> Result<Vec<Post>, StoreError> {
        let fail = self.fail();
        let engine = self.engine;
        let rows = on_connection!(self, |c| {
            if !user_exists!(c, user).map_err(&fail)? {
                return Err(StoreError::no_user(user));
            }
            let followed = follows::table
                .filter(follows::follower.eq(user))
                .select(follows::followee);
            posts::table
                .filter(posts::author.eq_any(followed))
                .order((posts::created_at.desc(), posts::id.desc()))
                .limit(limit as i64)
                .select(PostRow::as_select())
                .load(c)
                .await
                .map_err(|e| StoreError::backend(engine, e))?
        });
        Ok(rows.into_iter().map(Post::from).collect())
    }

    async fn top_posts(&self, limit: usize) -> Result<Vec<TopPost>, StoreError> {
        let fail = self.fail();
        let rows: Vec<(i64, i64, i64)> = on_connection!(self, |c| posts::table
            .order((posts::like_count.desc(), posts::id.asc()))
            .limit(limit as i64)
            .select((posts::id, posts::author, posts::like_count))
            .load(c)
            .await
            .map_err(&fail)?);
        Ok(rows
            .into_iter()
            .map(|(id, author, likes)| TopPost { id, author, likes })
            .collect())
    }

    async fn friends_of_friends(&self, user: UserId) -> Result<Vec<UserId>, StoreError> {
        let fail = self.fail();
        let (first, second) = diesel::alias!(follows as first_hop, follows as second_hop);
        on_connection!(self, |c| {
            if !user_exists!(c, user).map_err(&fail)? {
                return Err(StoreError::no_user(user));
            }
            let already = follows::table
                .filter(follows::follower.eq(user))
                .select(follows::followee);
            first
                .inner_join(
                    second.on(second
                        .field(follows::follower)
                        .eq(first.field(follows::followee))),
                )
                .filter(first.field(follows::follower).eq(user))
                .filter(second.field(follows::followee).ne(user))
                .filter(diesel::dsl::not(
                    second.field(follows::followee).eq_any(already),
                ))
                .select(second.field(follows::followee))
                .distinct()
                .order(second.field(follows::followee).asc())
                .load::<i64>(c)
                .await
                .map_err(&fail)
        })
    }

    async fn reachable_within(&self, user: UserId, hops: u32) -> Result<u64, StoreError> {
        let fail = self.fail();
        on_connection!(self, |c| {
            if !user_exists!(c, user).map_err(&fail)? {
                return Err(StoreError::no_user(user));
            }
            let sql = reachable_sql(
                &dialect_param(c, 1),
                &dialect_param(c, 2),
                &dialect_param(c, 3),
            );
            let count = diesel::sql_query(sql)
                .bind::<BigInt, _>(user)
                .bind::<BigInt, _>(i64::from(hops))
                .bind::<BigInt, _>(user)
                .get_result::<Count>(c)
                .await
                .map_err(&fail)?;
            Ok(count.n.unsigned_abs())
        })
    }

    async fn liked_alike(&self, user: UserId, limit: usize) -> Result<Vec<LikedAlike>, StoreError> {
        let fail = self.fail();
        let (mine, theirs) = diesel::alias!(likes as mine, likes as theirs);
        let rows: Vec<(i64, i64)> = on_connection!(self, |c| {
            if !user_exists!(c, user).map_err(&fail)? {
                return Err(StoreError::no_user(user));
            }
            mine.inner_join(theirs.on(theirs.field(likes::post_id).eq(mine.field(likes::post_id))))
                .filter(mine.field(likes::user_id).eq(user))
                .filter(theirs.field(likes::user_id).ne(user))
                .group_by(theirs.field(likes::user_id))
                .select((theirs.field(likes::user_id), diesel::dsl::count_star()))
                .order((
                    diesel::dsl::count_star().desc(),
                    theirs.field(likes::user_id).asc(),
                ))
                .limit(limit as i64)
                .load(c)
                .await
                .map_err(&fail)?
        });
        Ok(rows
            .into_iter()
            .map(|(user, shared)| LikedAlike { user, shared })
            .collect())
    }

    async fn add_post_field(&self) -> Result<SchemaChange, StoreError> {
        let fail = self.fail();
        let rewritten = on_connection!(self, |c| c.add_lang_column().await.map_err(&fail)?);
        Ok(SchemaChange { rewritten })
    }

    async fn drop_post_field(&self) -> Result<(), StoreError> {
        let fail = self.fail();
        on_connection!(self, |c| c
            .batch_execute("ALTER TABLE posts DROP COLUMN lang")
            .await
            .map_err(&fail))
    }
}

/// The data set as the bulk load's batches, in foreign-key order (users before the rows that
/// name them), built lazily so only one batch is in memory beside the data set.
fn batches<'a>(
    data: &'a Dataset,
    like_counts: &'a [i64],
) -> impl Iterator<Item = Batch> + Send + 'a {
    let users = data.users.chunks(LOAD_BATCH).map(|chunk| {
        Batch::Users(
            chunk
                .iter()
                .map(|u| UserRow {
                    id: u.id,
                    handle: u.handle.clone(),
                    name: u.name.clone(),
                    city: u.city.clone(),
                })
                .collect(),
        )
    });
    let follows = data.follows.chunks(LOAD_BATCH).map(|chunk| {
        Batch::Follows(
            chunk
                .iter()
                .map(|&(follower, followee)| FollowRow { follower, followee })
                .collect(),
        )
    });
    let posts = data.posts.chunks(LOAD_BATCH).map(move |chunk| {
        Batch::Posts(
            chunk
                .iter()
                .map(|p| SeedPostRow {
                    id: p.id,
                    author: p.author,
                    body: p.body.clone(),
                    created_at: p.created_at,
                    like_count: usize::try_from(p.id)
                        .ok()
                        .and_then(|i| like_counts.get(i).copied())
                        .unwrap_or(0),
                })
                .collect(),
        )
    });
    let likes = data.likes.chunks(LOAD_BATCH).map(|chunk| {
        Batch::Likes(
            chunk
                .iter()
                .map(|&(user_id, post_id)| LikeRow { user_id, post_id })
                .collect(),
        )
    });
    users.chain(follows).chain(posts).chain(likes)
}

/// `C::DDL` for a connection value.
fn dialect_ddl<C: Dialect>(_: &mut C) -> &'static str {
    C::DDL
}

/// Everyone reachable within `hops` follow edges, as a recursive CTE. `UNION` (not `UNION ALL`)
/// drops repeated `(id, depth)` pairs, which keeps each level no larger than the user count.
fn reachable_sql(user: &str, hops: &str, again: &str) -> String {
    format!(
        "WITH RECURSIVE reach (id, depth) AS ( \
             SELECT followee, 1 FROM follows WHERE follower = {user} \
             UNION \
             SELECT f.followee, r.depth + 1 FROM reach r JOIN follows f ON f.follower = r.id \
             WHERE r.depth < {hops}) \
         SELECT count(DISTINCT id) AS n FROM reach WHERE id <> {again}"
    )
}
