//! PostgreSQL `JSONB` as a document store: the stand-in for MongoDB.
//!
//! MongoDB cannot be installed on this machine, so this module models the data the way a MongoDB
//! schema would and stores each document in a `JSONB` column. The lessons carry over because they
//! are about the *shape* of the data, not the wire protocol:
//!
//! - **Embed what you read together.** A user document carries its 20 latest posts
//!   (`recent_posts`), so a profile page is one fetch by primary key, no join.
//! - **Bound every array.** `recent_posts` is capped (a `$push` with `$sort` and `$slice` on every
//!   new post); an array that grows without limit makes every read and every rewrite of its
//!   document slower, and MongoDB refuses a document over 16 MiB outright.
//! - **Reference what grows.** Posts live in their own collection and point to their author. Their
//!   `liked_by` array is the counter-example kept on purpose: on a popular post it is exactly the
//!   unbounded array a schema review would flag, and the demo prints how big it gets.
//! - **Documents are poor at joins.** Friends-of-friends, reachability and "liked alike" are
//!   answered by application-side joins, one query per level (`WHERE id = ANY($1)`), which is how
//!   they are written against MongoDB too (or with `$lookup`/`$graphLookup`, which do the same
//!   work inside the server).
//!
//! The collections:
//!
//! ```text
//! user_docs(id BIGINT PRIMARY KEY, doc JSONB)   {handle, name, profile: {city}, following: [ids],
//!                                                liked: [post ids], post_count,
//!                                                recent_posts: [{id, body, created_at}] newest first}
//! post_docs(id BIGINT PRIMARY KEY, doc JSONB)   {author, body, created_at, likes, liked_by: [ids]}
//! ```
//!
//! What a real MongoDB deployment would add: `_id` as an `ObjectId`, BSON's typed numbers instead
//! of JSON's (here every number goes through a `::bigint` cast), multi-document transactions only
//! on a replica set, and indexes that name fields rather than one index over every path.
//! What PostgreSQL adds that MongoDB lacks: the same transaction covers both collections without a
//! replica set, and the relational tables are one schema away.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Display;

use async_trait::async_trait;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Jsonb, Text};
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::model::{LikedAlike, NewPost, Post, PostId, Profile, TopPost, User, UserId};
use crate::seed::{self, Dataset, Sizes};
use crate::store::{Engine, SchemaChange, SocialStore, StoreError};

/// How many posts a user document embeds: the bounded-array rule. A profile page shows 20.
pub const RECENT_POSTS_CAP: usize = 20;

/// Rows per multi-row `INSERT`: two bind parameters each, far below PostgreSQL's 65,535 per
/// statement, and a statement of a few megabytes at most.
const STATEMENT_ROWS: usize = 1_000;
/// Statements per load transaction: fewer commits (each waits for the disk) without one
/// transaction holding the whole data set.
const TRANSACTION_STATEMENTS: usize = 10;

mod schema {
    // The DSL sees two columns per collection; everything inside `doc` is reached with JSONB
    // operators through `sql_query`, because the DSL has no `@>`, `->>` or `jsonb_set`.
    diesel::table! {
        user_docs (id) {
            id -> BigInt,
            doc -> Jsonb,
        }
    }
    diesel::table! {
        post_docs (id) {
            id -> BigInt,
            doc -> Jsonb,
        }
    }
}
use schema::{post_docs, user_docs};

/// Drops and recreates both collections, the id sequence and the seed marker, as one batch (so one
/// implicit transaction): a crash mid-load leaves no marker behind, and `seeded()` says `None`.
const CREATE_COLLECTIONS: &str = "
    DROP TABLE IF EXISTS doc_seed_marker, user_docs, post_docs;
    DROP SEQUENCE IF EXISTS post_docs_id_seq;
    CREATE TABLE user_docs (id BIGINT PRIMARY KEY, doc JSONB NOT NULL);
    CREATE TABLE post_docs (id BIGINT PRIMARY KEY, doc JSONB NOT NULL);
    CREATE SEQUENCE post_docs_id_seq OWNED BY post_docs.id;
    CREATE TABLE doc_seed_marker (generator_version BIGINT NOT NULL, sizes JSONB NOT NULL);
";

/// Built after the bulk insert (one sort per index instead of an index update per row).
///
/// - The GIN index with `jsonb_path_ops` serves `doc @> '{"profile":{"city":"Lyon"}}'`, MongoDB's
///   `find({"profile.city": "Lyon"})`, and containment on any other path too. Its price: it
///   indexes every path of every document (each embedded post body, each liked id), so every
///   `$push` onto a user document rewrites index entries as well. MongoDB indexes only the fields
///   you name; the PostgreSQL equivalent would be `((doc->'profile'->>'city'))`.
/// - The two expression indexes are the feed's and the top list's: PostgreSQL indexes a computed
///   value as readily as a column, provided the query repeats the expression exactly.
/// - `setval` makes new posts continue after the seeded ids; `ANALYZE` gives the planner the
///   statistics it needs to choose those indexes right after the load.
const CREATE_INDEXES: &str = "
    CREATE INDEX user_docs_doc_gin ON user_docs USING GIN (doc jsonb_path_ops);
    CREATE INDEX post_docs_author_time
        ON post_docs (((doc->>'author')::bigint), ((doc->>'created_at')::bigint), id);
    CREATE INDEX post_docs_likes ON post_docs (((doc->>'likes')::bigint) DESC, id);
    SELECT setval('post_docs_id_seq', COALESCE(max(id), 1), max(id) IS NOT NULL) FROM post_docs;
    ANALYZE user_docs;
    ANALYZE post_docs;
";

/// The name of the GIN index, which `EXPLAIN` output names when the planner uses it.
pub const GIN_INDEX: &str = "user_docs_doc_gin";

/// `findOne({_id}, {handle: 1, name: 1, "profile.city": 1})`: a point lookup with a projection.
const USER_SQL: &str = "SELECT doc->>'handle' AS handle, doc->>'name' AS name, \
     doc->'profile'->>'city' AS city FROM user_docs WHERE id = $1";

