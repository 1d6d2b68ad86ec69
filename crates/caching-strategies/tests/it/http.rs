//! HTTP caching on the resources: validators, 304s, headers, and clean answers to bad input.

use std::sync::Arc;

use caching_strategies::clock::SystemClock;
use caching_strategies::http::{Mounted, POST_CACHE_CONTROL, TOP_CACHE_CONTROL};
use caching_strategies::strategies::cache_aside::CacheAside;
use caching_strategies::strategies::invalidation::OnWrite;
use caching_strategies::{AppState, run};
use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT, CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED,
    VARY,
};
use support::server::RunningServer;

use crate::common::{deps, moka, store};

async fn serve(label: &str) -> anyhow::Result<(RunningServer, impl Sized)> {
    let (store, db) = store(label).await?;
    let strategy = CacheAside::new(
        deps(&store, moka(), Arc::new(SystemClock)),
        OnWrite::Invalidate,
    );
    let state = AppState {
        mounted: vec![Mounted {
            prefix: "/moka/cache-aside".to_owned(),
            strategy: Arc::new(strategy),
        }],
    };
    let server = support::server::spawn(|l| run(l, state))?;
    Ok((server, db))
}

/// A client that sends back the current ETag gets 304 and no body.
#[actix_web::test]
async fn if_none_match_with_the_current_etag_gets_304_with_no_body() -> anyhow::Result<()> {
    let (server, _db) = serve("http_304").await?;
    let client = reqwest::Client::new();
    let url = server.url("/moka/cache-aside/posts/1");
    let first = client.get(&url).send().await?;
    let etag = first
        .headers()
        .get(ETAG)
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no ETag"))?;

    let again = client
        .get(&url)
        .header(IF_NONE_MATCH, etag.clone())
        .send()
        .await?;

    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers().get(ETAG), Some(&etag));
    assert!(again.bytes().await?.is_empty());
    Ok(())
}

/// An update changes the validator: the old ETag now gets a full 200 with the new one.
#[actix_web::test]
async fn after_an_update_the_old_etag_gets_200_and_a_new_etag() -> anyhow::Result<()> {
    let (server, _db) = serve("http_update").await?;
    let client = reqwest::Client::new();
    let url = server.url("/moka/cache-aside/posts/2");
    let old = client.get(&url).send().await?;
    let old_etag = old
        .headers()
        .get(ETAG)
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no ETag"))?;
    let put = client
        .put(&url)
        .json(&serde_json::json!({ "title": "new title", "body": "new body" }))
        .send()
        .await?;
    assert_eq!(put.status(), StatusCode::OK);

    let after = client
        .get(&url)
        .header(IF_NONE_MATCH, old_etag.clone())
        .send()
        .await?;

    assert_eq!(after.status(), StatusCode::OK);
    assert_ne!(after.headers().get(ETAG), Some(&old_etag));
    assert_eq!(after.headers().get(ETAG), put.headers().get(ETAG));
    let body: serde_json::Value = after.json().await?;
    assert_eq!(body["title"], "new title");
    Ok(())
}

/// Posts say "store but revalidate" with Last-Modified; top posts may be reused for a few
/// seconds and served stale while revalidating; both vary on Accept, with one ETag per
/// representation.
#[actix_web::test]
async fn responses_carry_cache_control_validators_and_vary() -> anyhow::Result<()> {
    let (server, _db) = serve("http_headers").await?;
    let client = reqwest::Client::new();

    let post = client
        .get(server.url("/moka/cache-aside/posts/3"))
        .send()
        .await?;
    let text = client
        .get(server.url("/moka/cache-aside/posts/3"))
        .header(ACCEPT, "text/plain")
        .send()
        .await?;
    let top = client
        .get(server.url("/moka/cache-aside/top"))
        .send()
        .await?;

    assert_eq!(
        post.headers().get(CACHE_CONTROL).map(|v| v.as_bytes()),
        Some(POST_CACHE_CONTROL.as_bytes())
    );
    assert!(post.headers().contains_key(LAST_MODIFIED));
    assert_eq!(
        post.headers().get(VARY).map(|v| v.as_bytes()),
        Some(&b"Accept"[..])
    );
    assert_ne!(post.headers().get(ETAG), text.headers().get(ETAG));
    assert!(text.text().await?.starts_with("Post 3"));
    assert_eq!(
        top.headers().get(CACHE_CONTROL).map(|v| v.as_bytes()),
        Some(TOP_CACHE_CONTROL.as_bytes())
    );
    assert!(top.headers().contains_key(ETAG));
    Ok(())
}

