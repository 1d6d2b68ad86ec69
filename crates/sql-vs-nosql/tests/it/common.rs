//! What the tests share: a small data set, the answers computed from it in plain Rust (the
//! oracle every engine must agree with), and a throwaway database per test on each server.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::io::Write;

use sql_vs_nosql::model::{LikedAlike, Post, PostId, Profile, TopPost, UserId};
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

/// The answers, computed from the data set without any engine.
pub struct Oracle<'a> {
    data: &'a Dataset,
    following: HashMap<UserId, BTreeSet<UserId>>,
    liked: HashMap<UserId, BTreeSet<PostId>>,
    likers: HashMap<PostId, BTreeSet<UserId>>,
}

impl<'a> Oracle<'a> {
    pub fn new(data: &'a Dataset) -> Self {
        let mut following: HashMap<_, BTreeSet<_>> = HashMap::new();
        for &(a, b) in &data.follows {
            following.entry(a).or_default().insert(b);
        }
        let (mut liked, mut likers): (HashMap<_, BTreeSet<_>>, HashMap<_, BTreeSet<_>>) =
            (HashMap::new(), HashMap::new());
        for &(u, p) in &data.likes {
            liked.entry(u).or_default().insert(p);
            likers.entry(p).or_default().insert(u);
        }
        Self {
            data,
            following,
            liked,
            likers,
        }
    }

    fn latest(&self, mut posts: Vec<Post>, limit: usize) -> Vec<Post> {
        posts.sort_by_key(|p| std::cmp::Reverse((p.created_at, p.id)));
        posts.truncate(limit);
        posts
    }

    pub fn profile(&self, user: UserId, limit: usize) -> Profile {
        let posts = self
            .data
            .posts
            .iter()
            .filter(|p| p.author == user)
            .cloned()
            .collect();
        Profile {
            user: self.data.users[(user - 1) as usize].clone(),
            posts: self.latest(posts, limit),
        }
    }

    pub fn home_feed(&self, user: UserId, limit: usize) -> Vec<Post> {
        let empty = BTreeSet::new();
        let followed = self.following.get(&user).unwrap_or(&empty);
        let posts = self
            .data
            .posts
            .iter()
            .filter(|p| followed.contains(&p.author))
            .cloned()
            .collect();
        self.latest(posts, limit)
    }

    pub fn top_posts(&self, limit: usize) -> Vec<TopPost> {
        let mut top: Vec<TopPost> = self
            .data
            .posts
            .iter()
            .map(|p| TopPost {
                id: p.id,
                author: p.author,
                likes: self.likers.get(&p.id).map_or(0, |s| s.len() as i64),
            })
            .collect();
        top.sort_by(|a, b| (b.likes, a.id).cmp(&(a.likes, b.id)));
        top.truncate(limit);
        top
    }

    pub fn friends_of_friends(&self, user: UserId) -> Vec<UserId> {
        let empty = BTreeSet::new();
        let direct = self.following.get(&user).unwrap_or(&empty);
        let mut out = BTreeSet::new();
        for f in direct {
            for g in self.following.get(f).unwrap_or(&empty) {
                if *g != user && !direct.contains(g) {
                    out.insert(*g);
                }
            }
        }
        out.into_iter().collect()
    }

    pub fn reachable_within(&self, user: UserId, hops: u32) -> u64 {
        let empty = BTreeSet::new();
        let mut seen = HashSet::from([user]);
        let mut queue = VecDeque::from([(user, 0)]);
        while let Some((u, d)) = queue.pop_front() {
            if d == hops {
                continue;
            }
            for v in self.following.get(&u).unwrap_or(&empty) {
                if seen.insert(*v) {
                    queue.push_back((*v, d + 1));
                }
            }
        }
        (seen.len() - 1) as u64
    }

    pub fn liked_alike(&self, user: UserId, limit: usize) -> Vec<LikedAlike> {
        let empty = BTreeSet::new();
        let mut shared: BTreeMap<UserId, i64> = BTreeMap::new();
        for p in self.liked.get(&user).unwrap_or(&empty) {
            for o in self.likers.get(p).unwrap_or(&empty) {
                if *o != user {
                    *shared.entry(*o).or_default() += 1;
                }
            }
        }
        let mut out: Vec<LikedAlike> = shared
            .into_iter()
            .map(|(user, shared)| LikedAlike { user, shared })
            .collect();
        out.sort_by(|a, b| (b.shared, a.user).cmp(&(a.shared, b.user)));
        out.truncate(limit);
        out
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
