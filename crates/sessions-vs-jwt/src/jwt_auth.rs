//! The JWT mechanism as a service: login issues a token pair, `/me` verifies, `/refresh`
//! rotates, `/logout` denylists. Two `/me` routes make the trade-off visible:
//!
//! - `/jwt/me` verifies the token *and* asks the token store whether it was revoked (one Redis
//!   round trip: revocation is immediate, the mechanism is stateful again);
//! - `/jwt-plain/me` only verifies (no lookup at all: the token is good until `exp`, whatever
//!   happened since).
//!
//! The life of a token pair, and where each step is explained:
//! 1. login ([`JwtService::login`]): the password is checked once, a refresh family is started
//!    and a short-lived access token is signed with claims that say who, for whom and until when;
//! 2. every request ([`JwtService::verify`]): the pinned algorithm, the signature, `iss`, `aud`,
//!    then the times, all without I/O (the order is in [`Verifier::verify`]);
//! 3. optionally, the state after all ([`JwtService::verify_and_check`]): one `MGET` asks whether
//!    this `jti` was logged out or the user's password changed since it was issued;
//! 4. refresh ([`JwtService::refresh`]): the refresh token is swapped for the next one in its
//!    family, and a reused one ends the family;
//! 5. logout ([`JwtService::logout`]): the access token is denylisted until it would expire
//!    anyway, and its family ends, so the refresh token dies with it.

use std::sync::Arc;

use actix_web::http::header::{AUTHORIZATION, CACHE_CONTROL};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use support::clock::SharedClock;
use support::problem::Json;
use support::routing::endpoint;

use crate::config::JwtConfig;
use crate::error::AuthError;
use crate::jwt::{AccessClaims, JWKS_PATH, Keyring, TokenRejection, Verifier};
use crate::session::{Credentials, Me};
use crate::token_store::{TokenStore, random_token};
use crate::users::{User, UserStore};

pub use crate::error::BEARER_SCHEME;

/// What `/jwt/login` and `/jwt/refresh` return (the shape of an OAuth 2.0 token response).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenPair {
    pub access_token: String,
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub refresh_token: String,
}

/// `POST /jwt/refresh` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Issuing, verifying, rotating and revoking tokens.
#[derive(Debug)]
pub struct JwtService {
    pub keys: Arc<Keyring>,
    pub verifier: Verifier,
    pub store: TokenStore,
    config: JwtConfig,
    clock: SharedClock,
    users: UserStore,
}

impl JwtService {
    pub fn new(
        keys: Arc<Keyring>,
        store: TokenStore,
        config: JwtConfig,
        clock: SharedClock,
        users: UserStore,
    ) -> Self {
        // The algorithm is pinned here, from our own keyring, once: a verifier that took `alg`
        // from the token's header would accept `alg: none`, or an HS256 token "signed" with our
        // published EdDSA public key as the HMAC secret. The header's `alg` is only compared
        // with this, never obeyed.
        let verifier = Verifier::new(
            keys.algorithm(),
            &config.issuer,
            Some(&config.audience),
            config.leeway,
            clock.clone(),
        );
        Self {
            keys,
            verifier,
            store,
            config,
            clock,
            users,
        }
    }

    /// A fresh token pair for a user who just proved who they are.
    pub async fn login(&self, user: &User) -> Result<TokenPair, AuthError> {
        // The user's credential generation now: stamped into the family and every access
        // token, so a later password change (which bumps it) refuses them all with one write
        // instead of a denylist entry per token.
        let generation = self.store.generation(&user.id).await?;
        let now = self.clock.now();
        // The family's expiry is absolute, fixed here: rotation never extends it, so a stolen
        // refresh token cannot be kept alive forever by using it.
        let refresh_ttl = self.config.refresh_ttl.as_secs();
        let refresh = self
            .store
            .create_family(
                user,
                generation,
                now.saturating_add(refresh_ttl),
                refresh_ttl,
            )
            .await?;
        self.pair(user, generation, &refresh.family, refresh.encode())
    }

    /// Trades a refresh token for a new pair; see [`TokenStore::rotate`].
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, AuthError> {
        // Rotation: each refresh token works once. The store swaps the family's current secret
        // atomically (a Lua script in Redis), so two concurrent uses cannot both win. A secret
        // that was already swapped out means two parties hold this family, the client and a
        // thief, and the server cannot tell which is which: the store ends the whole family and
        // both must log in again (`AuthError::RefreshRejected { reused: true }`). The family also
        // dies past its absolute expiry or when the user's generation has moved on.
        let rotated = self.store.rotate(refresh_token, self.clock.now()).await?;
        // The new access token carries the family's generation (from its login), not a fresh
        // read: a family that survived a password change would otherwise launder old
        // credentials into new tokens. (`rotate` has already refused such a family.)
        self.pair(
            &rotated.user,
            rotated.generation,
            &rotated.token.family,
            rotated.token.encode(),
        )
    }

    fn pair(
        &self,
        user: &User,
        generation: u64,
        family: &str,
        refresh_token: String,
    ) -> Result<TokenPair, AuthError> {
        let now = self.clock.now();
        let ttl = self.config.access_ttl.as_secs();
        // Each claim is there for a check someone makes:
        // - `iss` and `aud`: a token minted by another issuer, or by ours for another API that
        //   shares the key, must not be replayable here; the verifier requires both to match.
        // - `exp`: a verify-only token cannot be recalled, so its short lifetime is its only
        //   revocation (15 minutes by default); the refresh token is what keeps a user logged in.
        // - `nbf` and `iat` = now: a verifier refuses a token from the future (beyond the
        //   leeway), which is either a badly skewed clock or a forgery with a far-future `exp`.
        // - `jti`: a unique id, the handle logout puts on the denylist.
        // - `fam` and `gen`: the refresh family (ended at logout) and the credential generation
        //   (bumped by a password change), checked by the denylist lookup.
        let claims = AccessClaims {
            iss: self.config.issuer.clone(),
            aud: self.config.audience.clone(),
            sub: user.id.clone(),
            name: user.username.clone(),
            exp: now.saturating_add(ttl),
            nbf: now,
            iat: now,
            jti: random_token(),
            fam: family.to_owned(),
            r#gen: generation,
        };
        Ok(TokenPair {
            access_token: self.keys.sign(&claims)?,
            token_type: BEARER_SCHEME.to_owned(),
            expires_in: ttl,
            refresh_token,
        })
    }

