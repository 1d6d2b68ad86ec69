//! "Log in with the provider": the OAuth2 authorization code flow with PKCE, and OpenID
//! Connect on top, from the client's side.
//!
//! The fifth way in does not authenticate requests at all; it authenticates a *login*, once,
//! and ends in the session door (`session.rs`). The flow, and what each check defends:
//!
//! 1. `GET /oauth/login` makes three secrets and keeps them server-side, under a short-lived
//!    `HttpOnly` login cookie: **`state`** (binds the callback to this browser: without it an
//!    attacker can make the victim's browser complete the attacker's login, "login CSRF"), a
//!    **PKCE verifier** (only its S256 hash travels now; a stolen code is useless without it)
//!    and a **`nonce`** (must come back inside the `id_token`, so a token minted for another
//!    login cannot be replayed into this one). Then it redirects the browser to the provider's
//!    authorization endpoint, found in its discovery document.
//! 2. The user logs in *at the provider*; this service never sees their password.
//! 3. `GET /oauth/callback?code=…&state=…` checks `state` against the login cookie's record
//!    (missing or wrong: 400, and the attempt is over), checks `iss` when the provider sends
//!    it (RFC 9207, against mix-up between providers), then redeems the code at the token
//!    endpoint *server to server* with the verifier and the client secret.
//! 4. It verifies the `id_token`: signature with a key from the provider's JWKS (EdDSA or
//!    RS256, pinned per key, never `none`), `iss`, `aud` = this client, `exp`, `nonce`. Then it
//!    asks `/userinfo` for the profile with the access token (and checks its `sub` is the
//!    `id_token`'s, OIDC Core §5.3.2).
//! 5. It links `(iss, sub)` to a local account (`accounts.rs`: never by email), starts a
//!    session and redirects to `/session/me`.
//!
//! The `oauth2` crate builds the authorization URL and performs the code exchange; it is the
//! "standard client" the provider stand-in must satisfy, and talks HTTP through a small
//! adapter over this crate's `reqwest`. OpenID Connect's part (discovery, JWKS, `id_token`,
//! userinfo) is written out here because it is the lesson. Production would likely use the
//! `openidconnect` crate for it, refresh the JWKS on a schedule, and keep pending logins in the
//! session store rather than in process memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    StandardRevocableToken, StandardTokenResponse, TokenResponse as _, TokenUrl,
};
use serde::{Deserialize, Serialize};
use support::clock::{SharedClock, UnixSeconds};
use support::routing::endpoint;

use crate::accounts::Accounts;
use crate::error::AuthError;
use crate::oidc::{self, Discovery, ErrorCode, IdentityClaims};
use crate::pkce;
use crate::secrets;
use crate::session::Sessions;

pub const LOGIN_PATH: &str = "/oauth/login";
pub const CALLBACK_PATH: &str = "/oauth/callback";
/// Where a finished login lands: the session door's `me`.
pub const LANDING_PATH: &str = "/session/me";
/// The cookie that ties a callback to the browser that started the login. Scoped to `/oauth`,
/// so it travels only to the callback.
pub const LOGIN_COOKIE: &str = "oauth_login";
const LOGIN_COOKIE_PATH: &str = "/oauth";
/// A login must come back within this long.
pub const LOGIN_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// What the client asks for: who the user is, their username and their email.
pub const SCOPES: [&str; 3] = [oidc::OPENID, oidc::PROFILE, oidc::EMAIL];
/// Clock skew tolerated on `exp` when the provider is another machine.
pub const LEEWAY_SECS: UnixSeconds = 30;
/// The longest any back-channel request may take.
pub const BACK_CHANNEL_TIMEOUT: Duration = Duration::from_secs(10);
/// Logins in flight at most: each `GET /oauth/login` costs a row until its callback or its
/// expiry, so anyone could otherwise grow the table without bound. When full, the oldest goes.
pub const MAX_PENDING_LOGINS: usize = 10_000;
/// Back-channel calls kept for [`OAuthClient::back_channel`].
const BACK_CHANNEL_KEPT: usize = 32;
/// Fields whose values are secrets: shown in the back-channel record cut to a prefix.
const SECRET_FIELDS: [&str; 6] = [
    "access_token",
    "id_token",
    "refresh_token",
    "code",
    "code_verifier",
    "client_secret",
];
/// The signature algorithms accepted on an `id_token`: the stand-in signs EdDSA, most
/// certified providers (oidc-provider, Google) RS256. Never `none`, never an HMAC (which would
/// make the client secret a signing key).
pub const ID_TOKEN_ALGORITHMS: [Algorithm; 2] = [Algorithm::EdDSA, Algorithm::RS256];
/// The discovery document's path below the issuer (OpenID Connect Discovery §4).
pub const DISCOVERY_SUFFIX: &str = "/.well-known/openid-configuration";

