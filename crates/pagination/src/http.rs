//! The server: shared state, the page envelope, and the routes both schemes mount under.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde::{Deserialize, Serialize};
use support::routing::endpoint;

use crate::config::Limits;
use crate::cursor::{self, CursorCodec};
use crate::db::Db;
use crate::error::Error;
use crate::links;
use crate::offset;
use crate::post::Post;

/// Where the offset scheme is mounted.
pub const OFFSET_PATH: &str = "/offset/posts";
/// Where the cursor scheme is mounted.
pub const CURSOR_PATH: &str = "/cursor/posts";
/// RFC 8288's header.
pub const LINK: HeaderName = HeaderName::from_static("link");

/// What every handler needs.
#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Db,
    pub codec: CursorCodec,
    pub limits: Limits,
}

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
    if let Ok(value) = HeaderValue::try_from(links::header_value(links)) {
        res.insert_header((LINK, value));
    }
    res.json(page)
}

/// Mounts both schemes side by side.
pub fn configure(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(state))
            .app_data(support::problem::query_config())
            .service(endpoint(OFFSET_PATH).get(offset::list))
            .service(endpoint(CURSOR_PATH).get(cursor::list));
    }
}

/// The server, on a listener the caller bound (main, demo and tests share it).
pub fn run(listener: TcpListener, state: AppState) -> std::io::Result<Server> {
    let server = HttpServer::new(move || {
        App::new()
            .configure(configure(state.clone()))
            .default_service(web::to(support::routing::not_found))
            .wrap(support::routing::bare_errors_as_problems())
    })
    .listen(listener)?
    .run();
    Ok(server)
}
