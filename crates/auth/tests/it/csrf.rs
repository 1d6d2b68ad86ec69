//! Cross-site request forgery: the browser attaches the session cookie to a request another
//! site makes it send, so the cookie alone must never be enough to change anything.

use auth::session::CSRF_HEADER;
use reqwest::header::{COOKIE, ORIGIN};

use crate::common;

const EVIL_ORIGIN: &str = "https://evil.example";

/// A cross-site HTML form posting to `/session/documents` carries the victim's valid session
/// cookie but cannot carry the CSRF token (the forging page can neither read it nor set a
/// header): it is refused with 403 `/problems/csrf`, and no document is created.
#[actix_web::test]
async fn a_cross_site_post_with_the_session_cookie_but_no_csrf_token_is_refused()
-> anyhow::Result<()> {
    // Arrange
    let app = common::start().await?;
    let session = app.session_login(common::arthur()).await?;
    let before = app.state.documents.len();

    // Act
    let response = app
        .http
        .post(app.url("/session/documents"))
        .header(ORIGIN, EVIL_ORIGIN)
        .header(COOKIE, &session.cookie)
        .form(&[("title", "forged"), ("body", "posted from another site")])
        .send()
        .await?;

    // Assert
    assert_eq!(response.status(), 403);
    assert_eq!(common::challenge_of(&response), None);
    let problem = common::problem(response).await?;
    assert_eq!(problem.type_uri, "/problems/csrf");
    assert_eq!(app.state.documents.len(), before);
    Ok(())
}

/// The same request with the session's CSRF token in `X-CSRF-Token` (as JSON, what the site's
/// own script sends) goes through: the token, not the cookie, is what proves the page is ours.
#[actix_web::test]
async fn the_same_request_with_the_sessions_csrf_token_succeeds() -> anyhow::Result<()> {
    // Arrange
    let app = common::start().await?;
    let session = app.session_login(common::arthur()).await?;
    let before = app.state.documents.len();

    // Act
    let response = app
        .http
        .post(app.url("/session/documents"))
        .header(COOKIE, &session.cookie)
        .header(CSRF_HEADER, &session.csrf_token)
        .json(&serde_json::json!({ "title": "mine", "body": "posted by the site itself" }))
        .send()
        .await?;

    // Assert
    assert_eq!(response.status(), 201);
    assert_eq!(app.state.documents.len(), before + 1);
    Ok(())
}

/// A token that is not this session's (another session's, or a guess) is refused like none.
#[actix_web::test]
async fn a_wrong_csrf_token_is_refused() -> anyhow::Result<()> {
    // Arrange
    let app = common::start().await?;
    let victim = app.session_login(common::arthur()).await?;
    let attacker = app.session_login(common::olga()).await?;
    let before = app.state.documents.len();

    for wrong in [attacker.csrf_token.as_str(), "guessed-token", ""] {
        // Act
        let response = app
            .http
            .post(app.url("/session/documents"))
            .header(ORIGIN, EVIL_ORIGIN)
            .header(COOKIE, &victim.cookie)
            .header(CSRF_HEADER, wrong)
            .json(&serde_json::json!({ "title": "forged" }))
            .send()
            .await?;

        // Assert
        assert_eq!(response.status(), 403, "token {wrong:?}");
        assert_eq!(common::problem(response).await?.type_uri, "/problems/csrf");
    }
    assert_eq!(app.state.documents.len(), before);
    Ok(())
}

/// The session cookie is `HttpOnly` (no script, so no XSS, can read it) and `SameSite=Lax`
/// (browsers leave it off cross-site subrequests and POSTs: the first line of defence).
#[actix_web::test]
async fn the_session_cookie_is_http_only_and_same_site_lax() -> anyhow::Result<()> {
    // Arrange
    let app = common::start().await?;

    // Act
    let session = app.session_login(common::rita()).await?;

    // Assert
    let attributes: Vec<String> = session
        .set_cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    assert!(
        attributes.iter().any(|a| a == "httponly"),
        "{}",
        session.set_cookie
    );
    assert!(
        attributes.iter().any(|a| a == "samesite=lax"),
        "{}",
        session.set_cookie
    );
    assert!(
        session
            .cookie
            .starts_with(&format!("{}=", app.state.sessions.cookie_name()))
    );
    Ok(())
}
