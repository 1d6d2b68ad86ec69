//! Articles: create, read, update, delete, and the spec's subtle rules.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{self, first_error};

#[tokio::test]
async fn creating_answers_201_with_sorted_tags_and_millisecond_timestamps() -> anyhow::Result<()> {
    for app in common::every().await? {
        let token = app.register("ada").await?;
        let (status, body) = app
            .call(
                Method::POST,
                "/api/articles",
                Some(&token),
                Some(json!({"article": {"title": "How to train your dragon", "description": "Ever wonder how?", "body": "Very carefully.", "tagList": ["training", "dragons"]}})),
            )
            .await?;
        assert_eq!(status, StatusCode::CREATED, "{:?}: {body}", app.backend);
        let article = &body["article"];
        assert_eq!(article["slug"], "how-to-train-your-dragon");
        assert_eq!(article["tagList"], json!(["dragons", "training"]));
        assert_eq!(article["favorited"], false);
        assert_eq!(article["favoritesCount"], 0);
        assert_eq!(article["author"]["username"], "ada");
        assert_eq!(article["author"]["following"], false);
        let created = article["createdAt"].as_str().unwrap_or_default();
        // 2026-12-02T21:30:00.123Z
        assert_eq!(created.len(), 24, "{created}");
        assert!(
            created.ends_with('Z') && created.as_bytes()[19] == b'.',
            "{created}"
        );
        app.stop().await;
    }
    Ok(())
}

#[tokio::test]
async fn equal_titles_get_distinct_slugs() -> anyhow::Result<()> {
    for app in common::every().await? {
        let token = app.register("ada").await?;
        let first = app.article(&token, "Same title", &[]).await?;
        let second = app.article(&token, "Same title", &[]).await?;
        assert_eq!(first, "same-title");
        assert_ne!(first, second);
        assert!(second.starts_with("same-title-"), "{second}");
        app.stop().await;
    }
    Ok(())
}

#[tokio::test]
async fn a_missing_tag_list_keeps_the_tags_and_a_null_one_is_422() -> anyhow::Result<()> {
    for app in common::every().await? {
        let token = app.register("ada").await?;
        let slug = app.article(&token, "Tagged", &["b", "a"]).await?;
        let path = format!("/api/articles/{slug}");
        let (status, body) = app
            .call(
                Method::PUT,
                &path,
                Some(&token),
                Some(json!({"article": {"body": "new body"}})),
            )
            .await?;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["article"]["tagList"], json!(["a", "b"]));
        let (status, body) = app
            .call(
                Method::PUT,
                &path,
                Some(&token),
                Some(json!({"article": {"tagList": null}})),
            )
            .await?;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(!first_error(&body, "tagList").is_empty(), "{body}");
        let (_, body) = app.get(&path, None).await?;
        assert_eq!(
            body["article"]["tagList"],
            json!(["a", "b"]),
            "nothing changed"
        );
        let (status, _) = app
            .call(
                Method::POST,
                "/api/articles",
                Some(&token),
                Some(json!({"article": {"title": "t", "description": "d", "body": "b", "tagList": null}})),
            )
            .await?;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let (status, body) = app
            .call(
                Method::PUT,
                &path,
                Some(&token),
                Some(json!({"article": {"tagList": ["z"]}})),
            )
            .await?;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["article"]["tagList"], json!(["z"]));
        app.stop().await;
    }
    Ok(())
}

#[tokio::test]
async fn an_update_moves_updated_at_and_never_created_at() -> anyhow::Result<()> {
    for app in common::every().await? {
        let token = app.register("ada").await?;
        let slug = app.article(&token, "Timestamps", &[]).await?;
        let path = format!("/api/articles/{slug}");
        let (_, before) = app.get(&path, None).await?;
        // Immediately, so both writes may fall in the same millisecond.
        let (_, after) = app
            .call(
                Method::PUT,
                &path,
                Some(&token),
                Some(json!({"article": {"body": "changed"}})),
            )
            .await?;
        assert_eq!(
            after["article"]["createdAt"],
            before["article"]["createdAt"]
        );
        assert!(
            after["article"]["updatedAt"].as_str() > before["article"]["updatedAt"].as_str(),
            "{} then {}",
            before["article"]["updatedAt"],
            after["article"]["updatedAt"]
        );
        assert_eq!(after["article"]["body"], "changed");
        assert_eq!(after["article"]["slug"], slug.as_str(), "the slug stays");
        app.stop().await;
    }
    Ok(())
}

