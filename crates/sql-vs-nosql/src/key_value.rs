//! Redis as Redis is used: no tables and no joins, but one key per thing a read needs, shaped
//! like the read. Every question the lesson asks is answered from hashes, sets and sorted sets
//! that were laid out for it in advance.
//!
//! ```text
//! {p}user:{id}          hash   id, handle, name, city          user(), profile()
//! {p}handles            hash   handle -> id                    user_by_handle()
//! {p}following:{id}     set    whom id follows                 feeds, friends of friends, BFS
//! {p}followers:{id}     set    who follows id                  fan-out on write
//! {p}post:{id}          hash   id, author, body, created_at    every read that returns posts
//! {p}posts:{author}     zset   post -> created_at              profile(), fan-out on read
//! {p}timeline:{id}      zset   post -> created_at, capped      fan-out on write's feed
//! {p}top                zset   post -> likes (with tie-break)  top_posts()
//! {p}likers:{post}      set    who liked the post              liked_alike()
//! {p}likes:{user}       set    what the user liked             liked_alike()
//! {p}next_post_id       string the post id counter (INCR)      create_post()
//! {p}seeded             hash   generator version and sizes     seeded()
//! ```
//!
//! The price of that shape is paid on writes and in memory: one follow is written twice
//! (`following` and `followers`), one like twice plus a counter, and with fan-out on write one
//! post is copied into every follower's timeline. That is the classic trade: the feed becomes
//! one `ZREVRANGE`, and a celebrity's post becomes thousands of writes. [`FeedStrategy`] picks
//! which side pays; the demo measures both.
//!
//! Two rules of Redis shape the code:
//!
//! - **Round trips, not commands, are the cost.** A read issues its independent commands as one
//!   pipeline (the existence check rides along with the first read instead of costing a trip of
//!   its own). A read that needs the answer of an earlier one (the ids, then the posts) costs one
//!   more trip; a Lua function could fold them into one, at the price of logic hidden in the
//!   server.
//! - **`MULTI`/`EXEC` is all-or-nothing only until `EXEC`.** A transaction whose connection dies
//!   before `EXEC`, or one of whose commands is refused while queued, is discarded whole. But
//!   Redis never rolls back: a command that fails *while executing* (`WRONGTYPE` on a key that
//!   holds something else) leaves the others applied. Redis calls that a programming error, and
//!   here it is one: only this code writes these keys.
//!
//! Sorted sets order equal scores by member, byte by byte, and `"9" > "10"`. So post ids in
//! sorted sets are zero-padded to a fixed width (bytes order = numeric order), and the `top` set
//! folds the tie-break into the score (see [`top_score`]), so that Redis's own order is the
//! model's total order and no read has to fetch extra entries to fix ties client-side.
//!
//! What production would add: a cluster needs hash tags (`{user:42}`) to keep the multi-key
//! commands on one shard; follows would be written by a `follow` operation that this lesson
//! does not have (they are only seeded); a real timeline stores ids only for active users.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands as _;
use redis::aio::ConnectionManager;
use serde::Serialize;

use crate::model::{LikedAlike, NewPost, Post, PostId, Profile, TopPost, User, UserId};
use crate::seed::{Dataset, GENERATOR_VERSION, Sizes};
use crate::store::{Engine, SchemaChange, SocialStore, StoreError};

/// Where the feed is assembled: when a post is written, or when a feed is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum FeedStrategy {
    /// Each new post is copied into every follower's timeline; a feed is one range read.
    OnWrite,
    /// Each author keeps only their own posts; a feed merges the followees' lists.
    OnRead,
}

impl FeedStrategy {
    pub const ALL: [FeedStrategy; 2] = [FeedStrategy::OnWrite, FeedStrategy::OnRead];

    /// The engine row this strategy fills in the tables.
    pub fn engine(self) -> Engine {
        match self {
            FeedStrategy::OnWrite => Engine::RedisFanOutOnWrite,
            FeedStrategy::OnRead => Engine::RedisFanOutOnRead,
        }
    }

    fn marker(self) -> &'static str {
        match self {
            FeedStrategy::OnWrite => "on-write",
            FeedStrategy::OnRead => "on-read",
        }
    }
}

/// How many posts a timeline keeps. The classic fan-out-on-write trade-off: a cap bounds the
/// memory (users × cap entries) and the cost of each copy, and a feed can never page further
/// back than the cap. A feed reads at most [`crate::model::MAX_LIMIT`] posts, far below it.
pub const TIMELINE_CAP: usize = 1_000;

/// Commands per pipeline while loading: large enough that the round trip is amortised, small
/// enough that one reply stays a few hundred kilobytes and progress moves.
const LOAD_PIPELINE_COMMANDS: usize = 2_000;
/// Arguments per pipeline while loading (a grouped `SADD` carries many).
const LOAD_PIPELINE_ARGS: usize = 40_000;
/// Members per grouped `SADD`/`ZADD`/`HSET` while loading.
const LOAD_GROUP: usize = 1_000;
/// Keys per `SUNION` in the breadth-first search (one huge command would block Redis longer).
const SUNION_KEYS: usize = 500;
/// A temporary key outlives a client that died mid-read by at most this long.
const TEMP_KEY_TTL_SECS: i64 = 30;

/// Width of a post id in a sorted-set member.
const MEMBER_WIDTH: usize = 12;

/// One like in the `top` score. Scores are doubles, exact up to 2⁵³: with ids below 2³² this
/// leaves 2²¹ (two million) likes per post before two scores could collide.
const LIKE_STEP: i64 = 1 << 32;

