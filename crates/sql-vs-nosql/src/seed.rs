//! The seeded data set: the same users, follows, posts and likes for every engine.
//!
//! Generated from a fixed seed by a small deterministic generator, so every engine receives
//! byte-for-byte the same data and a test can demand the same answers from all of them. Follows
//! and likes are skewed (a few users are followed by many, a few posts liked by many), as in every
//! real social graph: that skew is what makes "top posts" and fan-out interesting.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::model::{Post, PostId, User, UserId};

/// Bumped whenever the generator or a store's load changes (2: the relational load analyses its
/// tables), so a data set seeded by an older version is reseeded rather than reused.
pub const GENERATOR_VERSION: i64 = 2;

/// Cities for the nested-field query of the document model.
pub const CITIES: [&str; 8] = [
    "Lyon", "Porto", "Kyoto", "Austin", "Lagos", "Oslo", "Quito", "Pune",
];

/// The first seeded post's time: 2026-01-01T00:00:00Z, in milliseconds.
pub const EPOCH_MS: i64 = 1_767_225_600_000;
/// Seeded posts are this far apart, so their times are unique.
pub const POST_SPACING_MS: i64 = 1_000;

/// How big the data set is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sizes {
    pub users: i64,
    pub posts: i64,
    pub likes: i64,
    /// Average follows per user (the actual count per user varies around it).
    pub follows_per_user: i64,
}

impl Sizes {
    /// The data set: large enough for the differences to be real.
    pub const FULL: Sizes = Sizes {
        users: 10_000,
        posts: 200_000,
        likes: 1_000_000,
        follows_per_user: 20,
    };
    /// `--quick` and the tests: seeds every engine in about a second.
    pub const QUICK: Sizes = Sizes {
        users: 500,
        posts: 5_000,
        likes: 20_000,
        follows_per_user: 10,
    };
    /// A label for data set names (`10000u`): one stored data set per size.
    pub fn label(&self) -> String {
        format!("{}u{}p{}l", self.users, self.posts, self.likes)
    }
}

/// Everything to load into an engine.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub sizes: Sizes,
    pub users: Vec<User>,
    /// `(follower, followee)`, no duplicates, nobody follows themselves.
    pub follows: Vec<(UserId, UserId)>,
    /// In id order, which is also time order.
    pub posts: Vec<Post>,
    /// `(user, post)`, no duplicates.
    pub likes: Vec<(UserId, PostId)>,
}

impl Dataset {
    /// The time of the latest seeded post: a new post must come after it to be "latest".
    pub fn last_post_at(&self) -> i64 {
        self.posts.last().map_or(EPOCH_MS, |p| p.created_at)
    }
}

/// Builds the data set of `sizes`. The same sizes always give the same data.
pub fn generate(sizes: Sizes) -> Dataset {
    let mut rng = SplitMix64::new(0x5eed_0000 + GENERATOR_VERSION as u64);
    let users = (1..=sizes.users)
        .map(|id| User {
            id,
            handle: format!("user{id}"),
            name: format!("User {id}"),
            city: CITIES[rng.below(CITIES.len() as u64) as usize].to_owned(),
        })
        .collect();

    let mut follows = Vec::new();
    let mut seen = HashSet::new();
    for follower in 1..=sizes.users {
        // Between half and one and a half times the average, so the out-degree varies too.
        let count =
            sizes.follows_per_user / 2 + rng.below(sizes.follows_per_user as u64 + 1) as i64;
        for _ in 0..count {
            let followee = skewed(&mut rng, sizes.users);
            if followee != follower && seen.insert((follower, followee)) {
                follows.push((follower, followee));
            }
        }
    }

    let posts = (1..=sizes.posts)
        .map(|id| {
            let author = skewed_mild(&mut rng, sizes.users);
            Post {
                id,
                author,
                body: format!(
                    "Post {id} by user{author}: {}",
                    LOREM[(id as usize) % LOREM.len()]
                ),
                created_at: EPOCH_MS + (id - 1) * POST_SPACING_MS,
            }
        })
        .collect();

    let mut likes = Vec::with_capacity(sizes.likes as usize);
    let mut seen = HashSet::with_capacity(sizes.likes as usize);
    // Bounded: a tiny data set may not have `likes` distinct pairs to give.
    let mut attempts = 0;
    while (likes.len() as i64) < sizes.likes && attempts < sizes.likes * 4 {
        attempts += 1;
        let pair = (
            1 + rng.below(sizes.users as u64) as i64,
            skewed(&mut rng, sizes.posts),
        );
        if seen.insert(pair) {
            likes.push(pair);
        }
    }

    Dataset {
        sizes,
        users,
        follows,
        posts,
        likes,
    }
}

/// An id in `1..=n`, strongly skewed towards low ids (u³): user 1 is followed by many, most
/// users by few; post 1 is liked by many.
fn skewed(rng: &mut SplitMix64, n: i64) -> i64 {
    let u = rng.unit();
    1 + ((u * u * u) * n as f64) as i64 % n
}

/// Mildly skewed (u²): authorship is less concentrated than attention.
fn skewed_mild(rng: &mut SplitMix64, n: i64) -> i64 {
    let u = rng.unit();
    1 + ((u * u) * n as f64) as i64 % n
}

const LOREM: [&str; 6] = [
    "shipping the new index today",
    "why is the cache cold again",
    "a thread on write skew",
    "fan-out on write, explained",
    "coffee, then migrations",
    "the pager was quiet all night",
];

/// SplitMix64: tiny, fast, and the same on every platform and every version of every crate,
/// which a general-purpose RNG does not promise.
struct SplitMix64(u64);

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0); the modulo bias is irrelevant at these sizes.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_sizes_give_the_same_data() {
        let (a, b) = (generate(Sizes::QUICK), generate(Sizes::QUICK));
        assert_eq!(a.users, b.users);
        assert_eq!(a.follows, b.follows);
        assert_eq!(a.posts, b.posts);
        assert_eq!(a.likes, b.likes);
    }

    #[test]
    fn the_data_set_has_the_requested_shape_and_no_duplicates() {
        let d = generate(Sizes::QUICK);
        assert_eq!(d.users.len() as i64, Sizes::QUICK.users);
        assert_eq!(d.posts.len() as i64, Sizes::QUICK.posts);
        assert_eq!(d.likes.len() as i64, Sizes::QUICK.likes);
        assert!(d.follows.iter().all(|(a, b)| a != b));
        let unique: HashSet<_> = d.follows.iter().collect();
        assert_eq!(unique.len(), d.follows.len());
        assert!(
            d.posts
                .windows(2)
                .all(|w| w[0].created_at < w[1].created_at)
        );
    }
}
