//! The two halves of every protected request: an authenticating middleware per mechanism, and
//! the [`Can`] extractor that asks RBAC for one permission.
//!
//! **Authentication is middleware**, wrapped around each mechanism's scope (`/basic`,
//! `/session`, `/jwt`, `/apikey`). It runs before routing inside the scope and before any
//! extractor reads the body, so an unauthenticated request is a 401 with the right challenge
//! whatever it sent, and learns nothing about the routes behind it. It leaves a [`Principal`]
//! in the request's extensions.
//!
//! **Authorization is an extractor**, because the permission is a property of the handler:
//! `async fn delete(who: Can<DeleteDocuments>, ...)` says in its signature what it needs, the
//! check runs before the handler's body, and a handler cannot forget it (it has no other way to
//! learn who is calling). Reading the extension and [`rbac::authorize`] is the whole cost:
//! nanoseconds, measured in the demo.

use std::marker::PhantomData;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage as _, HttpRequest, web};
use futures_util::future::{Ready, ready};

use crate::accounts::Accounts;
use crate::api_keys::ApiKeys;
use crate::basic;
use crate::error::AuthError;
use crate::jwt_bearer::JwtIssuer;
use crate::principal::Principal;
use crate::rbac::{self, Permission};
use crate::session::Sessions;
use crate::throttle::Throttle;

/// Middleware for `/basic`: a full password check on every request.
pub async fn basic(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let accounts = data::<Accounts>(req.request())?;
    let throttle = data::<Throttle>(req.request())?;
    let who = basic::authenticate(req.request(), &accounts, &throttle).await?;
    req.extensions_mut().insert(who);
    next.call(req).await
}

/// Middleware for `/session`: the cookie's session, and the CSRF token on unsafe methods.
pub async fn session(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let sessions = data::<Sessions>(req.request())?;
    let accounts = data::<Accounts>(req.request())?;
    let who = sessions.authenticate(req.request(), &accounts)?;
    req.extensions_mut().insert(who);
    next.call(req).await
}

/// Middleware for `/jwt`: the bearer token's signature and claims, nothing looked up.
pub async fn jwt(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let issuer = data::<JwtIssuer>(req.request())?;
    let who = issuer.authenticate(req.request())?;
    req.extensions_mut().insert(who);
    next.call(req).await
}

/// Middleware for `/apikey`: the key's digest, its revocation, its scopes.
pub async fn api_key(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let keys = data::<ApiKeys>(req.request())?;
    let accounts = data::<Accounts>(req.request())?;
    let who = keys.authenticate(req.request(), &accounts)?;
    req.extensions_mut().insert(who);
    next.call(req).await
}

fn data<T: 'static>(req: &HttpRequest) -> Result<web::Data<T>, AuthError> {
    req.app_data::<web::Data<T>>().cloned().ok_or_else(|| {
        AuthError::Unexpected(anyhow::anyhow!(
            "{} is not registered as app data",
            std::any::type_name::<T>()
        ))
    })
}

/// The caller the authenticating middleware left, checked for `permission`.
pub fn authorize(req: &HttpRequest, permission: Permission) -> Result<Principal, AuthError> {
    let who = caller(req)?;
    rbac::authorize(who.permissions, permission).map_err(AuthError::Forbidden)?;
    Ok(who)
}

fn caller(req: &HttpRequest) -> Result<Principal, AuthError> {
    // A missing principal is a wiring bug (a route mounted outside every authenticating
    // scope), not the client's fault: 500, never a silent pass.
    req.extensions().get::<Principal>().cloned().ok_or_else(|| {
        AuthError::Unexpected(anyhow::anyhow!(
            "{} is not behind an authenticating middleware",
            req.path()
        ))
    })
}

/// A permission a handler can ask for by type: `Can<ReadDocuments>`.
pub trait Need {
    const PERMISSION: Permission;
}

macro_rules! needs {
    ($($name:ident),* $(,)?) => {$(
        #[doc = concat!("Asks for [`Permission::", stringify!($name), "`].")]
        #[derive(Debug)]
        pub struct $name;
        impl Need for $name {
            const PERMISSION: Permission = Permission::$name;
        }
    )*};
}

needs!(
    ReadDocuments,
    CreateDocuments,
    EditOwnDocuments,
    DeleteDocuments,
    ManageOwnKeys,
    ManageAccounts,
);

/// The caller, proven to hold `N`'s permission (else 403 before the handler runs).
#[derive(Debug)]
pub struct Can<N: Need> {
    pub who: Principal,
    need: PhantomData<N>,
}

impl<N: Need> FromRequest for Can<N> {
    type Error = AuthError;
    type Future = Ready<Result<Self, AuthError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(authorize(req, N::PERMISSION).map(|who| Can {
            who,
            need: PhantomData,
        }))
    }
}

/// Any authenticated caller, whatever they may do (`GET /me`).
#[derive(Debug)]
pub struct Authenticated(pub Principal);

impl FromRequest for Authenticated {
    type Error = AuthError;
    type Future = Ready<Result<Self, AuthError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(caller(req).map(Authenticated))
    }
}