/// Which provider the client logs in with, and as whom: the same client points at the local
/// stand-in or at any OpenID provider.
#[derive(Clone)]
pub struct ClientConfig {
    /// The issuer identifier; discovery is at `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    /// `None` for a public client (PKCE alone then protects the code).
    pub client_secret: Option<String>,
    /// This service's callback, exactly as registered at the provider.
    pub redirect_uri: String,
}

/// By hand, so the secret never reaches a log line.
impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("confidential", &self.client_secret.is_some())
            .field("redirect_uri", &self.redirect_uri)
            .finish()
    }
}

/// OpenID Connect's addition to the token response.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IdTokenField {
    #[serde(default)]
    pub id_token: Option<String>,
}

impl ExtraTokenFields for IdTokenField {}

type OidcTokenResponse = StandardTokenResponse<IdTokenField, BasicTokenType>;

/// `oauth2`'s client with the authorization and token endpoints set, and OIDC's token response.
type OidcClient = oauth2::Client<
    BasicErrorResponse,
    OidcTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// One login in flight, keyed by the login cookie's value.
#[derive(Debug, Clone)]
struct PendingLogin {
    state: String,
    verifier: String,
    nonce: String,
    /// The configuration the login started with, so a change mid-login cannot mix providers.
    config: ClientConfig,
    expires: UnixSeconds,
}

#[derive(Debug, Clone)]
struct ProviderMeta {
    issuer: String,
    discovery: Discovery,
    jwks: JwkSet,
}

/// One request the client made to the provider behind the browser's back, with secrets cut.
#[derive(Debug, Clone, Serialize)]
pub struct BackChannelCall {
    pub method: String,
    pub url: String,
    /// `Authorization`'s scheme only (`Basic …`, `Bearer …`), if one was sent.
    pub authorization: Option<String>,
    /// Form parameters sent, secret values cut.
    pub params: Vec<(String, String)>,
    pub status: u16,
    pub request_bytes: usize,
    pub response_bytes: usize,
    /// The response body, JSON secret values cut; other bodies shortened.
    pub response: String,
    pub elapsed: Duration,
}

/// Who the provider says logged in, after every check passed.
#[derive(Debug, Clone, Serialize)]
pub struct ExternalIdentity {
    pub issuer: String,
    pub subject: String,
    pub preferred_username: Option<String>,
    pub email: Option<String>,
    /// The verified `id_token`'s claims (no signature, nothing secret), for the demo to show.
    pub id_token_claims: serde_json::Value,
    pub id_token_algorithm: String,
}

/// The client. Cloning shares it.
#[derive(Debug, Clone)]
pub struct OAuthClient {
    http: reqwest::Client,
    clock: SharedClock,
    secure_cookie: bool,
    config: Arc<RwLock<Option<ClientConfig>>>,
    logins: Arc<RwLock<HashMap<String, PendingLogin>>>,
    meta: Arc<RwLock<Option<ProviderMeta>>>,
    calls: Arc<Mutex<Vec<BackChannelCall>>>,
    last_login: Arc<RwLock<Option<ExternalIdentity>>>,
}

