//! A post as stored and as served, and the two writes the demo's writer and the tests make.

use chrono::{NaiveDateTime, Timelike};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::db::AnyConnection;
use crate::schema::pagination_posts::dsl as p;

/// One row of the feed. `created_at` is a UTC instant with microsecond precision, the finest
/// PostgreSQL `timestamp` keeps: anything finer would not survive the round trip through a cursor.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Serialize, Deserialize)]
#[diesel(table_name = crate::schema::pagination_posts)]
pub struct Post {
    pub id: i64,
    pub created_at: NaiveDateTime,
    pub author: String,
    pub title: String,
    pub body: String,
}

/// A post to insert; the database assigns the id.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = crate::schema::pagination_posts)]
pub struct NewPost {
    pub created_at: NaiveDateTime,
    pub author: String,
    pub title: String,
    pub body: String,
}

impl NewPost {
    /// A post stamped `created_at` (cut to microseconds, see [`Post`]).
    pub fn at(created_at: NaiveDateTime, title: impl Into<String>) -> Self {
        let micros = created_at.nanosecond() / 1_000 * 1_000;
        Self {
            created_at: created_at.with_nanosecond(micros).unwrap_or(created_at),
            author: "writer".to_owned(),
            title: title.into(),
            body: "A post written while someone was paging.".to_owned(),
        }
    }
}

/// Inserts one post and returns its id. (A second query instead of `RETURNING`, because the
/// multi-backend connection only offers what every backend supports.)
pub fn insert(conn: &mut AnyConnection, post: &NewPost) -> QueryResult<i64> {
    conn.write_transaction(|conn| {
        diesel::insert_into(p::pagination_posts)
            .values(post)
            .execute(conn)?;
        p::pagination_posts
            .select(diesel::dsl::max(p::id))
            .first::<Option<i64>>(conn)
            .map(Option::unwrap_or_default)
    })
}

/// Deletes the post with the largest id at or below `at_most`, returning its id (if any).
pub fn delete_newest_up_to(conn: &mut AnyConnection, at_most: i64) -> QueryResult<Option<i64>> {
    conn.write_transaction(|conn| {
        let target = p::pagination_posts
            .filter(p::id.le(at_most))
            .select(diesel::dsl::max(p::id))
            .first::<Option<i64>>(conn)?;
        if let Some(id) = target {
            diesel::delete(p::pagination_posts.filter(p::id.eq(id))).execute(conn)?;
        }
        Ok(target)
    })
}

/// The number of rows: what the optional `total` costs.
pub fn count(conn: &mut AnyConnection) -> QueryResult<i64> {
    p::pagination_posts.count().get_result(conn)
}