/// `findOne({_id}, {following: 0, liked: 0})`: the profile page, embedded posts included, without
/// the two arrays it does not show.
const PROFILE_SQL: &str = "SELECT doc - 'following' - 'liked' AS doc FROM user_docs WHERE id = $1";

const FOLLOWING_SQL: &str = "SELECT doc->'following' AS doc FROM user_docs WHERE id = $1";
/// One level of an application-side join: the `following` arrays of a whole frontier at once.
const FOLLOWING_OF_MANY_SQL: &str =
    "SELECT doc->'following' AS doc FROM user_docs WHERE id = ANY($1)";
const LIKED_SQL: &str = "SELECT doc->'liked' AS doc FROM user_docs WHERE id = $1";
const LIKED_BY_OF_MANY_SQL: &str =
    "SELECT doc->'liked_by' AS doc FROM post_docs WHERE id = ANY($1)";

/// `find({author: {$in: following}}).sort({created_at: -1, _id: -1}).limit(n)`. The casts repeat
/// the expression index's expressions exactly, or the planner would not match them.
const FEED_SQL: &str = "SELECT id, (doc->>'author')::bigint AS author, doc->>'body' AS body, \
     (doc->>'created_at')::bigint AS created_at FROM post_docs \
     WHERE (doc->>'author')::bigint = ANY($1) \
     ORDER BY (doc->>'created_at')::bigint DESC, id DESC LIMIT $2";

/// One author's posts past the embedded cap, read from the referencing side.
const AUTHOR_POSTS_SQL: &str = "SELECT id, (doc->>'author')::bigint AS author, doc->>'body' AS body, \
     (doc->>'created_at')::bigint AS created_at FROM post_docs \
     WHERE (doc->>'author')::bigint = $1 \
     ORDER BY (doc->>'created_at')::bigint DESC, id DESC LIMIT $2";

/// `find().sort({likes: -1, _id: 1}).limit(n)`, an ordered walk of the `post_docs_likes` index.
const TOP_POSTS_SQL: &str = "SELECT id, (doc->>'author')::bigint AS author, \
     (doc->>'likes')::bigint AS likes FROM post_docs \
     ORDER BY (doc->>'likes')::bigint DESC, id LIMIT $1";

/// Locks the author's document and draws the new post's id, in one round trip: no row (an unknown
/// author) means no id is drawn, so a refused post leaves no gap in the sequence either.
const NEW_POST_ID_SQL: &str =
    "SELECT nextval('post_docs_id_seq') AS id FROM user_docs WHERE id = $1 FOR UPDATE";

/// `updateOne({_id}, {$push: {recent_posts: {$each: [post], $sort: {created_at: -1, id: -1},
/// $slice: 20}}, $inc: {post_count: 1}})`, in SQL: unnest the array with the new post, keep the
/// newest `$3`, aggregate them back, and set both fields. `$sort` rather than MongoDB's plainer
/// `$position: 0` because the caller supplies the time: a post dated before the embedded ones
/// must land in its place (or fall off the end), or the embedded list would disagree with a query.
const PUSH_RECENT_POST_SQL: &str = "UPDATE user_docs SET doc = jsonb_set(jsonb_set(doc, '{recent_posts}', (
        SELECT COALESCE(jsonb_agg(e ORDER BY (e->>'created_at')::bigint DESC, (e->>'id')::bigint DESC),
                        '[]'::jsonb)
        FROM (SELECT e FROM jsonb_array_elements(jsonb_build_array($2::jsonb) || (doc->'recent_posts')) AS t (e)
              ORDER BY (e->>'created_at')::bigint DESC, (e->>'id')::bigint DESC
              LIMIT $3) AS kept)),
    '{post_count}', to_jsonb((doc->>'post_count')::bigint + 1))
    WHERE id = $1";

/// `updateOne({_id: post, liked_by: {$ne: user}}, {$push: {liked_by: user}, $inc: {likes: 1}})`:
/// the condition makes a second like match nothing, and a concurrent duplicate re-checks it after
/// waiting for the first one's row lock, so liking twice counts once.
const LIKE_POST_SQL: &str = "UPDATE post_docs SET doc = jsonb_set(jsonb_set(doc, '{liked_by}',
        (doc->'liked_by') || jsonb_build_array($1::bigint)),
    '{likes}', to_jsonb((doc->>'likes')::bigint + 1))
    WHERE id = $2 AND NOT (doc->'liked_by') @> jsonb_build_array($1::bigint)";

/// `updateOne({_id: user, liked: {$ne: post}}, {$push: {liked: post}})`.
const LIKE_USER_SQL: &str = "UPDATE user_docs SET doc = jsonb_set(doc, '{liked}',
        (doc->'liked') || jsonb_build_array($2::bigint))
    WHERE id = $1 AND NOT (doc->'liked') @> jsonb_build_array($2::bigint)";

/// `updateOne({_id}, {$inc: {likes: n}})` on its own: the demo times it on a small and on the
/// largest document, because PostgreSQL writes a whole new `JSONB` value for any change to it.
const INC_LIKES_SQL: &str = "UPDATE post_docs SET doc = jsonb_set(doc, '{likes}', to_jsonb((doc->>'likes')::bigint + $2)) \
     WHERE id = $1";

/// `deleteOne({_id: post})` and its copies: the post document goes, its id leaves every liker's
/// `liked` array (`$pull`), and the author's embedded `recent_posts` is rebuilt from the post
/// documents, because pulling one entry would leave the capped array one short of the newest
/// twenty. Run in one transaction.
const DELETE_POST_SQL: &str = "DELETE FROM post_docs WHERE id = $1";
const PULL_LIKED_SQL: &str = "UPDATE user_docs SET doc = jsonb_set(doc, '{liked}', (
        SELECT COALESCE(jsonb_agg(e), '[]'::jsonb) FROM jsonb_array_elements(doc->'liked') AS t (e)
        WHERE e <> to_jsonb($1::bigint)))
    WHERE (doc->'liked') @> jsonb_build_array($1::bigint)";
