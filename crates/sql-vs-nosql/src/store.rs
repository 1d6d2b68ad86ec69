//! The operations every engine answers, as one trait, so the demo and the tests can put any two
//! engines side by side and compare both their answers and their timings.
//!
//! Each alternative (`relational`, `key_value`, `document`, `graph`) implements [`SocialStore`]
//! in its own file and imports nothing of the others. The trait says *what* is asked; how each
//! engine answers it (a join, a sorted set, an embedded array, a path pattern) is the lesson.

use async_trait::async_trait;
use serde::Serialize;

use crate::model::{LikedAlike, NewPost, Post, PostId, Profile, TopPost, User, UserId};
use crate::seed::{Dataset, Sizes};

/// Which engine (and which data model on it) answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Engine {
    Postgres,
    MariaDb,
    Sqlite,
    /// Redis with fan-out on write: each post is pushed to its author's followers' timelines.
    RedisFanOutOnWrite,
    /// Redis with fan-out on read: the feed is merged from the followees' own post lists.
    RedisFanOutOnRead,
    /// PostgreSQL `JSONB` used as a document store (the stand-in for MongoDB).
    Documents,
    /// FalkorDB, a graph database speaking Cypher.
    FalkorDb,
}

impl Engine {
    /// Every engine, in the order tables list them.
    pub const ALL: [Engine; 7] = [
        Engine::Postgres,
        Engine::MariaDb,
        Engine::Sqlite,
        Engine::RedisFanOutOnWrite,
        Engine::RedisFanOutOnRead,
        Engine::Documents,
        Engine::FalkorDb,
    ];

    /// The row label in tables.
    pub fn label(self) -> &'static str {
        match self {
            Engine::Postgres => "PostgreSQL",
            Engine::MariaDb => "MariaDB",
            Engine::Sqlite => "SQLite",
            Engine::RedisFanOutOnWrite => "Redis (fan-out on write)",
            Engine::RedisFanOutOnRead => "Redis (fan-out on read)",
            Engine::Documents => "PostgreSQL JSONB documents",
            Engine::FalkorDb => "FalkorDB (Cypher)",
        }
    }

    /// The path segment the HTTP API names it by (`/engines/{slug}/...`).
    pub fn slug(self) -> &'static str {
        match self {
            Engine::Postgres => "postgres",
            Engine::MariaDb => "mariadb",
            Engine::Sqlite => "sqlite",
            Engine::RedisFanOutOnWrite => "redis-fan-out-on-write",
            Engine::RedisFanOutOnRead => "redis-fan-out-on-read",
            Engine::Documents => "documents",
            Engine::FalkorDb => "falkordb",
        }
    }

    /// The engine a path segment names.
    pub fn from_slug(slug: &str) -> Option<Engine> {
        Engine::ALL.into_iter().find(|e| e.slug() == slug)
    }

    /// The family it belongs to, as the seed names them.
    pub fn family(self) -> &'static str {
        match self {
            Engine::Postgres | Engine::MariaDb | Engine::Sqlite => "relational",
            Engine::RedisFanOutOnWrite | Engine::RedisFanOutOnRead => "key-value",
            Engine::Documents => "document",
            Engine::FalkorDb => "graph",
        }
    }
}

/// What an engine's `schema change` did: adding a `lang` field (default `"en"`) to every post.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SchemaChange {
    /// Stored records the engine had to rewrite (0 when the change is metadata only).
    pub rewritten: u64,
}

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The user or post does not exist (a 404 at the HTTP layer).
    #[error("{what} {id} does not exist")]
    NotFound { what: &'static str, id: i64 },
    /// The engine refused or failed; the message is for the log, not for clients.
    #[error("{engine:?}: {message}")]
    Backend { engine: Engine, message: String },
}

impl StoreError {
    /// Shorthand for [`StoreError::Backend`] from any displayable driver error.
    pub fn backend(engine: Engine, error: impl std::fmt::Display) -> Self {
        Self::Backend {
            engine,
            message: error.to_string(),
        }
    }

    /// Shorthand for an unknown user.
    pub fn no_user(id: UserId) -> Self {
        Self::NotFound { what: "user", id }
    }
}

/// The operations of the lesson. Every read's order is total (see [`crate::model`]), so two
/// engines seeded with the same [`Dataset`] return equal values.
#[async_trait]
pub trait SocialStore: Send + Sync {
    /// Which engine this is.
    fn engine(&self) -> Engine;

    /// The sizes of the data set loaded by an earlier [`SocialStore::load`] of the current
    /// generator version, or `None` when the store is empty or holds something else.
    async fn seeded(&self) -> Result<Option<Sizes>, StoreError>;

    /// Empties the store and loads `data` in bulk, calling `progress` with the number of records
    /// written so far (users + follows + posts + likes).
    async fn load(&self, data: &Dataset, progress: &(dyn Fn(u64) + Sync))
    -> Result<(), StoreError>;

    /// A point lookup by primary key.
    async fn user(&self, id: UserId) -> Result<User, StoreError>;

    /// Creates a post (the id continues the sequence) and returns it. Atomic: on error nothing
    /// of the post is visible in any read.
    async fn create_post(&self, post: &NewPost) -> Result<Post, StoreError>;

    /// Deletes a post and its likes (the demo removes the posts it created, so later sections
    /// and later runs read the seeded data set). Deleting a missing post is not an error.
    async fn delete_post(&self, id: PostId) -> Result<(), StoreError> {
        Err(StoreError::backend(
            self.engine(),
            format!("deleting post {id} is not implemented for this engine"),
        ))
    }

    /// Records that `user` likes `post`; liking twice counts once.
    async fn like(&self, user: UserId, post: PostId) -> Result<(), StoreError>;

    /// The user and their `limit` latest posts.
    async fn profile(&self, user: UserId, limit: usize) -> Result<Profile, StoreError>;

    /// The `limit` latest posts by the people `user` follows.
    async fn home_feed(&self, user: UserId, limit: usize) -> Result<Vec<Post>, StoreError>;

    /// The `limit` most liked posts.
    async fn top_posts(&self, limit: usize) -> Result<Vec<TopPost>, StoreError>;

    /// People followed by the people `user` follows, minus `user` and those `user` already
    /// follows: the "people you may know" list, in id order.
    async fn friends_of_friends(&self, user: UserId) -> Result<Vec<UserId>, StoreError>;

    /// How many distinct users `user` reaches by following at most `hops` follow edges
    /// (`user` excluded): the traversal whose cost grows with depth.
    async fn reachable_within(&self, user: UserId, hops: u32) -> Result<u64, StoreError>;

    /// People who liked what `user` liked, most shared likes first.
    async fn liked_alike(&self, user: UserId, limit: usize) -> Result<Vec<LikedAlike>, StoreError>;

    /// Adds a `lang` field with default `"en"` to every post, the way this engine does it.
    async fn add_post_field(&self) -> Result<SchemaChange, StoreError>;

    /// Undoes [`SocialStore::add_post_field`], so the seeded data set can be reused.
    async fn drop_post_field(&self) -> Result<(), StoreError>;
}