    /// Signature, algorithm, `iss`, `aud` and times: no I/O.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, AuthError> {
        self.verifier
            .verify(token, self.keys.as_ref())
            .map_err(AuthError::InvalidToken)
    }

    /// [`verify`](Self::verify) plus the denylist and generation lookup.
    pub async fn verify_and_check(&self, token: &str) -> Result<AccessClaims, AuthError> {
        // Signature first: a forged token must not cost a Redis round trip (or let anyone make
        // us query arbitrary keys).
        let claims = self.verify(token)?;
        // Then one `MGET` of two keys: `deny:{jti}` (this token was logged out) and `gen:{sub}`
        // (the user's current generation; older tokens were revoked by a password change). One
        // round trip, the price of a Redis session lookup: a revocable JWT is stateful again.
        // A Redis error is a 503 (`AuthError::StoreUnavailable`), never "not revoked": failing
        // open would let every logged-out token back in during an outage.
        if self
            .store
            .is_revoked(&claims.jti, &claims.sub, claims.r#gen)
            .await?
        {
            return Err(AuthError::InvalidToken(TokenRejection::Revoked));
        }
        Ok(claims)
    }

    /// Denylists the access token until its `exp` and ends its refresh family.
    pub async fn logout(&self, claims: &AccessClaims) -> Result<(), AuthError> {
        // The entry lives until the token would be refused anyway (`exp` plus the verifier's
        // leeway), so the denylist holds at most one access-token lifetime of logouts. The
        // access token is denied first: if ending the family then fails, the token the client
        // holds is already dead.
        let exp = claims.exp.saturating_add(self.config.leeway.as_secs());
        self.store.deny(&claims.jti, exp, self.clock.now()).await?;
        self.store.revoke_family(&claims.fam).await
    }
}

/// The token in `Authorization: Bearer <token>`.
pub fn bearer_token(req: &HttpRequest) -> Result<&str, AuthError> {
    let value = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(AuthError::MissingToken)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::MissingToken)?;
    if !scheme.eq_ignore_ascii_case(BEARER_SCHEME) || token.trim().is_empty() {
        return Err(AuthError::MissingToken);
    }
    Ok(token.trim())
}

/// Mounts `/jwt/{login,me,refresh,logout}`, `/jwt-plain/me` and the JWKS document.
pub fn configure(cfg: &mut web::ServiceConfig, service: Arc<JwtService>) {
    let data = web::Data::from(service);
    cfg.service(
        web::scope("/jwt")
            .app_data(data.clone())
            .service(endpoint("/login").post(login))
            .service(endpoint("/me").get(me))
            .service(endpoint("/refresh").post(refresh))
            .service(endpoint("/logout").post(logout)),
    )
    .service(
        web::scope("/jwt-plain")
            .app_data(data.clone())
            .service(endpoint("/me").get(me_plain)),
    )
    .service(endpoint(JWKS_PATH).app_data(data).get(jwks));
}

async fn login(
    body: Json<Credentials>,
    jwt: web::Data<JwtService>,
) -> Result<HttpResponse, AuthError> {
    let user = jwt.users.verify(&body.username, &body.password).await?;
    Ok(HttpResponse::Ok().json(jwt.login(&user).await?))
}

async fn me(req: HttpRequest, jwt: web::Data<JwtService>) -> Result<HttpResponse, AuthError> {
    let claims = jwt.verify_and_check(bearer_token(&req)?).await?;
    Ok(HttpResponse::Ok().json(me_from(claims, &req)))
}

async fn me_plain(req: HttpRequest, jwt: web::Data<JwtService>) -> Result<HttpResponse, AuthError> {
    let claims = jwt.verify(bearer_token(&req)?)?;
    Ok(HttpResponse::Ok().json(me_from(claims, &req)))
}

fn me_from(claims: AccessClaims, req: &HttpRequest) -> Me {
    Me {
        user: User {
            id: claims.sub,
            username: claims.name,
        },
        via: req.path().to_owned(),
    }
}

async fn refresh(
    body: Json<RefreshRequest>,
    jwt: web::Data<JwtService>,
) -> Result<HttpResponse, AuthError> {
    Ok(HttpResponse::Ok().json(jwt.refresh(&body.refresh_token).await?))
}

async fn logout(req: HttpRequest, jwt: web::Data<JwtService>) -> Result<HttpResponse, AuthError> {
    // Checked, not only verified: a token already logged out (or revoked by a password change)
    // is refused with 401 rather than "logged out" again.
    let claims = jwt.verify_and_check(bearer_token(&req)?).await?;
    jwt.logout(&claims).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn jwks(jwt: web::Data<JwtService>) -> Result<HttpResponse, AuthError> {
    Ok(HttpResponse::Ok()
        // Verifiers cache the set; a short max-age lets them see a rotation within minutes.
        .insert_header((CACHE_CONTROL, "public, max-age=300"))
        .json(jwt.keys.jwks()?))
}