/// `likes` in the high part, `-id` in the low part: more likes sort higher, and among equal
/// likes the lower id has the higher score, so `ZREVRANGE` yields the model's order directly.
pub fn top_score(likes: i64, id: PostId) -> i64 {
    likes * LIKE_STEP - id
}

/// The like count a `top` score encodes (exact: see [`LIKE_STEP`]).
fn likes_from_score(score: f64, id: PostId) -> i64 {
    ((score + id as f64) / LIKE_STEP as f64).round() as i64
}

/// A post id as a sorted-set member: fixed width, so equal scores order by id.
fn member(id: PostId) -> String {
    format!("{id:0MEMBER_WIDTH$}")
}

/// Records that a user likes a post, once. A script because the counter must move only when the
/// like is new, and `MULTI` cannot branch on a reply inside the transaction. The alternative,
/// `WATCH` plus a retry loop, needs a connection of its own per attempt (the watch belongs to the
/// connection, and this store multiplexes one among all callers). A script runs atomically: no
/// other command runs between its `SADD` and its `ZINCRBY`.
const LIKE_SCRIPT: &str = r"
-- KEYS: user hash, post hash, likers of the post, likes of the user, top
-- ARGV: user id, post id, post member, one like's score step
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('EXISTS', KEYS[2]) == 0 then return -2 end
if redis.call('SADD', KEYS[3], ARGV[1]) == 0 then return 0 end
redis.call('SADD', KEYS[4], ARGV[2])
redis.call('ZINCRBY', KEYS[5], ARGV[4], ARGV[3])
return 1
";

/// Moves the post id counter back, but only if it still reads what the caller last took: a
/// compare-and-set, so an id handed out to anyone else in between is never handed out again.
const REWIND_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
";

/// What fan-out on write keeps in memory for the feeds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Footprint {
    /// Users with a timeline.
    pub timelines: u64,
    /// Post ids across all timelines (each post is stored once per follower).
    pub entries: u64,
    /// What Redis reports (`MEMORY USAGE`) for those keys.
    pub bytes: u64,
}

/// The key layout under one prefix (see the module's table).
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn user(&self, id: UserId) -> String {
        format!("{}user:{id}", self.prefix)
    }

    pub fn handles(&self) -> String {
        format!("{}handles", self.prefix)
    }

    pub fn following(&self, id: UserId) -> String {
        format!("{}following:{id}", self.prefix)
    }

    pub fn followers(&self, id: UserId) -> String {
        format!("{}followers:{id}", self.prefix)
    }

    pub fn post(&self, id: PostId) -> String {
        format!("{}post:{id}", self.prefix)
    }

    pub fn posts_by(&self, author: UserId) -> String {
        format!("{}posts:{author}", self.prefix)
    }

    pub fn timeline(&self, user: UserId) -> String {
        format!("{}timeline:{user}", self.prefix)
    }

    pub fn top(&self) -> String {
        format!("{}top", self.prefix)
    }

    pub fn likers(&self, post: PostId) -> String {
        format!("{}likers:{post}", self.prefix)
    }

    pub fn likes(&self, user: UserId) -> String {
        format!("{}likes:{user}", self.prefix)
    }

    pub fn next_post_id(&self) -> String {
        format!("{}next_post_id", self.prefix)
    }

    pub fn seeded(&self) -> String {
        format!("{}seeded", self.prefix)
    }

    /// A key no concurrent call uses, for a read's intermediate result.
    fn temp(&self, label: &str) -> String {
        format!("{}tmp:{}", self.prefix, support::names::unique_name(label))
    }

    /// A `SCAN MATCH` pattern for every key under the prefix (glob characters in it escaped).
    fn everything(&self) -> String {
        let mut pattern = String::with_capacity(self.prefix.len() + 1);
        for c in self.prefix.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('*');
        pattern
    }
}

/// The social model on Redis, with the feed built on write or on read.
#[derive(Clone)]
pub struct KeyValueStore {
    conn: ConnectionManager,
    keys: Keys,
    strategy: FeedStrategy,
    like: redis::Script,
}

impl std::fmt::Debug for KeyValueStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyValueStore")
            .field("prefix", &self.keys.prefix)
            .field("strategy", &self.strategy)
            .finish_non_exhaustive()
    }
}

