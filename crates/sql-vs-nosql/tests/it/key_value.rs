//! Redis modelled the way Redis is used: the claims of fan-out on write and on read, the like
//! counter, the tie order, and what a transaction cut before `EXEC` leaves behind.
//!
//! Every test needs a real Redis (skipped with a reason when none answers) and writes under its
//! own key prefix, deleted afterwards, so the tests run in parallel.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sql_vs_nosql::key_value::{FeedStrategy, KeyValueStore, TIMELINE_CAP};
use sql_vs_nosql::model::{NewPost, Post, User};
use sql_vs_nosql::seed::{self, Dataset, Sizes};
use sql_vs_nosql::store::{SocialStore, StoreError};
use support::Service;
use support::testkit::{TestKeys, require};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use super::common::reference;

/// Small enough to load in well under a second, skewed enough to have a celebrity.
const SMALL: Sizes = Sizes {
    users: 200,
    posts: 2_000,
    likes: 5_000,
    follows_per_user: 8,
};

async fn store(
    url: &str,
    keys: &TestKeys,
    strategy: FeedStrategy,
    data: &Dataset,
) -> anyhow::Result<KeyValueStore> {
    let prefix = format!("{}{strategy:?}:", keys.prefix);
    let store = KeyValueStore::connect(url, prefix, strategy).await?;
    store.load(data, &|_| {}).await?;
    Ok(store)
}

fn new_post(data: &Dataset, author: i64, body: &str) -> NewPost {
    NewPost {
        author,
        body: body.to_owned(),
        created_at: data.last_post_at() + 60_000,
    }
}

/// A celebrity's post reaches every follower's timeline at once, and their feeds show it first.
#[tokio::test]
async fn fan_out_on_write_puts_a_new_post_in_every_followers_timeline() -> anyhow::Result<()> {
    let Some(url) = require(Service::Redis).await else {
        return Ok(());
    };
    let keys = TestKeys::new(&url, "kv_fan_out");
    let data = seed::generate(SMALL);
    let kv = store(&url, &keys, FeedStrategy::OnWrite, &data).await?;
    let followers = reference::followers(&data, 1);
    assert!(followers.len() > 10, "user 1 is the skew's celebrity");

    let post = kv.create_post(&new_post(&data, 1, "to all of you")).await?;

    let client = redis::Client::open(url.as_str())?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    for follower in &followers {
        let newest: Vec<String> = redis::cmd("ZREVRANGE")
            .arg(kv.keys().timeline(*follower))
            .arg(0)
            .arg(0)
            .query_async(&mut conn)
            .await?;
        assert_eq!(newest.len(), 1, "follower {follower} has a timeline");
        assert_eq!(newest[0].parse::<i64>()?, post.id, "follower {follower}");
        assert_eq!(kv.home_feed(*follower, 1).await?, vec![post.clone()]);
    }
    let author_timeline: Vec<String> = redis::cmd("ZRANGE")
        .arg(kv.keys().timeline(1))
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await?;
    assert!(
        !author_timeline.contains(&format!("{:012}", post.id)),
        "the author's own feed holds only the people they follow"
    );
    Ok(())
}

/// Both strategies give every user the same feed, before and after a new post: the strategy
/// moves the work, never the answer. Both also equal the brute force over the data set.
#[tokio::test]
async fn fan_out_on_read_gives_the_same_feeds_as_fan_out_on_write() -> anyhow::Result<()> {
    let Some(url) = require(Service::Redis).await else {
        return Ok(());
    };
    let keys = TestKeys::new(&url, "kv_same_feeds");
    let data = seed::generate(SMALL);
    let on_write = store(&url, &keys, FeedStrategy::OnWrite, &data).await?;
    let on_read = store(&url, &keys, FeedStrategy::OnRead, &data).await?;

    for user in reference::sample_users(&data) {
        let expected = reference::home_feed(&data, user, 20);
        assert_eq!(on_write.home_feed(user, 20).await?, expected, "user {user}");
        assert_eq!(on_read.home_feed(user, 20).await?, expected, "user {user}");
    }

    // The same post on both, at the same time as the latest seeded post: the tie is broken by
    // id on both sides.
    let post = NewPost {
        created_at: data.last_post_at(),
        ..new_post(&data, 2, "same time as the last one")
    };
    let (a, b) = (
        on_write.create_post(&post).await?,
        on_read.create_post(&post).await?,
    );
    assert_eq!(a, b);
    for follower in reference::followers(&data, 2) {
        let written = on_write.home_feed(follower, 5).await?;
        assert_eq!(written, on_read.home_feed(follower, 5).await?);
        assert_eq!(written.first(), Some(&a), "follower {follower}");
    }
    Ok(())
}

