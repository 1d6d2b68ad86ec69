//! What the two cookie-session mechanisms share: the session id, the cookie, the timeouts, and the
//! three handlers. Only *where the record lives* differs, behind [`SessionStore`]:
//! [`memory_session`](crate::memory_session) keeps it in this process,
//! [`redis_session`](crate::redis_session) in Redis. Diff those two files to see the whole
//! difference between "sticky sessions required" and "any instance will do".
//!
//! The rules a cookie session must follow, and where each is enforced here:
//! - the id is unguessable: 256 bits from a CSPRNG ([`new_session_id`]);
//! - the id changes at login, so an id planted before login (session fixation) is worthless
//!   ([`Sessions::login`]);
//! - the cookie is `HttpOnly` (page scripts cannot read it, so XSS cannot exfiltrate it),
//!   `SameSite=Lax` (not sent on cross-site POSTs, the classic CSRF vector), `Secure` and
//!   `__Host-`-prefixed whenever the site is served over HTTPS ([`Sessions::cookie`]);
//! - an idle session and an old session both die, checked against an injected clock
//!   ([`SessionPolicy::check`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use support::clock::{SharedClock, UnixSeconds};
use support::problem::Json;
use support::routing::endpoint;

use crate::config::CookieConfig;
use crate::error::AuthError;
use crate::users::{User, UserStore};

/// The prefix browsers enforce for cookies that must be `Secure`, `Path=/` and host-only
/// (RFC 6265bis §4.1.3.2): a subdomain or a plain-HTTP page cannot overwrite them.
pub const HOST_PREFIX: &str = "__Host-";
/// Random bytes in a session id: 256 bits, twice the 128 OWASP asks for.
pub const SESSION_ID_BYTES: usize = 32;

/// A fresh session id: 32 bytes from the thread-local CSPRNG (ChaCha seeded from the OS),
/// base64url without padding (43 characters, safe in a cookie and a Redis key).
pub fn new_session_id() -> String {
    let mut bytes = [0u8; SESSION_ID_BYTES];
    rand::fill(&mut bytes[..]);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the server remembers about a login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub user: User,
    /// When the user logged in (absolute timeout counts from here).
    pub created_at: UnixSeconds,
    /// When the session was last used, to within the touch interval (idle timeout counts from here).
    pub last_seen: UnixSeconds,
}

/// Where session records live. Two implementations, one file each.
///
/// `ttl` is a hint for garbage collection (Redis expires the key); the authoritative expiry
/// decision is [`SessionPolicy::check`] against the injected clock, so tests need no sleeping.
pub trait SessionStore: Send + Sync + 'static {
    /// Creates or overwrites a record.
    fn save(
        &self,
        id: &str,
        record: &SessionRecord,
        ttl: Duration,
    ) -> impl Future<Output = Result<(), AuthError>> + Send;
    /// The record, if the id is known.
    fn load(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<SessionRecord>, AuthError>> + Send;
    /// Forgets one session (logout, expiry, replaced at login).
    fn remove(&self, id: &str) -> impl Future<Output = Result<(), AuthError>> + Send;
    /// Forgets every session of a user (password change); returns how many there were.
    fn remove_user(&self, user_id: &str) -> impl Future<Output = Result<usize, AuthError>> + Send;
}

/// The outcome of checking a record against the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Still good; `touch` says whether `last_seen` is old enough to be written back.
    Valid {
        touch: bool,
    },
    IdleExpired,
    AbsoluteExpired,
}

/// Idle and absolute timeouts, and how often `last_seen` is refreshed.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    pub idle: u64,
    pub absolute: u64,
    pub touch_interval: u64,
}

impl SessionPolicy {
    pub fn from_config(c: &CookieConfig) -> Self {
        Self {
            idle: c.idle_timeout.as_secs(),
            absolute: c.absolute_timeout.as_secs(),
            touch_interval: c.touch_interval.as_secs(),
        }
    }

    /// Pure and synchronous, so the demo can time it and tests can reason about it.
    pub fn check(&self, record: &SessionRecord, now: UnixSeconds) -> Verdict {
        if now >= record.created_at.saturating_add(self.absolute) {
            Verdict::AbsoluteExpired
        } else if now >= record.last_seen.saturating_add(self.idle) {
            Verdict::IdleExpired
        } else {
            Verdict::Valid {
                touch: now >= record.last_seen.saturating_add(self.touch_interval),
            }
        }
    }

    /// How long the store should keep a record written at `now`: until the earlier of the two
    /// deadlines (at least one second, the smallest TTL Redis accepts with `EX`).
    pub fn ttl(&self, record: &SessionRecord, now: UnixSeconds) -> Duration {
        let absolute_end = record.created_at.saturating_add(self.absolute);
        let idle_end = now.saturating_add(self.idle);
        Duration::from_secs(absolute_end.min(idle_end).saturating_sub(now).max(1))
    }
}

/// One cookie-session mechanism: a store plus the policy, cookie and clock around it.
#[derive(Debug)]
pub struct Sessions<S> {
    pub store: S,
    /// Full cookie name, `__Host-` included when secure.
    cookie_name: String,
    secure: bool,
    max_age: Duration,
    pub policy: SessionPolicy,
    clock: SharedClock,
    users: UserStore,
}

