//! Cursor (keyset) pagination: "the 20 posts that come after *this* one".
//!
//! ```text
//! GET /cursor/posts?limit=20                      first page
//! GET /cursor/posts?limit=20&after=<cursor>       the page after the row the cursor names
//! GET /cursor/posts?limit=20&before=<cursor>      the page before it
//! ```
//!
//! The query seeks straight to the position in the `(created_at DESC, id DESC)` index and reads
//! `limit + 1` rows from there, however deep the position is: page 50,000 costs what page 1 costs.
//! And because the position is a *row* rather than a count of rows, inserts and deletes elsewhere
//! in the table cannot shift it: no row is served twice, and no row that stays is skipped.
//!
//! The cursor is opaque to clients but not secret: it is `version | created_at | id`, signed with
//! HMAC-SHA256 so that a client cannot forge a position (which would let it probe the table's
//! key space or, in a real app, reach rows by guessing), and versioned so that the format can change
//! without misreading old cursors. Production would rotate the key (accepting the previous one
//! for a while) and might encrypt the payload if the sort keys themselves were sensitive.

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDateTime};
use diesel::prelude::*;
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::db::{AnyConnection, Db};
use crate::error::Error;
use crate::links::{REL_FIRST, REL_NEXT, REL_PREV};
use crate::page::{self, Limits, Page};
use crate::post::{self, Post};
use crate::schema::pagination_posts::dsl as p;

/// Where this scheme is mounted (the server mounts it; the handler builds its links with it).
pub const PATH: &str = "/cursor/posts";

/// The only cursor format this server reads and writes.
pub const VERSION: u8 = 1;
/// version (1) + created_at in microseconds (8) + id (8).
const PAYLOAD_LEN: usize = 17;
/// An HMAC-SHA256 tag.
const TAG_LEN: usize = 32;

/// Where a page starts or ends: every sort key of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub created_at: NaiveDateTime,
    pub id: i64,
}

impl From<&Post> for Position {
    fn from(post: &Post) -> Self {
        Self {
            created_at: post.created_at,
            id: post.id,
        }
    }
}

/// Signs and checks cursors with one server-side key.
#[derive(Clone)]
pub struct CursorCodec {
    /// A keyed MAC, cloned per use (cheaper than re-deriving the key each time).
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for CursorCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key never reaches a log.
        f.write_str("CursorCodec(..)")
    }
}

impl CursorCodec {
    /// A codec keyed with `key` (32 random bytes is right for HMAC-SHA256).
    pub fn new(key: &[u8]) -> Self {
        // HMAC accepts keys of any length, so this cannot fail; the fallback keeps it panic-free.
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default()));
        Self { mac }
    }

    /// `base64url(version | created_at µs | id | HMAC(version | created_at µs | id))`.
    pub fn encode(&self, position: Position) -> String {
        let mut bytes = Vec::with_capacity(PAYLOAD_LEN + TAG_LEN);
        bytes.push(VERSION);
        bytes.extend_from_slice(
            &position
                .created_at
                .and_utc()
                .timestamp_micros()
                .to_be_bytes(),
        );
        bytes.extend_from_slice(&position.id.to_be_bytes());
        let mut mac = self.mac.clone();
        mac.update(&bytes);
        bytes.extend_from_slice(&mac.finalize().into_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Reads a cursor back, refusing anything this server did not issue with this key.
    pub fn decode(&self, cursor: &str) -> Result<Position, Error> {
        let bytes = URL_SAFE_NO_PAD
            .decode(cursor)
            .map_err(|_| Error::InvalidCursor("not base64url"))?;
        if bytes.len() != PAYLOAD_LEN + TAG_LEN {
            return Err(Error::InvalidCursor("wrong length"));
        }
        let (payload, tag) = bytes.split_at(PAYLOAD_LEN);
        // The signature first: nothing in an unauthenticated payload is looked at.
        let mut mac = self.mac.clone();
        mac.update(payload);
        // `verify_slice` compares in constant time, so response timing leaks nothing about
        // how many leading bytes of a forged tag were right.
        mac.verify_slice(tag)
            .map_err(|_| Error::InvalidCursor("bad signature"))?;
        if payload[0] != VERSION {
            return Err(Error::InvalidCursor("unknown version"));
        }
        let micros = i64::from_be_bytes(array(&payload[1..9]));
        let id = i64::from_be_bytes(array(&payload[9..17]));
        let created_at = DateTime::from_timestamp_micros(micros)
            .ok_or(Error::InvalidCursor("timestamp out of range"))?
            .naive_utc();
        Ok(Position { created_at, id })
    }
}

fn array(slice: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(slice);
    out
}

/// Which way from the cursor a page goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Older rows: the page after the cursor (`after=`).
    After,
    /// Newer rows: the page before the cursor (`before=`).
    Before,
}

