//! What both schemes answer with: the page envelope, the bounds of `limit`, and the response
//! that carries the page and its `Link` header. A leaf: `offset.rs` and `cursor.rs` import it,
//! and it imports neither, so the two schemes share a shape without depending on each other or on
//! the server that mounts them (`http.rs`).

use actix_web::http::header::{HeaderValue, LINK};
use actix_web::{HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::links;
use crate::post::Post;

/// One page, the same envelope for both schemes so a client can diff them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Page {
    pub items: Vec<Post>,
    /// Whether a `next` page exists.
    pub has_more: bool,
    /// Rows in the whole table, only with `count=true`: a full scan on most databases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    /// The cursor scheme's position for the next page (also inside the `next` link).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The documented bounds of `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Used when the client gives none.
    pub default_limit: u32,
    /// Larger values are refused with 400 (not clamped).
    pub max_limit: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            default_limit: 20,
            max_limit: 100,
        }
    }
}

impl Limits {
    /// Checks `limit` against the documented bounds: absent → default; 0 or above max → 400.
    /// (Refusing instead of clamping: a client asking for 10,000 rows learns the rule at once
    /// instead of silently getting 100 and miscounting.)
    pub fn check(&self, limit: Option<u32>) -> Result<u32, Error> {
        match limit {
            None => Ok(self.default_limit),
            Some(n) if (1..=self.max_limit).contains(&n) => Ok(n),
            Some(n) => Err(Error::parameter(
                "limit",
                format!("must be between 1 and {}, got {n}", self.max_limit),
            )),
        }
    }
}

/// The absolute URL of `path` on this server, as the client addressed it.
/// (Built from the Host header; production behind a proxy would configure its public origin.)
pub fn base_url(req: &HttpRequest, path: &str) -> String {
    let info = req.connection_info();
    format!("{}://{}{path}", info.scheme(), info.host())
}

/// A 200 with the page as JSON and its `Link` header.
pub fn respond(page: Page, links: &[(&str, String)]) -> HttpResponse {
    let mut res = HttpResponse::Ok();
    // Our own URLs are visible ASCII, so this cannot fail in practice; if it ever did, the page
    // is still correct without links, which beats a 500.
    if let Ok(value) = HeaderValue::try_from(links::header_value(links)) {
        res.insert_header((LINK, value));
    }
    res.json(page)
}
