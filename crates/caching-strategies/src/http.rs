//! HTTP caching on the same resources: the cache in the *client* (or a CDN) instead of the server.
//!
//! | resource | `Cache-Control` | validators |
//! |---|---|---|
//! | `GET …/posts/{id}` | `public, no-cache`: any cache may store it, but must revalidate before each use | strong `ETag` (id, version, representation), `Last-Modified` |
//! | `GET …/top` | `public, max-age=5, stale-while-revalidate=30`: reuse for 5 s, then serve stale while refetching | strong `ETag` (hash of the bytes) |
//! | `PUT`/`POST` responses | `private, no-store`: the writer's own copy, never stored | the new `ETag` |
//!
//! A revalidating client sends `If-None-Match` with the ETag it holds; when it still matches, the
//! answer is `304 Not Modified` with no body. An update bumps the version, so the ETag changes and
//! the old one gets a full `200`. `Vary: Accept` says the body depends on the `Accept` header
//! (JSON or plain text here), so a shared cache keys on it; the ETag differs per representation,
//! as a strong validator must.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::http::header::{self, HttpDate};
use actix_web::{HttpRequest, HttpResponse, web};
use support::problem::Json;
use support::routing::endpoint;

use crate::error::Error;
use crate::model::{Post, PostUpdate, TopPost};
use crate::strategies::Strategy;

pub const POST_CACHE_CONTROL: &str = "public, no-cache";
pub const TOP_CACHE_CONTROL: &str = "public, max-age=5, stale-while-revalidate=30";
pub const WRITE_CACHE_CONTROL: &str = "private, no-store";
pub const VARY: &str = "Accept";
/// `GET /`, the index of prefixes: changes only with a restart, so revalidate every time.
pub const INDEX_CACHE_CONTROL: &str = "no-cache";
/// Largest accepted `PUT` body.
pub const BODY_LIMIT: usize = 16 * 1024;

/// A strategy mounted under a route prefix such as `/moka/cache-aside`.
#[derive(Clone)]
pub struct Mounted {
    pub prefix: String,
    pub strategy: Arc<dyn Strategy>,
}

/// The two representations a resource has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repr {
    Json,
    Text,
}

impl Repr {
    /// Plain text only when the client asks for it and not for JSON; JSON otherwise.
    fn negotiate(req: &HttpRequest) -> Self {
        let accept = req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if accept.contains("text/plain") && !accept.contains("application/json") {
            Self::Text
        } else {
            Self::Json
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Text => "text",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Text => "text/plain; charset=utf-8",
        }
    }
}

/// The strong ETag of a post representation: the version changes on every update, and a given
/// (id, version, representation) always has the same bytes.
pub fn post_etag(post: &Post, json: bool) -> String {
    let repr = if json { Repr::Json } else { Repr::Text };
    format!("\"post-{}-v{}-{}\"", post.id, post.version, repr.tag())
}

/// Weak comparison (RFC 9110 §13.1.2): `If-None-Match` matches on the opaque tag.
fn none_match(req: &HttpRequest, etag: &str) -> Option<bool> {
    let value = req.headers().get(header::IF_NONE_MATCH)?.to_str().ok()?;
    let bare = etag.trim_start_matches("W/");
    Some(
        value
            .split(',')
            .map(str::trim)
            .any(|t| t == "*" || t.trim_start_matches("W/") == bare),
    )
}

/// `If-Modified-Since` is consulted only when there is no `If-None-Match` (RFC 9110 §13.2.2).
fn not_modified(req: &HttpRequest, etag: &str, modified: Option<SystemTime>) -> bool {
    if let Some(matched) = none_match(req, etag) {
        return matched;
    }
    let (Some(modified), Some(since)) = (
        modified,
        req.headers()
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<HttpDate>().ok()),
    ) else {
        return false;
    };
    // HTTP dates have whole seconds.
    let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    secs(modified) <= secs(SystemTime::from(since))
}