/// Why a back-channel request failed, for `oauth2`'s `AsyncHttpClient`.
#[derive(Debug, thiserror::Error)]
pub enum BackChannelError {
    #[error("request to the provider failed")]
    Request(#[from] reqwest::Error),
    #[error("could not build the HTTP exchange")]
    Http(#[from] oauth2::http::Error),
}

impl OAuthClient {
    /// An unconfigured client; `secure_cookie` sets `Secure` on the login cookie.
    pub fn new(clock: SharedClock, secure_cookie: bool) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(BACK_CHANNEL_TIMEOUT)
            // RFC 6749 §5.1: a token endpoint answers directly; a redirect there is an attack
            // or a misconfiguration, and following it would send the code somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            http,
            clock,
            secure_cookie,
            config: Arc::default(),
            logins: Arc::default(),
            meta: Arc::default(),
            calls: Arc::default(),
            last_login: Arc::default(),
        })
    }

    /// Points the client at a provider (replacing any earlier choice).
    pub fn configure(&self, config: ClientConfig) -> anyhow::Result<()> {
        *self.config.write().map_err(|_| poisoned())? = Some(config);
        *self.meta.write().map_err(|_| poisoned())? = None;
        Ok(())
    }

    /// Points the client at `config` unless it already points somewhere: what `app::run` does
    /// with the local provider, so a test that configured another one first keeps it.
    pub fn configure_if_unset(&self, config: ClientConfig) -> anyhow::Result<()> {
        let mut current = self.config.write().map_err(|_| poisoned())?;
        if current.is_none() {
            *current = Some(config);
        }
        Ok(())
    }

    pub fn config(&self) -> Option<ClientConfig> {
        self.config.read().ok().and_then(|c| c.clone())
    }

    /// The back-channel requests made so far (the most recent [`BACK_CHANNEL_KEPT`]).
    pub fn back_channel(&self) -> Vec<BackChannelCall> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    pub fn clear_back_channel(&self) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.clear();
        }
    }

    /// The identity of the last successful login.
    pub fn last_login(&self) -> Option<ExternalIdentity> {
        self.last_login.read().ok().and_then(|l| l.clone())
    }

    /// Logins started and not yet called back.
    pub fn pending_logins(&self) -> usize {
        self.logins.read().map_or(0, |l| l.len())
    }

    /// The login cookie for `id` (an empty `id` and `remove` make the removal cookie).
    fn login_cookie(&self, id: &str, remove: bool) -> Cookie<'static> {
        let mut cookie = Cookie::build(LOGIN_COOKIE, id.to_owned())
            .http_only(true)
            // Lax, not Strict: the callback is a top-level GET navigation *from the provider's
            // site*, which Strict would send without the cookie.
            .same_site(SameSite::Lax)
            .secure(self.secure_cookie)
            .path(LOGIN_COOKIE_PATH)
            .max_age(actix_web::cookie::time::Duration::seconds(
                LOGIN_LIFETIME.as_secs() as i64,
            ))
            .finish();
        if remove {
            cookie.make_removal();
        }
        cookie
    }

    /// Step 1: the pending login's id (for the cookie) and the authorization URL.
    pub async fn begin(&self) -> Result<(String, String), AuthError> {
        let config = self.config().ok_or_else(|| {
            AuthError::ProviderUnavailable(anyhow::anyhow!("no identity provider is configured"))
        })?;
        let meta = self.meta(&config, false).await?;
        let client = oauth_client(&config, &meta.discovery)?;
        let verifier = PkceCodeVerifier::new(pkce::new_verifier()?);
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&verifier);
        let state = secrets::random_token()?;
        let nonce = secrets::random_token()?;
        let (url, _) = client
            .authorize_url(|| CsrfToken::new(state.clone()))
            .add_scopes(SCOPES.iter().map(|s| Scope::new((*s).to_owned())))
            .set_pkce_challenge(challenge)
            .add_extra_param(oidc::param::NONCE, nonce.clone())
            .url();
        let id = secrets::random_token()?;
        let now = self.clock.now();
        let mut logins = self.logins.write().map_err(|_| poisoned())?;
        logins.retain(|_, l| l.expires > now);
        if logins.len() >= MAX_PENDING_LOGINS
            && let Some(oldest) = logins
                .iter()
                .min_by_key(|(_, l)| l.expires)
                .map(|(id, _)| id.clone())
        {
            logins.remove(&oldest);
        }
        logins.insert(
            id.clone(),
            PendingLogin {
                state,
                verifier: verifier.into_secret(),
                nonce,
                config,
                expires: now + LOGIN_LIFETIME.as_secs(),
            },
        );
        Ok((id, url.into()))
    }

    /// Steps 3 and 4: the callback's parameters checked against the pending login `login_id`,
    /// the code redeemed, the `id_token` and userinfo verified.
    pub async fn finish(
        &self,
        login_id: Option<&str>,
        callback: &CallbackParams,
    ) -> Result<ExternalIdentity, AuthError> {
        let refused = |error: &'static str, detail: &str| AuthError::OAuthCallback {
            error,
            detail: detail.to_owned(),
        };
        let invalid_request = ErrorCode::InvalidRequest.as_str();
        // The callback ends the attempt it names, whatever it carries: one callback per login.
        let pending = login_id
            .and_then(|id| self.logins.write().ok()?.remove(id))
            .ok_or_else(|| {
                refused(
                    invalid_request,
                    "No login is in progress in this browser (the login cookie is missing or unknown).",
                )
            })?;
        if self.clock.now() >= pending.expires {
            return Err(refused(
                invalid_request,
                "The login took too long; start again.",
            ));
        }
        let state_matches = callback
            .state
            .as_deref()
            .is_some_and(|s| secrets::same(s.as_bytes(), pending.state.as_bytes()));
        if !state_matches {
            return Err(refused(
                invalid_request,
                "The state parameter is missing or does not match the login this browser started.",
            ));
        }
        let config = &pending.config;
        if let Some(iss) = &callback.iss
            && *iss != config.issuer
        {
            return Err(refused(
                invalid_request,
                "The callback names another issuer than the provider this login went to.",
            ));
        }
        if let Some(error) = &callback.error {
            let code = ErrorCode::parse(error).unwrap_or(ErrorCode::ServerError);
            let description: String = callback
                .error_description
                .as_deref()
                .unwrap_or("no description")
                .chars()
                .take(200)
                .collect();
            return Err(refused(
                code.as_str(),
                &format!("The provider refused the login: {description}."),
            ));
        }
        let code = callback
            .code
            .clone()
            .ok_or_else(|| refused(invalid_request, "The callback carries no code."))?;

        let meta = self.meta(config, false).await?;
        let client = oauth_client(config, &meta.discovery)?;
        let http_client = |request| self.send(request);
        let answer = client
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
            .request_async(&http_client)
            .await
            .map_err(|err| match err {
                RequestTokenError::ServerResponse(body) => {
                    let code =
                        ErrorCode::parse(body.error().as_ref()).unwrap_or(ErrorCode::ServerError);
                    login_refused(
                        code.as_str(),
                        format!(
                            "The provider refused the code: {}.",
                            body.error_description()
                                .map_or("no description", String::as_str)
                        ),
                    )
                }
                other => AuthError::ProviderUnavailable(anyhow::anyhow!("token endpoint: {other}")),
            })?;
        let id_token = answer
            .extra_fields()
            .id_token
            .clone()
            .ok_or_else(|| invalid_grant("The token response carries no id_token."))?;
        let (claims, algorithm) = self.verify_id_token(&id_token, config, &pending).await?;

        let mut identity = ExternalIdentity {
            issuer: claims.iss.clone(),
            subject: claims.sub.clone(),
            preferred_username: claims.preferred_username.clone(),
            email: claims.email.clone(),
            id_token_claims: claims.raw.clone(),
            id_token_algorithm: format!("{algorithm:?}"),
        };
        if let Some(userinfo) = &meta.discovery.userinfo_endpoint {
            let info = self
                .userinfo(userinfo, answer.access_token().secret())
                .await?;
            if info.sub != identity.subject {
                return Err(invalid_grant(
                    "userinfo names another subject than the id_token.",
                ));
            }
            identity.preferred_username = info.preferred_username.or(identity.preferred_username);
            identity.email = info.email.or(identity.email);
        }
        if let Ok(mut last) = self.last_login.write() {
            *last = Some(identity.clone());
        }
        Ok(identity)
    }

    /// The `id_token` checked as OIDC Core §3.1.3.7 asks (the steps that apply to a
    /// confidential client on the code flow).
    async fn verify_id_token(
        &self,
        token: &str,
        config: &ClientConfig,
        pending: &PendingLogin,
    ) -> Result<(IdClaims, Algorithm), AuthError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| invalid_grant("The id_token is not a JWS."))?;
        if !ID_TOKEN_ALGORITHMS.contains(&header.alg) {
            return Err(invalid_grant(
                "The id_token is signed with an algorithm this client does not accept.",
            ));
        }
        let meta = self.meta(config, false).await?;
        // An unknown kid may mean the provider rotated its keys: fetch the JWKS once more.
        let meta = match find_key(&meta.jwks, header.kid.as_deref(), header.alg) {
            Some(_) => meta,
            None => self.meta(config, true).await?,
        };
        let jwk = find_key(&meta.jwks, header.kid.as_deref(), header.alg).ok_or_else(|| {
            invalid_grant("The id_token's signing key is not in the provider's JWKS.")
        })?;
        let key = DecodingKey::from_jwk(jwk)
            .map_err(|_| invalid_grant("The provider's JWKS holds an unusable key."))?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.client_id]);
        validation.set_required_spec_claims(&["iss", "sub", "aud", "exp", "iat"]);
        // `exp` is checked below against the injected clock.
        validation.validate_exp = false;
        let data =
            jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation).map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                invalid_grant(match e.kind() {
                    ErrorKind::InvalidSignature => "The id_token's signature does not verify.",
                    ErrorKind::InvalidIssuer => "The id_token was issued by another issuer.",
                    ErrorKind::InvalidAudience => "The id_token's aud is not this client.",
                    ErrorKind::MissingRequiredClaim(_) => "The id_token lacks a required claim.",
                    _ => "The id_token is malformed.",
                })
            })?;
        let claims: IdClaims = IdClaims::from_raw(data.claims)
            .ok_or_else(|| invalid_grant("The id_token's claims are malformed."))?;
        if self.clock.now() >= claims.exp + LEEWAY_SECS {
            return Err(invalid_grant("The id_token has expired."));
        }
        // OIDC Core §3.1.3.7 (4, 5): with several audiences, `azp` must be this client.
        if let Some(azp) = &claims.azp
            && *azp != config.client_id
        {
            return Err(invalid_grant("The id_token's azp is not this client."));
        }
        let nonce_matches = claims
            .nonce
            .as_deref()
            .is_some_and(|n| secrets::same(n.as_bytes(), pending.nonce.as_bytes()));
        if !nonce_matches {
            return Err(invalid_grant(
                "The id_token's nonce is not the one this login sent: it was minted for another login.",
            ));
        }
        Ok((claims, header.alg))
    }

    async fn userinfo(&self, url: &str, access_token: &str) -> Result<IdentityClaims, AuthError> {
        let started = Instant::now();
        let response = self
            .http
            .get(url)
            .bearer_auth(access_token)
            .send()
            .await
            .map_err(|e| AuthError::ProviderUnavailable(anyhow::anyhow!("userinfo: {e}")))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| AuthError::ProviderUnavailable(anyhow::anyhow!("userinfo: {e}")))?;
        self.record(BackChannelCall {
            method: "GET".to_owned(),
            url: url.to_owned(),
            authorization: Some("Bearer …".to_owned()),
            params: Vec::new(),
            status: status.as_u16(),
            request_bytes: 0,
            response_bytes: body.len(),
            response: redact_body(&body),
            elapsed: started.elapsed(),
        });
        if !status.is_success() {
            return Err(invalid_grant(
                "The provider's userinfo refused the access token.",
            ));
        }
        serde_json::from_slice(&body).map_err(|e| {
            AuthError::ProviderUnavailable(anyhow::anyhow!("userinfo answered nonsense: {e}"))
        })
    }

    /// The provider's discovery document and JWKS, fetched once per configuration (and again
    /// when `refresh_keys`).
    async fn meta(
        &self,
        config: &ClientConfig,
        refresh_keys: bool,
    ) -> Result<ProviderMeta, AuthError> {
        let cached = self.meta.read().ok().and_then(|m| m.clone());
        let discovery = match cached {
            Some(meta) if meta.issuer == config.issuer && !refresh_keys => return Ok(meta),
            Some(meta) if meta.issuer == config.issuer => meta.discovery,
            _ => {
                let url = format!("{}{DISCOVERY_SUFFIX}", config.issuer.trim_end_matches('/'));
                let discovery: Discovery = self.get_json(&url).await?;
                // OpenID Connect Discovery §4.3: the document must name the issuer it was
                // fetched for, or an attacker's document could redirect every endpoint.
                if discovery.issuer != config.issuer {
                    return Err(AuthError::ProviderUnavailable(anyhow::anyhow!(
                        "discovery names issuer {}, expected {}",
                        discovery.issuer,
                        config.issuer
                    )));
                }
                discovery
            }
        };
        let jwks: JwkSet = self.get_json(&discovery.jwks_uri).await?;
        let meta = ProviderMeta {
            issuer: config.issuer.clone(),
            discovery,
            jwks,
        };
        if let Ok(mut cached) = self.meta.write() {
            *cached = Some(meta.clone());
        }
        Ok(meta)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, AuthError> {
        let unavailable = |e: &dyn std::fmt::Display| {
            AuthError::ProviderUnavailable(anyhow::anyhow!("GET {url}: {e}"))
        };
        let started = Instant::now();
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| unavailable(&e))?;
        self.record(BackChannelCall {
            method: "GET".to_owned(),
            url: url.to_owned(),
            authorization: None,
            params: Vec::new(),
            status: status.as_u16(),
            request_bytes: 0,
            response_bytes: body.len(),
            response: redact_body(&body),
            elapsed: started.elapsed(),
        });
        if !status.is_success() {
            return Err(unavailable(&status));
        }
        serde_json::from_slice(&body).map_err(|e| unavailable(&e))
    }

    /// `oauth2`'s HTTP client: one request over reqwest 0.13, recorded.
    async fn send(
        &self,
        request: oauth2::HttpRequest,
    ) -> Result<oauth2::HttpResponse, BackChannelError> {
        let started = Instant::now();
        let method = request.method().to_string();
        let url = request.uri().to_string();
        let authorization = request
            .headers()
            .get(header::AUTHORIZATION.as_str())
            .and_then(|v| v.to_str().ok())
            .map(|v| format!("{} …", v.split(' ').next().unwrap_or_default()));
        let params = redact_form(request.body());
        let request_bytes = request.body().len();
        let response = self
            .http
            .execute(reqwest::Request::try_from(request)?)
            .await?;
        let mut answer = oauth2::http::Response::builder().status(response.status().as_u16());
        for (name, value) in response.headers() {
            answer = answer.header(name.as_str(), value.as_bytes());
        }
        let status = response.status().as_u16();
        let body = response.bytes().await?.to_vec();
        self.record(BackChannelCall {
            method,
            url,
            authorization,
            params,
            status,
            request_bytes,
            response_bytes: body.len(),
            response: redact_body(&body),
            elapsed: started.elapsed(),
        });
        Ok(answer.body(body)?)
    }

    fn record(&self, call: BackChannelCall) {
        if let Ok(mut calls) = self.calls.lock() {
            if calls.len() >= BACK_CHANNEL_KEPT {
                calls.remove(0);
            }
            calls.push(call);
        }
    }
}

