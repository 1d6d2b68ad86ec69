//! The identity provider the OAuth2 login talks to: a small OpenID provider mounted under
//! `/provider` in the same server, standing in for Google or GitHub.
//!
//! "Log in with Google" needs somebody else's server; a lesson that runs offline cannot have
//! one, so this file is that server, written to the same specs a real one follows, so that a
//! standard client works against it unchanged (`oauth_client.rs` uses the `oauth2` crate; the
//! interop test runs the same client against the certified `oidc-provider`):
//!
//! | route under `/provider` | spec | what it does |
//! |---|---|---|
//! | `GET /.well-known/openid-configuration` | OpenID Connect Discovery 1.0 | where everything else is, and what is supported |
//! | `GET /authorize` | RFC 6749 §4.1.1, RFC 7636, OIDC Core §3.1.2 | checks client and `redirect_uri`, then shows the login form |
//! | `POST /login` | (the provider's own business) | checks the provider user's password, redirects back with `code` + `state` |
//! | `POST /token` | RFC 6749 §4.1.3, §5; RFC 7636 §4.6 | redeems a code once, for its client, with the PKCE verifier |
//! | `GET /jwks` | RFC 7517 | the public key that verifies `id_token`s |
//! | `GET`/`POST /userinfo` | OIDC Core §5.3, RFC 6750 | the user's claims, for a Bearer access token |
//!
//! The rules that make the code flow safe, each enforced here and each with a failure test:
//! - **Never redirect to an unregistered URI.** An unknown `client_id` or a `redirect_uri` that is
//!   not one of the client's registered ones, compared as exact strings, gets an error *page*
//!   (RFC 6749 §4.1.2.1): redirecting there would hand the code, or at least the user, to
//!   whoever wrote the link. Every later error is redirected back with `error=`.
//! - **A code is short-lived, single-use and bound** to the client it was issued to, the
//!   `redirect_uri` it was sent to and the PKCE challenge that came with it. Presented again, it
//!   is refused and everything issued with it is revoked (RFC 6749 §4.1.2): a second
//!   presentation means someone else has it, and the first redeemer may be the thief.
//! - **PKCE S256 is required** from every client, confidential or not (OAuth 2.1 and RFC 9700
//!   recommend it for all): `plain` would put the verifier itself in the front channel.
//! - **The `id_token` is signed** with EdDSA (`signing_key.rs`), names the client as `aud`, and
//!   carries the client's `nonce`, so the client can tell it was minted for this very login.
//!
//! Errors on `/token` are RFC 6749 §5.2 JSON (`{"error":"invalid_grant",...}`), not this crate's
//! problem+json: the format is fixed by the spec, and a standard client parses exactly that.
//!
//! What a production provider adds, and this one leaves out: its own login session (a second
//! visit skips the password), a consent screen remembered per client, login throttling and MFA,
//! refresh tokens, key rotation (the `kid` is there for it), persistence, dynamic client
//! registration and logout. [`IdTokenFault`] exists only so the tests can make the provider
//! lie; a real one has no such switch.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use support::clock::{SharedClock, UnixSeconds};
use support::html::escape;
use support::routing::endpoint;
use url::Url;

use crate::oidc::{
    Discovery, EMAIL, ErrorBody, ErrorCode, IdTokenClaims, IdentityClaims, OPENID, PROFILE,
    TokenResponse, param,
};
use crate::passwords::Passwords;
use crate::pkce;
use crate::secrets;
use crate::signing_key::SigningKey;

/// Where the provider is mounted; its issuer is the server's base URL plus this.
pub const MOUNT: &str = "/provider";
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
pub const AUTHORIZE_PATH: &str = "/authorize";
pub const LOGIN_PATH: &str = "/login";
pub const TOKEN_PATH: &str = "/token";
pub const JWKS_PATH: &str = "/jwks";
pub const USERINFO_PATH: &str = "/userinfo";

/// An authorization code is good for this long: RFC 6749 §4.1.2 recommends at most 10 minutes;
/// a real client redeems it within a second of the redirect.
pub const CODE_LIFETIME: Duration = Duration::from_secs(60);
/// Login forms pending at most (each `/authorize` costs a row until it expires); when full,
/// the oldest goes, so nobody can grow the table without bound.
pub const MAX_INTERACTIONS: usize = 10_000;
/// How long the login form stays valid after `/authorize` showed it.
pub const INTERACTION_LIFETIME: Duration = Duration::from_secs(10 * 60);
pub const ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(10 * 60);
pub const ID_TOKEN_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// The client this crate's own `/oauth/login` is registered as.
pub const LOCAL_CLIENT_ID: &str = "documents-web";

const KNOWN_SCOPES: [&str; 3] = [OPENID, PROFILE, EMAIL];

const RESPONSE_TYPE_CODE: &str = "code";
const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
/// The realm of the `WWW-Authenticate` challenge on `invalid_client`.
const TOKEN_REALM: &str = "provider";

