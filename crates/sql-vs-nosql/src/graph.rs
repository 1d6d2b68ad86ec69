//! FalkorDB, a graph database: the same operations as paths in Cypher.
//!
//! ```text
//! (:User {id, handle, name, city})-[:FOLLOWS]->(:User)
//! (:User)-[:POSTED]->(:Post {id, author, body, created_at})
//! (:User)-[:LIKED]->(:Post)
//! (:Counter {name: 'post', last})    the post id sequence
//! (:Seeded {version, users, ...})    what load() wrote, for seeded()
//! ```
//!
//! In a graph the relationships are stored as adjacency (FalkorDB keeps them as sparse
//! matrices), so a hop is a lookup from a node to its neighbours and never a join over a table of
//! all edges. That is the case for it: "friends of friends" and "everyone within k hops" are
//! patterns you draw, `(u)-[:FOLLOWS]->()-[:FOLLOWS]->(f)`, and their cost follows the
//! neighbourhood, not the size of the data set. The case against it is measured too: "the most
//! liked posts" counts every `LIKED` edge on every read (there is no aggregate to keep up to date
//! here, as the relational engines keep `like_count`), and it shows.
//!
//! How the code talks to it:
//!
//! - Over the Redis protocol: `GRAPH.QUERY <graph> <cypher>` (and `GRAPH.RO_QUERY` for reads),
//!   through the same client and connection manager as the key-value store.
//! - With query parameters: FalkorDB takes them as a header in front of the query,
//!   `CYPHER id=42 body="..." MATCH (u:User {id: $id}) ...`, so no user value is ever spliced into
//!   the query itself and the query text stays the same from call to call (FalkorDB caches the
//!   plan by that text). The header's values are Cypher literals, so strings in it are still
//!   quoted and escaped (see `Params::text`); the difference is that a mistake there can only
//!   produce a wrong value, never a different query.
//! - One query is one transaction: a query that fails (a type error, a missing node) has
//!   written nothing. `create_post` takes the next id from a counter node and creates the post
//!   in the same query, so no id is taken for a post that does not exist.
//! - Replies are parsed in FalkorDB's default ("verbose") format: `[header, rows, statistics]`,
//!   or just `[statistics]` for a write that returns nothing. Every query here returns scalars
//!   only (integers and strings), which that format carries as typed Redis values.
//!
//! What production would add: a connection pool (one multiplexed connection is plenty on two
//! cores), `GRAPH.CONSTRAINT` for unique ids, and a property `like_count` if top posts mattered.

use async_trait::async_trait;
use redis::Value;
use redis::aio::ConnectionManager;

use crate::model::{LikedAlike, NewPost, Post, PostId, Profile, TopPost, User, UserId};
use crate::seed::{Dataset, GENERATOR_VERSION, Sizes};
use crate::store::{Engine, SchemaChange, SocialStore, StoreError};

const ENGINE: Engine = Engine::FalkorDb;
/// Rows per `UNWIND` while loading: a query of a few hundred kilobytes, fast to parse, and
/// progress that moves.
const LOAD_BATCH: usize = 5_000;
/// Every read gives up after this long rather than hold the server: a deep variable-length
/// traversal can enumerate paths for a long time.
const READ_TIMEOUT_MS: u64 = 60_000;

/// The social model in FalkorDB, in one named graph.
#[derive(Clone)]
pub struct GraphStore {
    conn: ConnectionManager,
    graph: String,
}

impl std::fmt::Debug for GraphStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphStore")
            .field("graph", &self.graph)
            .finish_non_exhaustive()
    }
}