impl KeyValueStore {
    /// Connects to `redis_url`; every key this store touches starts with `prefix`. Give each
    /// strategy its own prefix: a store seeded on read has no timelines to serve a feed from,
    /// and [`SocialStore::seeded`] answers `None` for the other strategy's data.
    pub async fn connect(
        redis_url: &str,
        prefix: impl Into<String>,
        strategy: FeedStrategy,
    ) -> Result<Self, StoreError> {
        let engine = strategy.engine();
        let client = redis::Client::open(redis_url).map_err(|e| StoreError::backend(engine, e))?;
        // A bounded connect: an unreachable Redis fails in seconds, not after the default
        // back-off. No response timeout: loading and a celebrity's fan-out take a while.
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(2))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| StoreError::backend(engine, e))?;
        Ok(Self {
            conn,
            keys: Keys::new(prefix),
            strategy,
            like: redis::Script::new(LIKE_SCRIPT),
        })
    }

    pub fn strategy(&self) -> FeedStrategy {
        self.strategy
    }

    /// The key layout, for tests and the demo that look under the hood.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// A user by handle: the secondary index a key-value store has to keep by hand (one more
    /// hash, one more round trip: the index, then the record).
    pub async fn user_by_handle(&self, handle: &str) -> Result<Option<User>, StoreError> {
        let id: Option<UserId> = self
            .conn()
            .hget(self.keys.handles(), handle)
            .await
            .map_err(|e| self.fail(e))?;
        match id {
            None => Ok(None),
            Some(id) => match self.user(id).await {
                Ok(user) => Ok(Some(user)),
                Err(StoreError::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            },
        }
    }

    /// Removes a post and every copy and count of it; whether it existed.
    ///
    /// On fan-out on write, removing a post from a timeline already at [`TIMELINE_CAP`] leaves
    /// it one short: the post it once evicted is gone from it. So each such timeline is topped
    /// up with the newest post of its followees older than its oldest entry, which is exactly
    /// the one that was evicted, and the timeline is again the latest `TIMELINE_CAP` posts of
    /// the people its owner follows. (Not atomic with the removal: a post created meanwhile
    /// can leave a timeline one entry off until the next trim. Production systems accept
    /// that, or rebuild timelines from the follow graph in the background.)
    async fn remove_post(&self, id: PostId) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let (author, likers): (Option<UserId>, Vec<UserId>) = redis::pipe()
            .hget(self.keys.post(id), "author")
            .smembers(self.keys.likers(id))
            .query_async(&mut conn)
            .await
            .map_err(|e| self.fail(e))?;
        let Some(author) = author else {
            return Ok(false);
        };
        let followers = self.followers_to_fan_out(author).await?;
        let m = member(id);
        let mut tx = redis::pipe();
        tx.atomic()
            .del(self.keys.post(id))
            .ignore()
            .zrem(self.keys.posts_by(author), &m)
            .ignore()
            .zrem(self.keys.top(), &m)
            .ignore()
            .del(self.keys.likers(id))
            .ignore();
        for liker in likers {
            tx.srem(self.keys.likes(liker), id).ignore();
        }
        for follower in &followers {
            let timeline = self.keys.timeline(*follower);
            tx.zrem(&timeline, &m).zcard(&timeline);
        }
        let replies: Vec<usize> = tx.query_async(&mut conn).await.map_err(|e| self.fail(e))?;
        // Removed from it (1), and now one below the cap: it was full.
        let short: Vec<UserId> = followers
            .iter()
            .zip(replies.chunks(2))
            .filter(|(_, r)| r == &[1, TIMELINE_CAP - 1])
            .map(|(f, _)| *f)
            .collect();
        for chunk in short.chunks(LOAD_GROUP) {
            self.top_up(chunk).await?;
        }
        Ok(true)
    }

    /// Adds to each user's timeline the newest post of their followees that is older, in the
    /// feed's order (time, then id), than the timeline's oldest entry.
    async fn top_up(&self, users: &[UserId]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let mut pipe = redis::pipe();
        for user in users {
            pipe.smembers(self.keys.following(*user));
        }
        let following: Vec<Vec<UserId>> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| self.fail(e))?;
        let mut pipe = redis::pipe();
        for user in users {
            pipe.zrange_withscores(self.keys.timeline(*user), 0, 0);
        }
        let oldest: Vec<Vec<(String, i64)>> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| self.fail(e))?;
        let mut asks = Vec::new();
        let mut pipe = redis::pipe();
        for ((user, followees), oldest) in users.iter().zip(&following).zip(&oldest) {
            let Some((m, at)) = oldest.first() else {
                continue;
            };
            let bound = (*at, self.number(m)?);
            for f in followees {
                let list = self.keys.posts_by(*f);
                // The newest strictly older in time, and any at the same time (ties by id).
                pipe.zrevrangebyscore_limit_withscores(&list, format!("({at}"), "-inf", 0, 1)
                    .zrangebyscore_withscores(&list, *at, *at);
            }
            asks.push((*user, bound, followees.len()));
        }
        if asks.is_empty() {
            return Ok(());
        }
        let lists: Vec<Vec<(String, i64)>> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| self.fail(e))?;
        let mut lists = lists.into_iter();
        let mut adds = redis::pipe();
        let mut any = false;
        for (user, bound, followees) in asks {
            let mut best: Option<(i64, PostId)> = None;
            for (m, at) in lists.by_ref().take(followees * 2).flatten() {
                let candidate = (at, self.number(&m)?);
                if candidate < bound && best.is_none_or(|b| candidate > b) {
                    best = Some(candidate);
                }
            }
            if let Some((at, id)) = best {
                adds.zadd(self.keys.timeline(user), member(id), at).ignore();
                any = true;
            }
        }
        if any {
            adds.query_async::<()>(&mut conn)
                .await
                .map_err(|e| self.fail(e))?;
        }
        Ok(())
    }

    /// Deletes posts a caller created and then, if they were the last ids handed out and
    /// contiguous, moves the id counter back before them, so the next post gets the id it
    /// would have had: how the demo measures writes without changing any later answer.
    /// Returns whether the counter was moved back.
    pub async fn take_back(&self, ids: &[PostId]) -> Result<bool, StoreError> {
        for id in ids {
            self.remove_post(*id).await?;
        }
        let (Some(first), Some(last)) = (ids.iter().min(), ids.iter().max()) else {
            return Ok(false);
        };
        // A gap means an id was taken by a write that failed, or by someone else: leave it.
        if (last - first + 1) as usize != ids.len() {
            return Ok(false);
        }
        let rewound: i64 = redis::Script::new(REWIND_SCRIPT)
            .key(self.keys.next_post_id())
            .arg(*last)
            .arg(first - 1)
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| self.fail(e))?;
        Ok(rewound == 1)
    }

    /// Counts the timelines of `users` and what Redis says they occupy (exactly: every entry is
    /// measured, not sampled), in pipelines of a thousand users.
    pub async fn timeline_footprint(&self, users: &[UserId]) -> Result<Footprint, StoreError> {
        let mut total = Footprint::default();
        for chunk in users.chunks(LOAD_GROUP) {
            let mut pipe = redis::pipe();
            for user in chunk {
                let key = self.keys.timeline(*user);
                pipe.zcard(&key)
                    .cmd("MEMORY")
                    .arg("USAGE")
                    .arg(&key)
                    .arg("SAMPLES")
                    .arg(0);
            }
            let replies: Vec<Option<u64>> = pipe
                .query_async(&mut self.conn())
                .await
                .map_err(|e| self.fail(e))?;
            for pair in replies.chunks(2) {
                if let [Some(entries), bytes] = pair
                    && *entries > 0
                {
                    total.timelines += 1;
                    total.entries += entries;
                    total.bytes += bytes.unwrap_or(0);
                }
            }
        }
        Ok(total)
    }

    fn conn(&self) -> ConnectionManager {
        // A handle to the one multiplexed connection: cloning is cheap and every clone shares it.
        self.conn.clone()
    }

    fn engine_id(&self) -> Engine {
        self.strategy.engine()
    }

    fn fail(&self, error: impl std::fmt::Display) -> StoreError {
        StoreError::backend(self.engine_id(), error)
    }

    /// The followers a new post is copied to: all of them on write, nobody on read.
    async fn followers_to_fan_out(&self, author: UserId) -> Result<Vec<UserId>, StoreError> {
        match self.strategy {
            FeedStrategy::OnRead => Ok(Vec::new()),
            FeedStrategy::OnWrite => self
                .conn()
                .smembers(self.keys.followers(author))
                .await
                .map_err(|e| self.fail(e)),
        }
    }

    /// The posts with these ids, in the given order, one pipelined `HGETALL` each. A post
    /// deleted in between (the demo's cleanup) is skipped rather than returned half-empty.
    async fn posts(&self, ids: &[PostId]) -> Result<Vec<Post>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in ids {
            pipe.hgetall(self.keys.post(*id));
        }
        let hashes: Vec<HashMap<String, String>> = pipe
            .query_async(&mut self.conn())
            .await
            .map_err(|e| self.fail(e))?;
        hashes
            .into_iter()
            .filter(|h| !h.is_empty())
            .map(|h| self.parse_post(&h))
            .collect()
    }

    fn parse_post(&self, h: &HashMap<String, String>) -> Result<Post, StoreError> {
        Ok(Post {
            id: self.field(h, "id")?,
            author: self.field(h, "author")?,
            body: self.text(h, "body")?,
            created_at: self.field(h, "created_at")?,
        })
    }

    fn parse_user(&self, h: &HashMap<String, String>) -> Result<User, StoreError> {
        Ok(User {
            id: self.field(h, "id")?,
            handle: self.text(h, "handle")?,
            name: self.text(h, "name")?,
            city: self.text(h, "city")?,
        })
    }

    fn text(&self, h: &HashMap<String, String>, name: &str) -> Result<String, StoreError> {
        h.get(name)
            .cloned()
            .ok_or_else(|| self.fail(format!("a hash lacks its `{name}` field")))
    }

    fn field(&self, h: &HashMap<String, String>, name: &str) -> Result<i64, StoreError> {
        self.number(&self.text(h, name)?)
    }

    fn number(&self, s: &str) -> Result<i64, StoreError> {
        s.parse()
            .map_err(|_| self.fail(format!("`{s}` is not an integer")))
    }

    /// Post ids from sorted-set members.
    fn ids(&self, members: &[String]) -> Result<Vec<PostId>, StoreError> {
        members.iter().map(|m| self.number(m)).collect()
    }

    /// The user's existence and the users they follow, in one round trip.
    async fn following_of(&self, user: UserId) -> Result<Vec<UserId>, StoreError> {
        let (exists, following): (bool, Vec<UserId>) = redis::pipe()
            .exists(self.keys.user(user))
            .smembers(self.keys.following(user))
            .query_async(&mut self.conn())
            .await
            .map_err(|e| self.fail(e))?;
        if exists {
            Ok(following)
        } else {
            Err(StoreError::no_user(user))
        }
    }

    /// Deletes every key under the prefix.
    async fn clear(&self) -> Result<(), StoreError> {
        unlink_matching(&mut self.conn(), &self.keys.everything())
            .await
            .map(drop)
            .map_err(|e| self.fail(e))
    }
}

