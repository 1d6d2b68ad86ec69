//! Bad input: every kind is a 4xx with the spec's error shape, never a 500, and writes nothing.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{self, first_error};

#[tokio::test]
async fn malformed_json_is_400_and_a_wrong_type_is_422_naming_the_field() -> anyhow::Result<()> {
    let app = common::sqlite().await?;
    let token = app.register("ada").await?;
    let send = |body: &'static str| {
        app.client
            .post(app.url("/api/articles"))
            .header("Authorization", format!("Token {token}"))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    for (body, status, field) in [
        (r#"{"article": {"title": "#, StatusCode::BAD_REQUEST, "body"),
        (
            r#"{"article": 42}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "article",
        ),
        (
            r#"{"article": {"title": 1, "description": "d", "body": "b"}}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "article.title",
        ),
        (
            r#"{"article": {"title": "t", "description": "d", "body": "b", "tagList": [1]}}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "article.tagList[0]",
        ),
        (
            r#"{"article": {"title": "t", "description": "d"}}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "article",
        ),
        (r#"{} trailing"#, StatusCode::BAD_REQUEST, "body"),
        (
            r#"[["t", "d", "b"], null]"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "body",
        ),
    ] {
        let response = send(body).await?;
        assert_eq!(response.status(), status, "{body}");
        let answer: serde_json::Value = response.json().await?;
        assert!(!first_error(&answer, field).is_empty(), "{body}: {answer}");
    }
    let (_, list) = app.get("/api/articles", None).await?;
    assert_eq!(list["articlesCount"], 0, "nothing was written");
    app.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_huge_body_is_413_and_a_non_json_content_type_415() -> anyhow::Result<()> {
    let app = common::sqlite().await?;
    let token = app.register("ada").await?;
    let huge = json!({"article": {"title": "t", "description": "d", "body": "x".repeat(1 << 20)}});
    let (status, body) = app
        .call(Method::POST, "/api/articles", Some(&token), Some(huge))
        .await?;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(first_error(&body, "body").contains("larger than"), "{body}");
    let response = app
        .client
        .post(app.url("/api/users"))
        .header("Content-Type", "text/plain")
        .body(r#"{"user": {}}"#)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    app.stop().await;
    Ok(())
}

#[tokio::test]
async fn unknown_fields_are_ignored_as_the_spec_does_not_forbid_them() -> anyhow::Result<()> {
    let app = common::sqlite().await?;
    let (status, _) = app
        .call(
            Method::POST,
            "/api/users",
            None,
            Some(json!({"user": {"username": "ada", "email": "ada@example.com", "password": "password123", "admin": true}, "extra": 1})),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED);
    app.stop().await;
    Ok(())
}

#[tokio::test]
async fn garbage_tokens_are_401_on_open_and_closed_endpoints_alike() -> anyhow::Result<()> {
    let app = common::sqlite().await?;
    let good = app.register("ada").await?;
    // Tampered signature, wrong scheme, empty, not a JWT, a token signed with another key.
    let forged = {
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        if let Some(sig) = parts.last_mut() {
            *sig = sig.chars().rev().collect();
        }
        parts.join(".")
    };
    for header in [
        format!("Token {forged}"),
        format!("Basic {good}"),
        "Token ".to_owned(),
        "Token \u{7f}".to_owned(),
        "garbage".to_owned(),
        "Token eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIiwiZXhwIjo5OTk5OTk5OTk5fQ.".to_owned(),
    ] {
        for path in ["/api/user", "/api/articles"] {
            let response = app
                .client
                .get(app.url(path))
                .header("Authorization", &header)
                .send()
                .await;
            let Ok(response) = response else { continue }; // a header reqwest refuses to send
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{path} with {header:?}"
            );
            let body: serde_json::Value = response.json().await?;
            assert_eq!(first_error(&body, "token"), "is invalid");
        }
    }
    app.stop().await;
    Ok(())
}

#[tokio::test]
async fn an_unknown_path_is_404_and_a_known_one_with_the_wrong_method_405_with_allow()
-> anyhow::Result<()> {
    let app = common::sqlite().await?;
    let (status, body) = app.get("/api/nothing-here", None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(first_error(&body, "route"), "not found");
    let response = app
        .client
        .patch(app.url("/api/articles/some-slug"))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let allow = response
        .headers()
        .get("allow")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(allow, "DELETE, GET, PUT");
    app.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_browser_front_end_on_another_origin_may_call_the_api() -> anyhow::Result<()> {
    let app = common::sqlite().await?;
    let response = app
        .client
        .request(Method::OPTIONS, app.url("/api/articles"))
        .header("Origin", "http://localhost:4200")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type",
        )
        .send()
        .await?;
    assert!(response.status().is_success(), "{}", response.status());
    let allowed = response
        .headers()
        .get("access-control-allow-origin")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        allowed == "*" || allowed == "http://localhost:4200",
        "{allowed}"
    );
    app.stop().await;
    Ok(())
}