impl GraphStore {
    /// Connects to the FalkorDB at `url` (see [`crate::graph_server::GraphServer::url`]); every
    /// query goes to the graph named `graph`.
    pub async fn connect(url: &str, graph: impl Into<String>) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(fail)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(std::time::Duration::from_secs(2))
            .set_number_of_retries(2);
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(fail)?;
        Ok(Self {
            conn,
            graph: graph.into(),
        })
    }

    pub fn graph(&self) -> &str {
        &self.graph
    }

    /// [`SocialStore::reachable_within`] by FalkorDB's own breadth-first search
    /// (`algo.BFS`) instead of a variable-length pattern: the same count (the tests check
    /// both), at a cost that follows the users reached rather than the paths to them. On the
    /// full data set at four hops the pattern enumerates hundreds of thousands of paths and
    /// this visits ten thousand nodes.
    pub async fn reachable_within_bfs(&self, user: UserId, hops: u32) -> Result<u64, StoreError> {
        if hops == 0 {
            return self.reachable_within(user, 0).await;
        }
        let params = Params::new().int("id", user).int("hops", i64::from(hops));
        let reply = self.read(cypher::REACHABLE_BFS, &params).await?;
        let row = reply.rows.first().ok_or(StoreError::no_user(user))?;
        Ok(int(cell(row, 1)?)?.unsigned_abs())
    }

    /// Runs a query that may write.
    async fn write(&self, query: &str, params: &Params) -> Result<Reply, StoreError> {
        let reply: Value = redis::cmd("GRAPH.QUERY")
            .arg(&self.graph)
            .arg(params.with(query))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(fail)?;
        Reply::parse(reply)
    }

    /// Runs a read-only query (refused by the server if it tried to write), bounded in time.
    async fn read(&self, query: &str, params: &Params) -> Result<Reply, StoreError> {
        let reply: Value = redis::cmd("GRAPH.RO_QUERY")
            .arg(&self.graph)
            .arg(params.with(query))
            .arg("TIMEOUT")
            .arg(READ_TIMEOUT_MS)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(fail)?;
        Reply::parse(reply)
    }

    /// Whether the graph exists at all (a query on a missing graph is an error, not "empty").
    async fn exists(&self) -> Result<bool, StoreError> {
        redis::cmd("EXISTS")
            .arg(&self.graph)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(fail)
    }

    async fn user_exists(&self, id: UserId) -> Result<bool, StoreError> {
        let reply = self
            .read(
                "MATCH (u:User {id: $id}) RETURN count(u)",
                &Params::new().int("id", id),
            )
            .await?;
        Ok(reply.single_int()? > 0)
    }

    /// One `UNWIND` batch per [`LOAD_BATCH`] rows; `expect` names the statistic every row must
    /// add one to, so a row whose `MATCH` found nothing (a follow of a missing user) is an
    /// error instead of a silently smaller graph.
    async fn load_rows<T>(
        &self,
        rows: &[T],
        query: &str,
        expect: &str,
        encode: impl Fn(&T) -> Result<String, StoreError>,
        written: &mut u64,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<(), StoreError> {
        for chunk in rows.chunks(LOAD_BATCH) {
            let literals: Vec<String> = chunk.iter().map(&encode).collect::<Result<_, _>>()?;
            let params = Params::new().raw("rows", format!("[{}]", literals.join(",")));
            let reply = self.write(query, &params).await?;
            let done = reply.stat(expect);
            if done != chunk.len() as u64 {
                return Err(fail(format!(
                    "a load batch of {} rows reported {expect} {done}",
                    chunk.len()
                )));
            }
            *written += chunk.len() as u64;
            progress(*written);
        }
        Ok(())
    }
}

fn fail(error: impl std::fmt::Display) -> StoreError {
    StoreError::backend(ENGINE, error)
}

/// Query parameters, rendered as FalkorDB's `CYPHER name=value ...` header.
#[derive(Debug, Default)]
struct Params {
    header: String,
}

impl Params {
    fn new() -> Self {
        Self::default()
    }

    fn raw(mut self, name: &str, literal: String) -> Self {
        self.header.push_str(name);
        self.header.push('=');
        self.header.push_str(&literal);
        self.header.push(' ');
        self
    }

    fn int(self, name: &str, value: i64) -> Self {
        self.raw(name, value.to_string())
    }

    fn text(self, name: &str, value: &str) -> Result<Self, StoreError> {
        Ok(self.raw(name, quote(value)?))
    }

    /// The query with the header in front (or alone, without parameters).
    fn with(&self, query: &str) -> String {
        if self.header.is_empty() {
            query.to_owned()
        } else {
            format!("CYPHER {}{query}", self.header)
        }
    }
}