/// Deletes every key under `prefix` on the Redis at `redis_url` and answers how many there were:
/// `sql-vs-nosql forget`, for every data set at once.
pub async fn forget_keys(redis_url: &str, prefix: &str) -> Result<u64, StoreError> {
    let engine = FeedStrategy::OnWrite.engine();
    let fail = |e: redis::RedisError| StoreError::backend(engine, e);
    let client = redis::Client::open(redis_url).map_err(fail)?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(fail)?;
    unlink_matching(&mut conn, &Keys::new(prefix).everything())
        .await
        .map_err(fail)
}

/// `UNLINK`s every key matching `pattern`, answering how many. `SCAN` (not `KEYS`) walks the
/// keyspace in steps, so a shared Redis keeps answering others meanwhile; `UNLINK` frees memory
/// in the background.
async fn unlink_matching(
    conn: &mut impl redis::aio::ConnectionLike,
    pattern: &str,
) -> Result<u64, redis::RedisError> {
    let mut cursor: u64 = 0;
    let mut removed = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1_000)
            .query_async(conn)
            .await?;
        if !keys.is_empty() {
            removed += redis::cmd("UNLINK")
                .arg(&keys)
                .query_async::<u64>(conn)
                .await?;
        }
        if next == 0 {
            return Ok(removed);
        }
        cursor = next;
    }
}

