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

/// arthur's hash replaced by one made at [`OLDER`] parameters, as an import from an older
/// system would leave it. Returns the imported PHC string.
fn import_old_hash(app: &common::Instance) -> anyhow::Result<String> {
    let arthur = common::arthur();
    assert_ne!(app.state.accounts.passwords().cost(), OLDER);
    let imported = passwords::hash_blocking(OLDER, arthur.password)?;
    app.state
        .accounts
        .import_hash(arthur.username, imported.clone())?;
    Ok(imported)
}

fn stored_hash(app: &common::Instance) -> anyhow::Result<String> {
    app.state
        .accounts
        .stored_hash("arthur")?
        .ok_or_else(|| anyhow::anyhow!("arthur has no hash"))
}

/// A stored hash made with older parameters still verifies (they travel in the PHC string), and
/// the next successful login replaces it with one at the configured parameters: the only moment
/// the plain password is at hand.
#[actix_web::test]
async fn a_hash_with_old_parameters_is_upgraded_at_the_next_login() -> anyhow::Result<()> {
    // Arrange
    let app = common::start().await?;
    let arthur = common::arthur();
    let imported = import_old_hash(&app)?;

    // Act
    let response = app.token_request(arthur.username, arthur.password).await?;

    // Assert
    assert_eq!(response.status(), 200);
    let upgraded = stored_hash(&app)?;
    assert_ne!(upgraded, imported);
    assert_eq!(
        passwords::cost_of(&upgraded),
        Some(app.state.accounts.passwords().cost())
    );
    assert!(passwords::verify_blocking(&upgraded, arthur.password)?);
    Ok(())
}

/// A failed login leaves an old hash alone: without the right password there is nothing to
/// rehash, and a guess must not change what is stored.
#[actix_web::test]
async fn a_failed_login_leaves_a_hash_with_old_parameters_alone() -> anyhow::Result<()> {
    // Arrange
    let app = common::start().await?;
    let imported = import_old_hash(&app)?;

    // Act
    let response = app.token_request("arthur", "a wrong guess").await?;

    // Assert
    assert_eq!(response.status(), 401);
    let kept = stored_hash(&app)?;
    assert_eq!(kept, imported);
    assert_eq!(passwords::cost_of(&kept), Some(OLDER));
    Ok(())
}
