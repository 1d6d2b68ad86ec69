//! API keys: shown once, stored only as a digest, scoped, revocable, with a last-used time.

use std::time::Duration;

use auth::api_keys::{KEY_PREFIX, KeyInfo};
use auth::error::challenge;
use auth::principal::Mechanism;
use reqwest::Method;
use sha2::{Digest as _, Sha256};

use crate::common::{self, Credential};

fn scopes(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// `(id, secret)` of a key `bfk_<id>_<secret>`.
fn parts(key: &str) -> anyhow::Result<(&str, &str)> {
    key.strip_prefix(KEY_PREFIX)
        .and_then(|rest| rest.split_once('_'))
        .ok_or_else(|| anyhow::anyhow!("{key} is not bfk_<id>_<secret>"))
}

/// The key is in the creation response and nowhere after: the owner's list names it by id, but
/// never contains the key or its secret.
#[actix_web::test]
async fn a_key_is_shown_once_and_the_list_never_contains_it() -> anyhow::Result<()> {
    // Arrange
    let app = common::start().await?;
    let created = app
        .api_key(common::arthur(), &scopes(&["documents:read"]))
        .await?;
    let (id, secret) = parts(&created.key)?;
    let token = app.jwt_token(common::arthur()).await?;

    // Act
    let response = app
        .request(Method::GET, "/jwt/api-keys", &Credential::Bearer(token))
        .send()
        .await?;

    // Assert
    assert_eq!(response.status(), 200);
    let raw = response.text().await?;
    assert!(!raw.contains(&created.key), "{raw}");
    assert!(!raw.contains(secret), "{raw}");
    let listed: Vec<KeyInfo> = serde_json::from_str(&raw)?;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, id);
    assert_eq!(listed[0].scopes, ["documents:read"]);
    Ok(())
}

/// What the server keeps holds nothing that authenticates: no field of the stored row contains
/// the key or its secret part, and the digest is the key's SHA-256 (fast is right for 256 random
/// bits; argon2 would only slow every request).
#[actix_web::test]
async fn a_key_is_never_stored_in_plain_text_only_its_sha256() -> anyhow::Result<()> {
    // Arrange
    let app = common::start().await?;

    // Act
    let created = app
        .api_key(common::ada(), &common::grantable_scopes(common::ada().role))
        .await?;

    // Assert
    let (_, secret) = parts(&created.key)?;
    let stored = app.state.api_keys.stored()?;
    assert_eq!(stored.len(), 1);
    let row = &stored[0];
    let every_field = format!("{row:?} {}", serde_json::to_string(row)?);
    assert!(!every_field.contains(&created.key), "{every_field}");
    assert!(!every_field.contains(secret), "{every_field}");
    let expected: [u8; 32] = Sha256::digest(created.key.as_bytes()).into();
    assert_eq!(row.digest, expected);
    Ok(())
}

/// Revocation takes effect on the very next request: the key is looked up every time.
#[actix_web::test]
async fn a_revoked_api_key_is_refused_on_the_next_request() -> anyhow::Result<()> {
    // Arrange
    let app = common::start().await?;
    let created = app
        .api_key(common::rita(), &scopes(&["documents:read"]))
        .await?;
    let key = Credential::ApiKey(created.key.clone());
    assert_eq!(app.me(Mechanism::ApiKey, &key).await?, 200);
    let owner = Credential::Bearer(app.jwt_token(common::rita()).await?);
    let revoked = app
        .request(
            Method::DELETE,
            &format!("/jwt/api-keys/{}", created.info.id),
            &owner,
        )
        .send()
        .await?;
    assert_eq!(revoked.status(), 200);

    // Act
    let response = app
        .request(Method::GET, "/apikey/documents", &key)
        .send()
        .await?;

    // Assert
    assert_eq!(response.status(), 401);
    assert_eq!(
        common::challenge_of(&response),
        Some(challenge(Mechanism::ApiKey))
    );
    common::problem(response).await?;
    Ok(())
}

/// Using a key records when: an operator can see which keys are dead weight.
#[actix_web::test]
async fn using_a_key_sets_its_last_used_time() -> anyhow::Result<()> {
    // Arrange
    let app = common::start().await?;
    let created = app
        .api_key(common::arthur(), &scopes(&["documents:read"]))
        .await?;
    assert_eq!(created.info.last_used_at, None);
    app.clock.advance(Duration::from_secs(90));

    // Act
    let status = app
        .me(Mechanism::ApiKey, &Credential::ApiKey(created.key))
        .await?;

    // Assert
    assert_eq!(status, 200);
    let owner = app.account_id("arthur")?;
    let listed = app.state.api_keys.list(owner)?;
    assert_eq!(listed[0].created_at, common::T0);
    assert_eq!(listed[0].last_used_at, Some(common::T0 + 90));
    Ok(())
}

/// A key carries a subset of its owner's permissions: a reader cannot mint a key that creates
/// documents, and nobody (not even the admin) can mint a key that manages keys. Both are 422.
#[actix_web::test]
async fn a_key_cannot_grant_scopes_its_owner_lacks_nor_key_management() -> anyhow::Result<()> {
    // Arrange
    let requests = [
        (
            common::rita(),
            scopes(&["documents:read", "documents:create"]),
        ),
        (common::arthur(), scopes(&["documents:delete"])),
        (common::arthur(), scopes(&["accounts:manage"])),
        (common::ada(), scopes(&["keys:manage"])),
        (common::rita(), scopes(&["keys:manage"])),
    ];
    let app = common::start().await?;

    for (user, asked) in requests {
        // Act
        let response = app.api_key_request(user, &asked).await?;

        // Assert
        assert_eq!(response.status(), 422, "{} asking {asked:?}", user.username);
        common::problem(response).await?;
    }
    assert!(app.state.api_keys.stored()?.is_empty());
    Ok(())
}

/// An API key cannot reach the key routes under `/apikey`: a leaked key must not list, mint or
/// revoke keys (403, not 401: the key is valid, it just may not).
#[actix_web::test]
async fn an_api_key_cannot_reach_the_key_management_routes() -> anyhow::Result<()> {
    // Arrange
    let app = common::start().await?;
    let created = app
        .api_key(common::ada(), &common::grantable_scopes(common::ada().role))
        .await?;
    let key = Credential::ApiKey(created.key);

    // Act
    let list = app
        .request(Method::GET, "/apikey/api-keys", &key)
        .send()
        .await?;
    let mint = app
        .request(Method::POST, "/apikey/api-keys", &key)
        .json(&serde_json::json!({ "name": "minted by a key", "scopes": ["documents:read"] }))
        .send()
        .await?;
    let revoke = app
        .request(
            Method::DELETE,
            &format!("/apikey/api-keys/{}", created.info.id),
            &key,
        )
        .send()
        .await?;

    // Assert
    for response in [list, mint, revoke] {
        assert_eq!(response.status(), 403, "{}", response.url());
        assert_eq!(common::challenge_of(&response), None);
        common::problem(response).await?;
    }
    assert_eq!(app.state.api_keys.stored()?.len(), 1);
    assert_eq!(app.state.api_keys.stored()?[0].revoked_at, None);
    Ok(())
}