/// Sends loading commands in pipelines of a few thousand and reports progress after each.
struct Loader<'a> {
    conn: ConnectionManager,
    pipe: redis::Pipeline,
    commands: usize,
    args: usize,
    pending: u64,
    written: u64,
    progress: &'a (dyn Fn(u64) + Sync),
    engine: Engine,
}

impl<'a> Loader<'a> {
    fn new(store: &KeyValueStore, progress: &'a (dyn Fn(u64) + Sync)) -> Self {
        Self {
            conn: store.conn(),
            pipe: redis::pipe(),
            commands: 0,
            args: 0,
            pending: 0,
            written: 0,
            progress,
            engine: store.engine_id(),
        }
    }

    /// Queues `cmd` (with `args` arguments), which writes `records` of the data set's records.
    async fn push(&mut self, cmd: redis::Cmd, args: usize, records: u64) -> Result<(), StoreError> {
        self.pipe.add_command(cmd).ignore();
        self.commands += 1;
        self.args += args;
        self.pending += records;
        if self.commands >= LOAD_PIPELINE_COMMANDS || self.args >= LOAD_PIPELINE_ARGS {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), StoreError> {
        if self.commands == 0 {
            return Ok(());
        }
        let pipe = std::mem::replace(&mut self.pipe, redis::pipe());
        pipe.query_async::<()>(&mut self.conn)
            .await
            .map_err(|e| StoreError::backend(self.engine, e))?;
        self.written += self.pending;
        (self.progress)(self.written);
        (self.commands, self.args, self.pending) = (0, 0, 0);
        Ok(())
    }

    /// `SADD key members...` in groups of [`LOAD_GROUP`].
    async fn sadd(&mut self, key: &str, members: &[i64], records: bool) -> Result<(), StoreError> {
        for chunk in members.chunks(LOAD_GROUP) {
            let mut cmd = redis::cmd("SADD");
            cmd.arg(key).arg(chunk);
            let counted = if records { chunk.len() as u64 } else { 0 };
            self.push(cmd, chunk.len() + 1, counted).await?;
        }
        Ok(())
    }

    /// `ZADD key score member ...` in groups of [`LOAD_GROUP`].
    async fn zadd(&mut self, key: &str, entries: &[(i64, PostId)]) -> Result<(), StoreError> {
        for chunk in entries.chunks(LOAD_GROUP) {
            let mut cmd = redis::cmd("ZADD");
            cmd.arg(key);
            for (score, id) in chunk {
                cmd.arg(*score).arg(member(*id));
            }
            self.push(cmd, chunk.len() * 2 + 1, 0).await?;
        }
        Ok(())
    }
}

/// `(key, values)` pairs grouped by key, in key order (deterministic loads are easier to debug).
fn group(pairs: impl Iterator<Item = (i64, i64)>) -> Vec<(i64, Vec<i64>)> {
    let mut map: HashMap<i64, Vec<i64>> = HashMap::new();
    for (k, v) in pairs {
        map.entry(k).or_default().push(v);
    }
    let mut groups: Vec<_> = map.into_iter().collect();
    groups.sort_unstable_by_key(|(k, _)| *k);
    groups
}

/// Latest first, ties by the higher id: the model's feed order.
fn latest_first(a: &(i64, PostId), b: &(i64, PostId)) -> std::cmp::Ordering {
    b.0.cmp(&a.0).then(b.1.cmp(&a.1))
}

/// Every user's timeline as fan-out on write would have built it post by post: the latest
/// [`TIMELINE_CAP`] posts of the users they follow. Built here rather than replayed post by
/// post, which would send every post to every follower only to trim most copies away.
fn timelines(data: &Dataset) -> Vec<(UserId, Vec<(i64, PostId)>)> {
    let mut by_author: HashMap<UserId, Vec<(i64, PostId)>> = HashMap::new();
    for p in &data.posts {
        by_author
            .entry(p.author)
            .or_default()
            .push((p.created_at, p.id));
    }
    group(data.follows.iter().copied())
        .into_iter()
        .map(|(user, followees)| {
            let mut entries: Vec<(i64, PostId)> = followees
                .iter()
                .filter_map(|f| by_author.get(f))
                .flatten()
                .copied()
                .collect();
            entries.sort_unstable_by(latest_first);
            entries.truncate(TIMELINE_CAP);
            (user, entries)
        })
        .collect()
}

#[async_trait]
impl SocialStore for KeyValueStore {
    fn engine(&self) -> Engine {
        self.engine_id()
    }

    async fn seeded(&self) -> Result<Option<Sizes>, StoreError> {
        let h: HashMap<String, String> = self
            .conn()
            .hgetall(self.keys.seeded())
            .await
            .map_err(|e| self.fail(e))?;
        if h.is_empty()
            || self.field(&h, "version")? != GENERATOR_VERSION
            || h.get("strategy").map(String::as_str) != Some(self.strategy.marker())
        {
            return Ok(None);
        }
        Ok(Some(Sizes {
            users: self.field(&h, "users")?,
            posts: self.field(&h, "posts")?,
            likes: self.field(&h, "likes")?,
            follows_per_user: self.field(&h, "follows_per_user")?,
        }))
    }