#[tokio::test]
async fn only_the_author_may_update_or_delete_others_get_403() -> anyhow::Result<()> {
    for app in common::every().await? {
        let ada = app.register("ada").await?;
        let bob = app.register("bob").await?;
        let slug = app.article(&ada, "Mine", &[]).await?;
        let path = format!("/api/articles/{slug}");
        let (status, body) = app
            .call(
                Method::PUT,
                &path,
                Some(&bob),
                Some(json!({"article": {"body": "hijacked"}})),
            )
            .await?;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(first_error(&body, "article"), "forbidden");
        let (status, _) = app.call(Method::DELETE, &path, Some(&bob), None).await?;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (_, body) = app.get(&path, None).await?;
        assert_eq!(body["article"]["body"], "b");
        app.stop().await;
    }
    Ok(())
}

#[tokio::test]
async fn deleting_answers_204_and_the_article_is_then_404() -> anyhow::Result<()> {
    for app in common::every().await? {
        let ada = app.register("ada").await?;
        let slug = app.article(&ada, "Short lived", &["gone"]).await?;
        let path = format!("/api/articles/{slug}");
        let (status, body) = app.call(Method::DELETE, &path, Some(&ada), None).await?;
        assert_eq!(
            (status, body),
            (StatusCode::NO_CONTENT, serde_json::Value::Null)
        );
        let (status, body) = app.get(&path, None).await?;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(first_error(&body, "article"), "not found");
        let (status, _) = app.call(Method::DELETE, &path, Some(&ada), None).await?;
        assert_eq!(status, StatusCode::NOT_FOUND);
        app.stop().await;
    }
    Ok(())
}

#[tokio::test]
async fn blank_article_fields_are_422_and_no_token_is_401() -> anyhow::Result<()> {
    let app = common::sqlite().await?;
    let token = app.register("ada").await?;
    for field in ["title", "description", "body"] {
        let mut article = json!({"title": "t", "description": "d", "body": "b"});
        article[field] = json!("");
        let (status, body) = app
            .call(
                Method::POST,
                "/api/articles",
                Some(&token),
                Some(json!({ "article": article })),
            )
            .await?;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(first_error(&body, field), "can't be blank");
    }
    let (status, body) = app
        .call(
            Method::POST,
            "/api/articles",
            None,
            Some(json!({"article": {"title": "t", "description": "d", "body": "b"}})),
        )
        .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(first_error(&body, "token"), "is missing");
    app.stop().await;
    Ok(())
}

#[tokio::test]
async fn favoriting_counts_and_unfavoriting_uncounts_and_both_are_idempotent() -> anyhow::Result<()>
{
    for app in common::every().await? {
        let ada = app.register("ada").await?;
        let bob = app.register("bob").await?;
        let slug = app.article(&ada, "Liked", &[]).await?;
        let path = format!("/api/articles/{slug}/favorite");
        for _ in 0..2 {
            let (status, body) = app.call(Method::POST, &path, Some(&bob), None).await?;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(body["article"]["favorited"], true);
            assert_eq!(body["article"]["favoritesCount"], 1);
        }
        let (_, body) = app.call(Method::DELETE, &path, Some(&bob), None).await?;
        assert_eq!(body["article"]["favorited"], false);
        assert_eq!(body["article"]["favoritesCount"], 0);
        let (status, body) = app
            .call(
                Method::POST,
                "/api/articles/nope/favorite",
                Some(&bob),
                None,
            )
            .await?;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(first_error(&body, "article"), "not found");
        app.stop().await;
    }
    Ok(())
}

#[tokio::test]
async fn an_unchanged_article_answers_304_to_its_etag_and_a_changed_one_200() -> anyhow::Result<()>
{
    let app = common::sqlite().await?;
    let ada = app.register("ada").await?;
    let slug = app.article(&ada, "Cached", &[]).await?;
    let url = app.url(&format!("/api/articles/{slug}"));
    let first = app.client.get(&url).send().await?;
    let etag = first
        .headers()
        .get("etag")
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no ETag"))?;
    let again = app
        .client
        .get(&url)
        .header("If-None-Match", etag.clone())
        .send()
        .await?;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert!(again.bytes().await?.is_empty());
    app.call(
        Method::POST,
        &format!("/api/articles/{slug}/favorite"),
        Some(&ada),
        None,
    )
    .await?;
    let changed = app
        .client
        .get(&url)
        .header("If-None-Match", etag)
        .send()
        .await?;
    assert_eq!(changed.status(), StatusCode::OK);
    app.stop().await;
    Ok(())
}