/// The provider's own users (not the service's accounts: a user at Google is not a user of
/// your app until they log in): username, password, subject, email. `arthur` is also the name
/// of a local account, on purpose: logging in as the provider's arthur must not become the
/// local arthur (`accounts.rs` links by `(iss, sub)`, never by name or email).
pub const PROVIDER_USERS: [(&str, &str, &str, &str); 2] = [
    (
        "grace",
        "grace's provider passphrase",
        "248289761001",
        "grace@provider.test",
    ),
    (
        "arthur",
        "arthur's provider passphrase",
        "248289761002",
        "arthur@provider.test",
    ),
];

/// Everything the provider's endpoints refuse with.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// 400 with an RFC 6749 §5.2 JSON body; `invalid_client` is 401 with a `Basic` challenge.
    #[error("{}: {description}", code.as_str())]
    Token {
        code: ErrorCode,
        description: &'static str,
    },
    /// 401 with `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 §3): `/userinfo`
    /// without a live access token.
    #[error("userinfo refused: {0}")]
    Userinfo(&'static str),
    /// An HTML error page for the person at the browser (400), where redirecting back is not
    /// safe (unknown client, unregistered `redirect_uri`) or no longer possible (an expired form).
    #[error("{message}")]
    Page {
        status: StatusCode,
        message: &'static str,
    },
    /// 500 `server_error`. The cause is logged, never sent.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

fn token_error(code: ErrorCode, description: &'static str) -> ProviderError {
    ProviderError::Token { code, description }
}

fn page_error(message: &'static str) -> ProviderError {
    ProviderError::Page {
        status: StatusCode::BAD_REQUEST,
        message,
    }
}

impl ResponseError for ProviderError {
    fn status_code(&self) -> StatusCode {
        match self {
            ProviderError::Token {
                code: ErrorCode::InvalidClient,
                ..
            }
            | ProviderError::Userinfo(_) => StatusCode::UNAUTHORIZED,
            ProviderError::Token { .. } => StatusCode::BAD_REQUEST,
            ProviderError::Page { status, .. } => *status,
            ProviderError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let mut response = HttpResponse::build(status);
        // RFC 6749 §5.1/§5.2: nothing from the token endpoint may be cached.
        response
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"));
        match self {
            ProviderError::Token { code, description } => {
                tracing::debug!(error = code.as_str(), "{description}");
                if *code == ErrorCode::InvalidClient {
                    response.insert_header((
                        header::WWW_AUTHENTICATE,
                        format!("Basic realm=\"{TOKEN_REALM}\""),
                    ));
                }
                response.json(ErrorBody {
                    error: code.as_str().to_owned(),
                    error_description: Some((*description).to_owned()),
                })
            }
            ProviderError::Userinfo(why) => response
                .insert_header((
                    header::WWW_AUTHENTICATE,
                    format!(
                        "Bearer realm=\"{TOKEN_REALM}\", error=\"invalid_token\", error_description=\"{why}\""
                    ),
                ))
                .json(ErrorBody {
                    error: ErrorCode::InvalidToken.as_str().to_owned(),
                    error_description: Some((*why).to_owned()),
                }),
            ProviderError::Page { message, .. } => response
                .content_type(ContentType::html())
                .body(page("Sign-in failed", &format!("<p>{}</p>", escape(message)))),
            ProviderError::Unexpected(cause) => {
                tracing::error!(error = ?cause, "provider failure");
                response.json(ErrorBody {
                    error: ErrorCode::ServerError.as_str().to_owned(),
                    error_description: None,
                })
            }
        }
    }
}

/// Which lie the provider tells in its next `id_token`s (tests and the demo only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdTokenFault {
    /// A `nonce` other than the one the client sent: a replayed token from another login.
    WrongNonce,
    /// `aud` names another client: a token minted for someone else's app.
    WrongAudience,
    /// Signed by a key that is not in the JWKS (with the published key's `kid`): a forgery.
    ForeignSignature,
}

/// A client registration: who may ask for codes, and where codes may be sent.
#[derive(Clone)]
pub struct ClientRegistration {
    pub client_id: String,
    /// `None` for a public client (a SPA or mobile app, which cannot keep a secret): it
    /// authenticates with `client_id` alone and PKCE proves the rest.
    pub client_secret: Option<String>,
    /// Compared with the request's `redirect_uri` as exact strings (no prefix or pattern
    /// matching, which is how open redirectors get in).
    pub redirect_uris: Vec<String>,
}

/// By hand, so the secret never reaches a log line.
impl std::fmt::Debug for ClientRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRegistration")
            .field("client_id", &self.client_id)
            .field("confidential", &self.client_secret.is_some())
            .field("redirect_uris", &self.redirect_uris)
            .finish()
    }
}

#[derive(Debug, Clone)]
struct Client {
    /// SHA-256 of the secret: the provider checks it, never needs to show it again.
    secret_digest: Option<[u8; 32]>,
    redirect_uris: Vec<String>,
}

#[derive(Debug, Clone)]
struct User {
    username: &'static str,
    phc: String,
    sub: &'static str,
    email: &'static str,
}

/// An authorization request that passed every check, waiting for the user to log in.
#[derive(Debug, Clone)]
struct AuthorizationRequest {
    client_id: String,
    redirect_uri: String,
    scopes: Vec<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: String,
}

#[derive(Debug, Clone)]
struct Interaction {
    request: AuthorizationRequest,
    expires: UnixSeconds,
}