    async fn load(
        &self,
        data: &Dataset,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<(), StoreError> {
        // The marker goes first and comes back last, so an interrupted load is never "seeded".
        self.clear().await?;
        let k = &self.keys;
        let mut load = Loader::new(self, progress);

        for u in &data.users {
            let mut cmd = redis::cmd("HSET");
            cmd.arg(k.user(u.id))
                .arg("id")
                .arg(u.id)
                .arg("handle")
                .arg(&u.handle)
                .arg("name")
                .arg(&u.name)
                .arg("city")
                .arg(&u.city);
            load.push(cmd, 9, 1).await?;
        }
        for chunk in data.users.chunks(LOAD_GROUP) {
            let mut cmd = redis::cmd("HSET");
            cmd.arg(k.handles());
            for u in chunk {
                cmd.arg(&u.handle).arg(u.id);
            }
            load.push(cmd, chunk.len() * 2 + 1, 0).await?;
        }

        for (follower, followees) in group(data.follows.iter().copied()) {
            load.sadd(&k.following(follower), &followees, true).await?;
        }
        for (followee, followers) in group(data.follows.iter().map(|&(a, b)| (b, a))) {
            load.sadd(&k.followers(followee), &followers, false).await?;
        }

        for p in &data.posts {
            let mut cmd = redis::cmd("HSET");
            cmd.arg(k.post(p.id))
                .arg("id")
                .arg(p.id)
                .arg("author")
                .arg(p.author)
                .arg("body")
                .arg(&p.body)
                .arg("created_at")
                .arg(p.created_at);
            load.push(cmd, 9, 1).await?;
        }
        let by_author = group(data.posts.iter().map(|p| (p.author, p.id)));
        let created: HashMap<PostId, i64> =
            data.posts.iter().map(|p| (p.id, p.created_at)).collect();
        for (author, ids) in &by_author {
            let entries: Vec<(i64, PostId)> = ids
                .iter()
                .map(|id| (created.get(id).copied().unwrap_or_default(), *id))
                .collect();
            load.zadd(&k.posts_by(*author), &entries).await?;
        }

        let likers = group(data.likes.iter().map(|&(u, p)| (p, u)));
        for (post, users) in &likers {
            load.sadd(&k.likers(*post), users, true).await?;
        }
        for (user, posts) in group(data.likes.iter().copied()) {
            load.sadd(&k.likes(user), &posts, false).await?;
        }
        // Every post is in `top`, liked or not, as every post is a row the relational engines
        // rank: a post with no likes sorts after all liked ones, by id.
        let counts: HashMap<PostId, i64> = likers
            .iter()
            .map(|(post, users)| (*post, users.len() as i64))
            .collect();
        let top: Vec<(i64, PostId)> = data
            .posts
            .iter()
            .map(|p| {
                (
                    top_score(counts.get(&p.id).copied().unwrap_or(0), p.id),
                    p.id,
                )
            })
            .collect();
        load.zadd(&k.top(), &top).await?;

        if self.strategy == FeedStrategy::OnWrite {
            for (user, entries) in timelines(data) {
                load.zadd(&k.timeline(user), &entries).await?;
            }
        }

        let last_id = data.posts.iter().map(|p| p.id).max().unwrap_or(0);
        let mut cmd = redis::cmd("SET");
        cmd.arg(k.next_post_id()).arg(last_id);
        load.push(cmd, 2, 0).await?;
        let s = data.sizes;
        let mut cmd = redis::cmd("HSET");
        cmd.arg(k.seeded())
            .arg("version")
            .arg(GENERATOR_VERSION)
            .arg("strategy")
            .arg(self.strategy.marker())
            .arg("users")
            .arg(s.users)
            .arg("posts")
            .arg(s.posts)
            .arg("likes")
            .arg(s.likes)
            .arg("follows_per_user")
            .arg(s.follows_per_user);
        load.push(cmd, 13, 0).await?;
        load.flush().await
    }

    async fn user(&self, id: UserId) -> Result<User, StoreError> {
        // One round trip and nothing else: the point lookup Redis exists for. An empty reply
        // is the "no such key" answer, so existence costs no extra command.
        let h: HashMap<String, String> = self
            .conn()
            .hgetall(self.keys.user(id))
            .await
            .map_err(|e| self.fail(e))?;
        if h.is_empty() {
            return Err(StoreError::no_user(id));
        }
        self.parse_user(&h)
    }

    async fn create_post(&self, post: &NewPost) -> Result<Post, StoreError> {
        let k = &self.keys;
        let mut conn = self.conn();
        // First trip: does the author exist, the next id, and (on write) who gets a copy. The
        // id is taken even if the author turns out not to exist or the transaction fails: a gap
        // in the sequence, exactly as a rolled-back SQL insert leaves one.
        let mut first = redis::pipe();
        first.exists(k.user(post.author)).incr(k.next_post_id(), 1);
        let (exists, id, followers): (bool, PostId, Vec<UserId>) = match self.strategy {
            FeedStrategy::OnWrite => first
                .smembers(k.followers(post.author))
                .query_async(&mut conn)
                .await
                .map_err(|e| self.fail(e))?,
            FeedStrategy::OnRead => {
                let (exists, id): (bool, PostId) = first
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| self.fail(e))?;
                (exists, id, Vec::new())
            }
        };
        if !exists {
            return Err(StoreError::no_user(post.author));
        }
        let m = member(id);
        // Second trip: the post, its place in the author's list and in `top`, and every copy,
        // as one transaction: another client sees all of it or none of it, and a connection
        // lost before EXEC discards the lot.
        let mut tx = redis::pipe();
        tx.atomic()
            .hset_multiple(
                k.post(id),
                &[
                    ("id", id.to_string()),
                    ("author", post.author.to_string()),
                    ("body", post.body.clone()),
                    ("created_at", post.created_at.to_string()),
                ],
            )
            .ignore()
            .zadd(k.posts_by(post.author), &m, post.created_at)
            .ignore()
            .zadd(k.top(), &m, top_score(0, id))
            .ignore();
        if self.strategy == FeedStrategy::OnWrite {
            for follower in &followers {
                let timeline = k.timeline(*follower);
                tx.zadd(&timeline, &m, post.created_at)
                    .ignore()
                    // Keep the newest TIMELINE_CAP: ranks 0..=-(CAP+1) are the oldest extras.
                    .zremrangebyrank(&timeline, 0, -(TIMELINE_CAP as isize) - 1)
                    .ignore();
            }
        }
        tx.query_async::<()>(&mut conn)
            .await
            .map_err(|e| self.fail(e))?;
        Ok(Post {
            id,
            author: post.author,
            body: post.body.clone(),
            created_at: post.created_at,
        })
    }

