//! Alternative 3: a JWT in `Authorization: Bearer` (RFC 6750, RFC 7519).
//!
//! Log in once (`POST /jwt/token`) and get a signed, short-lived access token. Every later
//! request is a signature check and a few comparisons: no lookup, so no shared state between
//! instances, which is what makes it the usual choice for SPAs, mobile apps and APIs behind many
//! servers. The catch is the other side of "no lookup": nothing can revoke the token. Disable
//! the account, change the role, and the token still works, with its old role, until `exp`. The
//! lifetime is therefore the revocation delay, and kept short (5 minutes here; a refresh token,
//! which *is* looked up, buys a new one, as sessions-vs-jwt shows).
//!
//! What verification checks, in [`JwtIssuer::verify`]:
//! 1. the algorithm is pinned to HS256, never taken from the token's header (so `alg: none`
//!    and tokens signed with any other algorithm or key are refused);
//! 2. the signature;
//! 3. `iss` is this issuer and `aud` is this API (a token minted for another API is refused);
//! 4. `exp` is in the future, against the injected clock (no leeway: issuer and verifier are
//!    one process here; across machines a few seconds absorb clock skew).
//!
//! HS256 (an HMAC with a 256-bit secret) rather than a public-key signature, because here the
//! issuer and the verifier are the same service: nobody else needs to verify, so nobody needs
//! a public key, and an HMAC verifies in about a microsecond where Ed25519 takes tens. (The
//! OAuth2 provider signs its `id_token`s with EdDSA for the opposite reason: its verifier is
//! another party.) The secret is random per process; several instances would share one from a
//! secret store.
//!
//! A token in JavaScript-readable storage is exposed to XSS (any injected script can send it
//! elsewhere); it is not exposed to CSRF, because the browser never attaches it on its own.

use actix_web::{HttpRequest, HttpResponse, web};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use support::clock::{SharedClock, UnixSeconds};
use support::problem::Json;

use crate::accounts::{Account, Accounts};
use crate::config::JwtConfig;
use crate::credentials;
use crate::error::{AuthError, Refusal};
use crate::login::{self, LoginRequest};
use crate::principal::{Mechanism, Principal};
use crate::rbac::Role;
use crate::secrets;
use crate::throttle::Throttle;

pub const SCHEME: &str = "Bearer";

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The account id, as a string (RFC 7519 §4.1.2: `sub` is a string).
    pub sub: String,
    pub name: String,
    /// The role at the moment of login. Baked in: a later change waits for `exp`.
    pub role: Role,
    pub iat: UnixSeconds,
    pub exp: UnixSeconds,
    /// A unique id, so a denylist could name this token (not used here; see sessions-vs-jwt).
    pub jti: String,
}

/// `/jwt/token`'s answer (RFC 6749 §5.1 field names).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
}

/// The one algorithm access tokens are signed and verified with.
pub const ALGORITHM: Algorithm = Algorithm::HS256;

/// Issues and verifies access tokens.
pub struct JwtIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    config: JwtConfig,
    clock: SharedClock,
    validation: Validation,
}

/// By hand, so the key never reaches a log line.
impl std::fmt::Debug for JwtIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtIssuer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl JwtIssuer {
    /// An issuer with a fresh random secret (RFC 7518 §3.2: an HS256 key at least as long as
    /// the hash, from the CSPRNG).
    pub fn new(config: JwtConfig, clock: SharedClock) -> anyhow::Result<Self> {
        let mut secret = [0u8; 32];
        aws_lc_rs::rand::fill(&mut secret).map_err(|_| anyhow::anyhow!("no system randomness"))?;
        Ok(Self::with_secret(config, clock, &secret))
    }

    /// An issuer with a given secret: what several instances sharing one from a secret store
    /// would use, and what lets a test mint a correctly signed token with another `iss` or `aud`.
    pub fn with_secret(config: JwtConfig, clock: SharedClock, secret: &[u8]) -> Self {
        let mut validation = Validation::new(ALGORITHM);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // `exp` is checked below against the injected clock, so tests can move time.
        validation.validate_exp = false;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            config,
            clock,
            validation,
        }
    }

    /// A token for `account`, valid for the configured lifetime.
    pub fn issue(&self, account: &Account) -> Result<TokenResponse, AuthError> {
        let now = self.clock.now();
        let lifetime = self.config.lifetime.as_secs();
        let claims = AccessClaims {
            iss: self.config.issuer.clone(),
            aud: self.config.audience.clone(),
            sub: account.id.to_string(),
            name: account.username.clone(),
            role: account.role,
            iat: now,
            exp: now + lifetime,
            jti: secrets::random_token()?,
        };
        Ok(TokenResponse {
            access_token: jsonwebtoken::encode(&Header::new(ALGORITHM), &claims, &self.encoding)
                .map_err(|e| anyhow::anyhow!("signing an access token: {e}"))?,
            token_type: SCHEME.to_owned(),
            expires_in: lifetime,
        })
    }

    /// Checks a token (steps 1 to 4 above) and returns its claims, or why it was refused.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, &'static str> {
        use jsonwebtoken::errors::ErrorKind;
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidAlgorithm => "the token is not signed with the pinned algorithm",
                ErrorKind::InvalidSignature => "the token's signature does not verify",
                ErrorKind::InvalidIssuer => "the token was issued by someone else",
                ErrorKind::InvalidAudience => "the token is meant for another audience",
                ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
                _ => "the token is malformed",
            })?;
        if self.clock.now() >= data.claims.exp {
            return Err("the token has expired");
        }
        Ok(data.claims)
    }

    /// Authenticates one request. Stateless: the account table is not consulted.
    pub fn authenticate(&self, req: &HttpRequest) -> Result<Principal, AuthError> {
        let token = credentials::authorization(req, SCHEME, Mechanism::Jwt)?;
        let claims = self.verify(token).map_err(|why| AuthError::Refused {
            mechanism: Mechanism::Jwt,
            refusal: Refusal::InvalidToken(why),
        })?;
        let account = claims.sub.parse().map_err(|_| AuthError::Refused {
            mechanism: Mechanism::Jwt,
            refusal: Refusal::InvalidToken("the token's subject is not an account id"),
        })?;
        Ok(Principal::new(
            account,
            &claims.name,
            claims.role,
            Mechanism::Jwt,
        ))
    }

    pub fn lifetime_secs(&self) -> u64 {
        self.config.lifetime.as_secs()
    }
}

/// `POST /jwt/token`: a password login that answers with an access token.
pub async fn token(
    req: HttpRequest,
    body: Json<LoginRequest>,
    issuer: web::Data<JwtIssuer>,
    accounts: web::Data<Accounts>,
    throttle: web::Data<Throttle>,
) -> Result<HttpResponse, AuthError> {
    let account = login::check_request(&accounts, &throttle, Mechanism::Jwt, &req, &body).await?;
    Ok(HttpResponse::Ok()
        // RFC 6749 §5.1: token responses must not be cached.
        .insert_header(("cache-control", "no-store"))
        .json(issuer.issue(&account)?))
}