/// A string as a Cypher literal: double quotes, with backslash and double quote escaped (the
/// only two characters the parser treats specially inside one). A NUL cannot be carried: the
/// server reads the header as a C string. PostgreSQL refuses NUL in text too, so no engine in
/// this lesson stores one.
fn quote(s: &str) -> Result<String, StoreError> {
    if s.contains('\0') {
        return Err(fail(
            "a string with a NUL character cannot be a query parameter",
        ));
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if matches!(c, '\\' | '"') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Ok(out)
}

/// A `GRAPH.QUERY` reply: the rows (the header is not needed: columns are read by position, in
/// the order each query's `RETURN` lists them) and the statistics lines.
#[derive(Debug, Default)]
struct Reply {
    rows: Vec<Vec<Value>>,
    stats: Vec<String>,
}

impl Reply {
    fn parse(value: Value) -> Result<Self, StoreError> {
        let Value::Array(parts) = value else {
            return Err(fail(format!("unexpected reply {value:?}")));
        };
        let mut parts = parts.into_iter();
        match (parts.next(), parts.next(), parts.next()) {
            (Some(stats), None, None) => Ok(Self {
                rows: Vec::new(),
                stats: strings(stats)?,
            }),
            (Some(_header), Some(Value::Array(rows)), Some(stats)) => Ok(Self {
                rows: rows
                    .into_iter()
                    .map(|row| match row {
                        Value::Array(cells) => Ok(cells),
                        other => Err(fail(format!("a row is {other:?}"))),
                    })
                    .collect::<Result<_, _>>()?,
                stats: strings(stats)?,
            }),
            _ => Err(fail(
                "a reply that is neither [stats] nor [header, rows, stats]",
            )),
        }
    }

    /// A statistic such as `Properties set: 12` (0 when the query changed nothing of the kind:
    /// FalkorDB omits the line).
    fn stat(&self, name: &str) -> u64 {
        self.stats
            .iter()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(": "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }

    fn single_int(&self) -> Result<i64, StoreError> {
        let cell = self.rows.first().and_then(|r| r.first());
        cell.map_or(
            Err(fail("an empty reply where one number was expected")),
            int,
        )
    }
}

fn strings(value: Value) -> Result<Vec<String>, StoreError> {
    match value {
        Value::Array(items) => items.iter().map(text).collect(),
        other => Err(fail(format!("statistics are {other:?}"))),
    }
}

fn int(value: &Value) -> Result<i64, StoreError> {
    match value {
        Value::Int(n) => Ok(*n),
        other => Err(fail(format!("expected an integer, got {other:?}"))),
    }
}

/// An integer, or `None` for the `NULL` an `OPTIONAL MATCH` that found nothing returns.
fn opt_int(value: &Value) -> Result<Option<i64>, StoreError> {
    match value {
        Value::Nil => Ok(None),
        other => int(other).map(Some),
    }
}

fn text(value: &Value) -> Result<String, StoreError> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).map_err(fail),
        Value::SimpleString(s) => Ok(s.clone()),
        other => Err(fail(format!("expected a string, got {other:?}"))),
    }
}

/// The cell at `i` of a row (a short row is a malformed reply, not a panic).
fn cell(row: &[Value], i: usize) -> Result<&Value, StoreError> {
    row.get(i)
        .ok_or_else(|| fail(format!("a row with {} cells, wanted {}", row.len(), i + 1)))
}

/// `p.id, p.author, p.body, p.created_at` from `row[at..]`, or `None` where `p` was NULL.
fn post_at(row: &[Value], at: usize) -> Result<Option<Post>, StoreError> {
    let Some(id) = opt_int(cell(row, at)?)? else {
        return Ok(None);
    };
    Ok(Some(Post {
        id,
        author: int(cell(row, at + 1)?)?,
        body: text(cell(row, at + 2)?)?,
        created_at: int(cell(row, at + 3)?)?,
    }))
}

/// The queries, one constant each, so each reads as the pattern it is.
mod cypher {
    pub const USER: &str = "MATCH (u:User {id: $id}) RETURN u.id, u.handle, u.name, u.city";

