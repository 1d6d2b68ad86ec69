//! Claims about JWT verification: every way a token can be wrong gets a 401 with an RFC 6750
//! challenge, and the RFC 7515 example token verifies.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use sessions_vs_jwt::jwt::{AccessClaims, Keyring, TimeClaims, TokenRejection, Verifier};
use support::clock::{Clock, ManualClock};
use support::problem::PROBLEM_JSON;

use crate::common::{self, Instance, bearer_get};

fn claims(app: &Instance, now: u64) -> AccessClaims {
    let jwt = &app.state.config.jwt;
    AccessClaims {
        iss: jwt.issuer.clone(),
        aud: jwt.audience.clone(),
        sub: "u1".to_owned(),
        name: "alice".to_owned(),
        exp: now + jwt.access_ttl.as_secs(),
        nbf: now,
        iat: now,
        jti: "test-jti".to_owned(),
        fam: "test-family".to_owned(),
        r#gen: 0,
    }
}

fn sign(claims: &AccessClaims, alg: Algorithm, secret: &[u8]) -> anyhow::Result<String> {
    Ok(jsonwebtoken::encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(secret),
    )?)
}

/// Sends `token` to the verify-only route and checks the 401, its challenge and its reason.
async fn assert_refused(app: &Instance, token: &str, reason: TokenRejection) -> anyhow::Result<()> {
    let resp = bearer_get(&app.http, app.url("/jwt-plain/me"), token).await?;
    let status = resp.status();
    let challenge = resp
        .headers()
        .get(WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let content_type = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: serde_json::Value = resp.json().await?;

    assert_eq!(status, 401);
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert!(challenge.contains("error_description="), "{challenge}");
    assert_eq!(content_type, PROBLEM_JSON);
    assert_eq!(body["reason"], reason.code(), "{body}");
    Ok(())
}

async fn app() -> anyhow::Result<(Instance, ManualClock)> {
    let clock = ManualClock::starting_now();
    Ok((
        common::start(common::config(), &clock, None, None).await?,
        clock,
    ))
}

fn secret(app: &Instance) -> Vec<u8> {
    app.state.config.jwt.hs256_secret.clone()
}

/// The control: a correctly made token is accepted (so the refusals below mean something).
#[actix_web::test]
async fn a_well_formed_token_is_accepted() -> anyhow::Result<()> {
    let (app, clock) = app().await?;
    let token = sign(&claims(&app, clock.now()), Algorithm::HS256, &secret(&app))?;

    let resp = bearer_get(&app.http, app.url("/jwt-plain/me"), &token).await?;

    assert_eq!(resp.status(), 200);
    Ok(())
}

/// A token signed with a different key is refused.
#[actix_web::test]
async fn token_signed_with_another_key_is_rejected() -> anyhow::Result<()> {
    let (app, clock) = app().await?;
    let token = sign(
        &claims(&app, clock.now()),
        Algorithm::HS256,
        b"somebody else's secret",
    )?;
    assert_refused(&app, &token, TokenRejection::BadSignature).await
}

/// `alg: none` (an unsigned token) is refused.
#[actix_web::test]
async fn unsigned_alg_none_token_is_rejected() -> anyhow::Result<()> {
    let (app, clock) = app().await?;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(&app, clock.now()))?);
    let token = format!("{header}.{payload}.");
    assert_refused(&app, &token, TokenRejection::WrongAlgorithm).await
}

/// A token using another algorithm than the pinned one is refused, even with the right secret.
#[actix_web::test]
async fn token_with_another_algorithm_is_rejected() -> anyhow::Result<()> {
    let (app, clock) = app().await?;
    let token = sign(&claims(&app, clock.now()), Algorithm::HS512, &secret(&app))?;
    assert_refused(&app, &token, TokenRejection::WrongAlgorithm).await
}

/// A token for another audience is refused.
#[actix_web::test]
async fn token_for_another_audience_is_rejected() -> anyhow::Result<()> {
    let (app, clock) = app().await?;
    let mut c = claims(&app, clock.now());
    c.aud = "some-other-api".to_owned();
    let token = sign(&c, Algorithm::HS256, &secret(&app))?;
    assert_refused(&app, &token, TokenRejection::WrongAudience).await
}

/// A token from another issuer is refused.
#[actix_web::test]
async fn token_from_another_issuer_is_rejected() -> anyhow::Result<()> {
    let (app, clock) = app().await?;
    let mut c = claims(&app, clock.now());
    c.iss = "https://evil.example".to_owned();
    let token = sign(&c, Algorithm::HS256, &secret(&app))?;
    assert_refused(&app, &token, TokenRejection::WrongIssuer).await
}

/// An expired token is refused once the leeway is used up, and accepted within it.
#[actix_web::test]
async fn expired_token_is_rejected_after_the_leeway() -> anyhow::Result<()> {
    let (app, clock) = app().await?;
    let token = sign(&claims(&app, clock.now()), Algorithm::HS256, &secret(&app))?;
    let ttl = app.state.config.jwt.access_ttl;
    let leeway = app.state.config.jwt.leeway;

    clock.advance(ttl + leeway - Duration::from_secs(1));
    let within_leeway = bearer_get(&app.http, app.url("/jwt-plain/me"), &token).await?;
    clock.advance(Duration::from_secs(1));

    assert_eq!(within_leeway.status(), 200);
    assert_refused(&app, &token, TokenRejection::Expired).await
}