    async fn delete_post(&self, id: PostId) -> Result<(), StoreError> {
        self.remove_post(id).await.map(drop)
    }

    async fn like(&self, user: UserId, post: PostId) -> Result<(), StoreError> {
        let k = &self.keys;
        let outcome: i64 = self
            .like
            .key(k.user(user))
            .key(k.post(post))
            .key(k.likers(post))
            .key(k.likes(user))
            .key(k.top())
            .arg(user)
            .arg(post)
            .arg(member(post))
            .arg(LIKE_STEP)
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| self.fail(e))?;
        match outcome {
            -1 => Err(StoreError::no_user(user)),
            -2 => Err(StoreError::NotFound {
                what: "post",
                id: post,
            }),
            _ => Ok(()),
        }
    }

    async fn profile(&self, user: UserId, limit: usize) -> Result<Profile, StoreError> {
        let (h, members): (HashMap<String, String>, Vec<String>) = redis::pipe()
            .hgetall(self.keys.user(user))
            .zrevrange(self.keys.posts_by(user), 0, limit as isize - 1)
            .query_async(&mut self.conn())
            .await
            .map_err(|e| self.fail(e))?;
        if h.is_empty() {
            return Err(StoreError::no_user(user));
        }
        Ok(Profile {
            user: self.parse_user(&h)?,
            posts: self.posts(&self.ids(&members)?).await?,
        })
    }

    async fn home_feed(&self, user: UserId, limit: usize) -> Result<Vec<Post>, StoreError> {
        let ids = match self.strategy {
            // The timeline is the answer: one range read.
            FeedStrategy::OnWrite => {
                let (exists, members): (bool, Vec<String>) = redis::pipe()
                    .exists(self.keys.user(user))
                    .zrevrange(self.keys.timeline(user), 0, limit as isize - 1)
                    .query_async(&mut self.conn())
                    .await
                    .map_err(|e| self.fail(e))?;
                if !exists {
                    return Err(StoreError::no_user(user));
                }
                self.ids(&members)?
            }
            // Merged here from each followee's latest `limit`: the feed can hold no post that is
            // not among them, so that is all that crosses the network (followees × limit), and
            // nothing is written. The alternative, ZUNIONSTORE into a temporary key, reads every
            // post each followee ever wrote and writes a key on every read.
            FeedStrategy::OnRead => {
                let following = self.following_of(user).await?;
                if following.is_empty() {
                    return Ok(Vec::new());
                }
                let mut pipe = redis::pipe();
                for f in &following {
                    pipe.zrevrange_withscores(self.keys.posts_by(*f), 0, limit as isize - 1);
                }
                let lists: Vec<Vec<(String, i64)>> = pipe
                    .query_async(&mut self.conn())
                    .await
                    .map_err(|e| self.fail(e))?;
                let mut entries = Vec::new();
                for (m, created_at) in lists.into_iter().flatten() {
                    entries.push((created_at, self.number(&m)?));
                }
                // A sort of followees × limit entries; a heap-based k-way merge would save a
                // log factor that a few thousand entries do not notice.
                entries.sort_unstable_by(latest_first);
                entries.truncate(limit);
                entries.into_iter().map(|(_, id)| id).collect()
            }
        };
        self.posts(&ids).await
    }

    async fn top_posts(&self, limit: usize) -> Result<Vec<TopPost>, StoreError> {
        let ranked: Vec<(String, f64)> = self
            .conn()
            .zrevrange_withscores(self.keys.top(), 0, limit as isize - 1)
            .await
            .map_err(|e| self.fail(e))?;
        if ranked.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        let mut top = Vec::with_capacity(ranked.len());
        for (m, score) in &ranked {
            let id = self.number(m)?;
            pipe.hget(self.keys.post(id), "author");
            top.push((id, likes_from_score(*score, id)));
        }
        let authors: Vec<Option<UserId>> = pipe
            .query_async(&mut self.conn())
            .await
            .map_err(|e| self.fail(e))?;
        Ok(top
            .into_iter()
            .zip(authors)
            .filter_map(|((id, likes), author)| author.map(|author| TopPost { id, author, likes }))
            .collect())
    }

