//! Claims about the asymmetric variant: another service verifies with the published JWKS alone,
//! and key rotation keeps old tokens valid until they expire.

use std::sync::Arc;

use jsonwebtoken::Algorithm;
use sessions_vs_jwt::clock::{ManualClock, SharedClock};
use sessions_vs_jwt::jwt::{AccessClaims, JWKS_PATH, JwksKeys, TokenRejection, Verifier};

use crate::common::{self, Instance, jwt_login};

/// What a second service would build: our issuer and audience, EdDSA pinned, keys from JWKS only.
fn outside_verifier(app: &Instance, clock: &ManualClock) -> Verifier {
    let jwt = &app.state.config.jwt;
    let clock: SharedClock = Arc::new(clock.clone());
    Verifier::new(
        Algorithm::EdDSA,
        &jwt.issuer,
        Some(&jwt.audience),
        jwt.leeway,
        clock,
    )
}

async fn fetch_jwks(app: &Instance) -> anyhow::Result<JwksKeys> {
    let body = app
        .http
        .get(app.url(JWKS_PATH))
        .send()
        .await?
        .text()
        .await?;
    JwksKeys::from_document(&body)
}

/// An EdDSA token verifies with nothing but the JWKS document fetched over HTTP.
#[actix_web::test]
async fn eddsa_token_verifies_with_only_the_published_jwks() -> anyhow::Result<()> {
    let clock = ManualClock::starting_now();
    let app = common::start(common::eddsa_config(), &clock, None, None).await?;
    let pair = jwt_login(&app).await?;

    let jwks = fetch_jwks(&app).await?;
    let claims: AccessClaims = outside_verifier(&app, &clock)
        .verify(&pair.access_token, &jwks)
        .map_err(|r| anyhow::anyhow!("refused: {r}"))?;
    let raw: serde_json::Value = app
        .http
        .get(app.url(JWKS_PATH))
        .send()
        .await?
        .json()
        .await?;

    assert_eq!(claims.name, "alice");
    assert_eq!(jwks.len(), 1);
    assert_eq!(raw["keys"][0]["kty"], "OKP");
    assert_eq!(raw["keys"][0]["crv"], "Ed25519");
    assert!(
        raw["keys"][0].get("d").is_none(),
        "the private key must never be published"
    );
    Ok(())
}

/// A token signed before a key rotation still verifies until it expires; then the old key is gone.
#[actix_web::test]
async fn key_rotation_keeps_old_tokens_valid_until_they_expire() -> anyhow::Result<()> {
    let clock = ManualClock::starting_now();
    let app = common::start(common::eddsa_config(), &clock, None, None).await?;
    let jwt = app.state.config.jwt.clone();
    let old = jwt_login(&app).await?;

    let new_kid = app.state.jwt.keys.rotate(jwt.access_ttl + jwt.leeway)?;
    let new = jwt_login(&app).await?;
    let both = fetch_jwks(&app).await?;
    let verifier = outside_verifier(&app, &clock);
    let old_ok = verifier
        .verify::<AccessClaims>(&old.access_token, &both)
        .is_ok();
    let new_ok = verifier
        .verify::<AccessClaims>(&new.access_token, &both)
        .is_ok();
    let new_header = jsonwebtoken::decode_header(&new.access_token)?;
    clock.advance(jwt.access_ttl + jwt.leeway);
    let after = fetch_jwks(&app).await?;
    let old_after = app
        .state
        .jwt
        .verify(&old.access_token)
        .err()
        .map(|e| e.to_string());

    assert!(old_ok && new_ok, "during the overlap both keys verify");
    assert_eq!(both.len(), 2);
    assert_eq!(
        new_header.kid.as_deref(),
        Some(new_kid.as_str()),
        "new tokens use the new key"
    );
    assert_eq!(
        after.len(),
        1,
        "the old key leaves the JWKS once its tokens have expired"
    );
    assert!(old_after.is_some(), "and tokens it signed are refused");
    Ok(())
}

/// An HS256 token is refused by an EdDSA verifier even if signed with the public key bytes
/// (the algorithm-confusion attack).
#[actix_web::test]
async fn hs256_token_is_refused_by_the_eddsa_service() -> anyhow::Result<()> {
    let clock = ManualClock::starting_now();
    let app = common::start(common::eddsa_config(), &clock, None, None).await?;
    let raw: serde_json::Value = app
        .http
        .get(app.url(JWKS_PATH))
        .send()
        .await?
        .json()
        .await?;
    let public_x = raw["keys"][0]["x"].as_str().unwrap_or_default().to_owned();
    let jwt = &app.state.config.jwt;
    let now = sessions_vs_jwt::clock::Clock::now(&clock);
    let claims = AccessClaims {
        iss: jwt.issuer.clone(),
        aud: jwt.audience.clone(),
        sub: "u1".to_owned(),
        name: "mallory".to_owned(),
        exp: now + 60,
        nbf: now,
        iat: now,
        jti: "x".to_owned(),
        fam: "x".to_owned(),
        r#gen: 0,
    };
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(public_x.as_bytes()),
    )?;

    let result = app
        .state
        .jwt
        .verifier
        .verify::<AccessClaims>(&forged, app.state.jwt.keys.as_ref());

    assert_eq!(result.err(), Some(TokenRejection::WrongAlgorithm));
    Ok(())
}
