//! Claims about the asymmetric variant: another service verifies with the published JWKS alone,
//! key rotation keeps old tokens valid until they expire, and the instance `serve` runs publishes
//! the key that signs its tokens.

use std::sync::Arc;

use jsonwebtoken::Algorithm;
use sessions_vs_jwt::app::{self, ServeOptions};
use sessions_vs_jwt::config::JwtAlgorithm;
use sessions_vs_jwt::jwt::{AccessClaims, JWKS_PATH, JwksKeys, TokenRejection, Verifier};
use support::Settings;
use support::cli::Mode;
use support::clock::{ManualClock, SharedClock};

use crate::common::{self, Instance, bearer_get, jwt_login};

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
    let now = support::clock::Clock::now(&clock);
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

/// `serve`'s flags with nothing given: what `cargo run -p sessions-vs-jwt -- serve` gets.
fn serve_defaults() -> ServeOptions {
    ServeOptions::default()
}

/// The instance `serve` builds, on a free port. Redis points at a port nothing listens on, so
/// the test neither needs Redis nor writes under the key namespace a running `serve` uses; it
/// takes `serve`'s no-Redis branch, as `serve` does on a machine without Redis.
async fn start_served(options: &ServeOptions) -> anyhow::Result<Instance> {
    let settings = Settings {
        redis_url: "redis://127.0.0.1:1".to_owned(),
        ..Settings::default()
    };
    let state = app::serve_state(settings, options).await?;
    let for_server = state.clone();
    let server = support::server::spawn(move |l| app::run(l, for_server))?;
    Ok(Instance {
        server,
        state,
        http: reqwest::Client::new(),
    })
}

/// What `serve` runs by default signs with EdDSA and publishes that key: the JWKS it serves
/// verifies the token it just issued, and the token's `kid` names a key in it.
#[actix_web::test]
async fn the_served_instance_publishes_the_key_that_signs_its_tokens() -> anyhow::Result<()> {
    let app = start_served(&serve_defaults()).await?;
    let pair = jwt_login(&app).await?;

    let raw: serde_json::Value = app
        .http
        .get(app.url(JWKS_PATH))
        .send()
        .await?
        .json()
        .await?;
    let jwks = fetch_jwks(&app).await?;
    let kid = jsonwebtoken::decode_header(&pair.access_token)?.kid;
    let verified = outside_verifier(&app, &ManualClock::starting_now())
        .verify::<AccessClaims>(&pair.access_token, &jwks);
    let me = bearer_get(&app.http, app.url("/jwt/me"), &pair.access_token).await?;

    assert!(
        app.state.redis.is_none(),
        "the test must not depend on Redis"
    );
    assert!(!jwks.is_empty(), "the served JWKS must not be empty");
    let published: Vec<&str> = raw["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert!(
        kid.as_deref().is_some_and(|kid| published.contains(&kid)),
        "the token's kid {kid:?} is not among the published {published:?}"
    );
    let claims = verified.map_err(|r| anyhow::anyhow!("refused with the served JWKS: {r}"))?;
    assert_eq!(claims.name, "alice");
    assert_eq!(me.status(), 200);
    Ok(())
}

/// `serve` signs with EdDSA unless a shared secret is given (the compose file's two instances
/// share one, so each verifies the other's HS256 tokens); a secret beside an explicit eddsa is
/// refused rather than silently ignored.
#[test]
fn serve_signs_with_eddsa_unless_given_a_shared_secret() -> anyhow::Result<()> {
    let secret = Some("a test secret of thirty-two bytes".to_owned());
    let with = |jwt_alg, jwt_secret| ServeOptions {
        jwt_alg,
        jwt_secret,
    };

    let default = with(None, None).jwt_algorithm()?;
    let with_secret = with(None, secret.clone()).jwt_algorithm()?;
    let asked_hs256 = with(Some(JwtAlgorithm::Hs256), None).jwt_algorithm()?;
    let conflict = with(Some(JwtAlgorithm::EdDsa), secret).jwt_algorithm();

    assert_eq!(default, JwtAlgorithm::EdDsa);
    assert_eq!(with_secret, JwtAlgorithm::Hs256);
    assert_eq!(asked_hs256, JwtAlgorithm::Hs256);
    assert!(conflict.is_err_and(|e| e.to_string().contains(app::JWT_SECRET_VAR)));
    Ok(())
}

/// The command line `main` parses: `--port`/`--host` are the shared `serve` flags, `--jwt-alg`
/// and `--jwt-secret` this crate's own, and all of them reach `serve` as given.
#[test]
fn serve_takes_the_shared_address_flags_and_its_own_jwt_flags() -> anyhow::Result<()> {
    let secret = "a test secret of thirty-two bytes";
    let mode = support::cli::parse_from::<ServeOptions>(&[
        "sessions-vs-jwt",
        "serve",
        "--port",
        "9000",
        "--jwt-alg",
        "hs256",
        "--jwt-secret",
        secret,
    ])?;
    let no_flags = support::cli::parse_from::<ServeOptions>(&["sessions-vs-jwt", "serve"])?;

    let Mode::Serve { serve, topic, .. } = mode else {
        anyhow::bail!("`serve` parsed as {mode:?}")
    };
    assert_eq!((serve.host.as_str(), serve.port), ("127.0.0.1", 9000));
    assert_eq!(topic.jwt_alg, Some(JwtAlgorithm::Hs256));
    assert_eq!(topic.jwt_secret.as_deref(), Some(secret));
    assert!(
        !format!("{topic:?}").contains(secret),
        "the secret must not reach a log line"
    );
    let Mode::Serve { topic, .. } = no_flags else {
        anyhow::bail!("`serve` without flags is not serve")
    };
    assert_eq!(topic.jwt_algorithm()?, JwtAlgorithm::EdDsa);
    Ok(())
}