/// The timeline keeps the newest `TIMELINE_CAP` posts and drops the oldest: the memory bound
/// that makes fan-out on write affordable.
#[tokio::test]
async fn a_timeline_keeps_only_the_newest_cap_posts() -> anyhow::Result<()> {
    let Some(url) = require(Service::Redis).await else {
        return Ok(());
    };
    let keys = TestKeys::new(&url, "kv_cap");
    let data = tiny(&[(1, 2)], &[]);
    let kv = store(&url, &keys, FeedStrategy::OnWrite, &data).await?;
    let mut last = None;
    for i in 0..=TIMELINE_CAP as i64 {
        let post = NewPost {
            author: 2,
            body: format!("post {i}"),
            created_at: data.last_post_at() + i,
        };
        last = Some(kv.create_post(&post).await?);
    }
    let client = redis::Client::open(url.as_str())?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let len: usize = redis::cmd("ZCARD")
        .arg(kv.keys().timeline(1))
        .query_async(&mut conn)
        .await?;
    assert_eq!(len, TIMELINE_CAP);
    assert_eq!(kv.home_feed(1, 1).await?.first(), last.as_ref());
    Ok(())
}

/// Liking twice is one like: the counter moves only when the like is new.
#[tokio::test]
async fn a_like_counted_twice_counts_once() -> anyhow::Result<()> {
    let Some(url) = require(Service::Redis).await else {
        return Ok(());
    };
    let keys = TestKeys::new(&url, "kv_like_once");
    let data = tiny(&[], &[]);
    let kv = store(&url, &keys, FeedStrategy::OnRead, &data).await?;

    kv.like(3, 5).await?;
    kv.like(3, 5).await?;
    kv.like(1, 5).await?;

    let top = kv.top_posts(1).await?;
    assert_eq!((top[0].id, top[0].likes), (5, 2));
    assert_eq!(kv.liked_alike(1, 10).await?[0].shared, 1);
    assert!(matches!(
        kv.like(3, 999).await,
        Err(StoreError::NotFound { what: "post", .. })
    ));
    assert!(matches!(
        kv.like(999, 5).await,
        Err(StoreError::NotFound { what: "user", .. })
    ));
    Ok(())
}

/// Most likes first and, among equal likes, the lower id, even where byte order disagrees
/// ("9" sorts after "10"), then every post nobody liked, by id.
#[tokio::test]
async fn top_posts_honour_the_tie_order() -> anyhow::Result<()> {
    let Some(url) = require(Service::Redis).await else {
        return Ok(());
    };
    let keys = TestKeys::new(&url, "kv_ties");
    let likes = [(1, 11), (2, 11), (3, 11), (1, 10), (2, 10), (1, 9), (2, 9)];
    let data = tiny(&[], &likes);
    let kv = store(&url, &keys, FeedStrategy::OnRead, &data).await?;

    let top: Vec<(i64, i64)> = kv
        .top_posts(6)
        .await?
        .into_iter()
        .map(|t| (t.id, t.likes))
        .collect();
    assert_eq!(top, [(11, 3), (9, 2), (10, 2), (1, 0), (2, 0), (3, 0)]);
    assert_eq!(kv.top_posts(12).await?, reference::top_posts(&data, 12));

    // A like moves a post past its equals, and the order stays total.
    kv.like(3, 10).await?;
    let ids: Vec<i64> = kv.top_posts(3).await?.iter().map(|t| t.id).collect();
    assert_eq!(ids, [10, 11, 9]);
    Ok(())
}

