//! FalkorDB: the graph queries in Cypher equal a brute-force computation over the data set.
//!
//! Each test starts its own FalkorDB on a free loopback port and the server dies with the test.
//! Without FalkorDB installed the tests print why they are skipped (and fail under
//! `BF_REQUIRE_SERVICES=1`).

/// The answers computed the slow, obvious way over the [`Dataset`] in memory: what every engine's
/// answer is compared with.
pub mod reference {
    use std::collections::{BTreeSet, HashMap, HashSet};

    use sql_vs_nosql::model::{LikedAlike, Post, PostId, TopPost, UserId};
    use sql_vs_nosql::seed::Dataset;

    pub fn following(data: &Dataset, user: UserId) -> BTreeSet<UserId> {
        data.follows
            .iter()
            .filter(|(a, _)| *a == user)
            .map(|(_, b)| *b)
            .collect()
    }

    pub fn followers(data: &Dataset, user: UserId) -> BTreeSet<UserId> {
        data.follows
            .iter()
            .filter(|(_, b)| *b == user)
            .map(|(a, _)| *a)
            .collect()
    }

    /// Latest first, ties by the higher id.
    fn latest(mut posts: Vec<Post>, limit: usize) -> Vec<Post> {
        posts.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        posts.truncate(limit);
        posts
    }

    pub fn profile_posts(data: &Dataset, user: UserId, limit: usize) -> Vec<Post> {
        let mine = data.posts.iter().filter(|p| p.author == user).cloned();
        latest(mine.collect(), limit)
    }

    pub fn home_feed(data: &Dataset, user: UserId, limit: usize) -> Vec<Post> {
        let followed = following(data, user);
        let theirs = data.posts.iter().filter(|p| followed.contains(&p.author));
        latest(theirs.cloned().collect(), limit)
    }

    /// Every post ranked, liked or not: most likes first, ties by the lower id.
    pub fn top_posts(data: &Dataset, limit: usize) -> Vec<TopPost> {
        let mut likes: HashMap<PostId, i64> = HashMap::new();
        for (_, post) in &data.likes {
            *likes.entry(*post).or_default() += 1;
        }
        let mut top: Vec<TopPost> = data
            .posts
            .iter()
            .map(|p| TopPost {
                id: p.id,
                author: p.author,
                likes: likes.get(&p.id).copied().unwrap_or(0),
            })
            .collect();
        top.sort_by(|a, b| b.likes.cmp(&a.likes).then(a.id.cmp(&b.id)));
        top.truncate(limit);
        top
    }

    pub fn friends_of_friends(data: &Dataset, user: UserId) -> Vec<UserId> {
        let first = following(data, user);
        let mut out = BTreeSet::new();
        for f in &first {
            for g in following(data, *f) {
                if g != user && !first.contains(&g) {
                    out.insert(g);
                }
            }
        }
        out.into_iter().collect()
    }

    /// Breadth-first search over the follow edges, `user` excluded.
    pub fn reachable_within(data: &Dataset, user: UserId, hops: u32) -> u64 {
        let mut out: HashMap<UserId, Vec<UserId>> = HashMap::new();
        for (a, b) in &data.follows {
            out.entry(*a).or_default().push(*b);
        }
        let mut seen = HashSet::from([user]);
        let mut frontier = vec![user];
        for _ in 0..hops {
            let mut next = Vec::new();
            for u in frontier {
                for v in out.get(&u).into_iter().flatten() {
                    if seen.insert(*v) {
                        next.push(*v);
                    }
                }
            }
            frontier = next;
        }
        seen.len() as u64 - 1
    }

    pub fn liked_alike(data: &Dataset, user: UserId, limit: usize) -> Vec<LikedAlike> {
        let mine: HashSet<PostId> = data
            .likes
            .iter()
            .filter(|(u, _)| *u == user)
            .map(|(_, p)| *p)
            .collect();
        let mut shared: HashMap<UserId, i64> = HashMap::new();
        for (u, p) in &data.likes {
            if *u != user && mine.contains(p) {
                *shared.entry(*u).or_default() += 1;
            }
        }
        let mut out: Vec<LikedAlike> = shared
            .into_iter()
            .map(|(user, shared)| LikedAlike { user, shared })
            .collect();
        out.sort_by(|a, b| b.shared.cmp(&a.shared).then(a.user.cmp(&b.user)));
        out.truncate(limit);
        out
    }

    /// The users whose answers the tests compare: the most followed (the skew's head), a few from
    /// the middle and the last one (the tail).
    pub fn sample_users(data: &Dataset) -> Vec<UserId> {
        let n = data.users.len() as i64;
        let mut users = vec![1, 2, 3, n / 3, n / 2, n - 1, n];
        users.dedup();
        users
    }
}
