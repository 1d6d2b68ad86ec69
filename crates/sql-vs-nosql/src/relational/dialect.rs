//! What differs between the three SQL dialects, so that everything else in `relational` is one
//! query text compiled for each engine.
//!
//! The list is short, and that is the lesson: DDL (identity versus `AUTO_INCREMENT` versus rowid),
//! how a new row's id comes back (`RETURNING` versus `LAST_INSERT_ID()`), raw-SQL placeholders
//! (`$1` versus `?`), and how "add a column" proves it rewrote nothing.

use std::future::Future;

use diesel::QueryResult;
use diesel::sqlite::SqliteConnection;
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{
    AsyncConnection, AsyncMysqlConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection,
};

use super::rows::Batch;
use super::schema::{self, follows, likes, posts, users};

/// SQLite behind diesel-async: the synchronous connection on a blocking thread.
pub type AsyncSqliteConnection = SyncConnectionWrapper<SqliteConnection>;

/// A post row to insert without an id: the engine assigns it.
#[derive(Debug, Clone, diesel::Insertable)]
#[diesel(table_name = posts)]
pub struct NewPostRow<'a> {
    pub author: i64,
    pub body: &'a str,
    pub created_at: i64,
}

#[derive(Debug, diesel::QueryableByName)]
struct Number {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// One SQL dialect: the few places where the same diesel code cannot be the same SQL.
pub trait Dialect: AsyncConnection + SimpleAsyncConnection + Send + 'static {
    /// The tables, dropped and created again.
    const DDL: &'static str;

    /// Raw-SQL placeholder number `n` (1-based).
    fn param(n: usize) -> String;

    /// Inserts one batch of the bulk load as one multi-row `INSERT`.
    fn insert_batch(&mut self, batch: Batch) -> impl Future<Output = QueryResult<usize>> + Send;

    /// Inserts a post and returns the id the engine gave it.
    fn insert_post(&mut self, row: NewPostRow<'_>)
    -> impl Future<Output = QueryResult<i64>> + Send;

    /// Runs after the bulk load, before the first query: fresh statistics, so the planner
    /// knows the tables are no longer empty (a feed planned for empty tables scans them all).
    fn after_load(&mut self) -> impl Future<Output = QueryResult<()>> + Send;

    /// Adds `lang` to every post, and says how many rows the engine rewrote to do it.
    fn add_lang_column(&mut self) -> impl Future<Output = QueryResult<u64>> + Send;
}

const ADD_LANG: &str = "ALTER TABLE posts ADD COLUMN lang VARCHAR(8) NOT NULL DEFAULT 'en'";

/// One multi-row `INSERT` per batch, on an async connection (the same text for two engines).
macro_rules! insert_batch_async {
    ($conn:expr, $batch:expr) => {
        async move {
            match $batch {
                Batch::Users(rows) => {
                    diesel::insert_into(users::table)
                        .values(rows)
                        .execute($conn)
                        .await
                }
                Batch::Follows(rows) => {
                    diesel::insert_into(follows::table)
                        .values(rows)
                        .execute($conn)
                        .await
                }
                Batch::Posts(rows) => {
                    diesel::insert_into(posts::table)
                        .values(rows)
                        .execute($conn)
                        .await
                }
                Batch::Likes(rows) => {
                    diesel::insert_into(likes::table)
                        .values(rows)
                        .execute($conn)
                        .await
                }
            }
        }
    };
}

impl Dialect for AsyncPgConnection {
    const DDL: &'static str = schema::POSTGRES_DDL;

    async fn insert_batch(&mut self, batch: Batch) -> QueryResult<usize> {
        insert_batch_async!(self, batch).await
    }

    fn param(n: usize) -> String {
        format!("${n}")
    }

    fn insert_post(
        &mut self,
        row: NewPostRow<'_>,
    ) -> impl Future<Output = QueryResult<i64>> + Send {
        diesel::insert_into(posts::table)
            .values(row)
            .returning(posts::id)
            .get_result(self)
    }