#[derive(Debug, Clone)]
struct CodeGrant {
    request: AuthorizationRequest,
    sub: &'static str,
    auth_time: UnixSeconds,
    expires: UnixSeconds,
    redeemed: bool,
    /// Digests of the access tokens this code was exchanged for, revoked if it comes back.
    issued: Vec<[u8; 32]>,
}

#[derive(Debug, Clone)]
struct AccessGrant {
    sub: &'static str,
    scopes: Vec<String>,
    expires: UnixSeconds,
    revoked: bool,
}

#[derive(Debug, Default)]
struct Tables {
    clients: HashMap<String, Client>,
    interactions: HashMap<String, Interaction>,
    /// Keyed by the code's digest: a leaked table does not leak redeemable codes.
    codes: HashMap<[u8; 32], CodeGrant>,
    tokens: HashMap<[u8; 32], AccessGrant>,
}

struct Inner {
    clock: SharedClock,
    passwords: Passwords,
    key: SigningKey,
    users: Vec<User>,
    /// The local client's secret, made at start-up, so `oauth_client` can be configured with it.
    local_secret: String,
    /// Known once the server is bound ([`Provider::bind`]).
    issuer: RwLock<String>,
    fault: RwLock<Option<IdTokenFault>>,
    tables: RwLock<Tables>,
}

/// The provider. Cloning shares it.
#[derive(Clone)]
pub struct Provider {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.issuer())
            .field("key", &self.inner.key)
            .finish_non_exhaustive()
    }
}

