//! What travels over the wire: the spec's request and response bodies, as Rust types that serde
//! reads and writes and utoipa describes in the OpenAPI document.
//!
//! The subtle rules live in the types, where a reader can see them:
//! - `bio` and `image` are `Option<String>`, serialised as `null` (never omitted), and an empty
//!   string on update becomes `null` (see `users.rs`);
//! - update bodies use `Option<Option<T>>` via [`double_option`] where absent and `null` mean
//!   different things (`tagList`: absent keeps the tags, `null` is refused);
//! - a list item ([`ArticleListItem`]) has no `body` field at all, not a `null` one;
//! - timestamps are RFC 3339 with milliseconds, in UTC ([`timestamp`]).

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::body::double_option;

/// `2026-12-02T21:30:00.123Z`: RFC 3339, UTC, milliseconds (the spec's examples carry them).
pub fn timestamp(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

// ---- users ----

/// The logged-in user, with the token to send back.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub email: String,
    pub token: String,
    pub username: String,
    pub bio: Option<String>,
    pub image: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserResponse {
    pub user: User,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewUserRequest {
    pub user: NewUser,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginUser {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginUserRequest {
    pub user: LoginUser,
}

/// Every field optional; `bio` and `image` may be `null` (or `""`, which means the same) to clear them.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct UpdateUser {
    pub email: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub bio: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub image: Option<Option<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateUserRequest {
    pub user: UpdateUser,
}

// ---- profiles ----

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct Profile {
    pub username: String,
    pub bio: Option<String>,
    pub image: Option<String>,
    pub following: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProfileResponse {
    pub profile: Profile,
}

// ---- articles ----

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Article {
    pub slug: String,
    pub title: String,
    pub description: String,
    pub body: String,
    pub tag_list: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub favorited: bool,
    pub favorites_count: i64,
    pub author: Profile,
}

/// An article in a list: everything but the body (the spec leaves it out to keep lists small).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ArticleListItem {
    pub slug: String,
    pub title: String,
    pub description: String,
    pub tag_list: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub favorited: bool,
    pub favorites_count: i64,
    pub author: Profile,
}

impl From<Article> for ArticleListItem {
    fn from(a: Article) -> Self {
        Self {
            slug: a.slug,
            title: a.title,
            description: a.description,
            tag_list: a.tag_list,
            created_at: a.created_at,
            updated_at: a.updated_at,
            favorited: a.favorited,
            favorites_count: a.favorites_count,
            author: a.author,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SingleArticleResponse {
    pub article: Article,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MultipleArticlesResponse {
    pub articles: Vec<ArticleListItem>,
    /// How many articles match the filters in all, not how many this page holds.
    pub articles_count: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewArticle {
    pub title: String,
    pub description: String,
    pub body: String,
    /// Absent: no tags. `null`: refused (422), as the spec's tests expect.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Vec<String>>)]
    pub tag_list: Option<Option<Vec<String>>>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewArticleRequest {
    pub article: NewArticle,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateArticle {
    pub title: Option<String>,
    pub description: Option<String>,
    pub body: Option<String>,
    /// Absent: the tags stay. An array: the new tags. `null`: refused (422).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Vec<String>>)]
    pub tag_list: Option<Option<Vec<String>>>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateArticleRequest {
    pub article: UpdateArticle,
}

// ---- comments ----

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Comment {
    pub id: i64,
    pub created_at: String,
    pub updated_at: String,
    pub body: String,
    pub author: Profile,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SingleCommentResponse {
    pub comment: Comment,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MultipleCommentsResponse {
    pub comments: Vec<Comment>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewComment {
    pub body: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewCommentRequest {
    pub comment: NewComment,
}

// ---- tags ----

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TagsResponse {
    pub tags: Vec<String>,
}

/// The error body every endpoint answers with.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GenericErrorModel {
    /// Field or resource name to messages: `{"title": ["can't be blank"]}`.
    pub errors: std::collections::BTreeMap<String, Vec<String>>,
}
