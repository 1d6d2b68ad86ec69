//! Users: registration, login, the current user, updates.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{self, first_error, token_of};

#[tokio::test]
async fn registering_answers_201_with_a_token_and_null_bio_and_image() -> anyhow::Result<()> {
    for app in common::every().await? {
        let (status, body) = app
            .call(
                Method::POST,
                "/api/users",
                None,
                Some(json!({"user": {"username": "ada", "email": "ada@example.com", "password": "password123"}})),
            )
            .await?;
        assert_eq!(status, StatusCode::CREATED, "{:?}: {body}", app.backend);
        assert_eq!(body["user"]["username"], "ada");
        assert_eq!(body["user"]["email"], "ada@example.com");
        assert!(body["user"]["bio"].is_null() && body["user"].get("bio").is_some());
        assert!(body["user"]["image"].is_null() && body["user"].get("image").is_some());
        let token = token_of(&body)?;
        let (status, me) = app.get("/api/user", Some(&token)).await?;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(me["user"]["username"], "ada");
        app.stop().await;
    }
    Ok(())
}

#[tokio::test]
async fn a_taken_username_or_email_is_409_naming_the_field() -> anyhow::Result<()> {
    for app in common::every().await? {
        app.register("ada").await?;
        for (user, field) in [
            (
                json!({"username": "ada", "email": "other@example.com", "password": "password123"}),
                "username",
            ),
            (
                json!({"username": "other", "email": "ada@example.com", "password": "password123"}),
                "email",
            ),
        ] {
            let (status, body) = app
                .call(
                    Method::POST,
                    "/api/users",
                    None,
                    Some(json!({ "user": user })),
                )
                .await?;
            assert_eq!(status, StatusCode::CONFLICT, "{:?}", app.backend);
            assert_eq!(first_error(&body, field), "has already been taken");
        }
        app.stop().await;
    }
    Ok(())
}

#[tokio::test]
async fn blank_registration_fields_are_422_cant_be_blank() -> anyhow::Result<()> {
    let app = common::sqlite().await?;
    for field in ["username", "email", "password"] {
        let mut user =
            json!({"username": "bob", "email": "bob@example.com", "password": "password123"});
        user[field] = json!("");
        let (status, body) = app
            .call(
                Method::POST,
                "/api/users",
                None,
                Some(json!({ "user": user })),
            )
            .await?;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        assert_eq!(first_error(&body, field), "can't be blank", "{body}");
    }
    app.stop().await;
    Ok(())
}

#[tokio::test]
async fn login_answers_a_token_and_a_wrong_password_or_unknown_email_the_same_401()
-> anyhow::Result<()> {
    let app = common::sqlite().await?;
    app.register("ada").await?;
    let login =
        |email: &str, password: &str| json!({"user": {"email": email, "password": password}});
    let (status, body) = app
        .call(
            Method::POST,
            "/api/users/login",
            None,
            Some(login("ada@example.com", "password123")),
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    assert!(token_of(&body).is_ok());
    let (wrong, wrong_body) = app
        .call(
            Method::POST,
            "/api/users/login",
            None,
            Some(login("ada@example.com", "wrongpassword")),
        )
        .await?;
    let (unknown, unknown_body) = app
        .call(
            Method::POST,
            "/api/users/login",
            None,
            Some(login("nobody@example.com", "password123")),
        )
        .await?;
    assert_eq!(wrong, StatusCode::UNAUTHORIZED);
    assert_eq!(first_error(&wrong_body, "credentials"), "invalid");
    assert_eq!((unknown, unknown_body), (wrong, wrong_body));
    let (status, body) = app
        .call(
            Method::POST,
            "/api/users/login",
            None,
            Some(login("", "password123")),
        )
        .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(first_error(&body, "email"), "can't be blank");
    app.stop().await;
    Ok(())
}

#[tokio::test]
async fn the_current_user_needs_a_token_and_says_when_it_is_missing_or_invalid()
-> anyhow::Result<()> {
    let app = common::sqlite().await?;
    let (status, body) = app.get("/api/user", None).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(first_error(&body, "token"), "is missing");
    let (status, body) = app.get("/api/user", Some("not.a.jwt")).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(first_error(&body, "token"), "is invalid");
    app.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_bearer_token_works_like_the_specs_token_scheme() -> anyhow::Result<()> {
    let app = common::sqlite().await?;
    let token = app.register("ada").await?;
    let response = app
        .client
        .get(app.url("/api/user"))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    app.stop().await;
    Ok(())
}

#[tokio::test]
async fn updating_sets_bio_and_an_empty_string_or_null_clears_it() -> anyhow::Result<()> {
    for app in common::every().await? {
        let token = app.register("ada").await?;
        let put = |user: serde_json::Value| {
            app.call(
                Method::PUT,
                "/api/user",
                Some(&token),
                Some(json!({ "user": user })),
            )
        };
        let (status, body) =
            put(json!({"bio": "I write", "image": "https://example.com/a.png"})).await?;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["user"]["bio"], "I write");
        let (_, body) = put(json!({"bio": ""})).await?;
        assert!(body["user"]["bio"].is_null(), "{body}");
        assert_eq!(
            body["user"]["image"], "https://example.com/a.png",
            "an absent field stays"
        );
        let (_, body) = put(json!({"image": null})).await?;
        assert!(body["user"]["image"].is_null(), "{body}");
        app.stop().await;
    }
    Ok(())
}

#[tokio::test]
async fn a_new_password_replaces_the_old_one_and_a_blank_one_is_422() -> anyhow::Result<()> {
    let app = common::sqlite().await?;
    let token = app.register("ada").await?;
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/user",
            Some(&token),
            Some(json!({"user": {"password": ""}})),
        )
        .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(first_error(&body, "password"), "can't be blank");
    let (status, _) = app
        .call(
            Method::PUT,
            "/api/user",
            Some(&token),
            Some(json!({"user": {"password": "new password 456"}})),
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    let login =
        |password: &str| json!({"user": {"email": "ada@example.com", "password": password}});
    let (old, _) = app
        .call(
            Method::POST,
            "/api/users/login",
            None,
            Some(login("password123")),
        )
        .await?;
    let (new, _) = app
        .call(
            Method::POST,
            "/api/users/login",
            None,
            Some(login("new password 456")),
        )
        .await?;
    assert_eq!((old, new), (StatusCode::UNAUTHORIZED, StatusCode::OK));
    app.stop().await;
    Ok(())
}

#[tokio::test]
async fn renaming_to_a_taken_username_is_409_and_changes_nothing() -> anyhow::Result<()> {
    for app in common::every().await? {
        app.register("ada").await?;
        let token = app.register("bob").await?;
        let (status, body) = app
            .call(
                Method::PUT,
                "/api/user",
                Some(&token),
                Some(json!({"user": {"username": "ada", "bio": "x"}})),
            )
            .await?;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(first_error(&body, "username"), "has already been taken");
        let (_, me) = app.get("/api/user", Some(&token)).await?;
        assert_eq!(me["user"]["username"], "bob");
        assert!(me["user"]["bio"].is_null(), "no partial write: {me}");
        app.stop().await;
    }
    Ok(())
}