const REBUILD_RECENT_SQL: &str = "UPDATE user_docs SET doc = jsonb_set(jsonb_set(doc, '{recent_posts}', (
        SELECT COALESCE(jsonb_agg(jsonb_build_object('id', p.id, 'body', p.doc->'body',
                                                     'created_at', p.doc->'created_at')
                                  ORDER BY (p.doc->>'created_at')::bigint DESC, p.id DESC), '[]'::jsonb)
        FROM (SELECT id, doc FROM post_docs WHERE (doc->>'author')::bigint = $1
              ORDER BY (doc->>'created_at')::bigint DESC, id DESC LIMIT $2) AS p)),
    '{post_count}', to_jsonb((doc->>'post_count')::bigint - 1))
    WHERE id = $1";

/// `updateMany({}, {$set: {lang: "en"}})`: every post document is rewritten (a new row version
/// each), where a relational `ADD COLUMN ... DEFAULT 'en'` only records the default in the
/// catalogue. The embedded copies in `recent_posts` are left alone: they are a projection
/// (id, body, time) that carries none of a post's other fields either.
const ADD_LANG_SQL: &str = r#"UPDATE post_docs SET doc = doc || '{"lang": "en"}'"#;
const DROP_LANG_SQL: &str = "UPDATE post_docs SET doc = doc - 'lang' WHERE doc ? 'lang'";

/// A user document as stored. Field names are the document's keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDoc {
    pub handle: String,
    pub name: String,
    pub profile: ProfileDoc,
    /// Who this user follows, in id order. Bounded in practice (people follow hundreds, not
    /// millions), which is why it may be embedded while followers may not.
    pub following: Vec<UserId>,
    /// The posts this user liked, in the order liked (seeded ones in id order).
    pub liked: Vec<PostId>,
    /// At most [`RECENT_POSTS_CAP`], newest first (ties by higher id first).
    pub recent_posts: Vec<EmbeddedPost>,
    /// Every post by this user, embedded or not.
    pub post_count: i64,
}

/// The nested object that `find({"profile.city": ...})` reaches into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileDoc {
    pub city: String,
}

/// A post as embedded in its author's document: a copy, so the profile needs no second read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbeddedPost {
    pub id: PostId,
    pub body: String,
    pub created_at: i64,
}

/// A post document as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostDoc {
    pub author: UserId,
    pub body: String,
    pub created_at: i64,
    /// `liked_by.len()`, kept beside it so "top posts" can be indexed (`$inc` on every like).
    pub likes: i64,
    /// Everyone who liked this post, in the order they did. The unbounded-array anti-pattern a
    /// MongoDB schema review would flag: a viral post drags an ever-growing array through every
    /// read and every write of its document. The fix is a `likes` collection of
    /// `{user, post}` documents, i.e. the relational likes table again.
    pub liked_by: Vec<UserId>,
}

/// What a profile read deserialises: the projection of [`PROFILE_SQL`].
#[derive(Deserialize)]
struct ProfileView {
    handle: String,
    name: String,
    profile: ProfileDoc,
    recent_posts: Vec<EmbeddedPost>,
    post_count: i64,
}

/// Which user documents to find, as a MongoDB filter names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserFilter<'a> {
    /// `{"profile.city": city}`: a nested field, matched by one in eight seeded users.
    City(&'a str),
    /// `{"handle": handle}`: a top-level field, matched by one user.
    Handle(&'a str),
}

impl UserFilter<'_> {
    /// The filter as a MongoDB shell user would write it.
    pub fn mongo(&self) -> String {
        match self {
            UserFilter::City(city) => format!(r#"db.users.find({{"profile.city": "{city}"}})"#),
            UserFilter::Handle(handle) => format!(r#"db.users.find({{"handle": "{handle}"}})"#),
        }
    }

    /// The document `doc @> $1` is given: the same filter as a JSON subset.
    fn containment(&self) -> Value {
        match self {
            UserFilter::City(city) => json!({ "profile": { "city": city } }),
            UserFilter::Handle(handle) => json!({ "handle": handle }),
        }
    }

    /// The user value the extracted-field predicate compares with.
    fn value(&self) -> &str {
        match self {
            UserFilter::City(v) | UserFilter::Handle(v) => v,
        }
    }

    /// The statement for `lookup`, with the user value left as `$1`.
    pub fn sql(&self, lookup: Lookup) -> &'static str {
        match (lookup, self) {
            (Lookup::Containment, _) => "SELECT id FROM user_docs WHERE doc @> $1 ORDER BY id",
            (Lookup::ExtractedField, UserFilter::City(_)) => {
                "SELECT id FROM user_docs WHERE doc->'profile'->>'city' = $1 ORDER BY id"
            }
            (Lookup::ExtractedField, UserFilter::Handle(_)) => {
                "SELECT id FROM user_docs WHERE doc->>'handle' = $1 ORDER BY id"
            }
        }
    }
}

/// Two ways to write the same filter in SQL, to show what the GIN index buys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Lookup {
    /// `doc @> '{"profile":{"city":"Lyon"}}'`: containment, which the GIN index serves.
    Containment,
    /// `doc->'profile'->>'city' = 'Lyon'`: the same answer, but no index holds that expression,
    /// so every document is read and parsed (a sequential scan).
    ExtractedField,
}

/// Whether `EXPLAIN` may pick a sequential scan. On a table of a few hundred documents a scan
/// really is cheapest, so a test that wants to see the index usable discourages it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqScan {
    Allowed,
    Discouraged,
}

/// How big one document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DocSize {
    pub id: i64,
    /// `pg_column_size`: what the value occupies on disk, after PostgreSQL's compression.
    pub stored_bytes: i64,
    /// The document as JSON text (`doc::text`), before compression.
    pub json_bytes: i64,
}

