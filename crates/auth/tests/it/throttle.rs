//! Login throttling: a sliding window of failures per account (online guessing) and per client
//! address (password spraying), answered with 429 and `Retry-After`.

use std::time::Duration;

use reqwest::header::RETRY_AFTER;

use crate::common;

/// After `per_account` failures, the next login for that account is 429 even with the right
/// password (the check runs before any hashing), and `Retry-After` says when to come back.
#[actix_web::test]
async fn after_n_failed_logins_even_the_right_password_gets_429_with_retry_after()
-> anyhow::Result<()> {
    // Arrange
    let app = common::start().await?;
    let rita = common::rita();
    let limit = app.state.config.throttle.per_account;
    let window = app.state.config.throttle.window.as_secs();
    for attempt in 0..limit {
        let failed = app.token_request(rita.username, "a wrong guess").await?;
        assert_eq!(failed.status(), 401, "attempt {attempt}");
    }
    let hashed_before = app.state.accounts.passwords().verifications();

    // Act
    let response = app.token_request(rita.username, rita.password).await?;

    // Assert
    assert_eq!(response.status(), 429);
    let retry_after: u64 = common::header(&response, RETRY_AFTER.as_str())
        .ok_or_else(|| anyhow::anyhow!("a 429 without Retry-After"))?
        .parse()?;
    assert!(
        (1..=window).contains(&retry_after),
        "Retry-After: {retry_after}"
    );
    common::problem(response).await?;
    assert_eq!(
        app.state.accounts.passwords().verifications(),
        hashed_before
    );
    Ok(())
}

/// The window slides: once the clock is past it, the failures are forgotten and the right
/// password logs in again; `Retry-After` said exactly when (a second earlier it is still 429).
/// A manual clock, so nothing sleeps.
#[actix_web::test]
async fn a_correct_login_goes_through_once_the_window_has_passed() -> anyhow::Result<()> {
    // Arrange
    let app = common::start().await?;
    let rita = common::rita();
    let limit = app.state.config.throttle.per_account;
    for _ in 0..limit {
        app.token_request(rita.username, "a wrong guess").await?;
    }
    let throttled = app.token_request(rita.username, rita.password).await?;
    assert_eq!(throttled.status(), 429);
    let retry_after: u64 = common::header(&throttled, RETRY_AFTER.as_str())
        .unwrap_or_default()
        .parse()?;

    // Act
    app.clock
        .advance(Duration::from_secs(retry_after.saturating_sub(1)));
    let early = app.token_request(rita.username, rita.password).await?;
    app.clock.advance(Duration::from_secs(1));
    let response = app.token_request(rita.username, rita.password).await?;

    // Assert
    assert_eq!(early.status(), 429);
    assert_eq!(response.status(), 200);
    Ok(())
}

/// Password spraying (one guess each against many usernames, from one address) never trips a
/// per-account limit, but trips the per-address one: the next login from that address, for
/// any account, is 429.
#[actix_web::test]
async fn password_spraying_across_many_usernames_hits_the_per_address_limit() -> anyhow::Result<()>
{
    // Arrange
    let app = common::start().await?;
    let limit = app.state.config.throttle.per_address;
    assert!(limit > app.state.config.throttle.per_account);
    for n in 0..limit {
        let response = app
            .token_request(&format!("sprayed-user-{n}"), "Summer2025!")
            .await?;
        assert_eq!(response.status(), 401, "guess {n}");
    }
    let arthur = common::arthur();

    // Act
    let response = app.token_request(arthur.username, arthur.password).await?;

    // Assert
    assert_eq!(response.status(), 429);
    assert!(common::header(&response, RETRY_AFTER.as_str()).is_some());
    Ok(())
}
