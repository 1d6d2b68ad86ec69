//! Profiles and following.

use reqwest::{Method, StatusCode};

use crate::common::{self, first_error};

#[tokio::test]
async fn following_shows_in_the_profile_and_unfollowing_undoes_it() -> anyhow::Result<()> {
    for app in common::every().await? {
        app.register("ada").await?;
        let bob = app.register("bob").await?;
        let (status, body) = app.get("/api/profiles/ada", None).await?;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["profile"]["following"], false);
        assert!(body["profile"]["bio"].is_null());
        let (status, body) = app
            .call(Method::POST, "/api/profiles/ada/follow", Some(&bob), None)
            .await?;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["profile"]["following"], true);
        // Twice is the same as once.
        let (status, _) = app
            .call(Method::POST, "/api/profiles/ada/follow", Some(&bob), None)
            .await?;
        assert_eq!(status, StatusCode::OK);
        let (_, body) = app.get("/api/profiles/ada", Some(&bob)).await?;
        assert_eq!(body["profile"]["following"], true);
        let (_, body) = app
            .call(Method::DELETE, "/api/profiles/ada/follow", Some(&bob), None)
            .await?;
        assert_eq!(body["profile"]["following"], false);
        app.stop().await;
    }
    Ok(())
}

#[tokio::test]
async fn an_unknown_profile_is_404_profile_not_found() -> anyhow::Result<()> {
    let app = common::sqlite().await?;
    let token = app.register("bob").await?;
    let (status, body) = app.get("/api/profiles/nobody", None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(first_error(&body, "profile"), "not found");
    let (status, _) = app
        .call(
            Method::POST,
            "/api/profiles/nobody/follow",
            Some(&token),
            None,
        )
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app
        .call(Method::POST, "/api/profiles/bob/follow", None, None)
        .await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(first_error(&body, "token"), "is missing");
    app.stop().await;
    Ok(())
}