    /// The user and their latest posts. `OPTIONAL` so a user without posts is one row whose
    /// post columns are NULL, and no row at all means no such user.
    pub const PROFILE: &str = "MATCH (u:User {id: $id}) \
         OPTIONAL MATCH (u)-[:POSTED]->(p:Post) \
         RETURN u.id, u.handle, u.name, u.city, p.id, p.author, p.body, p.created_at \
         ORDER BY p.created_at DESC, p.id DESC LIMIT $limit";

    /// Two hops: whom the user follows, what they posted; then latest first.
    pub const HOME_FEED: &str = "MATCH (u:User {id: $id}) \
         OPTIONAL MATCH (u)-[:FOLLOWS]->(:User)-[:POSTED]->(p:Post) \
         RETURN u.id, p.id, p.author, p.body, p.created_at \
         ORDER BY p.created_at DESC, p.id DESC LIMIT $limit";

    /// Every post and every like it has: the scan a graph cannot avoid for an aggregate.
    pub const TOP_POSTS: &str = "MATCH (p:Post) \
         OPTIONAL MATCH (p)<-[l:LIKED]-(:User) \
         RETURN p.id, p.author, count(l) AS likes \
         ORDER BY likes DESC, p.id ASC LIMIT $limit";

    pub const FRIENDS_OF_FRIENDS: &str = "MATCH (u:User {id: $id}) \
         OPTIONAL MATCH (u)-[:FOLLOWS]->(:User)-[:FOLLOWS]->(f:User) \
         WHERE f <> u AND NOT (u)-[:FOLLOWS]->(f) \
         RETURN DISTINCT u.id, f.id ORDER BY f.id";

    /// `p` is named and counted on purpose: with the post left anonymous, FalkorDB computes the
    /// two hops as reachability (a boolean matrix product) and every other user "shares" one.
    pub const LIKED_ALIKE: &str = "MATCH (u:User {id: $id}) \
         OPTIONAL MATCH (u)-[:LIKED]->(p:Post)<-[:LIKED]-(o:User) \
         WHERE o <> u \
         RETURN u.id, o.id, count(p) AS shared \
         ORDER BY shared DESC, o.id ASC LIMIT $limit";

    /// The id from the counter and the post, in one query: one transaction. The author is
    /// matched first, so a missing author stops the query before the counter moves.
    pub const CREATE_POST: &str = "MATCH (a:User {id: $author}) \
         MATCH (c:Counter {name: 'post'}) \
         SET c.last = c.last + 1 \
         CREATE (a)-[:POSTED]->(p:Post {id: c.last, author: $author, body: $body, created_at: $at}) \
         RETURN p.id";

    /// `MERGE` creates the edge only if it is not there: liking twice is one like.
    pub const LIKE: &str = "MATCH (u:User {id: $user}), (p:Post {id: $post}) \
         MERGE (u)-[:LIKED]->(p) RETURN u.id";

    pub const POST_EXISTS: &str = "MATCH (p:Post {id: $id}) RETURN count(p)";

    /// The post with its `POSTED` and `LIKED` edges: the like counts are those edges, so
    /// nothing else is left to correct.
    pub const DELETE_POST: &str = "MATCH (p:Post {id: $id}) DETACH DELETE p";

    pub const SEEDED: &str = "MATCH (s:Seeded) \
         RETURN s.version, s.users, s.posts, s.likes, s.follows_per_user";

    pub const LOAD_USERS: &str = "UNWIND $rows AS r \
         CREATE (:User {id: r[0], handle: r[1], name: r[2], city: r[3]})";
    pub const LOAD_FOLLOWS: &str = "UNWIND $rows AS r \
         MATCH (a:User {id: r[0]}), (b:User {id: r[1]}) CREATE (a)-[:FOLLOWS]->(b)";
    pub const LOAD_POSTS: &str = "UNWIND $rows AS r \
         MATCH (a:User {id: r[1]}) \
         CREATE (a)-[:POSTED]->(:Post {id: r[0], author: r[1], body: r[2], created_at: r[3]})";
    pub const LOAD_LIKES: &str = "UNWIND $rows AS r \
         MATCH (u:User {id: r[0]}), (p:Post {id: r[1]}) CREATE (u)-[:LIKED]->(p)";
    pub const LOAD_COUNTER: &str = "CREATE (:Counter {name: 'post', last: $last})";
    pub const LOAD_MARKER: &str = "CREATE (:Seeded {version: $version, users: $users, \
         posts: $posts, likes: $likes, follows_per_user: $follows})";