/// The largest document on each side of the model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DocSizes {
    /// The embedding side: bounded by the cap, so it stays small.
    pub largest_user: DocSize,
    /// The referencing side: the most liked post, carrying its whole `liked_by` array.
    pub largest_post: DocSize,
    /// How many ids that `liked_by` holds.
    pub largest_post_liked_by: i64,
    /// The mean post document, for scale.
    pub mean_post_stored_bytes: f64,
}

/// The document engine: two `JSONB` collections on PostgreSQL behind a small pool.
#[derive(Clone)]
pub struct DocumentStore {
    pool: Pool<AsyncPgConnection>,
}

impl std::fmt::Debug for DocumentStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentStore")
            .field("pool", &self.pool.status())
            .finish()
    }
}

impl DocumentStore {
    /// A pool of at most `pool_size` connections to the PostgreSQL database at `url`, checked by
    /// opening one connection now, so a wrong URL fails here rather than at the first query.
    ///
    /// Connections are recycled without a test query (`RecyclingMethod::Fast`): a verified
    /// checkout costs one more round trip per operation, which the demo would measure as if it
    /// were the engine's. A dead connection then shows up as one failed operation instead.
    pub async fn connect(url: &str, pool_size: usize) -> Result<Self, StoreError> {
        let mut config = ManagerConfig::default();
        config.recycling_method = RecyclingMethod::Fast;
        let manager =
            AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .build()
            .map_err(fail)?;
        let store = Self { pool };
        drop(store.conn().await?);
        Ok(store)
    }

    async fn conn(&self) -> Result<Object<AsyncPgConnection>, StoreError> {
        self.pool.get().await.map_err(fail)
    }

    /// The stored user document, whole: what the tests inspect (the cap, the embedded order).
    pub async fn user_doc(&self, id: UserId) -> Result<UserDoc, StoreError> {
        let mut conn = self.conn().await?;
        let doc = user_docs::table
            .find(id)
            .select(user_docs::doc)
            .first::<Value>(&mut conn)
            .await
            .optional()
            .map_err(fail)?
            .ok_or(StoreError::no_user(id))?;
        serde_json::from_value(doc).map_err(fail)
    }

    /// The stored post document, or `None`.
    pub async fn post_doc(&self, id: PostId) -> Result<Option<PostDoc>, StoreError> {
        let mut conn = self.conn().await?;
        let doc = post_docs::table
            .find(id)
            .select(post_docs::doc)
            .first::<Value>(&mut conn)
            .await
            .optional()
            .map_err(fail)?;
        doc.map(serde_json::from_value).transpose().map_err(fail)
    }

    /// The ids of the users `filter` matches, in id order, found the way `lookup` says.
    pub async fn find_users(
        &self,
        filter: UserFilter<'_>,
        lookup: Lookup,
    ) -> Result<Vec<UserId>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<IdRow> = bind_filter(diesel::sql_query(filter.sql(lookup)), filter, lookup)
            .load(&mut conn)
            .await
            .map_err(fail)?;
        Ok(rows.into_iter().map(|r| r.id).collect())
    }

    /// The plan PostgreSQL picks for [`DocumentStore::find_users`], as `EXPLAIN` prints it.
    pub async fn explain_find_users(
        &self,
        filter: UserFilter<'_>,
        lookup: Lookup,
        seq_scan: SeqScan,
    ) -> Result<String, StoreError> {
        let mut conn = self.conn().await?;
        let sql = format!("EXPLAIN {}", filter.sql(lookup));
        let lines: Vec<PlanLine> = conn
            .transaction(async |c| {
                if seq_scan == SeqScan::Discouraged {
                    // SET LOCAL: the setting ends with this transaction, not with the pooled
                    // connection's life.
                    c.batch_execute("SET LOCAL enable_seqscan = off").await?;
                }
                bind_filter(diesel::sql_query(&sql), filter, lookup)
                    .load(c)
                    .await
            })
            .await
            .map_err(fail)?;
        Ok(lines
            .into_iter()
            .map(|l| l.line)
            .collect::<Vec<_>>()
            .join("\n"))
    }

    /// The largest user and post documents, and the mean post document.
    pub async fn document_sizes(&self) -> Result<DocSizes, StoreError> {
        let mut conn = self.conn().await?;
        // pg_column_size reads a TOASTed value's stored size without decompressing it, so ordering
        // by it is a cheap scan; the JSON text is measured for the winner only.
        let largest = |table: &str| {
            format!(
                "SELECT id, pg_column_size(doc)::bigint AS stored_bytes, \
                 octet_length(doc::text)::bigint AS json_bytes \
                 FROM {table} ORDER BY pg_column_size(doc) DESC, id LIMIT 1"
            )
        };
        let user: SizeRow = diesel::sql_query(largest("user_docs"))
            .get_result(&mut conn)
            .await
            .map_err(fail)?;
        let post: SizeRow = diesel::sql_query(largest("post_docs"))
            .get_result(&mut conn)
            .await
            .map_err(fail)?;
        let extra: PostSizeExtra = diesel::sql_query(
            "SELECT (SELECT jsonb_array_length(doc->'liked_by')::bigint FROM post_docs WHERE id = $1) \
                 AS liked_by, \
             (SELECT avg(pg_column_size(doc))::float8 FROM post_docs) AS mean_stored",
        )
        .bind::<BigInt, _>(post.id)
        .get_result(&mut conn)
        .await
        .map_err(fail)?;
        Ok(DocSizes {
            largest_user: user.into(),
            largest_post: post.into(),
            largest_post_liked_by: extra.liked_by,
            mean_post_stored_bytes: extra.mean_stored,
        })
    }

    /// The highest post id stored (0 when there are none): where the demo's scratch posts start.
    pub(crate) async fn max_post_id(&self) -> Result<PostId, StoreError> {
        let mut conn = self.conn().await?;
        let max: Option<i64> = post_docs::table
            .select(diesel::dsl::max(post_docs::id))
            .first(&mut conn)
            .await
            .map_err(fail)?;
        Ok(max.unwrap_or(0))
    }

    /// `$inc` on a post's `likes` alone, by `delta` (negative to undo). Demo only: it breaks the
    /// `likes == liked_by.len()` invariant until undone.
    pub(crate) async fn increment_likes(&self, post: PostId, delta: i64) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let updated = diesel::sql_query(INC_LIKES_SQL)
            .bind::<BigInt, _>(post)
            .bind::<BigInt, _>(delta)
            .execute(&mut conn)
            .await
            .map_err(fail)?;
        if updated == 0 {
            return Err(StoreError::NotFound {
                what: "post",
                id: post,
            });
        }
        Ok(())
    }

    /// The user documents `ids` as stored, to put back with [`DocumentStore::restore_users`].
    pub(crate) async fn snapshot_users(
        &self,
        ids: &[UserId],
    ) -> Result<Vec<(UserId, Value)>, StoreError> {
        let mut conn = self.conn().await?;
        user_docs::table
            .filter(user_docs::id.eq_any(ids))
            .select((user_docs::id, user_docs::doc))
            .load(&mut conn)
            .await
            .map_err(fail)
    }

    /// Undoes the demo's writes: puts the snapshotted user documents back, deletes every post
    /// after `last_post`, and rewinds the id sequence so the next post is `last_post + 1` again.
    pub(crate) async fn restore(
        &self,
        users: &[(UserId, Value)],
        last_post: PostId,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        conn.transaction(async |c| {
            for (id, doc) in users {
                diesel::update(user_docs::table.find(*id))
                    .set(user_docs::doc.eq(doc))
                    .execute(c)
                    .await?;
            }
            diesel::delete(post_docs::table.filter(post_docs::id.gt(last_post)))
                .execute(c)
                .await?;
            diesel::sql_query("SELECT setval('post_docs_id_seq', GREATEST($1, 1), $1 > 0)")
                .bind::<BigInt, _>(last_post)
                .execute(c)
                .await?;
            Ok::<_, diesel::result::Error>(())
        })
        .await
        .map_err(fail)
    }
}

