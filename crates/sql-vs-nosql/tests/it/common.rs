//! What the tests share: a small data set, the answers computed from it in plain Rust (the
//! reference every engine must agree with, in `reference`), and a throwaway database per test.

use std::io::Write;

use sql_vs_nosql::relational::{self, RelationalStore};
use sql_vs_nosql::seed::{self, Dataset, Sizes};
use sql_vs_nosql::store::Engine;
use support::Service;
use support::testkit::{TestDatabase, TestSqlite, require, unique_name};

/// Small enough to load into every engine in well under a second, large enough that every
/// operation has a non-trivial answer.
pub const SMALL: Sizes = Sizes {
    users: 200,
    posts: 2_000,
    likes: 8_000,
    follows_per_user: 8,
};

pub fn small() -> Dataset {
    seed::generate(SMALL)
}

/// The answers computed the slow, obvious way over the [`Dataset`] in memory: what every engine's
/// answer is compared with.
pub mod reference {
    use std::collections::{BTreeSet, HashMap, HashSet};

    use sql_vs_nosql::model::{LikedAlike, Post, PostId, Profile, TopPost, UserId};
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

    /// The user's page: the record and their `limit` latest posts.
    pub fn profile(data: &Dataset, user: UserId, limit: usize) -> Profile {
        Profile {
            user: data.users[(user - 1) as usize].clone(),
            posts: profile_posts(data, user, limit),
        }
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

/// A relational store on a database that exists for one test, removed when this is dropped.
pub struct TestRelational {
    pub store: std::sync::Arc<RelationalStore>,
    _guard: Guard,
}

impl TestRelational {
    /// The store as the HTTP API holds one.
    pub fn shared(&self) -> std::sync::Arc<dyn sql_vs_nosql::store::SocialStore> {
        self.store.clone()
    }
}

#[allow(dead_code)] // held for its Drop
enum Guard {
    Sqlite(TestSqlite),
    Postgres(TestDatabase),
    MariaDb(TestMariaDb),
}

/// A fresh relational store of each engine the claim must hold on: SQLite always; PostgreSQL
/// and MariaDB when they answer (required under `BF_REQUIRE_SERVICES=1`, skipped with a printed
/// line otherwise).
pub async fn every_relational(label: &str) -> anyhow::Result<Vec<TestRelational>> {
    let file = TestSqlite::new(label);
    let mut out = vec![TestRelational {
        store: std::sync::Arc::new(RelationalStore::sqlite(&file.path, 2)?),
        _guard: Guard::Sqlite(file),
    }];
    if let Some(url) = require(Service::Postgres).await {
        let db = TestDatabase::create_async(&url, label).await?;
        out.push(TestRelational {
            store: std::sync::Arc::new(RelationalStore::postgres(&db.url, 2)?),
            _guard: Guard::Postgres(db),
        });
    }
    if let Some(db) = TestMariaDb::create(label).await? {
        out.push(TestRelational {
            store: std::sync::Arc::new(RelationalStore::mariadb(&db.url, 2)?),
            _guard: Guard::MariaDb(db),
        });
    }
    Ok(out)
}

/// A MariaDB database for one test, dropped afterwards.
pub struct TestMariaDb {
    pub url: String,
    server_url: String,
    name: String,
}

impl TestMariaDb {
    /// `None` (with the skip line printed) when MariaDB is unreachable and not required.
    pub async fn create(label: &str) -> anyhow::Result<Option<Self>> {
        let Some(server_url) = require(Service::MariaDb).await else {
            return Ok(None);
        };
        let name = unique_name(label);
        let url = relational::ensure_database(Engine::MariaDb, &server_url, &name).await?;
        Ok(Some(Self {
            url,
            server_url,
            name,
        }))
    }
}

impl Drop for TestMariaDb {
    fn drop(&mut self) {
        let (server_url, name) = (self.server_url.clone(), self.name.clone());
        // Drop is synchronous and may run inside the test's runtime: a thread of its own with
        // its own small runtime can block on the DROP DATABASE.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime
                .block_on(relational::drop_database(
                    Engine::MariaDb,
                    &server_url,
                    &name,
                ))
                .map_err(anyhow::Error::from)
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            let _ = writeln!(
                std::io::stderr(),
                "warning: test database {} was not dropped",
                self.name
            );
        }
    }
}
