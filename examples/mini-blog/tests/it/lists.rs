//! Lists and the feed: the spec's filters, `articlesCount`, offset paging, and the cursor extension.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};

use crate::common::{self, first_error};

#[tokio::test]
async fn list_items_carry_no_body_and_articles_count_is_the_total_not_the_page()
-> anyhow::Result<()> {
    for app in common::every().await? {
        let ada = app.register("ada").await?;
        for i in 0..5 {
            app.article(&ada, &format!("Post {i}"), &[]).await?;
        }
        let (status, body) = app.get("/api/articles?limit=2", None).await?;
        assert_eq!(status, StatusCode::OK);
        let articles = body["articles"].as_array().cloned().unwrap_or_default();
        assert_eq!(articles.len(), 2);
        assert_eq!(body["articlesCount"], 5);
        assert!(articles.iter().all(|a| a.get("body").is_none()), "{body}");
        assert_eq!(articles[0]["title"], "Post 4", "newest first");
        let (_, body) = app.get("/api/articles?limit=2&offset=4", None).await?;
        assert_eq!(body["articles"][0]["title"], "Post 0");
        assert_eq!(body["articlesCount"], 5);
        app.stop().await;
    }
    Ok(())
}

#[tokio::test]
async fn filters_by_tag_author_and_favorited_each_narrow_the_list_and_its_count()
-> anyhow::Result<()> {
    for app in common::every().await? {
        let ada = app.register("ada").await?;
        let bob = app.register("bob").await?;
        let rust = app.article(&ada, "Rust", &["rust"]).await?;
        app.article(&ada, "SQL", &["sql"]).await?;
        app.article(&bob, "Rust too", &["rust"]).await?;
        app.call(
            Method::POST,
            &format!("/api/articles/{rust}/favorite"),
            Some(&bob),
            None,
        )
        .await?;
        for (query, expected) in [
            ("tag=rust", vec!["Rust too", "Rust"]),
            ("author=ada", vec!["SQL", "Rust"]),
            ("favorited=bob", vec!["Rust"]),
            ("tag=rust&author=bob", vec!["Rust too"]),
            ("tag=nothing", vec![]),
        ] {
            let (_, body) = app.get(&format!("/api/articles?{query}"), None).await?;
            let titles: Vec<&str> = body["articles"]
                .as_array()
                .map(|a| a.iter().filter_map(|x| x["title"].as_str()).collect())
                .unwrap_or_default();
            assert_eq!(titles, expected, "{query} on {:?}", app.backend);
            assert_eq!(body["articlesCount"], expected.len(), "{query}");
        }
        let (_, body) = app.get("/api/articles?favorited=bob", Some(&bob)).await?;
        assert_eq!(body["articles"][0]["favorited"], true);
        app.stop().await;
    }
    Ok(())
}

#[tokio::test]
async fn the_feed_needs_a_login_and_shows_only_followed_authors() -> anyhow::Result<()> {
    for app in common::every().await? {
        let ada = app.register("ada").await?;
        let bob = app.register("bob").await?;
        let cat = app.register("cat").await?;
        app.article(&ada, "By ada", &[]).await?;
        app.article(&cat, "By cat", &[]).await?;
        app.call(Method::POST, "/api/profiles/ada/follow", Some(&bob), None)
            .await?;
        let (status, body) = app.get("/api/articles/feed", None).await?;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(first_error(&body, "token"), "is missing");
        let (status, body) = app.get("/api/articles/feed", Some(&bob)).await?;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["articlesCount"], 1);
        assert_eq!(body["articles"][0]["title"], "By ada");
        assert_eq!(body["articles"][0]["author"]["following"], true);
        app.stop().await;
    }
    Ok(())
}

/// The `next` URL of a `Link` header, if any.
fn next_of(link: Option<&reqwest::header::HeaderValue>) -> Option<String> {
    let link = link?.to_str().ok()?;
    pagination::links::find(link, "next")
}

#[tokio::test]
async fn following_next_links_walks_every_article_once_even_when_new_ones_arrive()
-> anyhow::Result<()> {
    for app in common::every().await? {
        let ada = app.register("ada").await?;
        for i in 0..7 {
            app.article(&ada, &format!("Post {i}"), &[]).await?;
        }
        let mut seen = Vec::new();
        let mut url = app.url("/api/articles?limit=3");
        let mut pages = 0;
        loop {
            let response = app.client.get(&url).send().await?;
            assert_eq!(response.status(), StatusCode::OK);
            let next = next_of(response.headers().get("link"));
            let body: serde_json::Value = response.json().await?;
            for a in body["articles"].as_array().cloned().unwrap_or_default() {
                seen.push(a["slug"].as_str().unwrap_or_default().to_owned());
            }
            pages += 1;
            if pages == 1 {
                // A write between pages: offset paging would serve a row twice; a cursor not.
                app.article(&ada, "Arrived meanwhile", &[]).await?;
            }
            match next {
                Some(next) => url = app.url(&next),
                None => break,
            }
        }
        assert_eq!(seen.len(), 7, "{seen:?}");
        assert_eq!(
            seen.iter().collect::<HashSet<_>>().len(),
            7,
            "no duplicates"
        );
        assert_eq!(pages, 3);
        app.stop().await;
    }
    Ok(())
}

#[tokio::test]
async fn garbage_limits_offsets_and_cursors_are_422_naming_the_parameter() -> anyhow::Result<()> {
    let app = common::sqlite().await?;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("limit=100000", "limit"),
        ("offset=-1", "offset"),
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=AAAA&offset=1", "cursor"),
    ] {
        let (status, body) = app.get(&format!("/api/articles?{query}"), None).await?;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert!(!first_error(&body, field).is_empty(), "{query}: {body}");
    }
    app.stop().await;
    Ok(())
}

#[tokio::test]
async fn tags_lists_every_tag_in_use_once_sorted() -> anyhow::Result<()> {
    for app in common::every().await? {
        // The loose index scan ends at once on an empty table.
        let (_, empty) = app.get("/api/tags", None).await?;
        assert_eq!(empty["tags"], serde_json::json!([]));
        let ada = app.register("ada").await?;
        app.article(&ada, "One", &["zeta", "alpha"]).await?;
        let two = app.article(&ada, "Two", &["alpha", "mid"]).await?;
        let (status, body) = app.get("/api/tags", None).await?;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["tags"], serde_json::json!(["alpha", "mid", "zeta"]));
        // A tag goes with the last article that carried it, on the very next request.
        let (deleted, _) = app
            .call(
                Method::DELETE,
                &format!("/api/articles/{two}"),
                Some(&ada),
                None,
            )
            .await?;
        assert_eq!(deleted, StatusCode::NO_CONTENT);
        let (_, after) = app.get("/api/tags", None).await?;
        assert_eq!(after["tags"], serde_json::json!(["alpha", "zeta"]));
        app.stop().await;
    }
    Ok(())
}