/// Binds the value `lookup` compares: a JSON subset for containment, a string otherwise.
fn bind_filter<'a>(
    query: diesel::query_builder::SqlQuery,
    filter: UserFilter<'a>,
    lookup: Lookup,
) -> diesel::query_builder::BoxedSqlQuery<'a, diesel::pg::Pg, diesel::query_builder::SqlQuery> {
    let query = query.into_boxed();
    match lookup {
        Lookup::Containment => query.bind::<Jsonb, _>(filter.containment()),
        Lookup::ExtractedField => query.bind::<Text, _>(filter.value().to_owned()),
    }
}

#[async_trait]
impl SocialStore for DocumentStore {
    fn engine(&self) -> Engine {
        Engine::Documents
    }

    async fn delete_post(&self, id: PostId) -> Result<(), StoreError> {
        let Some(post) = self.post_doc(id).await? else {
            return Ok(());
        };
        let mut conn = self.conn().await?;
        conn.transaction(async |c| {
            diesel::sql_query(DELETE_POST_SQL)
                .bind::<BigInt, _>(id)
                .execute(c)
                .await?;
            diesel::sql_query(PULL_LIKED_SQL)
                .bind::<BigInt, _>(id)
                .execute(c)
                .await?;
            diesel::sql_query(REBUILD_RECENT_SQL)
                .bind::<BigInt, _>(post.author)
                .bind::<BigInt, _>(RECENT_POSTS_CAP as i64)
                .execute(c)
                .await?;
            Ok::<_, diesel::result::Error>(())
        })
        .await
        .map_err(fail)
    }

    async fn seeded(&self) -> Result<Option<Sizes>, StoreError> {
        let mut conn = self.conn().await?;
        let present: Flag =
            diesel::sql_query("SELECT to_regclass('doc_seed_marker') IS NOT NULL AS flag")
                .get_result(&mut conn)
                .await
                .map_err(fail)?;
        if !present.flag {
            return Ok(None);
        }
        let sizes: Option<JsonRow> = diesel::sql_query(
            "SELECT sizes AS doc FROM doc_seed_marker WHERE generator_version = $1",
        )
        .bind::<BigInt, _>(seed::GENERATOR_VERSION)
        .get_result(&mut conn)
        .await
        .optional()
        .map_err(fail)?;
        sizes
            .map(|row| serde_json::from_value(row.doc))
            .transpose()
            .map_err(fail)
    }