/// The `id_token` claims the client reads, and all of them as they came.
#[derive(Debug, Clone)]
struct IdClaims {
    iss: String,
    sub: String,
    exp: UnixSeconds,
    nonce: Option<String>,
    azp: Option<String>,
    preferred_username: Option<String>,
    email: Option<String>,
    raw: serde_json::Value,
}

impl IdClaims {
    fn from_raw(raw: serde_json::Value) -> Option<Self> {
        let text = |name: &str| raw.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        Some(Self {
            iss: text("iss")?,
            sub: text("sub")?,
            exp: raw.get("exp")?.as_u64()?,
            nonce: text("nonce"),
            azp: text("azp"),
            preferred_username: text("preferred_username"),
            email: text("email"),
            raw,
        })
    }
}

/// The key `kid` names in `jwks`, if its type fits `alg` (an RSA key for RS256, an OKP key
/// for EdDSA): the algorithm is pinned per key, never taken from the token alone. Without a
/// `kid`, a JWKS of exactly one fitting key is used.
fn find_key<'j>(
    jwks: &'j JwkSet,
    kid: Option<&str>,
    alg: Algorithm,
) -> Option<&'j jsonwebtoken::jwk::Jwk> {
    let fits = |jwk: &jsonwebtoken::jwk::Jwk| {
        matches!(
            (&jwk.algorithm, alg),
            (AlgorithmParameters::RSA(_), Algorithm::RS256)
                | (AlgorithmParameters::OctetKeyPair(_), Algorithm::EdDSA)
        )
    };
    match kid {
        Some(kid) => jwks.find(kid).filter(|k| fits(k)),
        None => {
            let mut fitting = jwks.keys.iter().filter(|k| fits(k));
            match (fitting.next(), fitting.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            }
        }
    }
}

