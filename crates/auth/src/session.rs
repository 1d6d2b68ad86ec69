//! Alternative 2: a session cookie, with a CSRF token for every state-changing request.
//!
//! Log in once (`POST /session/login`); the server keeps a session record and sets an
//! `HttpOnly` cookie holding only its random id. Every later request is a map lookup: cheap,
//! revocable at once (logout deletes the record; a disabled account is refused on the next
//! request), and invisible to JavaScript, so an XSS bug cannot read it.
//!
//! The catch is that the browser attaches the cookie by itself, including to a request another
//! site makes it send: cross-site request forgery. Two defences, both here:
//! - `SameSite=Lax` on the cookie: browsers do not send it on cross-site subrequests or
//!   cross-site `POST`s (top-level `GET` navigations still carry it, which the OAuth2 callback
//!   needs). A defence in depth, not a guarantee: old browsers ignore it, and "same site" still
//!   includes sibling subdomains.
//! - A **synchronizer token**: login returns a random CSRF token bound to the session, and every
//!   request that is not `GET`/`HEAD`/`OPTIONS` must echo it in `X-CSRF-Token`. A forging site
//!   cannot read it (same-origin policy) and a plain HTML form cannot set a header, so a forged
//!   request arrives without it and is refused with 403 before any handler runs.
//!
//! Production would also rotate the session id at login (this crate mints a new one at every
//! login, which is what defeats session fixation), keep the records in Redis or the database
//! (sessions-vs-jwt is that lesson), and store only a digest of the id.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use support::clock::{SharedClock, UnixSeconds};
use support::problem::Json;

use crate::accounts::Accounts;
use crate::config::SessionConfig;
use crate::credentials;
use crate::error::{AuthError, Refusal};
use crate::login::{self, LoginRequest};
use crate::principal::{AccountId, Mechanism, Principal};
use crate::secrets;
use crate::throttle::Throttle;

/// The header a state-changing request echoes the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Records kept before idle ones are swept out.
const MAX_SESSIONS: usize = 100_000;

#[derive(Debug, Clone)]
struct Record {
    account: AccountId,
    csrf: String,
    last_seen: UnixSeconds,
}

/// A fresh session: the id for the cookie, and the CSRF token for the client to keep.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: String,
    pub csrf_token: String,
}

/// The session records. Cloning shares them.
#[derive(Debug, Clone)]
pub struct Sessions {
    config: SessionConfig,
    clock: SharedClock,
    records: Arc<RwLock<HashMap<String, Record>>>,
}

impl Sessions {
    pub fn new(config: SessionConfig, clock: SharedClock) -> Self {
        Self {
            config,
            clock,
            records: Arc::default(),
        }
    }

    /// Starts a session for `account` (a password login, or an OAuth2 callback).
    pub fn create(&self, account: AccountId) -> Result<NewSession, AuthError> {
        let new = NewSession {
            id: secrets::random_token()?,
            csrf_token: secrets::random_token()?,
        };
        let now = self.clock.now();
        let mut records = self.write()?;
        // Sessions nobody comes back to are removed here, in bulk, once there are many: a
        // store with TTLs (Redis) does this by itself.
        if records.len() >= MAX_SESSIONS {
            let idle = self.config.idle_timeout.as_secs();
            records.retain(|_, r| r.last_seen + idle > now);
        }
        records.insert(
            new.id.clone(),
            Record {
                account,
                csrf: new.csrf_token.clone(),
                last_seen: now,
            },
        );
        Ok(new)
    }