/// A token whose `nbf` lies beyond the leeway in the future is refused.
#[actix_web::test]
async fn not_yet_valid_token_is_rejected() -> anyhow::Result<()> {
    let (app, clock) = app().await?;
    let mut c = claims(&app, clock.now());
    c.nbf = clock.now() + 120;
    let token = sign(&c, Algorithm::HS256, &secret(&app))?;
    assert_refused(&app, &token, TokenRejection::NotYetValid).await
}

/// A token claiming to be issued in the future (beyond the leeway) is refused.
#[actix_web::test]
async fn token_issued_in_the_future_is_rejected() -> anyhow::Result<()> {
    let (app, clock) = app().await?;
    let mut c = claims(&app, clock.now());
    c.iat = clock.now() + 120;
    let token = sign(&c, Algorithm::HS256, &secret(&app))?;
    assert_refused(&app, &token, TokenRejection::IssuedInFuture).await
}

/// Garbage in the header is refused as malformed, not a 500.
#[actix_web::test]
async fn garbage_token_is_rejected_as_malformed() -> anyhow::Result<()> {
    let (app, _clock) = app().await?;
    assert_refused(&app, "not.a.jwt", TokenRejection::Malformed).await
}

/// No token at all gets a bare `Bearer` challenge with no error code (RFC 6750 §3.1).
#[actix_web::test]
async fn missing_token_gets_a_bare_bearer_challenge() -> anyhow::Result<()> {
    let (app, _clock) = app().await?;

    let resp = app.http.get(app.url("/jwt/me")).send().await?;
    let challenge = resp
        .headers()
        .get(WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();

    assert_eq!(resp.status(), 401);
    assert!(challenge.starts_with("Bearer realm="), "{challenge}");
    assert!(!challenge.contains("error="), "{challenge}");
    Ok(())
}

/// RFC 7515 Appendix A.1: the example JWS, its published HMAC key, and its claims.
const RFC7515_A1_TOKEN: &str = concat!(
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9",
    ".",
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ",
    ".",
    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
);
const RFC7515_A1_KEY: &str =
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
const RFC7515_A1_EXP: u64 = 1_300_819_380;

#[derive(Debug, serde::Deserialize)]
struct A1Claims {
    iss: String,
    exp: u64,
    #[serde(rename = "http://example.com/is_root")]
    is_root: bool,
}

impl TimeClaims for A1Claims {
    fn exp(&self) -> u64 {
        self.exp
    }
    fn iss(&self) -> Option<&str> {
        Some(&self.iss)
    }
}

fn a1_verifier(clock: &ManualClock) -> anyhow::Result<(Verifier, Keyring)> {
    let key = URL_SAFE_NO_PAD.decode(RFC7515_A1_KEY)?;
    let clock: support::clock::SharedClock = Arc::new(clock.clone());
    let verifier = Verifier::new(Algorithm::HS256, "joe", None, Duration::ZERO, clock.clone());
    Ok((verifier, Keyring::hs256(&key, clock)))
}

/// The HS256 example of RFC 7515 A.1 verifies with its published key, with the clock set inside
/// its validity (its `exp` is in March 2011), and is refused as expired a second later.
#[test]
fn rfc7515_a1_example_verifies_with_its_published_key() -> anyhow::Result<()> {
    let clock = ManualClock::at(RFC7515_A1_EXP - 60);
    let (verifier, keys) = a1_verifier(&clock)?;

    let claims: A1Claims = verifier
        .verify(RFC7515_A1_TOKEN, &keys)
        .map_err(|r| anyhow::anyhow!("refused: {r}"))?;
    clock.set(RFC7515_A1_EXP);
    let after_exp = verifier.verify::<A1Claims>(RFC7515_A1_TOKEN, &keys);

    assert_eq!(claims.iss, "joe");
    assert!(claims.is_root);
    assert_eq!(after_exp.err(), Some(TokenRejection::Expired));
    Ok(())
}

/// Changing one character of the RFC 7515 A.1 signature makes it fail.
#[test]
fn rfc7515_a1_example_with_a_tampered_signature_fails() -> anyhow::Result<()> {
    let clock = ManualClock::at(RFC7515_A1_EXP - 60);
    let (verifier, keys) = a1_verifier(&clock)?;
    let tampered = RFC7515_A1_TOKEN.replace("dBjftJeZ4CVP", "dBjftJeZ4CVQ");

    let result = verifier.verify::<A1Claims>(&tampered, &keys);

    assert_eq!(result.err(), Some(TokenRejection::BadSignature));
    Ok(())
}

/// A token without `exp` (one that would never expire) is refused, even when correctly signed.
#[actix_web::test]
async fn token_without_exp_is_rejected() -> anyhow::Result<()> {
    let (app, clock) = app().await?;
    let mut c = serde_json::to_value(claims(&app, clock.now()))?;
    if let Some(map) = c.as_object_mut() {
        map.remove("exp");
    }
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &c,
        &EncodingKey::from_secret(&secret(&app)),
    )?;
    assert_refused(&app, &token, TokenRejection::Malformed).await
}