fn oauth_client(config: &ClientConfig, discovery: &Discovery) -> Result<OidcClient, AuthError> {
    let bad = |what: &str, e: oauth2::url::ParseError| {
        AuthError::ProviderUnavailable(anyhow::anyhow!("{what} is not a URL: {e}"))
    };
    let mut client = oauth2::Client::new(ClientId::new(config.client_id.clone()))
        .set_auth_uri(
            AuthUrl::new(discovery.authorization_endpoint.clone())
                .map_err(|e| bad("authorization_endpoint", e))?,
        )
        .set_token_uri(
            TokenUrl::new(discovery.token_endpoint.clone())
                .map_err(|e| bad("token_endpoint", e))?,
        )
        .set_redirect_uri(
            RedirectUrl::new(config.redirect_uri.clone()).map_err(|e| bad("redirect_uri", e))?,
        );
    if let Some(secret) = &config.client_secret {
        // oauth2 then authenticates with client_secret_basic, RFC 6749's recommended method.
        client = client.set_client_secret(ClientSecret::new(secret.clone()));
    }
    Ok(client)
}

fn invalid_grant(detail: &str) -> AuthError {
    login_refused(ErrorCode::InvalidGrant.as_str(), detail.to_owned())
}

fn login_refused(error: &'static str, detail: String) -> AuthError {
    AuthError::OAuthLogin { error, detail }
}