    /// Indexes first, while the graph is empty: every `MATCH (u:User {id: ...})` of the load and
    /// of every read is then an index lookup, not a label scan.
    pub const INDEXES: [&str; 2] = [
        "CREATE INDEX FOR (u:User) ON (u.id)",
        "CREATE INDEX FOR (p:Post) ON (p.id)",
    ];

    pub const ADD_LANG: &str = "MATCH (p:Post) SET p.lang = 'en'";
    pub const DROP_LANG: &str = "MATCH (p:Post) SET p.lang = NULL";

    /// Everyone within `hops` follow edges, as the pattern says it: every path of 1 to `hops`
    /// edges, then the distinct ends. The path is bound to `path` although nothing reads it:
    /// left unbound, FalkorDB (4.16) switches to a shortcut that skips a node first met at a
    /// deeper level, and undercounts (33 users instead of 42 at two hops, for a user in the
    /// tests' data). Bound, it enumerates paths, which is correct and grows as degree^hops.
    /// The bound of a variable-length pattern cannot be a parameter, so it is formatted in (a
    /// `u32`, never user text).
    pub fn reachable(hops: u32) -> String {
        format!(
            "MATCH (u:User {{id: $id}}) \
             OPTIONAL MATCH path = (u)-[:FOLLOWS*1..{hops}]->(f:User) WHERE f <> u \
             RETURN u.id, count(DISTINCT f)"
        )
    }

    /// The same count from FalkorDB's breadth-first search, which visits each node once: its
    /// cost follows the users reached, not the paths to them. It does not count the start.
    pub const REACHABLE_BFS: &str = "MATCH (u:User {id: $id}) \
         CALL algo.BFS(u, $hops, 'FOLLOWS') YIELD nodes \
         RETURN u.id, size(nodes)";
}

#[async_trait]
impl SocialStore for GraphStore {
    fn engine(&self) -> Engine {
        ENGINE
    }

    async fn seeded(&self) -> Result<Option<Sizes>, StoreError> {
        if !self.exists().await? {
            return Ok(None);
        }
        let reply = self.read(cypher::SEEDED, &Params::new()).await?;
        let Some(row) = reply.rows.first() else {
            return Ok(None);
        };
        if int(cell(row, 0)?)? != GENERATOR_VERSION {
            return Ok(None);
        }
        Ok(Some(Sizes {
            users: int(cell(row, 1)?)?,
            posts: int(cell(row, 2)?)?,
            likes: int(cell(row, 3)?)?,
            follows_per_user: int(cell(row, 4)?)?,
        }))
    }

