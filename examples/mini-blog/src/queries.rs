//! The queries more than one endpoint needs: rows, and the views the API answers with.
//!
//! An article as the API shows it is six facts from five tables (the row, its author, its tags,
//! how many favourited it, whether the viewer did, whether the viewer follows the author).
//! [`article_views`] gathers them for a whole page in six queries with `IN (...)` lists, however
//! long the page: never one query per article (the N+1 problem a naive ORM walk produces).
//!
//! Every function takes a connection, so a caller can run several in one transaction on one
//! connection, inside [`Db::interact`](support::db::Db::interact) (diesel is synchronous).

use std::collections::{HashMap, HashSet};

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::model::{Article, Comment, Profile, timestamp};
use crate::schema::{
    blog_article_tags as t, blog_articles as a, blog_comments as c, blog_favorites as f,
    blog_follows as fo, blog_users as u,
};

/// The backend a boxed query is built for: whichever of PostgreSQL and SQLite the pool holds.
pub type Backend = <AnyConnection as diesel::Connection>::Backend;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::schema::blog_users)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub bio: Option<String>,
    pub image: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::schema::blog_articles)]
pub struct ArticleRow {
    pub id: i64,
    pub slug: String,
    pub title: String,
    pub description: String,
    pub body: String,
    pub author_id: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::schema::blog_comments)]
pub struct CommentRow {
    pub id: i64,
    pub article_id: i64,
    pub author_id: i64,
    pub body: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

pub fn user_by_id(conn: &mut AnyConnection, id: i64) -> QueryResult<Option<UserRow>> {
    u::table
        .find(id)
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

pub fn user_by_username(conn: &mut AnyConnection, username: &str) -> QueryResult<Option<UserRow>> {
    u::table
        .filter(u::username.eq(username))
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

pub fn user_by_email(conn: &mut AnyConnection, email: &str) -> QueryResult<Option<UserRow>> {
    u::table
        .filter(u::email.eq(email))
        .select(UserRow::as_select())
        .first(conn)
        .optional()
}

pub fn article_by_slug(conn: &mut AnyConnection, slug: &str) -> QueryResult<Option<ArticleRow>> {
    a::table
        .filter(a::slug.eq(slug))
        .select(ArticleRow::as_select())
        .first(conn)
        .optional()
}

/// Whether `follower` follows `followee`.
pub fn follows(conn: &mut AnyConnection, follower: i64, followee: i64) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        fo::table
            .filter(fo::follower_id.eq(follower))
            .filter(fo::followee_id.eq(followee)),
    ))
    .get_result(conn)
}

/// `user` as `viewer` sees them.
pub fn profile(
    conn: &mut AnyConnection,
    user: &UserRow,
    viewer: Option<i64>,
) -> QueryResult<Profile> {
    let following = match viewer {
        Some(viewer) => follows(conn, viewer, user.id)?,
        None => false,
    };
    Ok(Profile {
        username: user.username.clone(),
        bio: user.bio.clone(),
        image: user.image.clone(),
        following,
    })
}

/// The API's view of `rows`, in the same order, as `viewer` sees them.
pub fn article_views(
    conn: &mut AnyConnection,
    rows: Vec<ArticleRow>,
    viewer: Option<i64>,
) -> QueryResult<Vec<Article>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let author_ids: Vec<i64> = rows
        .iter()
        .map(|r| r.author_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();

    let authors: HashMap<i64, UserRow> = u::table
        .filter(u::id.eq_any(&author_ids))
        .select(UserRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|user| (user.id, user))
        .collect();
    let mut tags: HashMap<i64, Vec<String>> = HashMap::new();
    // Ordered by tag: the spec's tests expect `tagList` sorted.
    for (id, tag) in t::table
        .filter(t::article_id.eq_any(&ids))
        .order((t::article_id, t::tag))
        .select((t::article_id, t::tag))
        .load::<(i64, String)>(conn)?
    {
        tags.entry(id).or_default().push(tag);
    }
    let counts: HashMap<i64, i64> = f::table
        .filter(f::article_id.eq_any(&ids))
        .group_by(f::article_id)
        .select((f::article_id, diesel::dsl::count_star()))
        .load::<(i64, i64)>(conn)?
        .into_iter()
        .collect();
    let (favorited, following): (HashSet<i64>, HashSet<i64>) = match viewer {
        Some(viewer) => (
            f::table
                .filter(f::user_id.eq(viewer))
                .filter(f::article_id.eq_any(&ids))
                .select(f::article_id)
                .load::<i64>(conn)?
                .into_iter()
                .collect(),
            fo::table
                .filter(fo::follower_id.eq(viewer))
                .filter(fo::followee_id.eq_any(&author_ids))
                .select(fo::followee_id)
                .load::<i64>(conn)?
                .into_iter()
                .collect(),
        ),
        None => (HashSet::new(), HashSet::new()),
    };

    rows.into_iter()
        .map(|row| {
            let author = authors.get(&row.author_id).ok_or(diesel::NotFound)?;
            Ok(Article {
                favorited: favorited.contains(&row.id),
                favorites_count: counts.get(&row.id).copied().unwrap_or(0),
                tag_list: tags.remove(&row.id).unwrap_or_default(),
                author: Profile {
                    username: author.username.clone(),
                    bio: author.bio.clone(),
                    image: author.image.clone(),
                    following: following.contains(&author.id),
                },
                slug: row.slug,
                title: row.title,
                description: row.description,
                body: row.body,
                created_at: timestamp(row.created_at),
                updated_at: timestamp(row.updated_at),
            })
        })
        .collect()
}

