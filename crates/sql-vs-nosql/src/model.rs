//! The one data model every engine stores: users who follow users, write posts and like posts.
//!
//! These are the shapes the operations return, whatever engine answered, so a test can compare
//! two engines' answers with `==`. Every ordering is total (ties broken by id), because "the
//! same results" is only a claim when the order cannot differ by accident.

use serde::{Deserialize, Serialize};

/// A user's id. Seeded users are numbered from 1.
pub type UserId = i64;
/// A post's id. Seeded posts are numbered from 1; new posts continue the sequence.
pub type PostId = i64;

/// The longest post body, in characters (not bytes: "é" is one).
pub const MAX_BODY_CHARS: usize = 280;

/// A user record: what a profile page shows about its owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    /// Unique, lowercase, e.g. `user42`.
    pub handle: String,
    pub name: String,
    /// A nested field in the document model (`profile.city`), a column elsewhere.
    pub city: String,
}

/// A post as every read returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Post {
    pub id: PostId,
    pub author: UserId,
    pub body: String,
    /// Milliseconds since the Unix epoch. Unique among seeded posts, so "latest first" is total.
    pub created_at: i64,
}

/// A post to create. The caller supplies the time, so every engine stores the same post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPost {
    pub author: UserId,
    pub body: String,
    pub created_at: i64,
}

/// A user's page: the user and their latest posts, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub user: User,
    pub posts: Vec<Post>,
}

/// A post in the "top posts" list: most likes first, ties by lower id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopPost {
    pub id: PostId,
    pub author: UserId,
    pub likes: i64,
}

/// "People who liked what you liked": another user and how many of your liked posts they liked
/// too. Most shared first, ties by lower id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LikedAlike {
    pub user: UserId,
    pub shared: i64,
}

/// Why a request was refused before any engine was touched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("the body is empty")]
    EmptyBody,
    #[error("the body has {chars} characters; at most {MAX_BODY_CHARS} are allowed")]
    BodyTooLong { chars: usize },
    #[error("`{field}` must be a positive id, not {value}")]
    InvalidId { field: &'static str, value: i64 },
    #[error("`limit` must be between 1 and {max}, not {value}")]
    InvalidLimit { value: i64, max: usize },
}

/// The most items one read may return.
pub const MAX_LIMIT: usize = 100;

/// Checks a post before any engine sees it, so a refused post writes nothing anywhere.
pub fn validate_post(post: &NewPost) -> Result<(), InputError> {
    validate_id("author", post.author)?;
    let chars = post.body.chars().count();
    if post.body.trim().is_empty() {
        return Err(InputError::EmptyBody);
    }
    if chars > MAX_BODY_CHARS {
        return Err(InputError::BodyTooLong { chars });
    }
    Ok(())
}

/// Ids are positive everywhere (SQL sequences, Redis counters and graph ids all start at 1).
pub fn validate_id(field: &'static str, value: i64) -> Result<i64, InputError> {
    if value > 0 {
        Ok(value)
    } else {
        Err(InputError::InvalidId { field, value })
    }
}

/// A page size between 1 and [`MAX_LIMIT`].
pub fn validate_limit(value: i64) -> Result<usize, InputError> {
    match usize::try_from(value) {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(InputError::InvalidLimit {
            value,
            max: MAX_LIMIT,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(body: &str) -> NewPost {
        NewPost {
            author: 1,
            body: body.to_owned(),
            created_at: 0,
        }
    }

    #[test]
    fn the_length_limit_counts_characters_not_bytes() {
        assert!(validate_post(&post(&"é".repeat(MAX_BODY_CHARS))).is_ok());
        assert_eq!(
            validate_post(&post(&"é".repeat(MAX_BODY_CHARS + 1))),
            Err(InputError::BodyTooLong {
                chars: MAX_BODY_CHARS + 1
            })
        );
    }

    #[test]
    fn blank_bodies_and_non_positive_ids_are_refused() {
        assert_eq!(validate_post(&post("  ")), Err(InputError::EmptyBody));
        assert!(validate_id("user", 0).is_err());
        assert!(validate_limit(0).is_err());
        assert!(validate_limit(101).is_err());
        assert_eq!(validate_limit(20), Ok(20));
    }
}