/// "People who liked what you liked" honours its tie order too: most shared first, ties by the
/// lower id, across the boundary of the limit.
#[tokio::test]
async fn liked_alike_breaks_ties_by_the_lower_id_at_the_limit() -> anyhow::Result<()> {
    let Some(url) = require(Service::Redis).await else {
        return Ok(());
    };
    let keys = TestKeys::new(&url, "kv_alike_ties");
    // User 1 likes posts 1 and 2; users 10 and 9 share both, users 3..=8 and 11 share one.
    let mut likes = vec![(1, 1), (1, 2), (9, 1), (9, 2), (10, 1), (10, 2)];
    likes.extend((3..=8).chain([11]).map(|u| (u, 1)));
    let data = tiny(&[], &likes);
    let kv = store(&url, &keys, FeedStrategy::OnRead, &data).await?;

    for limit in [1, 2, 3, 5, 20] {
        assert_eq!(
            kv.liked_alike(1, limit).await?,
            reference::liked_alike(&data, 1, limit),
            "limit {limit}"
        );
    }
    Ok(())
}

/// A transaction whose connection dies before `EXEC` is discarded whole: no post, no copy in any
/// timeline, no entry in the author's list or in `top`. The failure is real: a proxy in front of
/// Redis closes the connection as the client sends `EXEC`.
#[tokio::test]
async fn a_create_post_cut_before_exec_leaves_nothing_behind() -> anyhow::Result<()> {
    let Some(url) = require(Service::Redis).await else {
        return Ok(());
    };
    let keys = TestKeys::new(&url, "kv_cut");
    let data = seed::generate(SMALL);
    let direct = store(&url, &keys, FeedStrategy::OnWrite, &data).await?;
    let proxy = CutBeforeExec::start(&url).await?;
    let cut = KeyValueStore::connect(
        &proxy.url(),
        direct.keys().prefix().to_owned(),
        FeedStrategy::OnWrite,
    )
    .await?;
    let followers = reference::followers(&data, 1);
    let feeds_before = feeds(&direct, &followers).await?;
    let profile_before = direct.profile(1, 5).await?;
    let top_before = direct.top_posts(10).await?;

    let outcome = cut.create_post(&new_post(&data, 1, "never seen")).await;

    assert!(outcome.is_err(), "the cut must fail the write: {outcome:?}");
    assert!(proxy.cut_once(), "the proxy saw EXEC");
    assert_eq!(feeds(&direct, &followers).await?, feeds_before);
    assert_eq!(direct.profile(1, 5).await?, profile_before);
    assert_eq!(direct.top_posts(10).await?, top_before);
    let client = redis::Client::open(url.as_str())?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let taken: i64 = redis::cmd("GET")
        .arg(direct.keys().next_post_id())
        .query_async(&mut conn)
        .await?;
    let exists: bool = redis::cmd("EXISTS")
        .arg(direct.keys().post(taken))
        .query_async(&mut conn)
        .await?;
    assert!(
        !exists,
        "post {taken}'s id was taken, its record never written"
    );
    Ok(())
}

/// Every read that names a user refuses an unknown one with `NotFound`, on both strategies.
#[tokio::test]
async fn an_unknown_user_is_not_found() -> anyhow::Result<()> {
    let Some(url) = require(Service::Redis).await else {
        return Ok(());
    };
    let keys = TestKeys::new(&url, "kv_unknown");
    let data = tiny(&[(1, 2)], &[(1, 1)]);
    for strategy in FeedStrategy::ALL {
        let kv = store(&url, &keys, strategy, &data).await?;
        let missing = 4_242;
        let not_found = |r: Result<(), StoreError>| matches!(r, Err(StoreError::NotFound { what: "user", id }) if id == missing);
        assert!(not_found(kv.user(missing).await.map(drop)));
        assert!(not_found(kv.profile(missing, 5).await.map(drop)));
        assert!(not_found(kv.home_feed(missing, 5).await.map(drop)));
        assert!(not_found(kv.friends_of_friends(missing).await.map(drop)));
        assert!(not_found(kv.reachable_within(missing, 2).await.map(drop)));
        assert!(not_found(kv.liked_alike(missing, 5).await.map(drop)));
        assert!(not_found(
            kv.create_post(&new_post(&data, missing, "x"))
                .await
                .map(drop)
        ));
    }
    Ok(())
}