    fn after_load(&mut self) -> impl Future<Output = QueryResult<()>> + Send {
        // Explicit ids do not move an identity sequence: without the `setval` the first new post
        // would collide with post 1.
        self.batch_execute(
            "SELECT setval(pg_get_serial_sequence('posts', 'id'), (SELECT max(id) FROM posts)); \
             ANALYZE users, follows, posts, likes",
        )
    }

    /// PostgreSQL 11+ stores a constant default in the catalogue: the table file (its
    /// `relfilenode`) is the same before and after, which is the proof that no row was touched.
    async fn add_lang_column(&mut self) -> QueryResult<u64> {
        let file = "SELECT pg_relation_filenode('posts')::bigint AS n";
        let before = diesel::sql_query(file).get_result::<Number>(self).await?.n;
        self.batch_execute(ADD_LANG).await?;
        let after = diesel::sql_query(file).get_result::<Number>(self).await?.n;
        if before == after {
            Ok(0)
        } else {
            let rows = diesel::sql_query("SELECT count(*) AS n FROM posts");
            Ok(rows.get_result::<Number>(self).await?.n.unsigned_abs())
        }
    }
}

impl Dialect for AsyncMysqlConnection {
    const DDL: &'static str = schema::MARIADB_DDL;

    async fn insert_batch(&mut self, batch: Batch) -> QueryResult<usize> {
        insert_batch_async!(self, batch).await
    }

    fn param(_: usize) -> String {
        "?".to_owned()
    }

    /// diesel's MySQL backend has no `RETURNING`; `LAST_INSERT_ID()` is per connection, so it is
    /// this insert's id even with other writers.
    async fn insert_post(&mut self, row: NewPostRow<'_>) -> QueryResult<i64> {
        diesel::insert_into(posts::table)
            .values(row)
            .execute(self)
            .await?;
        let id = diesel::sql_query("SELECT CAST(LAST_INSERT_ID() AS SIGNED) AS n");
        Ok(id.get_result::<Number>(self).await?.n)
    }

    fn after_load(&mut self) -> impl Future<Output = QueryResult<()>> + Send {
        self.batch_execute("ANALYZE TABLE users, follows, posts, likes")
    }

    /// `ALGORITHM=INSTANT` makes InnoDB refuse the change rather than copy the table, so
    /// success is the proof that no row was rewritten (MariaDB 10.3+).
    async fn add_lang_column(&mut self) -> QueryResult<u64> {
        self.batch_execute(&format!("{ADD_LANG}, ALGORITHM=INSTANT"))
            .await?;
        Ok(0)
    }
}

impl Dialect for AsyncSqliteConnection {
    const DDL: &'static str = schema::SQLITE_DDL;

    /// diesel builds SQLite's multi-row `INSERT` only on the synchronous connection, so the
    /// batch runs there, on the wrapper's blocking thread.
    fn insert_batch(&mut self, batch: Batch) -> impl Future<Output = QueryResult<usize>> + Send {
        self.spawn_blocking(move |c| {
            use diesel::RunQueryDsl as Sync;
            match batch {
                Batch::Users(rows) => {
                    Sync::execute(diesel::insert_into(users::table).values(rows), c)
                }
                Batch::Follows(rows) => {
                    Sync::execute(diesel::insert_into(follows::table).values(rows), c)
                }
                Batch::Posts(rows) => {
                    Sync::execute(diesel::insert_into(posts::table).values(rows), c)
                }
                Batch::Likes(rows) => {
                    Sync::execute(diesel::insert_into(likes::table).values(rows), c)
                }
            }
        })
    }

    fn param(_: usize) -> String {
        "?".to_owned()
    }

    fn insert_post(
        &mut self,
        row: NewPostRow<'_>,
    ) -> impl Future<Output = QueryResult<i64>> + Send {
        diesel::insert_into(posts::table)
            .values(row)
            .returning(posts::id)
            .get_result(self)
    }

    fn after_load(&mut self) -> impl Future<Output = QueryResult<()>> + Send {
        self.batch_execute("ANALYZE")
    }

    /// SQLite's `ADD COLUMN` only edits the schema text; rows written before it read the
    /// default when they are read (documented behaviour, no rewrite).
    async fn add_lang_column(&mut self) -> QueryResult<u64> {
        self.batch_execute(ADD_LANG).await?;
        Ok(0)
    }
}