fn poisoned() -> anyhow::Error {
    anyhow::anyhow!("OAuth client lock poisoned")
}

/// A secret cut to its first characters: enough to follow it through a transcript.
pub fn cut_secret(value: &str) -> String {
    let shown: String = value.chars().take(8).collect();
    if shown.len() < value.len() {
        format!("{shown}…")
    } else {
        shown
    }
}

fn redact_form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body)
        .map(|(name, value)| {
            let value = if SECRET_FIELDS.contains(&name.as_ref()) {
                cut_secret(&value)
            } else {
                value.into_owned()
            };
            (name.into_owned(), value)
        })
        .collect()
}

fn redact_body(body: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(mut fields)) => {
            for (name, value) in fields.iter_mut() {
                if let (true, Some(text)) = (SECRET_FIELDS.contains(&name.as_str()), value.as_str())
                {
                    *value = serde_json::Value::String(cut_secret(text));
                }
            }
            serde_json::Value::Object(fields).to_string()
        }
        _ => support::transcript::shorten(&String::from_utf8_lossy(body)),
    }
}

/// The callback's query (RFC 6749 §4.1.2 and §4.1.2.1, RFC 9207's `iss`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    pub iss: Option<String>,
}

/// `GET /oauth/login`: starts a login and sends the browser to the provider.
pub async fn login(client: web::Data<OAuthClient>) -> Result<HttpResponse, AuthError> {
    let (id, url) = client.begin().await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, url))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(client.login_cookie(&id, false))
        .finish())
}