    async fn load(
        &self,
        data: &Dataset,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        conn.batch_execute(CREATE_COLLECTIONS).await.map_err(fail)?;

        // Building the documents is CPU work on the async runtime; it stays in chunks of a few
        // milliseconds (one transaction's worth of posts at a time), so nothing stalls for long.
        let mut written = 0u64;
        let users = user_documents(data)?;
        for batch in users.chunks(STATEMENT_ROWS * TRANSACTION_STATEMENTS) {
            insert_batch(&mut conn, Collection::Users, batch).await?;
            // A user document holds the user and their follows: both count as records written.
            let follows: usize = batch
                .iter()
                .map(|(_, doc)| doc["following"].as_array().map_or(0, Vec::len))
                .sum();
            written += (batch.len() + follows) as u64;
            progress(written);
        }

        let liked_by = liked_by(data);
        for posts in data.posts.chunks(STATEMENT_ROWS * TRANSACTION_STATEMENTS) {
            let mut likes = 0usize;
            let batch = posts
                .iter()
                .map(|p| {
                    let liked_by = liked_by.get(&p.id).cloned().unwrap_or_default();
                    likes += liked_by.len();
                    let doc = PostDoc {
                        author: p.author,
                        body: p.body.clone(),
                        created_at: p.created_at,
                        likes: liked_by.len() as i64,
                        liked_by,
                    };
                    serde_json::to_value(doc).map(|doc| (p.id, doc))
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(fail)?;
            insert_batch(&mut conn, Collection::Posts, &batch).await?;
            written += (batch.len() + likes) as u64;
            progress(written);
        }

        conn.batch_execute(CREATE_INDEXES).await.map_err(fail)?;
        diesel::sql_query("INSERT INTO doc_seed_marker (generator_version, sizes) VALUES ($1, $2)")
            .bind::<BigInt, _>(seed::GENERATOR_VERSION)
            .bind::<Jsonb, _>(serde_json::to_value(data.sizes).map_err(fail)?)
            .execute(&mut conn)
            .await
            .map_err(fail)?;
        Ok(())
    }

    async fn user(&self, id: UserId) -> Result<User, StoreError> {
        let mut conn = self.conn().await?;
        let row: Option<UserRow> = diesel::sql_query(USER_SQL)
            .bind::<BigInt, _>(id)
            .get_result(&mut conn)
            .await
            .optional()
            .map_err(fail)?;
        let row = row.ok_or(StoreError::no_user(id))?;
        Ok(User {
            id,
            handle: row.handle,
            name: row.name,
            city: row.city,
        })
    }

    async fn create_post(&self, post: &NewPost) -> Result<Post, StoreError> {
        let mut conn = self.conn().await?;
        let id = conn
            .transaction(async |c| {
                // Both documents change in one transaction: the post document and its copy in the
                // author's `recent_posts`. MongoDB needs a replica set for the same guarantee;
                // without one, a crash between the two writes leaves a post its author's page
                // never shows.
                let id: Option<IdRow> = diesel::sql_query(NEW_POST_ID_SQL)
                    .bind::<BigInt, _>(post.author)
                    .get_result(c)
                    .await
                    .optional()?;
                let Some(IdRow { id }) = id else {
                    return Err(Abort::Missing {
                        what: "user",
                        id: post.author,
                    });
                };
                let doc = PostDoc {
                    author: post.author,
                    body: post.body.clone(),
                    created_at: post.created_at,
                    likes: 0,
                    liked_by: Vec::new(),
                };
                diesel::insert_into(post_docs::table)
                    .values((post_docs::id.eq(id), post_docs::doc.eq(to_json(&doc)?)))
                    .execute(c)
                    .await?;
                let embedded = EmbeddedPost {
                    id,
                    body: post.body.clone(),
                    created_at: post.created_at,
                };
                diesel::sql_query(PUSH_RECENT_POST_SQL)
                    .bind::<BigInt, _>(post.author)
                    .bind::<Jsonb, _>(to_json(&embedded)?)
                    .bind::<BigInt, _>(RECENT_POSTS_CAP as i64)
                    .execute(c)
                    .await?;
                Ok(id)
            })
            .await
            .map_err(StoreError::from)?;
        Ok(Post {
            id,
            author: post.author,
            body: post.body.clone(),
            created_at: post.created_at,
        })
    }

    async fn like(&self, user: UserId, post: PostId) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        conn.transaction(async |c| {
            let known = diesel::select(diesel::dsl::exists(user_docs::table.find(user)))
                .get_result::<bool>(c)
                .await?;
            if !known {
                return Err(Abort::Missing {
                    what: "user",
                    id: user,
                });
            }
            // Two documents change together, so it is a transaction: a like counted on the post
            // but missing from the user's `liked` would make "liked alike" disagree with "top".
            let counted = diesel::sql_query(LIKE_POST_SQL)
                .bind::<BigInt, _>(user)
                .bind::<BigInt, _>(post)
                .execute(c)
                .await?;
            if counted == 0 {
                // Nothing matched: either no such post, or this user liked it already.
                let exists = diesel::select(diesel::dsl::exists(post_docs::table.find(post)))
                    .get_result::<bool>(c)
                    .await?;
                return if exists {
                    Ok(())
                } else {
                    Err(Abort::Missing {
                        what: "post",
                        id: post,
                    })
                };
            }
            diesel::sql_query(LIKE_USER_SQL)
                .bind::<BigInt, _>(user)
                .bind::<BigInt, _>(post)
                .execute(c)
                .await?;
            Ok(())
        })
        .await
        .map_err(StoreError::from)
    }

    async fn profile(&self, user: UserId, limit: usize) -> Result<Profile, StoreError> {
        let mut conn = self.conn().await?;
        let row: Option<JsonRow> = diesel::sql_query(PROFILE_SQL)
            .bind::<BigInt, _>(user)
            .get_result(&mut conn)
            .await
            .optional()
            .map_err(fail)?;
        let view: ProfileView =
            serde_json::from_value(row.ok_or(StoreError::no_user(user))?.doc).map_err(fail)?;
        let found = User {
            id: user,
            handle: view.handle,
            name: view.name,
            city: view.profile.city,
        };
        let embedded_all =
            usize::try_from(view.post_count).is_ok_and(|n| n <= view.recent_posts.len());
        let posts = if limit <= view.recent_posts.len() || embedded_all {
            // The common case: the page is in the document already. One read, no join.
            view.recent_posts
                .into_iter()
                .take(limit)
                .map(|p| Post {
                    id: p.id,
                    author: user,
                    body: p.body,
                    created_at: p.created_at,
                })
                .collect()
        } else {
            // Past the cap the embedding has nothing more to give: a second query, on the
            // referencing side. The cap is chosen so that the usual page never gets here.
            let rows: Vec<PostRow> = diesel::sql_query(AUTHOR_POSTS_SQL)
                .bind::<BigInt, _>(user)
                .bind::<BigInt, _>(as_limit(limit))
                .load(&mut conn)
                .await
                .map_err(fail)?;
            rows.into_iter().map(Post::from).collect()
        };
        Ok(Profile { user: found, posts })
    }

    async fn home_feed(&self, user: UserId, limit: usize) -> Result<Vec<Post>, StoreError> {
        let mut conn = self.conn().await?;
        // Two reads: the `following` array, then the posts of those authors. A document store
        // cannot join the two in the server, so the application carries the ids across.
        let following = ids_of_one(&mut conn, FOLLOWING_SQL, user).await?;
        if following.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<PostRow> = diesel::sql_query(FEED_SQL)
            .bind::<Array<BigInt>, _>(&following)
            .bind::<BigInt, _>(as_limit(limit))
            .load(&mut conn)
            .await
            .map_err(fail)?;
        Ok(rows.into_iter().map(Post::from).collect())
    }

    async fn top_posts(&self, limit: usize) -> Result<Vec<TopPost>, StoreError> {
        let mut conn = self.conn().await?;
        let rows: Vec<TopRow> = diesel::sql_query(TOP_POSTS_SQL)
            .bind::<BigInt, _>(as_limit(limit))
            .load(&mut conn)
            .await
            .map_err(fail)?;
        Ok(rows
            .into_iter()
            .map(|r| TopPost {
                id: r.id,
                author: r.author,
                likes: r.likes,
            })
            .collect())
    }

    async fn friends_of_friends(&self, user: UserId) -> Result<Vec<UserId>, StoreError> {
        let mut conn = self.conn().await?;
        // Two round trips and a set difference in Rust: the join a relational engine runs inside
        // the server, done by hand.
        let following = ids_of_one(&mut conn, FOLLOWING_SQL, user).await?;
        let theirs = ids_of_many(&mut conn, FOLLOWING_OF_MANY_SQL, &following).await?;
        let mine: HashSet<UserId> = following.into_iter().collect();
        let found: BTreeSet<UserId> = theirs
            .into_iter()
            .flatten()
            .filter(|id| *id != user && !mine.contains(id))
            .collect();
        Ok(found.into_iter().collect())
    }

    async fn reachable_within(&self, user: UserId, hops: u32) -> Result<u64, StoreError> {
        let mut conn = self.conn().await?;
        // Breadth first, one query per hop over the new frontier only. The round trips grow with
        // the depth and each level ships whole arrays to the application: the traversal cost a
        // graph engine keeps inside the server.
        let first = ids_of_one(&mut conn, FOLLOWING_SQL, user).await?;
        if hops == 0 {
            // Zero hops reach nobody; the read above still made an unknown user an error.
            return Ok(0);
        }
        let mut seen = HashSet::from([user]);
        let mut frontier: Vec<UserId> = first.into_iter().filter(|id| seen.insert(*id)).collect();
        for _ in 1..hops {
            if frontier.is_empty() {
                break;
            }
            let lists = ids_of_many(&mut conn, FOLLOWING_OF_MANY_SQL, &frontier).await?;
            frontier = lists
                .into_iter()
                .flatten()
                .filter(|id| seen.insert(*id))
                .collect();
        }
        Ok(seen.len() as u64 - 1)
    }

    async fn liked_alike(&self, user: UserId, limit: usize) -> Result<Vec<LikedAlike>, StoreError> {
        let mut conn = self.conn().await?;
        // The user's `liked`, then the `liked_by` of each of those posts, counted in Rust. Every
        // popular post the user liked ships its whole `liked_by` array: the unbounded array's
        // read cost, paid on this query.
        let liked = ids_of_one(&mut conn, LIKED_SQL, user).await?;
        let likers = ids_of_many(&mut conn, LIKED_BY_OF_MANY_SQL, &liked).await?;
        let mut shared: HashMap<UserId, i64> = HashMap::new();
        for other in likers.into_iter().flatten().filter(|id| *id != user) {
            *shared.entry(other).or_default() += 1;
        }
        let mut ranked: Vec<LikedAlike> = shared
            .into_iter()
            .map(|(user, shared)| LikedAlike { user, shared })
            .collect();
        ranked.sort_unstable_by(|a, b| b.shared.cmp(&a.shared).then(a.user.cmp(&b.user)));
        ranked.truncate(limit);
        Ok(ranked)
    }

    async fn add_post_field(&self) -> Result<SchemaChange, StoreError> {
        let mut conn = self.conn().await?;
        let rewritten = diesel::sql_query(ADD_LANG_SQL)
            .execute(&mut conn)
            .await
            .map_err(fail)?;
        Ok(SchemaChange {
            rewritten: rewritten as u64,
        })
    }

    async fn drop_post_field(&self) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        diesel::sql_query(DROP_LANG_SQL)
            .execute(&mut conn)
            .await
            .map_err(fail)?;
        // Each rewrite left a dead version of every post document (MVCC). Autovacuum would
        // reclaim them in time, and may be off (it is on the machine this was measured on):
        // without this, every run's add-and-undo doubles the table a reader scans.
        conn.batch_execute("VACUUM (ANALYZE) post_docs")
            .await
            .map_err(fail)?;
        Ok(())
    }
}

