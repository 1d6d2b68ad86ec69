//! "The same questions, every engine": each operation of the lesson timed on every connected
//! engine, with a ratio against PostgreSQL (the relational default the recommendation starts
//! from).
//!
//! Each measurement walks a fixed sequence of users (the same on every engine), so no engine
//! answers one hot key from a cache the others do not have.

use serde::Serialize;
use support::measure::{Measurement, Plan, measure};
use support::narrate::Narrator;
use support::report::{Chart, Table};

use crate::model::NewPost;
use crate::seed::Dataset;
use crate::store::{Engine, SocialStore};

/// The operations, in the order the tables print them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Operation {
    PointLookup,
    Profile,
    HomeFeed,
    TopPosts,
    FriendsOfFriends,
    LikedAlike,
    CreatePost,
}

impl Operation {
    pub const ALL: [Operation; 7] = [
        Operation::PointLookup,
        Operation::Profile,
        Operation::HomeFeed,
        Operation::TopPosts,
        Operation::FriendsOfFriends,
        Operation::LikedAlike,
        Operation::CreatePost,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Operation::PointLookup => "Point lookup: a user by id",
            Operation::Profile => "Profile: the user and their 10 latest posts",
            Operation::HomeFeed => "Home feed: 20 latest posts by the people you follow",
            Operation::TopPosts => "Top 10 posts by likes",
            Operation::FriendsOfFriends => "Friends of friends (people you may know)",
            Operation::LikedAlike => "People who liked what you liked (top 10)",
            Operation::CreatePost => "Create a post",
        }
    }
}

/// One engine's timing of one operation.
#[derive(Debug, Clone, Serialize)]
pub struct Timing {
    pub engine: Engine,
    pub operation: Operation,
    pub measurement: Measurement,
}

/// Everything the section measured.
#[derive(Debug, Clone, Serialize)]
pub struct Operations {
    /// The engine ratios are taken against: PostgreSQL when connected, else the first
    /// relational engine of the run (SQLite is always there).
    pub baseline: Engine,
    pub timings: Vec<Timing>,
}

impl Operations {
    /// The median of `operation` on `engine`, in microseconds.
    pub fn p50_us(&self, engine: Engine, operation: Operation) -> Option<f64> {
        self.timings
            .iter()
            .find(|t| t.engine == engine && t.operation == operation)
            .map(|t| t.measurement.p50_us())
    }

    /// The engine with the lowest median for `operation`.
    pub fn fastest(&self, operation: Operation) -> Option<(Engine, f64)> {
        self.timings
            .iter()
            .filter(|t| t.operation == operation)
            .map(|t| (t.engine, t.measurement.p50_us()))
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }
}

/// The `i`th user of a sequence that visits every user in a scattered order (a prime stride,
/// coprime with any user count that is not a multiple of it).
fn nth_user(i: u64, users: i64) -> i64 {
    1 + ((i as i64).wrapping_mul(7_919)).rem_euclid(users)
}

pub async fn run(
    n: &mut Narrator,
    stores: &[&dyn SocialStore],
    data: &Dataset,
    plan: Plan,
) -> anyhow::Result<Operations> {
    n.section("The same questions, every engine");
    let baseline = stores
        .iter()
        .map(|s| s.engine())
        .find(|e| e.family() == "relational")
        .unwrap_or(Engine::Sqlite);
    n.say(&format!(
        "Every connected engine answers the same questions over the same data set; each row \
         walks the same sequence of users. Ratios are against {}'s median.",
        baseline.label()
    ));
    let users = data.sizes.users;
    let mut timings = Vec::new();
    for operation in Operation::ALL {
        let mut table = Table::latency("engine")
            .ratio_against("p50", baseline.label())
            .chart(
                Chart::bars()
                    .log()
                    .of(&["p50", "p99"])
                    .titled(operation.label()),
            );
        for &store in stores {
            let measurement = match operation {
                Operation::PointLookup => {
                    measure(plan, |i| async move {
                        store.user(nth_user(i, users)).await.map(drop)
                    })
                    .await
                }
                Operation::Profile => {
                    measure(plan, |i| async move {
                        store.profile(nth_user(i, users), 10).await.map(drop)
                    })
                    .await
                }
                Operation::HomeFeed => {
                    measure(plan, |i| async move {
                        store.home_feed(nth_user(i, users), 20).await.map(drop)
                    })
                    .await
                }
                Operation::TopPosts => {
                    measure(plan, |_| async move { store.top_posts(10).await.map(drop) }).await
                }
                Operation::FriendsOfFriends => {
                    measure(plan, |i| async move {
                        store.friends_of_friends(nth_user(i, users)).await.map(drop)
                    })
                    .await
                }
                Operation::LikedAlike => {
                    measure(plan, |i| async move {
                        store.liked_alike(nth_user(i, users), 10).await.map(drop)
                    })
                    .await
                }
                // Capped in count as well as time: every post made here is deleted again, and a
                // delete costs more than the create on some engines (a graph's DETACH DELETE).
                Operation::CreatePost => {
                    let capped = Plan {
                        iterations: plan.iterations.min(200),
                        warmup: plan.warmup.min(5),
                        ..plan
                    };
                    create_posts(store, data, capped).await?
                }
            };
            table.row_measured(store.engine().label(), &measurement, []);
            timings.push(Timing {
                engine: store.engine(),
                operation,
                measurement,
            });
        }
        n.say(operation.label());
        n.table(table);
    }
    let figures = Operations { baseline, timings };
    n.figures(&figures)?;
    Ok(figures)
}

/// Times `create_post` and then deletes every post it created, so the data set later sections
/// (and later runs) read is the seeded one.
async fn create_posts(
    store: &dyn SocialStore,
    data: &Dataset,
    plan: Plan,
) -> anyhow::Result<Measurement> {
    let created = std::sync::Mutex::new(Vec::new());
    let (at, users) = (data.last_post_at(), data.sizes.users);
    let created_ref = &created;
    let measurement = measure(plan, |i| async move {
        let i = i as i64;
        let post = store
            .create_post(&NewPost {
                author: nth_user(i as u64, users),
                body: format!("measured post {i}"),
                created_at: at + 1 + i,
            })
            .await?;
        if let Ok(mut ids) = created_ref.lock() {
            ids.push(post.id);
        }
        Ok::<_, crate::store::StoreError>(())
    })
    .await;
    let ids = created.into_inner().unwrap_or_default();
    for id in ids {
        store.delete_post(id).await?;
    }
    Ok(measurement)
}