/// `GET /oauth/callback`: finishes the login, links the identity, starts a session.
pub async fn callback(
    req: HttpRequest,
    query: web::Query<CallbackParams>,
    client: web::Data<OAuthClient>,
    accounts: web::Data<Accounts>,
    sessions: web::Data<Sessions>,
) -> Result<HttpResponse, AuthError> {
    let login_id = req.cookie(LOGIN_COOKIE).map(|c| c.value().to_owned());
    let identity = client.finish(login_id.as_deref(), &query).await?;
    let preferred = identity
        .preferred_username
        .clone()
        .or_else(|| {
            identity
                .email
                .as_deref()
                .and_then(|e| e.split('@').next())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let account = accounts.link_external(&identity.issuer, &identity.subject, &preferred)?;
    if account.disabled {
        return Err(login_refused(
            ErrorCode::AccessDenied.as_str(),
            "The local account linked to this identity is disabled.".to_owned(),
        ));
    }
    let session = sessions.create(account.id)?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, LANDING_PATH))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .cookie(sessions.cookie(&session.id))
        .cookie(client.login_cookie("", true))
        .finish())
}

/// Mounts `/oauth/login` and `/oauth/callback`. Needs `web::Data` of [`OAuthClient`],
/// `Accounts` and `Sessions`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(endpoint(LOGIN_PATH).get(login))
        .service(endpoint(CALLBACK_PATH).get(callback));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_a_form_or_a_json_body_are_cut() {
        let form = redact_form(b"grant_type=authorization_code&code=abcdefghijklmnop");
        assert_eq!(form[0].1, "authorization_code");
        assert_eq!(form[1].1, "abcdefgh…");
        let body = redact_body(br#"{"access_token":"0123456789abcdef","token_type":"Bearer"}"#);
        assert!(body.contains("01234567…"), "{body}");
        assert!(!body.contains("0123456789abcdef"), "{body}");
        assert!(body.contains("Bearer"), "{body}");
    }
}