impl<S: SessionStore> Sessions<S> {
    /// `base_name` is the cookie name without prefix (a const in each store's file).
    pub fn new(
        store: S,
        base_name: &str,
        cookies: &CookieConfig,
        clock: SharedClock,
        users: UserStore,
    ) -> Self {
        let cookie_name = if cookies.secure {
            format!("{HOST_PREFIX}{base_name}")
        } else {
            base_name.to_owned()
        };
        Self {
            store,
            cookie_name,
            secure: cookies.secure,
            max_age: cookies.absolute_timeout,
            policy: SessionPolicy::from_config(cookies),
            clock,
            users,
        }
    }

    pub fn cookie_name(&self) -> &str {
        &self.cookie_name
    }

    /// Starts a session for `user` under a brand-new id. Any session the client already had
    /// (`previous`) is removed first: whoever planted or stole it gains nothing from our login.
    pub async fn login(&self, previous: Option<&str>, user: User) -> Result<String, AuthError> {
        if let Some(old) = previous {
            self.store.remove(old).await?;
        }
        let now = self.clock.now();
        let record = SessionRecord {
            user,
            created_at: now,
            last_seen: now,
        };
        let id = new_session_id();
        self.store
            .save(&id, &record, self.policy.ttl(&record, now))
            .await?;
        Ok(id)
    }

    /// The session behind `id`, if it exists and has not timed out. Expired records are removed.
    pub async fn authenticate(&self, id: &str) -> Result<SessionRecord, AuthError> {
        let mut record = self.store.load(id).await?.ok_or(AuthError::NoSession)?;
        let now = self.clock.now();
        match self.policy.check(&record, now) {
            Verdict::Valid { touch: false } => Ok(record),
            Verdict::Valid { touch: true } => {
                record.last_seen = now;
                self.store
                    .save(id, &record, self.policy.ttl(&record, now))
                    .await?;
                Ok(record)
            }
            Verdict::IdleExpired | Verdict::AbsoluteExpired => {
                self.store.remove(id).await?;
                Err(AuthError::NoSession)
            }
        }
    }

    /// The `Set-Cookie` for a new session.
    pub fn cookie(&self, id: String) -> Cookie<'static> {
        Cookie::build(self.cookie_name.clone(), id)
            // `__Host-` requires Path=/ and no Domain; the other names follow the same rule so
            // both modes behave alike.
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .max_age(actix_web::cookie::time::Duration::seconds(
                i64::try_from(self.max_age.as_secs()).unwrap_or(i64::MAX),
            ))
            .finish()
    }

    /// The `Set-Cookie` that tells the browser to forget the session.
    pub fn removal_cookie(&self) -> Cookie<'static> {
        let mut cookie = self.cookie(String::new());
        cookie.make_removal();
        cookie
    }

    fn session_id(&self, req: &HttpRequest) -> Option<String> {
        req.cookie(&self.cookie_name).map(|c| c.value().to_owned())
    }
}

/// `POST /login` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// `GET /me` answer (the same shape for all three mechanisms).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub user: User,
    /// Which mechanism authenticated the request.
    pub via: String,
}

/// Mounts `/login`, `/me` and `/logout` for one store under `prefix`.
pub fn scope<S: SessionStore>(prefix: &str, sessions: Arc<Sessions<S>>) -> actix_web::Scope {
    web::scope(prefix)
        .app_data(web::Data::from(sessions))
        .service(endpoint("/login").post(login::<S>))
        .service(endpoint("/me").get(me::<S>))
        .service(endpoint("/logout").post(logout::<S>))
}

async fn login<S: SessionStore>(
    req: HttpRequest,
    body: Json<Credentials>,
    sessions: web::Data<Sessions<S>>,
) -> Result<HttpResponse, AuthError> {
    let user = sessions
        .users
        .verify(&body.username, &body.password)
        .await?;
    let previous = sessions.session_id(&req);
    let id = sessions.login(previous.as_deref(), user.clone()).await?;
    Ok(HttpResponse::Ok().cookie(sessions.cookie(id)).json(Me {
        user,
        via: req.path().to_owned(),
    }))
}

async fn me<S: SessionStore>(
    req: HttpRequest,
    sessions: web::Data<Sessions<S>>,
) -> Result<HttpResponse, AuthError> {
    let id = sessions.session_id(&req).ok_or(AuthError::NoSession)?;
    let record = sessions.authenticate(&id).await?;
    Ok(HttpResponse::Ok().json(Me {
        user: record.user,
        via: req.path().to_owned(),
    }))
}

async fn logout<S: SessionStore>(
    req: HttpRequest,
    sessions: web::Data<Sessions<S>>,
) -> Result<HttpResponse, AuthError> {
    // Server-side deletion is the revocation; clearing the cookie is only a courtesy to the
    // browser. Logging out twice, or without a session, is fine: the end state is the same.
    if let Some(id) = sessions.session_id(&req) {
        sessions.store.remove(&id).await?;
    }
    Ok(HttpResponse::NoContent()
        .cookie(sessions.removal_cookie())
        .finish())
}
