//! The top list: cached, and never stale on the next request after a write that changes it.

use reqwest::{Method, StatusCode};
use support::Service;
use support::testkit::require;

use crate::common::{self, Fixture, Options, test_config};
use mini_blog::state::CacheChoice;

/// The slugs of `/api/articles/top` and whether they came from the cache.
async fn top(app: &Fixture) -> anyhow::Result<(Vec<String>, String)> {
    let response = app.client.get(app.url("/api/articles/top")).send().await?;
    assert_eq!(response.status(), StatusCode::OK);
    let source = response
        .headers()
        .get("x-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: serde_json::Value = response.json().await?;
    let slugs = body["articles"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["slug"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Ok((slugs, source))
}

async fn favorite(app: &Fixture, token: &str, slug: &str, on: bool) -> anyhow::Result<()> {
    let method = if on { Method::POST } else { Method::DELETE };
    let (status, body) = app
        .call(
            method,
            &format!("/api/articles/{slug}/favorite"),
            Some(token),
            None,
        )
        .await?;
    anyhow::ensure!(status == StatusCode::OK, "{status} {body}");
    Ok(())
}

#[tokio::test]
async fn the_second_read_of_the_top_list_is_a_cache_hit() -> anyhow::Result<()> {
    let app = common::sqlite().await?;
    let ada = app.register("ada").await?;
    let slug = app.article(&ada, "Popular", &[]).await?;
    favorite(&app, &ada, &slug, true).await?;
    let (first, miss) = top(&app).await?;
    let (second, hit) = top(&app).await?;
    assert_eq!((miss.as_str(), hit.as_str()), ("miss", "hit"));
    assert_eq!(first, second);
    assert_eq!(app.state.top.computed(), 1);
    app.stop().await;
    Ok(())
}

/// Every kind of write that changes the ranking, each checked on the very next read.
async fn writes_show_on_the_next_read(writer: &Fixture, reader: &Fixture) -> anyhow::Result<()> {
    let ada = writer.register("ada").await?;
    let bob = writer.register("bob").await?;
    let a = writer.article(&ada, "A", &[]).await?;
    let b = writer.article(&ada, "B", &[]).await?;
    favorite(writer, &ada, &a, true).await?;
    assert_eq!(top(reader).await?.0, vec![a.clone()]);
    top(reader).await?; // now cached

    // A favourite reorders the list.
    favorite(writer, &ada, &b, true).await?;
    favorite(writer, &bob, &b, true).await?;
    assert_eq!(
        top(reader).await?.0,
        vec![b.clone(), a.clone()],
        "after a favourite"
    );
    top(reader).await?;

    // An unfavourite reorders it back.
    favorite(writer, &ada, &b, false).await?;
    favorite(writer, &bob, &b, false).await?;
    assert_eq!(top(reader).await?.0, vec![a.clone()], "after unfavourites");
    top(reader).await?;

    // A new article with a favourite joins it.
    let c = writer.article(&bob, "C", &[]).await?;
    favorite(writer, &ada, &c, true).await?;
    assert_eq!(
        top(reader).await?.0,
        vec![c.clone(), a.clone()],
        "after a new article"
    );
    top(reader).await?;

    // A deleted article leaves it.
    let (status, _) = writer
        .call(
            Method::DELETE,
            &format!("/api/articles/{c}"),
            Some(&bob),
            None,
        )
        .await?;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(top(reader).await?.0, vec![a.clone()], "after a delete");
    top(reader).await?;

    // An edited title shows at once.
    writer
        .call(
            Method::PUT,
            &format!("/api/articles/{a}"),
            Some(&ada),
            Some(serde_json::json!({"article": {"title": "A, edited"}})),
        )
        .await?;
    let response: serde_json::Value = reader
        .client
        .get(reader.url("/api/articles/top"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(response["articles"][0]["title"], "A, edited");
    Ok(())
}

#[tokio::test]
async fn a_favorite_unfavorite_new_or_deleted_article_changes_top_on_the_very_next_request()
-> anyhow::Result<()> {
    for app in common::every().await? {
        writes_show_on_the_next_read(&app, &app).await?;
        app.stop().await;
    }
    Ok(())
}

#[tokio::test]
async fn across_two_instances_sharing_redis_a_write_on_one_shows_on_the_other_at_once()
-> anyhow::Result<()> {
    let Some(_) = require(Service::Redis).await else {
        return Ok(());
    };
    let options = Options {
        cache: CacheChoice::Auto,
        ..Options::default()
    };
    // PostgreSQL when it is there (the last fixture), else SQLite.
    let first = common::every_with(options.clone())
        .await?
        .into_iter()
        .next_back();
    let Some(first) = first else {
        anyhow::bail!("no backend")
    };
    // The same database, cache namespace and JWT key: two instances of one deployment.
    let second = first
        .another(Options {
            config: mini_blog::Config {
                queue_name: test_config().queue_name,
                ..first.state.config.clone()
            },
            ..options
        })
        .await?;
    assert_eq!(first.state.top.description, second.state.top.description);
    assert!(first.state.top.description.contains("Redis"));
    writes_show_on_the_next_read(&first, &second).await?;
    first.stop().await;
    second.stop().await;
    Ok(())
}