/// `http://ADDR` for a bound address; an unspecified address (`0.0.0.0`) becomes loopback,
/// since a browser cannot be sent to `0.0.0.0`.
pub fn base_url(addr: SocketAddr) -> String {
    let ip = if addr.ip().is_unspecified() {
        std::net::Ipv4Addr::LOCALHOST.into()
    } else {
        addr.ip()
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

impl Provider {
    /// A provider with [`PROVIDER_USERS`] (hashed at `passwords`' cost) and the local client
    /// registered without redirect URIs (added by [`Provider::bind`]).
    pub async fn new(clock: SharedClock, passwords: Passwords) -> anyhow::Result<Self> {
        let mut users = Vec::new();
        for (username, password, sub, email) in PROVIDER_USERS {
            users.push(User {
                username,
                phc: passwords.hash(password).await?,
                sub,
                email,
            });
        }
        let provider = Self {
            inner: Arc::new(Inner {
                clock,
                passwords,
                key: SigningKey::generate()?,
                users,
                local_secret: secrets::random_token()?,
                issuer: RwLock::new(String::new()),
                fault: RwLock::new(None),
                tables: RwLock::default(),
            }),
        };
        provider.register(ClientRegistration {
            client_id: LOCAL_CLIENT_ID.to_owned(),
            client_secret: Some(provider.inner.local_secret.clone()),
            redirect_uris: Vec::new(),
        })?;
        Ok(provider)
    }

    /// Sets the issuer from the server's base URL and registers `local_redirect_uri` for the
    /// local client; returns that client's registration (with its secret).
    pub fn bind(
        &self,
        base_url: &str,
        local_redirect_uri: &str,
    ) -> anyhow::Result<ClientRegistration> {
        *self
            .inner
            .issuer
            .write()
            .map_err(|_| anyhow::anyhow!("issuer lock poisoned"))? = format!("{base_url}{MOUNT}");
        let local = ClientRegistration {
            client_id: LOCAL_CLIENT_ID.to_owned(),
            client_secret: Some(self.inner.local_secret.clone()),
            redirect_uris: vec![local_redirect_uri.to_owned()],
        };
        self.register(local.clone())?;
        Ok(local)
    }

    /// The issuer identifier (`http://127.0.0.1:PORT/provider`), empty before [`Provider::bind`].
    pub fn issuer(&self) -> String {
        self.inner
            .issuer
            .read()
            .map(|i| i.clone())
            .unwrap_or_default()
    }

    /// Registers (or replaces) a client.
    pub fn register(&self, client: ClientRegistration) -> anyhow::Result<()> {
        self.tables()?.clients.insert(
            client.client_id,
            Client {
                secret_digest: client.client_secret.as_deref().map(secrets::digest),
                redirect_uris: client.redirect_uris,
            },
        );
        Ok(())
    }

    /// Makes the next `id_token`s lie (or, with `None`, tell the truth again).
    pub fn misbehave(&self, fault: Option<IdTokenFault>) -> anyhow::Result<()> {
        *self
            .inner
            .fault
            .write()
            .map_err(|_| anyhow::anyhow!("fault lock poisoned"))? = fault;
        Ok(())
    }

    /// Access tokens issued and not revoked (revoked ones are kept until they expire).
    pub fn live_access_tokens(&self) -> usize {
        self.inner
            .tables
            .read()
            .map_or(0, |t| t.tokens.values().filter(|g| !g.revoked).count())
    }

    /// The discovery document.
    pub fn discovery(&self) -> Discovery {
        let issuer = self.issuer();
        Discovery {
            authorization_endpoint: format!("{issuer}{AUTHORIZE_PATH}"),
            token_endpoint: format!("{issuer}{TOKEN_PATH}"),
            jwks_uri: format!("{issuer}{JWKS_PATH}"),
            userinfo_endpoint: Some(format!("{issuer}{USERINFO_PATH}")),
            response_types_supported: vec![RESPONSE_TYPE_CODE.to_owned()],
            grant_types_supported: vec![GRANT_AUTHORIZATION_CODE.to_owned()],
            subject_types_supported: vec!["public".to_owned()],
            id_token_signing_alg_values_supported: vec!["EdDSA".to_owned()],
            scopes_supported: KNOWN_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            token_endpoint_auth_methods_supported: vec![
                "client_secret_basic".to_owned(),
                "client_secret_post".to_owned(),
                "none".to_owned(),
            ],
            code_challenge_methods_supported: vec![pkce::S256.to_owned()],
            claims_supported: [
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "preferred_username",
                "email",
                "email_verified",
            ]
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
            authorization_response_iss_parameter_supported: true,
            issuer,
        }
    }

    fn tables(&self) -> anyhow::Result<RwLockWriteGuard<'_, Tables>> {
        self.inner
            .tables
            .write()
            .map_err(|_| anyhow::anyhow!("provider table lock poisoned"))
    }

    fn read_tables(&self) -> anyhow::Result<RwLockReadGuard<'_, Tables>> {
        self.inner
            .tables
            .read()
            .map_err(|_| anyhow::anyhow!("provider table lock poisoned"))
    }

    /// The registered client `id`, if any.
    fn client(&self, id: &str) -> anyhow::Result<Option<Client>> {
        Ok(self.read_tables()?.clients.get(id).cloned())
    }

    fn now(&self) -> UnixSeconds {
        self.inner.clock.now()
    }

    /// Step 1 (`GET /authorize`): checks the request in RFC 6749's order. `Err` is an error
    /// page (nowhere safe to redirect); `Ok(Err(url))` an error redirect; `Ok(Ok(id))` the
    /// pending interaction the login form refers to.
    fn authorize(
        &self,
        query: &str,
    ) -> Result<Result<(String, AuthorizationRequest), String>, ProviderError> {
        let params = Params::parse(query).map_err(|_| page_error("The request is malformed."))?;
        let client_id = params
            .single(param::CLIENT_ID)
            .map_err(|_| page_error("The request names no client, or more than one."))?;
        let client = self
            .client(client_id)?
            .ok_or_else(|| page_error("The application that sent you here is not registered."))?;
        // OIDC Core §3.1.2.1 makes redirect_uri required; exact match, or no redirect at all.
        let redirect_uri = params
            .single(param::REDIRECT_URI)
            .ok()
            .filter(|uri| client.redirect_uris.iter().any(|r| r == uri))
            .ok_or_else(|| {
                page_error(
                    "The address the application asked to return to is not one it registered, so you are not sent there.",
                )
            })?;
        let state = params.single(param::STATE).ok().map(str::to_owned);
        let back = |code: ErrorCode, description: &str| {
            Ok(Err(self.redirect(
                redirect_uri,
                &[
                    (param::ERROR, code.as_str()),
                    (param::ERROR_DESCRIPTION, description),
                ],
                state.as_deref(),
            )))
        };
        if params.duplicated().is_some() {
            return back(
                ErrorCode::InvalidRequest,
                "a parameter was sent more than once",
            );
        }
        match params.single(param::RESPONSE_TYPE) {
            Ok(RESPONSE_TYPE_CODE) => {}
            Ok(_) => {
                return back(
                    ErrorCode::UnsupportedResponseType,
                    "only response_type=code is supported",
                );
            }
            Err(_) => return back(ErrorCode::InvalidRequest, "response_type is missing"),
        }
        let scopes: Vec<String> = params
            .single(param::SCOPE)
            .unwrap_or_default()
            .split(' ')
            // OIDC Core §3.1.2.1: unknown scopes are ignored, not refused.
            .filter(|s| KNOWN_SCOPES.contains(s))
            .map(str::to_owned)
            .collect();
        if !scopes.iter().any(|s| s == OPENID) {
            return back(
                ErrorCode::InvalidScope,
                "this provider only does OpenID Connect logins: the scope must include openid",
            );
        }
        let Ok(code_challenge) = params.single(param::CODE_CHALLENGE) else {
            return back(
                ErrorCode::InvalidRequest,
                "PKCE is required: code_challenge is missing",
            );
        };
        // RFC 7636 §4.3: an absent method means `plain`, which is refused like any other.
        if params.single(param::CODE_CHALLENGE_METHOD) != Ok(pkce::S256) {
            return back(
                ErrorCode::InvalidRequest,
                "code_challenge_method must be S256",
            );
        }
        // An S256 challenge is a base64url SHA-256: exactly 43 characters.
        if code_challenge.len() != 43
            || !code_challenge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return back(
                ErrorCode::InvalidRequest,
                "code_challenge is not a base64url SHA-256",
            );
        }
        let request = AuthorizationRequest {
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            scopes,
            state: state.clone(),
            nonce: params.single(param::NONCE).ok().map(str::to_owned),
            code_challenge: code_challenge.to_owned(),
        };
        let id = secrets::random_token()?;
        let now = self.now();
        let mut tables = self.tables()?;
        tables.interactions.retain(|_, i| i.expires > now);
        if tables.interactions.len() >= MAX_INTERACTIONS
            && let Some(oldest) = tables
                .interactions
                .iter()
                .min_by_key(|(_, i)| i.expires)
                .map(|(id, _)| id.clone())
        {
            tables.interactions.remove(&oldest);
        }
        tables.interactions.insert(
            id.clone(),
            Interaction {
                request: request.clone(),
                expires: now + INTERACTION_LIFETIME.as_secs(),
            },
        );
        Ok(Ok((id, request)))
    }

    /// `redirect_uri` with `pairs`, `state` and `iss` added to its query (any query it already
    /// has is kept, RFC 6749 §3.1.2).
    fn redirect(&self, redirect_uri: &str, pairs: &[(&str, &str)], state: Option<&str>) -> String {
        let Ok(mut url) = Url::parse(redirect_uri) else {
            return redirect_uri.to_owned();
        };
        {
            let mut query = url.query_pairs_mut();
            for (name, value) in pairs {
                query.append_pair(name, value);
            }
            if let Some(state) = state {
                query.append_pair(param::STATE, state);
            }
            query.append_pair(param::ISS, &self.issuer());
        }
        url.into()
    }

    /// Step 2 (`POST /login`): the user's password; on success a fresh code, redirected back.
    /// A wrong password shows the form again (production would throttle here, as
    /// `throttle.rs` does for the service's own logins).
    async fn login(&self, form: &LoginForm) -> Result<LoginOutcome, ProviderError> {
        let now = self.now();
        let interaction = self
            .tables()?
            .interactions
            .get(&form.interaction)
            .filter(|i| i.expires > now)
            .cloned()
            .ok_or_else(|| {
                page_error("This sign-in request has expired. Start again from the application.")
            })?;
        let request = interaction.request;
        if form.decision.as_deref() == Some(DENY) {
            self.tables()?.interactions.remove(&form.interaction);
            return Ok(LoginOutcome::Redirect(self.redirect(
                &request.redirect_uri,
                &[
                    (param::ERROR, ErrorCode::AccessDenied.as_str()),
                    (param::ERROR_DESCRIPTION, "the user declined"),
                ],
                request.state.as_deref(),
            )));
        }
        let user = self
            .inner
            .users
            .iter()
            .find(|u| u.username == form.username.trim());
        // An unknown user costs one verification too (the dummy hash), as in `passwords.rs`.
        let verdict = self
            .inner
            .passwords
            .verify(user.map(|u| u.phc.as_str()), &form.password)
            .await?;
        let Some(user) = user.filter(|_| verdict.matches) else {
            return Ok(LoginOutcome::Retry(login_page(
                &form.interaction,
                &request,
                Some(WRONG_PASSWORD),
            )));
        };
        let code = secrets::random_token()?;
        let mut tables = self.tables()?;
        tables.interactions.remove(&form.interaction);
        // Redeemed codes are kept while the tokens they could revoke live.
        tables
            .codes
            .retain(|_, c| c.expires + ACCESS_TOKEN_LIFETIME.as_secs() > now);
        tables.codes.insert(
            secrets::digest(&code),
            CodeGrant {
                request: request.clone(),
                sub: user.sub,
                auth_time: now,
                expires: now + CODE_LIFETIME.as_secs(),
                redeemed: false,
                issued: Vec::new(),
            },
        );
        Ok(LoginOutcome::Redirect(self.redirect(
            &request.redirect_uri,
            &[(param::CODE, &code)],
            request.state.as_deref(),
        )))
    }

    /// Step 3 (`POST /token`): authenticates the client, then redeems the code.
    fn token(&self, req: &HttpRequest, body: &[u8]) -> Result<TokenResponse, ProviderError> {
        let params = Params::parse_bytes(body)
            .map_err(|_| token_error(ErrorCode::InvalidRequest, "the body is not a form"))?;
        if params.duplicated().is_some() {
            return Err(token_error(
                ErrorCode::InvalidRequest,
                "a parameter was sent more than once",
            ));
        }
        let client_id = self.authenticate_client(req, &params)?;
        match params.single(param::GRANT_TYPE) {
            Ok(GRANT_AUTHORIZATION_CODE) => {}
            Ok(_) => {
                return Err(token_error(
                    ErrorCode::UnsupportedGrantType,
                    "only the authorization_code grant is supported",
                ));
            }
            Err(_) => {
                return Err(token_error(
                    ErrorCode::InvalidRequest,
                    "grant_type is missing",
                ));
            }
        }
        let code = params
            .single(param::CODE)
            .map_err(|_| token_error(ErrorCode::InvalidRequest, "code is missing"))?;
        let redirect_uri = params
            .single(param::REDIRECT_URI)
            .map_err(|_| token_error(ErrorCode::InvalidRequest, "redirect_uri is missing"))?;
        let verifier = params
            .single(param::CODE_VERIFIER)
            .map_err(|_| token_error(ErrorCode::InvalidRequest, "code_verifier is missing"))?;

        let now = self.now();
        let mut tables = self.tables()?;
        let grant = tables
            .codes
            .get_mut(&secrets::digest(code))
            .ok_or_else(|| token_error(ErrorCode::InvalidGrant, "the code is unknown"))?;
        // Another client's code is refused without touching it: the legitimate client may
        // still redeem it (and a thief's guess does not burn the victim's login).
        if grant.request.client_id != client_id {
            return Err(token_error(
                ErrorCode::InvalidGrant,
                "the code was issued to another client",
            ));
        }
        if grant.redeemed {
            // RFC 6749 §4.1.2: a second presentation revokes what the first one got.
            let issued = std::mem::take(&mut grant.issued);
            for digest in issued {
                if let Some(token) = tables.tokens.get_mut(&digest) {
                    token.revoked = true;
                }
            }
            return Err(token_error(
                ErrorCode::InvalidGrant,
                "the code was already used; the tokens issued for it are revoked",
            ));
        }
        // From here on the code is spent, whatever the outcome: one presentation per code.
        grant.redeemed = true;
        if now >= grant.expires {
            return Err(token_error(ErrorCode::InvalidGrant, "the code has expired"));
        }
        if grant.request.redirect_uri != redirect_uri {
            return Err(token_error(
                ErrorCode::InvalidGrant,
                "redirect_uri differs from the one in the authorization request",
            ));
        }
        if !pkce::verifies(verifier, &grant.request.code_challenge) {
            return Err(token_error(
                ErrorCode::InvalidGrant,
                "the code_verifier does not match the code_challenge",
            ));
        }
        let access_token = secrets::random_token()?;
        let digest = secrets::digest(&access_token);
        grant.issued.push(digest);
        let grant = grant.clone();
        tables.tokens.retain(|_, t| t.expires > now);
        tables.tokens.insert(
            digest,
            AccessGrant {
                sub: grant.sub,
                scopes: grant.request.scopes.clone(),
                expires: now + ACCESS_TOKEN_LIFETIME.as_secs(),
                revoked: false,
            },
        );
        drop(tables);
        let id_token = self.id_token(&grant, now)?;
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer".to_owned(),
            expires_in: ACCESS_TOKEN_LIFETIME.as_secs(),
            id_token,
            scope: grant.request.scopes.join(" "),
        })
    }

    /// RFC 6749 §2.3.1: `client_secret_basic` (the id and secret form-urlencoded, then Basic),
    /// or `client_secret_post`, or a public client's bare `client_id`. One method per request.
    fn authenticate_client(
        &self,
        req: &HttpRequest,
        params: &Params,
    ) -> Result<String, ProviderError> {
        let invalid = |why| token_error(ErrorCode::InvalidClient, why);
        let from_header = match req.headers().get(header::AUTHORIZATION) {
            None => None,
            Some(value) => {
                let value = value
                    .to_str()
                    .map_err(|_| invalid("unreadable Authorization header"))?;
                let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
                if !scheme.eq_ignore_ascii_case("basic") {
                    return Err(invalid("client authentication must use Basic"));
                }
                let decoded = STANDARD
                    .decode(credentials.trim())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| invalid("malformed Basic credentials"))?;
                let (id, secret) = decoded
                    .split_once(':')
                    .ok_or_else(|| invalid("malformed Basic credentials"))?;
                Some((form_decode(id), form_decode(secret)))
            }
        };
        let body_id = params.single(param::CLIENT_ID).ok();
        let body_secret = params.single(param::CLIENT_SECRET).ok();
        let (client_id, secret) = match (from_header, body_id, body_secret) {
            (Some(_), _, Some(_)) => {
                return Err(token_error(
                    ErrorCode::InvalidRequest,
                    "more than one client authentication method",
                ));
            }
            (Some((id, _)), Some(body), None) if id != body => {
                return Err(token_error(
                    ErrorCode::InvalidRequest,
                    "client_id differs from the authenticated client",
                ));
            }
            (Some((id, secret)), _, None) => (id, Some(secret)),
            (None, Some(id), secret) => (id.to_owned(), secret.map(str::to_owned)),
            (None, None, _) => return Err(invalid("no client authentication")),
        };
        let client = self
            .client(&client_id)?
            .ok_or_else(|| invalid("unknown client"))?;
        match (client.secret_digest, secret) {
            (None, None) => Ok(client_id),
            (Some(expected), Some(given)) if secrets::same(&expected, &secrets::digest(&given)) => {
                Ok(client_id)
            }
            (None, Some(_)) => Err(invalid("a public client has no secret")),
            (Some(_), _) => Err(invalid("wrong or missing client secret")),
        }
    }

    fn id_token(&self, grant: &CodeGrant, now: UnixSeconds) -> anyhow::Result<String> {
        let user = self
            .inner
            .users
            .iter()
            .find(|u| u.sub == grant.sub)
            .ok_or_else(|| anyhow::anyhow!("the code's subject is not a provider user"))?;
        let fault = *self
            .inner
            .fault
            .read()
            .map_err(|_| anyhow::anyhow!("fault lock poisoned"))?;
        let mut claims = IdTokenClaims {
            iss: self.issuer(),
            sub: user.sub.to_owned(),
            aud: grant.request.client_id.clone(),
            exp: now + ID_TOKEN_LIFETIME.as_secs(),
            iat: now,
            auth_time: grant.auth_time,
            nonce: grant.request.nonce.clone(),
            azp: grant.request.client_id.clone(),
            preferred_username: None,
            email: None,
            email_verified: None,
        };
        release_claims(&mut claims, user, &grant.request.scopes);
        match fault {
            Some(IdTokenFault::WrongNonce) => claims.nonce = Some(secrets::random_token()?),
            Some(IdTokenFault::WrongAudience) => {
                claims.aud = "someone-elses-app".to_owned();
                claims.azp = claims.aud.clone();
            }
            Some(IdTokenFault::ForeignSignature) | None => {}
        }
        let token = self.inner.key.sign(&claims)?;
        if fault == Some(IdTokenFault::ForeignSignature) {
            // The published key's header and these claims, with another key's signature.
            let forged = SigningKey::generate()?.sign(&claims)?;
            let (signed_part, _) = token
                .rsplit_once('.')
                .ok_or_else(|| anyhow::anyhow!("a JWS without a signature"))?;
            let (_, foreign_signature) = forged
                .rsplit_once('.')
                .ok_or_else(|| anyhow::anyhow!("a JWS without a signature"))?;
            return Ok(format!("{signed_part}.{foreign_signature}"));
        }
        Ok(token)
    }

    /// `/userinfo`: the claims the access token's scopes release.
    fn userinfo(&self, req: &HttpRequest) -> Result<IdentityClaims, ProviderError> {
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or(ProviderError::Userinfo("no Bearer access token"))?;
        let now = self.now();
        let grant = self
            .read_tables()?
            .tokens
            .get(&secrets::digest(token))
            .cloned()
            .ok_or(ProviderError::Userinfo("unknown access token"))?;
        if grant.revoked {
            return Err(ProviderError::Userinfo("the access token was revoked"));
        }
        if now >= grant.expires {
            return Err(ProviderError::Userinfo("the access token has expired"));
        }
        let user = self
            .inner
            .users
            .iter()
            .find(|u| u.sub == grant.sub)
            .ok_or_else(|| anyhow::anyhow!("the token's subject is not a provider user"))?;
        let mut claims = IdTokenClaims {
            sub: user.sub.to_owned(),
            ..IdTokenClaims::default()
        };
        release_claims(&mut claims, user, &grant.scopes);
        Ok(IdentityClaims {
            sub: claims.sub,
            preferred_username: claims.preferred_username,
            email: claims.email,
            email_verified: claims.email_verified,
        })
    }
}

