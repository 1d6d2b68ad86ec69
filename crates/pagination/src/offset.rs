//! Offset pagination: "skip N rows, then give me 20".
//!
//! ```text
//! GET /offset/posts?page=3&limit=20       pages numbered from 1, the form people know
//! GET /offset/posts?offset=40&limit=20    the same page, as a row count
//! ```
//!
//! Simple and random-access (jump to page 37), which is why people like it. Its two costs are
//! what this crate measures. **Depth:** the database cannot jump to row N; it walks the index
//! from the top and throws N rows away, so page 50,000 reads a million rows to return twenty.
//! **Drift:** a page is defined by a *count*, so a row inserted above the reader pushes
//! everything down one place (the reader sees a row twice) and a row deleted above pulls
//! everything up (the reader never sees one).

use actix_web::{HttpRequest, HttpResponse, web};
use diesel::prelude::*;
use serde::Deserialize;

use crate::db::{AnyConnection, Db};
use crate::error::Error;
use crate::links::{REL_FIRST, REL_NEXT, REL_PREV};
use crate::page::{self, Limits, Page};
use crate::post::{self, Post};
use crate::schema::pagination_posts::dsl as p;

/// Where this scheme is mounted (the server mounts it; the handler builds its links with it).
pub const PATH: &str = "/offset/posts";

/// The offset query: at most `limit` rows after skipping `offset`, and whether more exist.
pub fn fetch(conn: &mut AnyConnection, offset: i64, limit: u32) -> QueryResult<(Vec<Post>, bool)> {
    // The same total order as the cursor (`id` breaks ties), so the two schemes serve the same
    // feed; one row more than asked answers `has_more` without a count. `OFFSET` is the cost:
    // the database produces the `offset` rows before these and throws them away.
    let mut rows = p::pagination_posts
        .order((p::created_at.desc(), p::id.desc()))
        .limit(i64::from(limit) + 1)
        .offset(offset)
        .select(Post::as_select())
        .load(conn)?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    Ok((rows, more))
}

/// Query parameters of `GET /offset/posts`. Unsigned types: a negative or non-numeric value is
/// refused with 400 by the query extractor before the handler runs.
#[derive(Debug, Deserialize)]
pub struct OffsetQuery {
    pub limit: Option<u32>,
    /// 1-based page number.
    pub page: Option<u64>,
    /// Rows to skip.
    pub offset: Option<u64>,
    /// Also compute `total` (a full count: expensive on a large table, so off by default).
    #[serde(default)]
    pub count: bool,
}

/// `GET /offset/posts`
pub async fn list(
    req: HttpRequest,
    db: web::Data<Db>,
    limits: web::Data<Limits>,
    query: web::Query<OffsetQuery>,
) -> Result<HttpResponse, Error> {
    let query = query.into_inner();
    let limit = limits.check(query.limit)?;
    // Links keep the form the client used: page numbers stay page numbers.
    let by_page = query.page.is_some();
    let offset = match (query.page, query.offset) {
        (Some(_), Some(_)) => {
            return Err(Error::parameter(
                "page",
                "give `page` or `offset`, not both",
            ));
        }
        (Some(0), None) => return Err(Error::parameter("page", "pages are numbered from 1")),
        // Checked: `page=18446744073709551615` must be a 400, not an overflow.
        (Some(page), None) => (page - 1).checked_mul(u64::from(limit)),
        (None, Some(offset)) => Some(offset),
        (None, None) => Some(0),
    };
    // SQL's OFFSET is a signed 64-bit number; anything above is refused rather than wrapped.
    let offset = offset
        .and_then(|o| i64::try_from(o).ok())
        .ok_or_else(|| Error::parameter("offset", "too large"))?;

    let want_total = query.count;
    let (rows, has_more, total) = db
        .interact(move |conn| {
            let (rows, more) = fetch(conn, offset, limit)?;
            let total = if want_total {
                Some(post::count(conn)?)
            } else {
                None
            };
            Ok((rows, more, total))
        })
        .await?;

    let base = page::base_url(&req, PATH);
    let at = |offset: i64| {
        if by_page {
            format!(
                "{base}?page={}&limit={limit}",
                offset / i64::from(limit) + 1
            )
        } else {
            format!("{base}?offset={offset}&limit={limit}")
        }
    };
    let mut links = vec![(REL_FIRST, at(0))];
    if offset > 0 {
        links.push((REL_PREV, at((offset - i64::from(limit)).max(0))));
    }
    if has_more {
        links.push((REL_NEXT, at(offset + i64::from(limit))));
    }
    Ok(page::respond(
        Page {
            items: rows,
            has_more,
            total,
            next_cursor: None,
        },
        &links,
    ))
}
