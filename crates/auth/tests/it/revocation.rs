//! Revocation: how soon a credential stops working. Everything that is looked up per request
//! (session, password, API key) stops at once; a JWT, which is not, stops only at `exp`.
//! And a JWT that this service did not issue, for this audience, never starts.

use std::sync::Arc;
use std::time::Duration;

use auth::AppState;
use auth::config::JwtConfig;
use auth::error::challenge;
use auth::jwt_bearer::{AccessClaims, JwtIssuer};
use auth::principal::Mechanism;
use auth::rbac::Role;
use auth::signing_key::SigningKey;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Method, Response};
use support::clock::ManualClock;

use crate::common::{self, Credential};

/// The HS256 secret of the instance in the forged-token tests: known to the test, so it can
/// sign tokens that are genuine in every respect but the one under test.
const SECRET: &[u8; 32] = b"a test secret of thirty-two byte";

fn assert_invalid_token(response: &Response, what: &str) {
    assert_eq!(response.status(), 401, "{what}");
    let header = common::challenge_of(response).unwrap_or_default();
    assert!(
        header.starts_with(&challenge(Mechanism::Jwt)),
        "{what}: {header}"
    );
    assert!(
        header.contains("error=\"invalid_token\""),
        "{what}: {header}"
    );
}

/// After logout the session record is gone, so the same cookie is refused at once (401).
#[actix_web::test]
async fn after_logout_the_session_cookie_is_refused_on_the_next_request() -> anyhow::Result<()> {
    // Arrange
    let app = common::start().await?;
    let session = app.session_login(common::rita()).await?.credential();
    assert_eq!(app.me(Mechanism::Session, &session).await?, 200);
    let logout = app
        .request(Method::POST, "/session/logout", &session)
        .send()
        .await?;
    assert_eq!(logout.status(), 204);

    // Act
    let response = app
        .request(Method::GET, "/session/me", &session)
        .send()
        .await?;

    // Assert
    assert_eq!(response.status(), 401);
    assert_eq!(
        common::challenge_of(&response),
        Some(challenge(Mechanism::Session))
    );
    Ok(())
}

/// An admin disables arthur: Basic, his session and his API key are refused on the next request
/// (each looks the account up), while his JWT keeps working, with its old role, until `exp`;
/// then it is refused with `invalid_token`. The token's lifetime *is* its revocation delay.
#[actix_web::test]
async fn disabling_an_account_stops_every_looked_up_credential_at_once_and_a_jwt_only_at_exp()
-> anyhow::Result<()> {
    // Arrange
    let app = common::start().await?;
    let arthur = common::arthur();
    let basic = app.basic(arthur);
    let session = app.credential(Mechanism::Session, arthur).await?;
    let jwt = app.credential(Mechanism::Jwt, arthur).await?;
    let api_key = app.credential(Mechanism::ApiKey, arthur).await?;
    let admin = app.credential(Mechanism::Jwt, common::ada()).await?;
    let lifetime = app.state.jwt.lifetime_secs();

    // Act
    let id = app.account_id(arthur.username)?;
    let disabled = app
        .request(Method::PATCH, &format!("/jwt/admin/accounts/{id}"), &admin)
        .json(&serde_json::json!({ "disabled": true }))
        .send()
        .await?;
    assert_eq!(disabled.status(), 200);

    // Assert
    for (mechanism, credential) in [
        (Mechanism::Basic, &basic),
        (Mechanism::Session, &session),
        (Mechanism::ApiKey, &api_key),
    ] {
        let path = format!("{}/documents", mechanism.prefix());
        let response = app.request(Method::GET, &path, credential).send().await?;
        assert_eq!(response.status(), 401, "{}", mechanism.label());
        assert_eq!(
            common::challenge_of(&response),
            Some(challenge(mechanism)),
            "{}",
            mechanism.label()
        );
    }
    assert_eq!(app.me(Mechanism::Jwt, &jwt).await?, 200);
    app.clock.advance(Duration::from_secs(lifetime - 1));
    let just_before_exp = app
        .request(Method::POST, "/jwt/documents", &jwt)
        .json(&serde_json::json!({ "title": "written by a disabled account" }))
        .send()
        .await?;
    assert_eq!(just_before_exp.status(), 201);
    app.clock.advance(Duration::from_secs(1));
    let at_exp = app
        .request(Method::GET, "/jwt/documents", &jwt)
        .send()
        .await?;
    assert_invalid_token(&at_exp, "at exp");
    Ok(())
}

/// An instance whose HS256 secret the test knows, and a forger: an issuer with the same secret
/// but `config`, minting for arthur.
async fn instance_and_forger(
    forged: JwtConfig,
) -> anyhow::Result<(common::Instance, JwtIssuer, auth::accounts::Account)> {
    let clock = ManualClock::at(common::T0);
    let mut state = AppState::new(common::test_config(), Arc::new(clock.clone())).await?;
    state.jwt = Arc::new(JwtIssuer::with_secret(
        state.config.jwt.clone(),
        Arc::new(clock.clone()),
        SECRET,
    ));
    let forger = JwtIssuer::with_secret(forged, Arc::new(clock.clone()), SECRET);
    let arthur = state
        .accounts
        .find("arthur")?
        .ok_or_else(|| anyhow::anyhow!("arthur is not seeded"))?;
    Ok((common::start_state(state, clock)?, forger, arthur))
}