fn respond(
    req: &HttpRequest,
    etag: &str,
    cache_control: &str,
    modified: Option<SystemTime>,
    repr: Repr,
    body: impl FnOnce() -> Result<Vec<u8>, Error>,
) -> Result<HttpResponse, Error> {
    let mut builder = if not_modified(req, etag, modified) {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    builder
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, cache_control))
        .insert_header((header::VARY, VARY));
    if let Some(modified) = modified {
        builder.insert_header((header::LAST_MODIFIED, HttpDate::from(modified)));
    }
    if not_modified(req, etag, modified) {
        return Ok(builder.finish());
    }
    Ok(builder.content_type(repr.content_type()).body(body()?))
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|e| Error::Unexpected(e.into()))
}

fn modified_at(post: &Post) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(post.updated_at_ms).unwrap_or(0))
}

async fn get_post(
    req: HttpRequest,
    strategy: web::Data<dyn Strategy>,
    id: web::Path<i64>,
) -> Result<HttpResponse, Error> {
    let post = strategy.get_post(id.into_inner()).await?;
    let repr = Repr::negotiate(&req);
    let etag = post_etag(&post, repr == Repr::Json);
    respond(
        &req,
        &etag,
        POST_CACHE_CONTROL,
        Some(modified_at(&post)),
        repr,
        || match repr {
            Repr::Json => encode(&post),
            Repr::Text => Ok(format!("{}\n\n{}\n", post.title, post.body).into_bytes()),
        },
    )
}

async fn top(req: HttpRequest, strategy: web::Data<dyn Strategy>) -> Result<HttpResponse, Error> {
    let top: Vec<TopPost> = strategy.top_posts().await?;
    let repr = Repr::negotiate(&req);
    let body = match repr {
        Repr::Json => encode(&top)?,
        Repr::Text => top
            .iter()
            .map(|t| format!("{}\t{}\n", t.likes, t.title))
            .collect::<String>()
            .into_bytes(),
    };
    // A content hash is a fine strong validator for a computed list (production: SHA-256).
    let mut hasher = DefaultHasher::new();
    body.hash(&mut hasher);
    let etag = format!("\"top-{:016x}-{}\"", hasher.finish(), repr.tag());
    respond(&req, &etag, TOP_CACHE_CONTROL, None, repr, || Ok(body))
}

async fn put_post(
    strategy: web::Data<dyn Strategy>,
    id: web::Path<i64>,
    update: Json<PostUpdate>,
) -> Result<HttpResponse, Error> {
    let post = strategy
        .update_post(id.into_inner(), update.into_inner())
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, post_etag(&post, true)))
        .insert_header((header::CACHE_CONTROL, WRITE_CACHE_CONTROL))
        .insert_header((header::LAST_MODIFIED, HttpDate::from(modified_at(&post))))
        .json(post))
}

/// Likes carry no user identity in this lesson; every like is from user 0.
async fn like(
    strategy: web::Data<dyn Strategy>,
    id: web::Path<i64>,
) -> Result<HttpResponse, Error> {
    strategy.like(id.into_inner(), 0).await?;
    Ok(HttpResponse::NoContent()
        .insert_header((header::CACHE_CONTROL, WRITE_CACHE_CONTROL))
        .finish())
}

/// `GET /`: the mounted prefixes, so a person with curl can find their way.
async fn index(prefixes: web::Data<Vec<String>>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, INDEX_CACHE_CONTROL))
        .json(serde_json::json!({ "strategies": prefixes.as_ref() }))
}

/// Mounts every strategy under its prefix, with the same four routes each.
pub fn configure(mounted: &[Mounted], cfg: &mut web::ServiceConfig) {
    let prefixes: Vec<String> = mounted.iter().map(|m| m.prefix.clone()).collect();
    cfg.app_data(web::Data::new(prefixes))
        .app_data(support::problem::path_config())
        .app_data(support::problem::json_config(BODY_LIMIT))
        .service(endpoint("/").get(index));
    for m in mounted {
        cfg.service(
            web::scope(&m.prefix)
                .app_data(web::Data::from(Arc::clone(&m.strategy)))
                .service(endpoint("/posts/{id}").get(get_post).put(put_post))
                .service(endpoint("/posts/{id}/likes").post(like))
                .service(endpoint("/top").get(top)),
        );
    }
}