/// One article's view.
pub fn article_view(
    conn: &mut AnyConnection,
    row: ArticleRow,
    viewer: Option<i64>,
) -> QueryResult<Article> {
    article_views(conn, vec![row], viewer)?
        .pop()
        .ok_or(diesel::NotFound)
}

/// The comments' views, oldest first.
pub fn comment_views(
    conn: &mut AnyConnection,
    rows: Vec<CommentRow>,
    viewer: Option<i64>,
) -> QueryResult<Vec<Comment>> {
    let author_ids: Vec<i64> = rows.iter().map(|r| r.author_id).collect();
    let authors: HashMap<i64, UserRow> = u::table
        .filter(u::id.eq_any(&author_ids))
        .select(UserRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|user| (user.id, user))
        .collect();
    let following: HashSet<i64> = match viewer {
        Some(viewer) => fo::table
            .filter(fo::follower_id.eq(viewer))
            .filter(fo::followee_id.eq_any(&author_ids))
            .select(fo::followee_id)
            .load::<i64>(conn)?
            .into_iter()
            .collect(),
        None => HashSet::new(),
    };
    rows.into_iter()
        .map(|row| {
            let author = authors.get(&row.author_id).ok_or(diesel::NotFound)?;
            Ok(Comment {
                id: row.id,
                created_at: timestamp(row.created_at),
                updated_at: timestamp(row.updated_at),
                body: row.body,
                author: Profile {
                    username: author.username.clone(),
                    bio: author.bio.clone(),
                    image: author.image.clone(),
                    following: following.contains(&author.id),
                },
            })
        })
        .collect()
}

/// The comments of article `article_id`, oldest first.
pub fn comments_of(conn: &mut AnyConnection, article_id: i64) -> QueryResult<Vec<CommentRow>> {
    c::table
        .filter(c::article_id.eq(article_id))
        .order(c::id)
        .select(CommentRow::as_select())
        .load(conn)
}

/// `INSERT … ON CONFLICT DO NOTHING` of one (a, b) pair of ids into `table`: following,
/// favouriting. Written as SQL because diesel's multi-backend connection cannot express the
/// conflict clause, though both databases understand it in this exact spelling (`$n`
/// placeholders included: SQLite reads `$1` as a parameter named "1", numbered in order).
pub fn insert_pair_ignoring_duplicates(
    conn: &mut AnyConnection,
    table: Pair,
    a: i64,
    b: i64,
) -> QueryResult<usize> {
    use diesel::sql_types::BigInt;
    let sql = match table {
        Pair::Follow => {
            "INSERT INTO blog_follows (follower_id, followee_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        }
        Pair::Favorite => {
            "INSERT INTO blog_favorites (user_id, article_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        }
    };
    diesel::sql_query(sql)
        .bind::<BigInt, _>(a)
        .bind::<BigInt, _>(b)
        .execute(conn)
}

/// The two tables of id pairs.
#[derive(Debug, Clone, Copy)]
pub enum Pair {
    /// (follower, followee)
    Follow,
    /// (user, article)
    Favorite,
}

/// Whether a diesel error is a unique-constraint violation (a taken username, email or slug).
pub fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

/// Which constraint a unique violation hit, as far as the message tells (PostgreSQL names the
/// constraint, `blog_users_email_key`; SQLite the column, `blog_users.email`).
pub fn violated(e: &diesel::result::Error) -> Option<String> {
    match e {
        diesel::result::Error::DatabaseError(_, info) => Some(format!(
            "{} {}",
            info.constraint_name().unwrap_or_default(),
            info.message()
        )),
        _ => None,
    }
}