    async fn load(
        &self,
        data: &Dataset,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<(), StoreError> {
        if self.exists().await? {
            redis::cmd("GRAPH.DELETE")
                .arg(&self.graph)
                .query_async::<()>(&mut self.conn.clone())
                .await
                .map_err(fail)?;
        }
        for index in cypher::INDEXES {
            self.write(index, &Params::new()).await?;
        }
        let mut written = 0;
        self.load_rows(
            &data.users,
            cypher::LOAD_USERS,
            "Nodes created",
            |u| {
                Ok(format!(
                    "[{},{},{},{}]",
                    u.id,
                    quote(&u.handle)?,
                    quote(&u.name)?,
                    quote(&u.city)?
                ))
            },
            &mut written,
            progress,
        )
        .await?;
        self.load_rows(
            &data.follows,
            cypher::LOAD_FOLLOWS,
            "Relationships created",
            |(a, b)| Ok(format!("[{a},{b}]")),
            &mut written,
            progress,
        )
        .await?;
        self.load_rows(
            &data.posts,
            cypher::LOAD_POSTS,
            "Nodes created",
            |p| {
                Ok(format!(
                    "[{},{},{},{}]",
                    p.id,
                    p.author,
                    quote(&p.body)?,
                    p.created_at
                ))
            },
            &mut written,
            progress,
        )
        .await?;
        self.load_rows(
            &data.likes,
            cypher::LOAD_LIKES,
            "Relationships created",
            |(u, p)| Ok(format!("[{u},{p}]")),
            &mut written,
            progress,
        )
        .await?;
        let last = data.posts.iter().map(|p| p.id).max().unwrap_or(0);
        self.write(cypher::LOAD_COUNTER, &Params::new().int("last", last))
            .await?;
        // Last, so an interrupted load is never taken for a complete one.
        let s = data.sizes;
        let marker = Params::new()
            .int("version", GENERATOR_VERSION)
            .int("users", s.users)
            .int("posts", s.posts)
            .int("likes", s.likes)
            .int("follows", s.follows_per_user);
        self.write(cypher::LOAD_MARKER, &marker).await?;
        Ok(())
    }

    async fn user(&self, id: UserId) -> Result<User, StoreError> {
        let reply = self
            .read(cypher::USER, &Params::new().int("id", id))
            .await?;
        let row = reply.rows.first().ok_or(StoreError::no_user(id))?;
        Ok(User {
            id: int(cell(row, 0)?)?,
            handle: text(cell(row, 1)?)?,
            name: text(cell(row, 2)?)?,
            city: text(cell(row, 3)?)?,
        })
    }

    async fn create_post(&self, post: &NewPost) -> Result<Post, StoreError> {
        let params = Params::new()
            .int("author", post.author)
            .text("body", &post.body)?
            .int("at", post.created_at);
        let reply = self.write(cypher::CREATE_POST, &params).await?;
        if reply.rows.is_empty() {
            return Err(StoreError::no_user(post.author));
        }
        Ok(Post {
            id: reply.single_int()?,
            author: post.author,
            body: post.body.clone(),
            created_at: post.created_at,
        })
    }

    async fn delete_post(&self, id: PostId) -> Result<(), StoreError> {
        self.write(cypher::DELETE_POST, &Params::new().int("id", id))
            .await
            .map(drop)
    }

    async fn like(&self, user: UserId, post: PostId) -> Result<(), StoreError> {
        let params = Params::new().int("user", user).int("post", post);
        let reply = self.write(cypher::LIKE, &params).await?;
        if !reply.rows.is_empty() {
            return Ok(());
        }
        // The slow path only: which of the two was missing.
        if !self.user_exists(user).await? {
            return Err(StoreError::no_user(user));
        }
        let posts = self
            .read(cypher::POST_EXISTS, &Params::new().int("id", post))
            .await?;
        if posts.single_int()? == 0 {
            return Err(StoreError::NotFound {
                what: "post",
                id: post,
            });
        }
        Err(fail(format!("user {user} could not like post {post}")))
    }

    async fn profile(&self, user: UserId, limit: usize) -> Result<Profile, StoreError> {
        let params = Params::new().int("id", user).int("limit", limit as i64);
        let reply = self.read(cypher::PROFILE, &params).await?;
        let first = reply.rows.first().ok_or(StoreError::no_user(user))?;
        let found = User {
            id: int(cell(first, 0)?)?,
            handle: text(cell(first, 1)?)?,
            name: text(cell(first, 2)?)?,
            city: text(cell(first, 3)?)?,
        };
        let mut posts = Vec::with_capacity(reply.rows.len());
        for row in &reply.rows {
            posts.extend(post_at(row, 4)?);
        }
        Ok(Profile { user: found, posts })
    }

    async fn home_feed(&self, user: UserId, limit: usize) -> Result<Vec<Post>, StoreError> {
        let params = Params::new().int("id", user).int("limit", limit as i64);
        let reply = self.read(cypher::HOME_FEED, &params).await?;
        if reply.rows.is_empty() {
            return Err(StoreError::no_user(user));
        }
        let mut posts = Vec::with_capacity(reply.rows.len());
        for row in &reply.rows {
            posts.extend(post_at(row, 1)?);
        }
        Ok(posts)
    }

    async fn top_posts(&self, limit: usize) -> Result<Vec<TopPost>, StoreError> {
        let params = Params::new().int("limit", limit as i64);
        let reply = self.read(cypher::TOP_POSTS, &params).await?;
        reply
            .rows
            .iter()
            .map(|row| {
                Ok(TopPost {
                    id: int(cell(row, 0)?)?,
                    author: int(cell(row, 1)?)?,
                    likes: int(cell(row, 2)?)?,
                })
            })
            .collect()
    }

    async fn friends_of_friends(&self, user: UserId) -> Result<Vec<UserId>, StoreError> {
        let params = Params::new().int("id", user);
        let reply = self.read(cypher::FRIENDS_OF_FRIENDS, &params).await?;
        if reply.rows.is_empty() {
            return Err(StoreError::no_user(user));
        }
        let mut out = Vec::with_capacity(reply.rows.len());
        for row in &reply.rows {
            out.extend(opt_int(cell(row, 1)?)?);
        }
        Ok(out)
    }

    async fn reachable_within(&self, user: UserId, hops: u32) -> Result<u64, StoreError> {
        if hops == 0 {
            // `*1..0` is no pattern; zero hops reach nobody, once the user is known to exist.
            return if self.user_exists(user).await? {
                Ok(0)
            } else {
                Err(StoreError::no_user(user))
            };
        }
        let params = Params::new().int("id", user);
        let reply = self.read(&cypher::reachable(hops), &params).await?;
        let row = reply.rows.first().ok_or(StoreError::no_user(user))?;
        Ok(int(cell(row, 1)?)?.unsigned_abs())
    }

    async fn liked_alike(&self, user: UserId, limit: usize) -> Result<Vec<LikedAlike>, StoreError> {
        let params = Params::new().int("id", user).int("limit", limit as i64);
        let reply = self.read(cypher::LIKED_ALIKE, &params).await?;
        if reply.rows.is_empty() {
            return Err(StoreError::no_user(user));
        }
        let mut out = Vec::with_capacity(reply.rows.len());
        for row in &reply.rows {
            if let Some(other) = opt_int(cell(row, 1)?)? {
                out.push(LikedAlike {
                    user: other,
                    shared: int(cell(row, 2)?)?,
                });
            }
        }
        Ok(out)
    }

    async fn add_post_field(&self) -> Result<SchemaChange, StoreError> {
        // No schema: the property is written into every post node, one by one, in one query.
        let reply = self.write(cypher::ADD_LANG, &Params::new()).await?;
        Ok(SchemaChange {
            rewritten: reply.stat("Properties set"),
        })
    }

    async fn drop_post_field(&self) -> Result<(), StoreError> {
        self.write(cypher::DROP_LANG, &Params::new()).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_backslashes_and_quotes_and_refuses_nul() {
        assert_eq!(quote(r#"a "b" \c"#).unwrap(), r#""a \"b\" \\c""#);
        assert_eq!(quote("line\nbreak").unwrap(), "\"line\nbreak\"");
        assert!(quote("nul\0").is_err());
    }

    #[test]
    fn parameters_form_the_cypher_header() {
        let params = Params::new().int("id", 42).text("body", "hi").unwrap();
        assert_eq!(
            params.with("RETURN $id"),
            "CYPHER id=42 body=\"hi\" RETURN $id"
        );
        assert_eq!(Params::new().with("RETURN 1"), "RETURN 1");
    }

    #[test]
    fn a_reply_parses_into_rows_and_statistics() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let reply = Reply::parse(Value::Array(vec![
            Value::Array(vec![bulk("p.id")]),
            Value::Array(vec![Value::Array(vec![Value::Int(7), Value::Nil])]),
            Value::Array(vec![
                bulk("Properties set: 12"),
                bulk("Cached execution: 1"),
            ]),
        ]))
        .unwrap();
        assert_eq!(reply.single_int().unwrap(), 7);
        assert_eq!(opt_int(&reply.rows[0][1]).unwrap(), None);
        assert_eq!(reply.stat("Properties set"), 12);
        assert_eq!(reply.stat("Nodes created"), 0);
    }
}