/// OIDC Core §5.4: `profile` releases the name claims, `email` the address.
fn release_claims(claims: &mut IdTokenClaims, user: &User, scopes: &[String]) {
    if scopes.iter().any(|s| s == PROFILE) {
        claims.preferred_username = Some(user.username.to_owned());
    }
    if scopes.iter().any(|s| s == EMAIL) {
        claims.email = Some(user.email.to_owned());
        claims.email_verified = Some(true);
    }
}

/// The login form's fields.
#[derive(Debug, Clone, Deserialize)]
pub struct LoginForm {
    pub interaction: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    /// `deny` declines the request (RFC 6749's `access_denied`); anything else allows it.
    #[serde(default)]
    pub decision: Option<String>,
}

const DENY: &str = "deny";
const WRONG_PASSWORD: &str = "Wrong username or password.";

/// What a submitted login form leads to.
enum LoginOutcome {
    /// Back to the client, with a code or an error.
    Redirect(String),
    /// The form again (401), with a message.
    Retry(String),
}

/// Form or query parameters, keeping duplicates (RFC 6749 §3.1 and §3.2: a parameter sent
/// twice is an `invalid_request`, not "the last one wins").
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(query: &str) -> Result<Self, serde_urlencoded::de::Error> {
        Self::parse_bytes(query.as_bytes())
    }

    fn parse_bytes(bytes: &[u8]) -> Result<Self, serde_urlencoded::de::Error> {
        Ok(Self(serde_urlencoded::from_bytes(bytes)?))
    }

    /// The value of `name` if it was sent exactly once and is not empty (RFC 6749 §3.1:
    /// an empty parameter counts as omitted).
    fn single(&self, name: &str) -> Result<&str, ()> {
        let mut values = self.0.iter().filter(|(n, v)| n == name && !v.is_empty());
        match (values.next(), values.next()) {
            (Some((_, value)), None) => Ok(value),
            _ => Err(()),
        }
    }

    fn duplicated(&self) -> Option<&str> {
        self.0.iter().enumerate().find_map(|(i, (name, _))| {
            self.0[..i]
                .iter()
                .any(|(n, _)| n == name)
                .then_some(name.as_str())
        })
    }
}