/// A load leaves a marker with the generator version and the sizes; a store of the other
/// strategy on the same keys does not take them as its own (it has no timelines, or ignores
/// them), and an empty prefix is not seeded.
#[tokio::test]
async fn load_then_seeded_reports_the_sizes() -> anyhow::Result<()> {
    let Some(url) = require(Service::Redis).await else {
        return Ok(());
    };
    let keys = TestKeys::new(&url, "kv_seeded");
    let prefix = keys.key("shared:");
    let on_write = KeyValueStore::connect(&url, prefix.clone(), FeedStrategy::OnWrite).await?;
    assert_eq!(on_write.seeded().await?, None);

    let data = seed::generate(SMALL);
    let progress = std::sync::Mutex::new(Vec::new());
    on_write
        .load(&data, &|n| {
            if let Ok(mut seen) = progress.lock() {
                seen.push(n);
            }
        })
        .await?;

    assert_eq!(on_write.seeded().await?, Some(SMALL));
    let on_read = KeyValueStore::connect(&url, prefix, FeedStrategy::OnRead).await?;
    assert_eq!(on_read.seeded().await?, None);
    let seen = progress.into_inner().unwrap_or_default();
    let total =
        (data.users.len() + data.follows.len() + data.posts.len() + data.likes.len()) as u64;
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "progress only grows");
    assert_eq!(seen.last(), Some(&total));
    Ok(())
}

/// Every read equals the brute force over the data set: profile, feed, top posts, friends of
/// friends, reachability at depths 1 to 3, liked-alike, the point lookup.
#[tokio::test]
async fn every_read_equals_the_brute_force_over_the_data_set() -> anyhow::Result<()> {
    let Some(url) = require(Service::Redis).await else {
        return Ok(());
    };
    let keys = TestKeys::new(&url, "kv_reads");
    let data = seed::generate(SMALL);
    let kv = store(&url, &keys, FeedStrategy::OnRead, &data).await?;

    assert_eq!(kv.top_posts(50).await?, reference::top_posts(&data, 50));
    for user in reference::sample_users(&data) {
        let expected: &User = &data.users[user as usize - 1];
        assert_eq!(&kv.user(user).await?, expected);
        assert_eq!(
            kv.user_by_handle(&expected.handle).await?.as_ref(),
            Some(expected)
        );
        let profile = kv.profile(user, 10).await?;
        assert_eq!(profile.posts, reference::profile_posts(&data, user, 10));
        assert_eq!(
            kv.friends_of_friends(user).await?,
            reference::friends_of_friends(&data, user),
            "user {user}"
        );
        for hops in 0..=3 {
            assert_eq!(
                kv.reachable_within(user, hops).await?,
                reference::reachable_within(&data, user, hops),
                "user {user}, {hops} hops"
            );
        }
        assert_eq!(
            kv.liked_alike(user, 10).await?,
            reference::liked_alike(&data, user, 10),
            "user {user}"
        );
    }
    Ok(())
}

/// The demo's clean-up takes a post back entirely: the feeds, the author's list and `top` are
/// as they were before it was created.
#[tokio::test]
async fn delete_post_takes_back_every_copy() -> anyhow::Result<()> {
    let Some(url) = require(Service::Redis).await else {
        return Ok(());
    };
    let keys = TestKeys::new(&url, "kv_delete");
    let data = seed::generate(SMALL);
    let kv = store(&url, &keys, FeedStrategy::OnWrite, &data).await?;
    let followers = reference::followers(&data, 1);
    let before = feeds(&kv, &followers).await?;
    let profile = kv.profile(1, 5).await?;

    let post = kv.create_post(&new_post(&data, 1, "gone soon")).await?;
    kv.like(2, post.id).await?;
    kv.delete_post(post.id).await?;

    assert_eq!(feeds(&kv, &followers).await?, before);
    assert_eq!(kv.profile(1, 5).await?, profile);
    assert_eq!(kv.top_posts(20).await?, reference::top_posts(&data, 20));
    assert_eq!(
        kv.liked_alike(2, 50).await?,
        reference::liked_alike(&data, 2, 50)
    );
    kv.delete_post(post.id).await?;
    Ok(())
}