/// Which collection a load batch goes to.
#[derive(Clone, Copy)]
enum Collection {
    Users,
    Posts,
}

/// Inserts `batch` in one transaction, [`STATEMENT_ROWS`] documents per statement.
async fn insert_batch(
    conn: &mut AsyncPgConnection,
    collection: Collection,
    batch: &[(i64, Value)],
) -> Result<(), StoreError> {
    conn.transaction(async |c| {
        for rows in batch.chunks(STATEMENT_ROWS) {
            match collection {
                Collection::Users => {
                    let values: Vec<_> = rows
                        .iter()
                        .map(|(id, doc)| (user_docs::id.eq(*id), user_docs::doc.eq(doc)))
                        .collect();
                    diesel::insert_into(user_docs::table)
                        .values(values)
                        .execute(c)
                        .await?;
                }
                Collection::Posts => {
                    let values: Vec<_> = rows
                        .iter()
                        .map(|(id, doc)| (post_docs::id.eq(*id), post_docs::doc.eq(doc)))
                        .collect();
                    diesel::insert_into(post_docs::table)
                        .values(values)
                        .execute(c)
                        .await?;
                }
            }
        }
        Ok::<_, diesel::result::Error>(())
    })
    .await
    .map_err(fail)
}

/// Every user document of `data`, built in Rust: follows and likes grouped by user, each author's
/// posts sorted newest first and cut at the cap.
fn user_documents(data: &Dataset) -> Result<Vec<(UserId, Value)>, StoreError> {
    let mut following: HashMap<UserId, Vec<UserId>> = HashMap::new();
    for (follower, followee) in &data.follows {
        following.entry(*follower).or_default().push(*followee);
    }
    let mut liked: HashMap<UserId, Vec<PostId>> = HashMap::new();
    for (user, post) in &data.likes {
        liked.entry(*user).or_default().push(*post);
    }
    let mut authored: HashMap<UserId, Vec<&Post>> = HashMap::new();
    for post in &data.posts {
        authored.entry(post.author).or_default().push(post);
    }
    data.users
        .iter()
        .map(|u| {
            let mut following = following.remove(&u.id).unwrap_or_default();
            following.sort_unstable();
            let mut liked = liked.remove(&u.id).unwrap_or_default();
            liked.sort_unstable();
            let mut posts = authored.remove(&u.id).unwrap_or_default();
            posts.sort_unstable_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
            let doc = UserDoc {
                handle: u.handle.clone(),
                name: u.name.clone(),
                profile: ProfileDoc {
                    city: u.city.clone(),
                },
                following,
                liked,
                post_count: posts.len() as i64,
                recent_posts: posts
                    .into_iter()
                    .take(RECENT_POSTS_CAP)
                    .map(|p| EmbeddedPost {
                        id: p.id,
                        body: p.body.clone(),
                        created_at: p.created_at,
                    })
                    .collect(),
            };
            serde_json::to_value(doc)
                .map(|doc| (u.id, doc))
                .map_err(fail)
        })
        .collect()
}