    /// The cookie that carries `id`: `HttpOnly` (no script reads it), `SameSite=Lax`, `Path=/`,
    /// `Secure` when configured.
    pub fn cookie(&self, id: &str) -> Cookie<'static> {
        Cookie::build(self.config.cookie.clone(), id.to_owned())
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.config.secure)
            .path("/")
            .finish()
    }

    pub fn cookie_name(&self) -> &str {
        &self.config.cookie
    }

    /// Authenticates one request: the cookie names a live session of an enabled account, and a
    /// state-changing request carries the session's CSRF token.
    pub fn authenticate(
        &self,
        req: &HttpRequest,
        accounts: &Accounts,
    ) -> Result<Principal, AuthError> {
        let refused = |refusal| AuthError::Refused {
            mechanism: Mechanism::Session,
            refusal,
        };
        let id = req
            .cookie(&self.config.cookie)
            .map(|c| c.value().to_owned())
            .ok_or(AuthError::MissingCredentials(Mechanism::Session))?;
        let now = self.clock.now();
        let record = {
            let mut records = self.write()?;
            let idle = self.config.idle_timeout.as_secs();
            match records.get_mut(&id) {
                Some(record) if record.last_seen + idle > now => {
                    record.last_seen = now;
                    record.clone()
                }
                Some(_) => {
                    records.remove(&id);
                    return Err(refused(Refusal::NoSuchSession));
                }
                None => return Err(refused(Refusal::NoSuchSession)),
            }
        };
        if !is_safe(req.method()) {
            let sent = credentials::header(req, CSRF_HEADER, Mechanism::Session)?.unwrap_or("");
            if !secrets::same(sent.as_bytes(), record.csrf.as_bytes()) {
                return Err(AuthError::Csrf);
            }
        }
        let account = accounts
            .get(record.account)?
            .ok_or(refused(Refusal::NoSuchSession))?;
        if account.disabled {
            return Err(refused(Refusal::AccountDisabled));
        }
        Ok(Principal::new(
            account.id,
            &account.username,
            account.role,
            Mechanism::Session,
        ))
    }

    /// The CSRF token of the session `req` carries (after [`Sessions::authenticate`] passed).
    pub fn csrf_token(&self, req: &HttpRequest) -> Result<String, AuthError> {
        let id = req
            .cookie(&self.config.cookie)
            .ok_or(AuthError::MissingCredentials(Mechanism::Session))?;
        self.records
            .read()
            .map_err(|_| poisoned())?
            .get(id.value())
            .map(|r| r.csrf.clone())
            .ok_or(AuthError::Refused {
                mechanism: Mechanism::Session,
                refusal: Refusal::NoSuchSession,
            })
    }

    /// Ends the session `req` carries.
    pub fn destroy(&self, req: &HttpRequest) -> Result<(), AuthError> {
        if let Some(id) = req.cookie(&self.config.cookie) {
            self.write()?.remove(id.value());
        }
        Ok(())
    }

    /// Live session records (what the server keeps for this mechanism).
    pub fn len(&self) -> usize {
        self.records.read().map_or(0, |r| r.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn write(&self) -> Result<std::sync::RwLockWriteGuard<'_, HashMap<String, Record>>, AuthError> {
        self.records.write().map_err(|_| poisoned())
    }
}

/// RFC 9110 §9.2.1's safe methods: they must not change state, so they need no CSRF token.
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn poisoned() -> AuthError {
    AuthError::Unexpected(anyhow::anyhow!("session table lock poisoned"))
}

/// What `/session/login` answers: who logged in, and the CSRF token to echo.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionLogin {
    pub username: String,
    pub csrf_token: String,
}

/// `POST /session/login`: a password login that sets the session cookie.
pub async fn login(
    req: HttpRequest,
    body: Json<LoginRequest>,
    sessions: web::Data<Sessions>,
    accounts: web::Data<Accounts>,
    throttle: web::Data<Throttle>,
) -> Result<HttpResponse, AuthError> {
    let account =
        login::check_request(&accounts, &throttle, Mechanism::Session, &req, &body).await?;
    let new = sessions.create(account.id)?;
    Ok(HttpResponse::Ok()
        .cookie(sessions.cookie(&new.id))
        .json(SessionLogin {
            username: account.username,
            csrf_token: new.csrf_token,
        }))
}

/// `GET /session/csrf`: the session's CSRF token again (a page reload lost it; a session
/// started by an OAuth2 callback never had it in a body).
pub async fn csrf(
    req: HttpRequest,
    sessions: web::Data<Sessions>,
) -> Result<HttpResponse, AuthError> {
    let token = sessions.csrf_token(&req)?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "csrf_token": token })))
}

/// `POST /session/logout` (behind the session check, so it needs the CSRF token too: a forged
/// logout is a nuisance attack of its own).
pub async fn logout(
    req: HttpRequest,
    sessions: web::Data<Sessions>,
) -> Result<HttpResponse, AuthError> {
    sessions.destroy(&req)?;
    let mut gone = sessions.cookie("");
    gone.make_removal();
    Ok(HttpResponse::NoContent().cookie(gone).finish())
}