/// A full timeline that loses a post (a new one deleted again, or a seeded one) is topped up
/// with the post it had evicted: it is again the latest `TIMELINE_CAP` posts of the people its
/// owner follows, exactly as a fresh load would build it.
#[tokio::test]
async fn deleting_a_post_tops_a_full_timeline_back_up() -> anyhow::Result<()> {
    let Some(url) = require(Service::Redis).await else {
        return Ok(());
    };
    let keys = TestKeys::new(&url, "kv_top_up");
    // User 1 follows 2 and 3, who wrote 1.2 timelines' worth between them; two posts share a
    // time, so the tie by id is exercised at the boundary too.
    let mut data = tiny(&[(1, 2), (1, 3)], &[]);
    data.posts = (1..=(TIMELINE_CAP as i64 * 6 / 5))
        .map(|id| Post {
            id,
            author: 2 + id % 2,
            body: format!("post {id}"),
            created_at: seed::EPOCH_MS + (id / 2) * 1_000,
        })
        .collect();
    data.sizes.posts = data.posts.len() as i64;
    let kv = store(&url, &keys, FeedStrategy::OnWrite, &data).await?;
    let client = redis::Client::open(url.as_str())?;
    let conn = client.get_multiplexed_async_connection().await?;
    let timeline = kv.keys().timeline(1);
    let read = |mut conn: redis::aio::MultiplexedConnection| {
        let timeline = timeline.clone();
        async move {
            redis::cmd("ZRANGE")
                .arg(&timeline)
                .arg(0)
                .arg(-1)
                .query_async::<Vec<String>>(&mut conn)
                .await
        }
    };
    let loaded = read(conn.clone()).await?;
    assert_eq!(loaded.len(), TIMELINE_CAP);

    let post = kv
        .create_post(&new_post(&data, 2, "evicts the oldest"))
        .await?;
    kv.delete_post(post.id).await?;
    assert_eq!(
        read(conn.clone()).await?,
        loaded,
        "the evicted post is back"
    );

    // A seeded post from the middle: the timeline reaches one further back.
    let middle = data.posts[data.posts.len() - 300].id;
    kv.delete_post(middle).await?;
    data.posts.retain(|p| p.id != middle);
    let expected: Vec<i64> = reference::home_feed(&data, 1, TIMELINE_CAP)
        .iter()
        .rev()
        .map(|p| p.id)
        .collect();
    let now: Vec<i64> = read(conn.clone())
        .await?
        .iter()
        .map(|m| m.parse())
        .collect::<Result<_, _>>()?;
    assert_eq!(now, expected);
    Ok(())
}

/// A hand-made data set: users 1 to 12, post `i` by user `i` at second `i`, the given follows
/// and likes.
fn tiny(follows: &[(i64, i64)], likes: &[(i64, i64)]) -> Dataset {
    let users: Vec<User> = (1..=12)
        .map(|id| User {
            id,
            handle: format!("user{id}"),
            name: format!("User {id}"),
            city: "Oslo".to_owned(),
        })
        .collect();
    let posts: Vec<Post> = (1..=12)
        .map(|id| Post {
            id,
            author: id,
            body: format!("post {id}"),
            created_at: seed::EPOCH_MS + id * 1_000,
        })
        .collect();
    Dataset {
        sizes: Sizes {
            users: 12,
            posts: 12,
            likes: likes.len() as i64,
            follows_per_user: 0,
        },
        users,
        follows: follows.to_vec(),
        posts,
        likes: likes.to_vec(),
    }
}

async fn feeds(
    kv: &KeyValueStore,
    users: &std::collections::BTreeSet<i64>,
) -> anyhow::Result<Vec<Vec<Post>>> {
    let mut out = Vec::new();
    for user in users {
        out.push(kv.home_feed(*user, 20).await?);
    }
    Ok(out)
}

/// A TCP proxy in front of Redis that closes the first connection to send `EXEC`, just before
/// forwarding it: the server has queued the transaction and never receives the command that
/// would run it.
struct CutBeforeExec {
    addr: std::net::SocketAddr,
    cut: Arc<AtomicBool>,
    accept: tokio::task::JoinHandle<()>,
}

