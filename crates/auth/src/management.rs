//! The routes that manage credentials and accounts: a person's own API keys, and the admin's
//! account list and switch. Mounted under the human mechanisms' scopes (`/basic`, `/session`,
//! `/jwt`); an API key never holds `keys:manage`, so under `/apikey` they answer 403.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use support::problem::Json;
use support::routing::endpoint;

use crate::accounts::Accounts;
use crate::api_keys::{ApiKeys, NewKey};
use crate::error::AuthError;
use crate::guard::{Can, ManageAccounts, ManageOwnKeys};
use crate::principal::AccountId;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(endpoint("/api-keys").get(list_keys).post(create_key))
        .service(endpoint("/api-keys/{id}").delete(revoke_key))
        .service(endpoint("/admin/accounts").get(list_accounts))
        .service(endpoint("/admin/accounts/{id}").patch(set_disabled));
}

async fn create_key(
    can: Can<ManageOwnKeys>,
    keys: web::Data<ApiKeys>,
    body: Json<NewKey>,
) -> Result<HttpResponse, AuthError> {
    let created = keys.create(&can.who, &body)?;
    // The key is in this body and nowhere else, ever: never cache it.
    Ok(HttpResponse::Created()
        .insert_header(("cache-control", "no-store"))
        .json(created))
}

async fn list_keys(
    can: Can<ManageOwnKeys>,
    keys: web::Data<ApiKeys>,
) -> Result<HttpResponse, AuthError> {
    Ok(HttpResponse::Ok().json(keys.list(can.who.account)?))
}

async fn revoke_key(
    can: Can<ManageOwnKeys>,
    keys: web::Data<ApiKeys>,
    id: web::Path<String>,
) -> Result<HttpResponse, AuthError> {
    Ok(HttpResponse::Ok().json(keys.revoke(can.who.account, &id)?))
}

async fn list_accounts(
    _: Can<ManageAccounts>,
    accounts: web::Data<Accounts>,
) -> Result<HttpResponse, AuthError> {
    Ok(HttpResponse::Ok().json(accounts.list()?))
}

/// `PATCH /admin/accounts/{id}` with `{"disabled": true}`.
#[derive(Debug, Deserialize)]
struct AccountPatch {
    disabled: bool,
}

async fn set_disabled(
    _: Can<ManageAccounts>,
    accounts: web::Data<Accounts>,
    id: web::Path<AccountId>,
    body: Json<AccountPatch>,
) -> Result<HttpResponse, AuthError> {
    Ok(HttpResponse::Ok().json(accounts.set_disabled(*id, body.disabled)?))
}
