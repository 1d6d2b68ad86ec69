//! Login tokens: an HS256 JWT per login, and the extractors that read it back.
//!
//! The spec's header is `Authorization: Token <jwt>`; `Bearer <jwt>` (RFC 6750, what most
//! clients send by habit) is accepted too. The token is stateless, as sessions-vs-jwt teaches:
//! verifying it costs one HMAC and no database round trip, and the price is that a token stays
//! valid until it expires (no logout, no revocation: see that topic's README for the fixes).
//!
//! Two extractors, one per kind of endpoint:
//! - [`CurrentUser`]: the endpoint needs a login; no header is 401 `token: is missing`, a bad
//!   one 401 `token: is invalid`.
//! - [`MaybeUser`]: the endpoint works for anyone and personalises for a login (`favorited`,
//!   `following`); no header is anonymous, but a *bad* header is still 401, so a client with an
//!   expired token learns it instead of silently seeing the anonymous view.

use std::future::{Ready, ready};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, web};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// What a token says: whose it is and until when.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Claims {
    /// The user's id.
    sub: String,
    iat: u64,
    exp: u64,
}

/// Issues and checks tokens with one key.
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key never reaches a log.
        f.debug_struct("Tokens")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        // Pinned to HS256: a token whose header names another algorithm (`none`, RS256 with
        // the HMAC key as a "public key") is refused before its signature is looked at.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    /// A token for user `id`, valid for the configured time from now.
    pub fn issue(&self, id: i64) -> Result<String, Error> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let claims = Claims {
            sub: id.to_string(),
            iat: now,
            exp: now + self.ttl.as_secs(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| Error::Unexpected(anyhow::Error::new(e).context("signing a token")))
    }

    /// The user id a token names, if the token is genuine and unexpired.
    pub fn verify(&self, token: &str) -> Result<i64, Error> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| Error::InvalidToken)?;
        data.claims.sub.parse().map_err(|_| Error::InvalidToken)
    }
}

/// The logged-in user of this request, and the token they sent (echoed back in `user.token`).
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: i64,
    pub token: String,
}

/// The logged-in user, if the request carries a token.
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<CurrentUser>);

impl MaybeUser {
    pub fn id(&self) -> Option<i64> {
        self.0.as_ref().map(|u| u.id)
    }
}

/// The token in `Authorization: Token <jwt>` or `Bearer <jwt>`; `Ok(None)` without the header.
fn presented(req: &HttpRequest) -> Result<Option<String>, Error> {
    let Some(value) = req.headers().get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| Error::InvalidToken)?;
    let (scheme, token) = value.trim().split_once(' ').ok_or(Error::InvalidToken)?;
    let scheme_ok = scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer");
    let token = token.trim();
    if !scheme_ok || token.is_empty() {
        return Err(Error::InvalidToken);
    }
    Ok(Some(token.to_owned()))
}

fn current(req: &HttpRequest) -> Result<Option<CurrentUser>, Error> {
    let Some(token) = presented(req)? else {
        return Ok(None);
    };
    let tokens = req
        .app_data::<web::Data<Tokens>>()
        .ok_or_else(|| Error::Unexpected(anyhow::anyhow!("no Tokens in app data")))?;
    let id = tokens.verify(&token)?;
    Ok(Some(CurrentUser { id, token }))
}

impl FromRequest for CurrentUser {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(current(req).and_then(|user| user.ok_or(Error::MissingToken)))
    }
}

impl FromRequest for MaybeUser {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(current(req).map(MaybeUser))
    }
}