impl CutBeforeExec {
    async fn start(redis_url: &str) -> anyhow::Result<Self> {
        let target = url::Url::parse(redis_url)?;
        let target = format!(
            "{}:{}",
            target.host_str().unwrap_or("127.0.0.1"),
            target.port().unwrap_or(6379)
        );
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let cut = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&cut);
        let accept = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let (target, flag) = (target.clone(), Arc::clone(&flag));
                tokio::spawn(async move {
                    if let Ok(outbound) = TcpStream::connect(&target).await {
                        forward(inbound, outbound, flag).await;
                    }
                });
            }
        });
        Ok(Self { addr, cut, accept })
    }

    fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    fn cut_once(&self) -> bool {
        self.cut.load(Ordering::SeqCst)
    }
}

impl Drop for CutBeforeExec {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Copies both ways; on the client's side, stops at the first `EXEC` (unless one was cut
/// already) and closes both sockets instead of forwarding it.
async fn forward(mut client: TcpStream, server: TcpStream, cut: Arc<AtomicBool>) {
    const EXEC: &[u8] = b"\r\nEXEC\r\n";
    let (mut from_server, mut to_server) = server.into_split();
    let (mut from_client, mut to_client) = client.split();
    let upstream = async {
        let mut buf = vec![0u8; 64 * 1024];
        // The last bytes of the previous read, so a command split across reads is still seen.
        let mut tail: Vec<u8> = Vec::new();
        loop {
            let n = match from_client.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let mut window = std::mem::take(&mut tail);
            let carried = window.len();
            window.extend_from_slice(&buf[..n]);
            let found = window.windows(EXEC.len()).position(|w| w == EXEC);
            if let Some(at) = found
                && !cut.swap(true, Ordering::SeqCst)
            {
                let before = at.saturating_sub(carried);
                let _ = to_server.write_all(&buf[..before.min(n)]).await;
                return;
            }
            if to_server.write_all(&buf[..n]).await.is_err() {
                return;
            }
            tail = window[window.len().saturating_sub(EXEC.len())..].to_vec();
        }
    };
    let downstream = async {
        let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
    };
    // Whichever side ends first ends the connection: dropping both halves closes the sockets.
    tokio::select! {
        () = upstream => {}
        () = downstream => {}
    }
}

/// The fan-out section measures writes without leaving a trace: after it ran, every feed, the
/// celebrity's profile, the top posts and the next post id are what they were, on both
/// strategies, and its sentence reads the figures it measured.
#[tokio::test]
async fn the_fan_out_section_leaves_every_answer_as_it_found_it() -> anyhow::Result<()> {
    let Some(url) = require(Service::Redis).await else {
        return Ok(());
    };
    let keys = TestKeys::new(&url, "kv_section");
    let data = seed::generate(SMALL);
    let write = store(&url, &keys, FeedStrategy::OnWrite, &data).await?;
    let read = store(&url, &keys, FeedStrategy::OnRead, &data).await?;
    let everyone: std::collections::BTreeSet<i64> = data.users.iter().map(|u| u.id).collect();
    let before = (feeds(&write, &everyone).await?, write.profile(1, 10).await?);

    let args = support::demo::DemoArgs {
        silent: true,
        ..Default::default()
    };
    let mut n = support::narrate::Narrator::new("test", "test", &args);
    let figures = sql_vs_nosql::demo::fan_out::run(&mut n, &write, &read, &data, true).await?;

    assert_eq!(
        (feeds(&write, &everyone).await?, write.profile(1, 10).await?),
        before
    );
    for kv in [&write, &read] {
        assert_eq!(feeds(kv, &everyone).await?, feeds(&read, &everyone).await?);
        assert_eq!(kv.top_posts(20).await?, reference::top_posts(&data, 20));
        let next = kv
            .create_post(&new_post(&data, 2, "after the section"))
            .await?;
        assert_eq!(next.id, data.posts.len() as i64 + 1, "{:?}", kv.strategy());
    }
    assert_eq!(
        figures.celebrity_followers as usize,
        reference::followers(&data, 1).len()
    );
    assert!(figures.timelines.entries > 0);
    let said = n
        .report()
        .sections
        .last()
        .map(|s| format!("{:?}", s.blocks));
    assert!(said.unwrap_or_default().contains(&figures.sentence()));
    Ok(())
}
