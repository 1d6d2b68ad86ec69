//! Comments.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{self, first_error};

#[tokio::test]
async fn a_comment_gets_an_integer_id_and_deleting_it_removes_only_it() -> anyhow::Result<()> {
    for app in common::every().await? {
        let ada = app.register("ada").await?;
        let slug = app.article(&ada, "Discussed", &[]).await?;
        let path = format!("/api/articles/{slug}/comments");
        let mut ids = Vec::new();
        for text in ["first", "second"] {
            let (status, body) = app
                .call(
                    Method::POST,
                    &path,
                    Some(&ada),
                    Some(json!({"comment": {"body": text}})),
                )
                .await?;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            assert!(body["comment"]["id"].is_i64(), "{body}");
            assert_eq!(body["comment"]["author"]["username"], "ada");
            ids.push(body["comment"]["id"].as_i64().unwrap_or_default());
        }
        let (status, _) = app
            .call(
                Method::DELETE,
                &format!("{path}/{}", ids[0]),
                Some(&ada),
                None,
            )
            .await?;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, body) = app.get(&path, None).await?;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["comments"].as_array().map(Vec::len), Some(1));
        assert_eq!(body["comments"][0]["body"], "second");
        app.stop().await;
    }
    Ok(())
}

#[tokio::test]
async fn someone_elses_comment_is_403_and_an_unknown_one_404() -> anyhow::Result<()> {
    let app = common::sqlite().await?;
    let ada = app.register("ada").await?;
    let bob = app.register("bob").await?;
    let slug = app.article(&ada, "Discussed", &[]).await?;
    let path = format!("/api/articles/{slug}/comments");
    let (_, body) = app
        .call(
            Method::POST,
            &path,
            Some(&ada),
            Some(json!({"comment": {"body": "mine"}})),
        )
        .await?;
    let id = body["comment"]["id"].as_i64().unwrap_or_default();
    let (status, body) = app
        .call(Method::DELETE, &format!("{path}/{id}"), Some(&bob), None)
        .await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(first_error(&body, "comment"), "forbidden");
    for missing in ["999999", "abc"] {
        let (status, body) = app
            .call(
                Method::DELETE,
                &format!("{path}/{missing}"),
                Some(&ada),
                None,
            )
            .await?;
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
        assert_eq!(first_error(&body, "comment"), "not found");
    }
    let (status, body) = app
        .call(
            Method::POST,
            &path,
            Some(&ada),
            Some(json!({"comment": {"body": ""}})),
        )
        .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(first_error(&body, "body"), "can't be blank");
    let (status, body) = app.get("/api/articles/nope/comments", None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(first_error(&body, "article"), "not found");
    app.stop().await;
    Ok(())
}