/// Claims exactly as the instance would issue them for arthur.
fn genuine_claims(app: &common::Instance, id: u64) -> AccessClaims {
    let config = &app.state.config.jwt;
    AccessClaims {
        iss: config.issuer.clone(),
        aud: config.audience.clone(),
        sub: id.to_string(),
        name: "arthur".into(),
        role: Role::Author,
        iat: common::T0,
        exp: common::T0 + config.lifetime.as_secs(),
        jti: "forged".into(),
    }
}

/// The instance's own tokens pass, so each refusal below is about the one thing that differs.
#[actix_web::test]
async fn a_token_signed_with_the_known_secret_and_the_right_claims_is_accepted()
-> anyhow::Result<()> {
    // Arrange
    let (app, _, arthur) = instance_and_forger(test_jwt_config()).await?;
    let token = JwtIssuer::with_secret(
        app.state.config.jwt.clone(),
        Arc::new(app.clock.clone()),
        SECRET,
    )
    .issue(&arthur)?
    .access_token;

    // Act
    let status = app.me(Mechanism::Jwt, &Credential::Bearer(token)).await?;

    // Assert
    assert_eq!(status, 200);
    Ok(())
}

fn test_jwt_config() -> JwtConfig {
    common::test_config().jwt
}

/// A correctly signed token minted for another API (`aud`) is refused with `invalid_token`: a
/// token is not a key to every service that trusts the issuer.
#[actix_web::test]
async fn a_jwt_with_the_wrong_audience_is_refused_with_invalid_token() -> anyhow::Result<()> {
    // Arrange
    let mut other_api = test_jwt_config();
    other_api.audience = "billing-api".into();
    let (app, forger, arthur) = instance_and_forger(other_api).await?;
    let token = forger.issue(&arthur)?.access_token;

    // Act
    let response = app
        .request(Method::GET, "/jwt/documents", &Credential::Bearer(token))
        .send()
        .await?;

    // Assert
    assert_invalid_token(&response, "wrong aud");
    let header = common::challenge_of(&response).unwrap_or_default();
    assert!(header.contains("audience"), "{header}");
    Ok(())
}

/// A correctly signed token from another issuer (`iss`) is refused with `invalid_token`.
#[actix_web::test]
async fn a_jwt_with_the_wrong_issuer_is_refused_with_invalid_token() -> anyhow::Result<()> {
    // Arrange
    let mut other_issuer = test_jwt_config();
    other_issuer.issuer = "someone-else".into();
    let (app, forger, arthur) = instance_and_forger(other_issuer).await?;
    let token = forger.issue(&arthur)?.access_token;

    // Act
    let response = app
        .request(Method::GET, "/jwt/documents", &Credential::Bearer(token))
        .send()
        .await?;

    // Assert
    assert_invalid_token(&response, "wrong iss");
    let header = common::challenge_of(&response).unwrap_or_default();
    assert!(header.contains("issued by someone else"), "{header}");
    Ok(())
}

/// `alg: none` (an unsigned token with otherwise perfect claims) is refused: the algorithm is
/// pinned by the verifier, never read from the token.
#[actix_web::test]
async fn a_jwt_with_alg_none_is_refused_with_invalid_token() -> anyhow::Result<()> {
    // Arrange
    let (app, _, arthur) = instance_and_forger(test_jwt_config()).await?;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&genuine_claims(&app, arthur.id))?);
    let unsigned = format!("{header}.{claims}.");

    // Act
    let response = app
        .request(Method::GET, "/jwt/documents", &Credential::Bearer(unsigned))
        .send()
        .await?;

    // Assert
    assert_invalid_token(&response, "alg none");
    Ok(())
}

/// A token signed by another key is refused, whether it claims the pinned algorithm (HS256
/// with another secret: the signature fails) or another one (EdDSA: the algorithm fails).
#[actix_web::test]
async fn a_jwt_signed_by_another_key_is_refused_with_invalid_token() -> anyhow::Result<()> {
    // Arrange
    let (app, _, arthur) = instance_and_forger(test_jwt_config()).await?;
    let other_secret = JwtIssuer::with_secret(
        app.state.config.jwt.clone(),
        Arc::new(app.clock.clone()),
        b"another secret, thirty-two bytes",
    )
    .issue(&arthur)?
    .access_token;
    let eddsa = SigningKey::generate()?.sign(&genuine_claims(&app, arthur.id))?;

    for (what, token) in [
        ("another HS256 secret", other_secret),
        ("an EdDSA key", eddsa),
    ] {
        // Act
        let response = app
            .request(Method::GET, "/jwt/documents", &Credential::Bearer(token))
            .send()
            .await?;

        // Assert
        assert_invalid_token(&response, what);
    }
    Ok(())
}
