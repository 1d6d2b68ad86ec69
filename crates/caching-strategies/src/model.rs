//! The data the cache holds: posts, the top-posts list, and the envelope every tier stores.

use serde::{Deserialize, Serialize};

use crate::schema::caching_posts;

/// A blog post. `version` goes up by one on every update: it is the ETag, the race fix's
/// comparison key, and how the demo tells a stale read from a fresh one.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    diesel::Queryable,
    diesel::Selectable,
    diesel::Insertable,
)]
#[diesel(table_name = caching_posts)]
pub struct Post {
    pub id: i64,
    pub title: String,
    pub body: String,
    pub version: i64,
    /// Milliseconds since the Unix epoch; becomes `Last-Modified`.
    pub updated_at_ms: i64,
}

/// One row of "top posts": the aggregation that is expensive to recompute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, diesel::Queryable)]
pub struct TopPost {
    pub id: i64,
    pub title: String,
    pub likes: i64,
}

/// The body of `PUT /…/posts/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostUpdate {
    pub title: String,
    pub body: String,
}

/// What a cache entry holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum CacheValue {
    Post(Post),
    Top(Vec<TopPost>),
    /// Any JSON document rendered once and served many times: what an application that reuses
    /// these tiers stores (the capstone's top-articles page). The strategies here never make one.
    Document(serde_json::Value),
}

/// The envelope every tier stores. Expiry is *logical* (checked against a [`Clock`](crate::clock::Clock)
/// the caller controls) so tests can expire an entry without sleeping; each tier also gets a
/// physical TTL a little longer, so memory is reclaimed even if nobody reads the key again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The post's version (0 for values that have none, such as the top-posts list).
    pub version: i64,
    /// Logical expiry, milliseconds on the strategy's clock.
    pub expires_at_ms: u64,
    /// `None` is a *tombstone*: "this key was invalidated at `version`"; a reader holding an
    /// older value may not put it back (the cache-aside race fix).
    pub value: Option<CacheValue>,
}

impl Entry {
    pub fn post(post: Post, expires_at_ms: u64) -> Self {
        Self {
            version: post.version,
            expires_at_ms,
            value: Some(CacheValue::Post(post)),
        }
    }

    pub fn top(top: Vec<TopPost>, expires_at_ms: u64) -> Self {
        Self {
            version: 0,
            expires_at_ms,
            value: Some(CacheValue::Top(top)),
        }
    }

    /// A rendered document, versioned by the caller (0 when it has no version).
    pub fn document(document: serde_json::Value, version: i64, expires_at_ms: u64) -> Self {
        Self {
            version,
            expires_at_ms,
            value: Some(CacheValue::Document(document)),
        }
    }

    pub fn tombstone(version: i64, expires_at_ms: u64) -> Self {
        Self {
            version,
            expires_at_ms,
            value: None,
        }
    }

    /// Whether a reader at `now_ms` may use this entry.
    pub fn is_fresh(&self, now_ms: u64) -> bool {
        now_ms < self.expires_at_ms
    }
}

/// Cache keys, one place: a typo in a key is a silent permanent miss.
pub mod keys {
    /// The top-posts list.
    pub const TOP: &str = "top";

    /// One post.
    pub fn post(id: i64) -> String {
        format!("post:{id}")
    }
}