/// Each post's likers, in id order.
fn liked_by(data: &Dataset) -> HashMap<PostId, Vec<UserId>> {
    let mut by_post: HashMap<PostId, Vec<UserId>> = HashMap::new();
    for (user, post) in &data.likes {
        by_post.entry(*post).or_default().push(*user);
    }
    for users in by_post.values_mut() {
        users.sort_unstable();
    }
    by_post
}

/// The id array one document's projection returns (`doc->'following'`, `doc->'liked'`), or
/// `NotFound` when there is no such user.
async fn ids_of_one(
    conn: &mut AsyncPgConnection,
    sql: &'static str,
    user: UserId,
) -> Result<Vec<i64>, StoreError> {
    let row: Option<JsonRow> = diesel::sql_query(sql)
        .bind::<BigInt, _>(user)
        .get_result(conn)
        .await
        .optional()
        .map_err(fail)?;
    ids(row.ok_or(StoreError::no_user(user))?.doc)
}

/// The id arrays of many documents at once: one level of an application-side join.
async fn ids_of_many(
    conn: &mut AsyncPgConnection,
    sql: &'static str,
    of: &[i64],
) -> Result<Vec<Vec<i64>>, StoreError> {
    if of.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<JsonRow> = diesel::sql_query(sql)
        .bind::<Array<BigInt>, _>(of)
        .load(conn)
        .await
        .map_err(fail)?;
    rows.into_iter().map(|r| ids(r.doc)).collect()
}

fn ids(array: Value) -> Result<Vec<i64>, StoreError> {
    serde_json::from_value(array).map_err(fail)
}

fn as_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn to_json(value: &impl Serialize) -> Result<Value, Abort> {
    serde_json::to_value(value).map_err(|e| Abort::Invalid(e.to_string()))
}

fn fail(error: impl Display) -> StoreError {
    StoreError::backend(Engine::Documents, error)
}

/// Why a transaction rolled back: a missing document the caller named, or the database.
enum Abort {
    Missing { what: &'static str, id: i64 },
    Invalid(String),
    Db(diesel::result::Error),
}

impl From<diesel::result::Error> for Abort {
    fn from(error: diesel::result::Error) -> Self {
        Abort::Db(error)
    }
}

impl From<Abort> for StoreError {
    fn from(abort: Abort) -> Self {
        match abort {
            Abort::Missing { what, id } => StoreError::NotFound { what, id },
            Abort::Invalid(message) => fail(message),
            Abort::Db(error) => fail(error),
        }
    }
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

#[derive(QueryableByName)]
struct JsonRow {
    #[diesel(sql_type = Jsonb)]
    doc: Value,
}

#[derive(QueryableByName)]
struct Flag {
    #[diesel(sql_type = Bool)]
    flag: bool,
}

#[derive(QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    line: String,
}

#[derive(QueryableByName)]
struct UserRow {
    #[diesel(sql_type = Text)]
    handle: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    city: String,
}

#[derive(QueryableByName)]
struct PostRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    author: i64,
    #[diesel(sql_type = Text)]
    body: String,
    #[diesel(sql_type = BigInt)]
    created_at: i64,
}

impl From<PostRow> for Post {
    fn from(r: PostRow) -> Self {
        Post {
            id: r.id,
            author: r.author,
            body: r.body,
            created_at: r.created_at,
        }
    }
}

#[derive(QueryableByName)]
struct TopRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    author: i64,
    #[diesel(sql_type = BigInt)]
    likes: i64,
}

#[derive(QueryableByName)]
struct SizeRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    stored_bytes: i64,
    #[diesel(sql_type = BigInt)]
    json_bytes: i64,
}

impl From<SizeRow> for DocSize {
    fn from(r: SizeRow) -> Self {
        DocSize {
            id: r.id,
            stored_bytes: r.stored_bytes,
            json_bytes: r.json_bytes,
        }
    }
}

#[derive(QueryableByName)]
struct PostSizeExtra {
    #[diesel(sql_type = BigInt)]
    liked_by: i64,
    #[diesel(sql_type = diesel::sql_types::Double)]
    mean_stored: f64,
}