/// `application/x-www-form-urlencoded` decoding of one value (`+` is a space).
fn form_decode(value: &str) -> String {
    url::form_urlencoded::parse(format!("v={value}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1>{body}</body></html>"
    )
}

/// The login form for a pending interaction. The demo users are shown on the page because
/// this provider is a stand-in; a real one obviously shows nothing of the kind.
fn login_page(interaction: &str, request: &AuthorizationRequest, message: Option<&str>) -> String {
    let users: String = PROVIDER_USERS
        .iter()
        .map(|(name, password, _, _)| {
            format!(
                "<li><code>{}</code> / <code>{}</code></li>",
                escape(name),
                escape(password)
            )
        })
        .collect();
    page(
        "Sign in to the provider",
        &format!(
            "{message}<p><code>{client}</code> asks for: <code>{scopes}</code>. Signing in allows it.</p>\
             <form method=\"post\" action=\"{MOUNT}{LOGIN_PATH}\">\
             <input type=\"hidden\" name=\"{interaction_param}\" value=\"{interaction}\">\
             <label>Username <input name=\"username\" autocomplete=\"username\"></label>\
             <label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\"></label>\
             <button name=\"decision\" value=\"allow\">Sign in and allow</button>\
             <button name=\"decision\" value=\"{DENY}\">Deny</button></form>\
             <p>Demo users of this stand-in provider:</p><ul>{users}</ul>",
            message = message.map_or(String::new(), |m| format!(
                "<p><strong>{}</strong></p>",
                escape(m)
            )),
            client = escape(&request.client_id),
            scopes = escape(&request.scopes.join(" ")),
            interaction_param = param::INTERACTION,
            interaction = escape(interaction),
        ),
    )
}

/// The value of the login form's hidden interaction field in a page [`login_page`] made, for
/// a client that drives the form without a browser (the tests and the demo).
pub fn interaction_in(page: &str) -> Option<&str> {
    let marker = format!("name=\"{}\" value=\"", param::INTERACTION);
    let start = page.find(&marker)? + marker.len();
    let len = page[start..].find('"')?;
    Some(&page[start..start + len])
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

async fn discovery(provider: web::Data<Provider>) -> HttpResponse {
    HttpResponse::Ok().json(provider.discovery())
}

async fn jwks(provider: web::Data<Provider>) -> HttpResponse {
    HttpResponse::Ok().json(provider.inner.key.jwks())
}

async fn authorize(
    req: HttpRequest,
    provider: web::Data<Provider>,
) -> Result<HttpResponse, ProviderError> {
    Ok(match provider.authorize(req.query_string())? {
        Ok((interaction, request)) => HttpResponse::Ok()
            .content_type(ContentType::html())
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(login_page(&interaction, &request, None)),
        Err(error_redirect) => see_other(&error_redirect),
    })
}

async fn login(
    form: web::Form<LoginForm>,
    provider: web::Data<Provider>,
) -> Result<HttpResponse, ProviderError> {
    Ok(match provider.login(&form).await? {
        LoginOutcome::Redirect(location) => see_other(&location),
        LoginOutcome::Retry(page) => HttpResponse::Unauthorized()
            .content_type(ContentType::html())
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(page),
    })
}

async fn token(
    req: HttpRequest,
    body: web::Bytes,
    provider: web::Data<Provider>,
) -> Result<HttpResponse, ProviderError> {
    let answer = provider.token(&req, &body)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(answer))
}

async fn userinfo(
    req: HttpRequest,
    provider: web::Data<Provider>,
) -> Result<HttpResponse, ProviderError> {
    Ok(HttpResponse::Ok().json(provider.userinfo(&req)?))
}

/// Largest form body the login and token endpoints read.
const FORM_LIMIT: usize = 8 * 1024;

/// Mounts the provider under [`MOUNT`]. Needs `web::Data<Provider>`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope(MOUNT)
            .app_data(support::problem::form_config(FORM_LIMIT))
            .app_data(web::PayloadConfig::new(FORM_LIMIT))
            .service(endpoint(DISCOVERY_PATH).get(discovery))
            .service(endpoint(AUTHORIZE_PATH).get(authorize))
            .service(endpoint(LOGIN_PATH).post(login))
            .service(endpoint(TOKEN_PATH).post(token))
            .service(endpoint(JWKS_PATH).get(jwks))
            .service(endpoint(USERINFO_PATH).get(userinfo).post(userinfo)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parameter_sent_twice_is_seen_as_duplicated_and_never_as_single() -> anyhow::Result<()> {
        let params = Params::parse("a=1&b=2&a=3&c=")?;
        assert_eq!(params.duplicated(), Some("a"));
        assert!(params.single("a").is_err());
        assert_eq!(params.single("b"), Ok("2"));
        assert!(params.single("c").is_err(), "empty counts as omitted");
        Ok(())
    }

    #[test]
    fn basic_client_credentials_are_form_decoded_as_rfc_6749_asks() {
        assert_eq!(form_decode("a%3Ab+c"), "a:b c");
    }

    #[test]
    fn every_error_code_round_trips_through_its_name() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
    }

    #[test]
    fn the_interaction_is_found_in_the_login_page() {
        let request = AuthorizationRequest {
            client_id: "c".into(),
            redirect_uri: "http://x/cb".into(),
            scopes: vec![OPENID.into()],
            state: None,
            nonce: None,
            code_challenge: "x".repeat(43),
        };
        let page = login_page("abc-_123", &request, Some("<again>"));
        assert!(page.contains("&lt;again&gt;"));
        assert_eq!(interaction_in(&page), Some("abc-_123"));
    }
}
