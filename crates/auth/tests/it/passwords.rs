//! Passwords: no user enumeration through the work a login does, and hashes upgraded to
//! today's argon2 parameters at the one moment the plain password is at hand.

use auth::passwords::{self, PasswordCost};

use crate::common;

/// Parameters other than the configured ones: a hash imported from an older system.
const OLDER: PasswordCost = PasswordCost {
    memory_kib: 128,
    iterations: 2,
    lanes: 1,
};

/// An unknown username costs exactly one argon2 verification, as a wrong password does, and
/// gets the same status and the same body: neither the answer nor the work behind it tells an
/// attacker which usernames exist. (Counted, not timed: a count cannot flake.)
#[actix_web::test]
async fn an_unknown_username_costs_one_verification_like_a_wrong_password_and_answers_the_same()
-> anyhow::Result<()> {
    // Arrange
    let app = common::start().await?;
    let counter = app.state.accounts.passwords().clone();

    // Act
    let before_wrong = counter.verifications();
    let wrong_password = app.token_request("rita", "not her password").await?;
    let wrong_password_work = counter.verifications() - before_wrong;
    let before_unknown = counter.verifications();
    let unknown_user = app.token_request("nobody-here", "not her password").await?;
    let unknown_user_work = counter.verifications() - before_unknown;

    // Assert
    assert_eq!(wrong_password_work, 1);
    assert_eq!(unknown_user_work, wrong_password_work);
    assert_eq!(wrong_password.status(), unknown_user.status());
    assert_eq!(
        common::challenge_of(&wrong_password),
        common::challenge_of(&unknown_user)
    );
    let wrong_body: serde_json::Value = wrong_password.json().await?;
    let unknown_body: serde_json::Value = unknown_user.json().await?;
    assert_eq!(wrong_body, unknown_body);
    Ok(())
}

/// A stored hash made with older parameters is replaced at the next successful login by one
/// at the configured parameters (the password verifies under the old ones, which travel in the
/// PHC string), and a failed login leaves it alone.
#[actix_web::test]
async fn an_old_hash_is_rehashed_at_the_next_successful_login_and_not_at_a_failed_one()
-> anyhow::Result<()> {
    // Arrange
    let app = common::start().await?;
    let arthur = common::arthur();
    let configured = app.state.accounts.passwords().cost();
    assert_ne!(configured, OLDER);
    let imported = passwords::hash_blocking(OLDER, arthur.password)?;
    app.state
        .accounts
        .import_hash(arthur.username, imported.clone())?;
    let stored = || -> anyhow::Result<String> {
        app.state
            .accounts
            .stored_hash(arthur.username)?
            .ok_or_else(|| anyhow::anyhow!("arthur has no hash"))
    };

    // Act
    let failed = app.token_request(arthur.username, "a wrong guess").await?;
    let after_failure = stored()?;
    let succeeded = app.token_request(arthur.username, arthur.password).await?;
    let after_success = stored()?;

    // Assert
    assert_eq!(failed.status(), 401);
    assert_eq!(after_failure, imported);
    assert_eq!(passwords::cost_of(&after_failure), Some(OLDER));
    assert_eq!(succeeded.status(), 200);
    assert_ne!(after_success, imported);
    assert_eq!(passwords::cost_of(&after_success), Some(configured));
    assert!(passwords::verify_blocking(&after_success, arthur.password)?);
    Ok(())
}