/// Bad input gets problem+json with a precise status, never a 500, and changes nothing.
#[actix_web::test]
async fn bad_input_gets_a_problem_with_a_precise_status() -> anyhow::Result<()> {
    let (server, _db) = serve("http_bad").await?;
    let client = reqwest::Client::new();
    let before = client
        .get(server.url("/moka/cache-aside/posts/4"))
        .send()
        .await?
        .text()
        .await?;

    let blank = client
        .put(server.url("/moka/cache-aside/posts/4"))
        .json(&serde_json::json!({ "title": " ", "body": "x" }))
        .send()
        .await?;
    let unknown_field = client
        .put(server.url("/moka/cache-aside/posts/4"))
        .json(&serde_json::json!({ "title": "t", "body": "x", "admin": true }))
        .send()
        .await?;
    let missing = client
        .get(server.url("/moka/cache-aside/posts/999999"))
        .send()
        .await?;
    let not_a_number = client
        .get(server.url("/moka/cache-aside/posts/abc"))
        .send()
        .await?;

    assert_eq!(blank.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        blank.headers().get(CONTENT_TYPE).map(|v| v.as_bytes()),
        Some(&b"application/problem+json"[..])
    );
    assert!(unknown_field.status().is_client_error());
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(not_a_number.status().is_client_error());
    let after = client
        .get(server.url("/moka/cache-aside/posts/4"))
        .send()
        .await?
        .text()
        .await?;
    assert_eq!(before, after, "nothing was written");
    Ok(())
}

/// Without an ETag, `If-Modified-Since` set to the `Last-Modified` it was given gets 304; an
/// `If-None-Match` that does not match wins over it (RFC 9110 §13.2.2) and gets 200.
#[actix_web::test]
async fn if_modified_since_revalidates_when_there_is_no_if_none_match() -> anyhow::Result<()> {
    let (server, _db) = serve("http_ims").await?;
    let client = reqwest::Client::new();
    let url = server.url("/moka/cache-aside/posts/5");
    let first = client.get(&url).send().await?;
    let modified = first
        .headers()
        .get(LAST_MODIFIED)
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no Last-Modified"))?;

    let by_date = client
        .get(&url)
        .header(IF_MODIFIED_SINCE, modified.clone())
        .send()
        .await?;
    let etag_wins = client
        .get(&url)
        .header(IF_MODIFIED_SINCE, modified)
        .header(IF_NONE_MATCH, "\"some-other-version\"")
        .send()
        .await?;

    assert_eq!(by_date.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(etag_wins.status(), StatusCode::OK);
    Ok(())
}

/// A wrong method on a post is a 405 with `Allow`, an unknown path a 404, both problem+json.
#[actix_web::test]
async fn a_wrong_method_is_405_with_allow_and_an_unknown_path_is_a_problem_404()
-> anyhow::Result<()> {
    let (server, _db) = serve("http_routing").await?;

    support::testkit::assert_routing(
        &server.base_url,
        "/moka/cache-aside/posts/1",
        reqwest::Method::DELETE,
        "GET, HEAD, PUT, OPTIONS",
        "/moka/cache-aside/nothing-here",
    )
    .await?;
    support::testkit::assert_routing(
        &server.base_url,
        "/moka/cache-aside/posts/1/likes",
        reqwest::Method::GET,
        "POST, OPTIONS",
        "/no-such-strategy/posts/1",
    )
    .await
}