    async fn friends_of_friends(&self, user: UserId) -> Result<Vec<UserId>, StoreError> {
        let following = self.following_of(user).await?;
        if following.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = following.iter().map(|f| self.keys.following(*f)).collect();
        let second: Vec<UserId> = self.conn().sunion(keys).await.map_err(|e| self.fail(e))?;
        let already: HashSet<UserId> = following.into_iter().collect();
        let mut fof: Vec<UserId> = second
            .into_iter()
            .filter(|f| *f != user && !already.contains(f))
            .collect();
        fof.sort_unstable();
        Ok(fof)
    }

    async fn reachable_within(&self, user: UserId, hops: u32) -> Result<u64, StoreError> {
        // Breadth-first by levels: one round trip per level, the frontier's `following` sets
        // united on the server, only the new ids carried on to the next level.
        let first = self.following_of(user).await?;
        if hops == 0 {
            return Ok(0);
        }
        let mut visited: HashSet<UserId> = HashSet::from([user]);
        let mut frontier: Vec<UserId> = first.into_iter().filter(|f| visited.insert(*f)).collect();
        for _ in 1..hops {
            if frontier.is_empty() {
                break;
            }
            let mut pipe = redis::pipe();
            for chunk in frontier.chunks(SUNION_KEYS) {
                let keys: Vec<String> = chunk.iter().map(|f| self.keys.following(*f)).collect();
                pipe.sunion(keys);
            }
            let next: Vec<Vec<UserId>> = pipe
                .query_async(&mut self.conn())
                .await
                .map_err(|e| self.fail(e))?;
            frontier = next
                .into_iter()
                .flatten()
                .filter(|f| visited.insert(*f))
                .collect();
        }
        Ok(visited.len() as u64 - 1)
    }

    async fn liked_alike(&self, user: UserId, limit: usize) -> Result<Vec<LikedAlike>, StoreError> {
        let k = &self.keys;
        let (exists, liked): (bool, Vec<PostId>) = redis::pipe()
            .exists(k.user(user))
            .smembers(k.likes(user))
            .query_async(&mut self.conn())
            .await
            .map_err(|e| self.fail(e))?;
        if !exists {
            return Err(StoreError::no_user(user));
        }
        if liked.is_empty() {
            return Ok(Vec::new());
        }
        // The union of the likers of every post the user liked, each set counting 1 per member:
        // the score is how many of those posts each other user liked too.
        let temp = k.temp("alike");
        let likers: Vec<String> = liked.iter().map(|p| k.likers(*p)).collect();
        let (boundary,): (Vec<(String, f64)>,) = redis::pipe()
            .atomic()
            .zunionstore(&temp, &likers)
            .ignore()
            .zrem(&temp, user)
            .ignore()
            .expire(&temp, TEMP_KEY_TTL_SECS)
            .ignore()
            .zrevrange_withscores(&temp, limit as isize - 1, limit as isize - 1)
            .query_async(&mut self.conn())
            .await
            .map_err(|e| self.fail(e))?;
        // ZREVRANGE would break ties by member bytes, descending ("9" before "10"), not by lower
        // id. So take the score of the limit-th entry and fetch everything scoring at least that:
        // the top `limit` plus the whole tie group at the boundary, ordered here.
        let min = boundary
            .first()
            .map_or_else(|| "-inf".to_owned(), |(_, s)| s.to_string());
        let (scored,): (Vec<(UserId, i64)>,) = redis::pipe()
            .zrangebyscore_withscores(&temp, min, "+inf")
            .del(&temp)
            .ignore()
            .query_async(&mut self.conn())
            .await
            .map_err(|e| self.fail(e))?;
        let mut alike: Vec<LikedAlike> = scored
            .into_iter()
            .map(|(user, shared)| LikedAlike { user, shared })
            .collect();
        alike.sort_unstable_by(|a, b| b.shared.cmp(&a.shared).then(a.user.cmp(&b.user)));
        alike.truncate(limit);
        Ok(alike)
    }

    async fn add_post_field(&self) -> Result<SchemaChange, StoreError> {
        // No schema, so nothing to change: readers treat a missing `lang` as "en" (the model's
        // Post has no such field to fill), and a writer that knows the field sets it. The cost
        // moves from the migration to every reader, forever.
        Ok(SchemaChange { rewritten: 0 })
    }

    async fn drop_post_field(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_sort_by_bytes_as_ids_sort_by_number() {
        let mut ids = [10, 9, 100_000, 1];
        let mut members: Vec<String> = ids.iter().map(|id| member(*id)).collect();
        ids.sort_unstable();
        members.sort_unstable();
        let back: Vec<i64> = members.iter().map(|m| m.parse().unwrap()).collect();
        assert_eq!(back, ids);
    }

    #[test]
    fn the_top_score_orders_by_likes_then_lower_id_and_decodes_exactly() {
        let (a, b, c) = (top_score(5, 10), top_score(5, 9), top_score(6, 1_000));
        assert!(b > a, "equal likes: the lower id scores higher");
        assert!(c > b, "more likes always score higher");
        let id = (1 << 32) - 1;
        let big = top_score(1 << 20, id);
        assert_eq!(likes_from_score(big as f64, id), 1 << 20);
        assert_eq!(likes_from_score(top_score(0, 7) as f64, 7), 0);
    }

    #[test]
    fn the_scan_pattern_escapes_glob_characters_in_the_prefix() {
        assert_eq!(Keys::new("a*b[1]:").everything(), "a\\*b\\[1\\]:*");
    }
}