/// The keyset query: at most `limit` rows newest first, and whether more exist in the direction
/// walked (it reads `limit + 1` rows to find out, which is cheaper than counting).
///
/// `(created_at, id) < (x, y)` is written as `created_at <= x AND (created_at < x OR id < y)`:
/// the first conjunct is a plain range both PostgreSQL and SQLite turn into an index seek; the
/// second trims the rows that share `x` and were already served. (PostgreSQL also understands
/// the row-value form; spelling it out keeps one query for both backends.)
pub fn fetch(
    conn: &mut AnyConnection,
    from: Option<(Direction, Position)>,
    limit: u32,
) -> QueryResult<(Vec<Post>, bool)> {
    let newest_first = (p::created_at.desc(), p::id.desc());
    let probe = i64::from(limit) + 1;
    let mut rows = match from {
        None => p::pagination_posts
            .order(newest_first)
            .limit(probe)
            .select(Post::as_select())
            .load(conn)?,
        Some((Direction::After, at)) => p::pagination_posts
            .filter(p::created_at.le(at.created_at))
            .filter(p::created_at.lt(at.created_at).or(p::id.lt(at.id)))
            .order(newest_first)
            .limit(probe)
            .select(Post::as_select())
            .load(conn)?,
        // Walk the index the other way from the cursor; the page is flipped back below.
        Some((Direction::Before, at)) => p::pagination_posts
            .filter(p::created_at.ge(at.created_at))
            .filter(p::created_at.gt(at.created_at).or(p::id.gt(at.id)))
            .order((p::created_at.asc(), p::id.asc()))
            .limit(probe)
            .select(Post::as_select())
            .load(conn)?,
    };
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    if matches!(from, Some((Direction::Before, _))) {
        rows.reverse();
    }
    Ok((rows, more))
}

/// Query parameters of `GET /cursor/posts`.
#[derive(Debug, Deserialize)]
pub struct CursorQuery {
    pub limit: Option<u32>,
    pub after: Option<String>,
    pub before: Option<String>,
    /// Also compute `total` (a full count: expensive on a large table, so off by default).
    #[serde(default)]
    pub count: bool,
}

/// `GET /cursor/posts`
pub async fn list(
    req: HttpRequest,
    db: web::Data<Db>,
    codec: web::Data<CursorCodec>,
    limits: web::Data<Limits>,
    query: web::Query<CursorQuery>,
) -> Result<HttpResponse, Error> {
    let query = query.into_inner();
    let limit = limits.check(query.limit)?;
    let from = match (&query.after, &query.before) {
        (Some(_), Some(_)) => {
            return Err(Error::parameter(
                "after",
                "give `after` or `before`, not both",
            ));
        }
        (Some(c), None) => Some((Direction::After, codec.decode(c)?)),
        (None, Some(c)) => Some((Direction::Before, codec.decode(c)?)),
        (None, None) => None,
    };
    let want_total = query.count;
    let (rows, more, total) = db
        .interact(move |conn| {
            let (rows, more) = fetch(conn, from, limit)?;
            let total = if want_total {
                Some(post::count(conn)?)
            } else {
                None
            };
            Ok((rows, more, total))
        })
        .await?;

    let base = page::base_url(&req, PATH);
    let first = format!("{base}?limit={limit}");
    // Walking forward (or from the top), `more` is about the next page; walking backward it is
    // about the previous one, and a next page exists: the cursor's own row is in it.
    let (has_more, has_prev) = match from {
        None => (more, false),
        Some((Direction::After, _)) => (more, true),
        Some((Direction::Before, _)) => (true, more),
    };
    let mut links = vec![(REL_FIRST, first)];
    if has_prev && let Some(top) = rows.first() {
        let cursor = codec.encode(top.into());
        links.push((REL_PREV, format!("{base}?limit={limit}&before={cursor}")));
    }
    let mut next_cursor = None;
    if has_more && let Some(bottom) = rows.last() {
        let cursor = codec.encode(bottom.into());
        links.push((REL_NEXT, format!("{base}?limit={limit}&after={cursor}")));
        next_cursor = Some(cursor);
    }
    Ok(page::respond(
        Page {
            items: rows,
            has_more,
            total,
            next_cursor,
        },
        &links,
    ))
}
