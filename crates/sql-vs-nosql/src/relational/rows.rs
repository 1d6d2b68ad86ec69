//! The rows diesel reads and writes, and the batches the bulk load sends.

use diesel::prelude::*;

use super::schema::{follows, likes, posts, seed_marker, users};
use crate::model::{Post, User};

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: i64,
    pub handle: String,
    pub name: String,
    pub city: String,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User {
            id: r.id,
            handle: r.handle,
            name: r.name,
            city: r.city,
        }
    }
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = posts)]
pub struct PostRow {
    pub id: i64,
    pub author: i64,
    pub body: String,
    pub created_at: i64,
}

impl From<PostRow> for Post {
    fn from(r: PostRow) -> Self {
        Post {
            id: r.id,
            author: r.author,
            body: r.body,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = posts)]
pub struct SeedPostRow {
    pub id: i64,
    pub author: i64,
    pub body: String,
    pub created_at: i64,
    pub like_count: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = follows)]
pub struct FollowRow {
    pub follower: i64,
    pub followee: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = likes)]
pub struct LikeRow {
    pub user_id: i64,
    pub post_id: i64,
}

#[derive(Debug, Queryable, Insertable)]
#[diesel(table_name = seed_marker)]
pub struct MarkerRow {
    pub id: i32,
    pub generator_version: i64,
    pub users: i64,
    pub posts: i64,
    pub likes: i64,
    pub follows_per_user: i64,
}

/// One `INSERT` of the bulk load: owned rows, because SQLite's batch runs on a blocking thread.
#[derive(Debug)]
pub enum Batch {
    Users(Vec<UserRow>),
    Follows(Vec<FollowRow>),
    Posts(Vec<SeedPostRow>),
    Likes(Vec<LikeRow>),
}

impl Batch {
    /// Rows in the batch.
    pub fn len(&self) -> usize {
        match self {
            Batch::Users(r) => r.len(),
            Batch::Follows(r) => r.len(),
            Batch::Posts(r) => r.len(),
            Batch::Likes(r) => r.len(),
        }
    }
}
