//! The protected domain: documents with an owner, and the routes every mechanism mounts.
//!
//! | route | needs | beside the permission |
//! |---|---|---|
//! | `GET /me` | any authenticated caller | |
//! | `GET /documents`, `GET /documents/{id}` | `documents:read` | |
//! | `POST /documents` | `documents:create` | the caller becomes the owner |
//! | `PUT /documents/{id}` | `documents:edit-own` | the caller owns it, or holds `documents:edit-any` |
//! | `DELETE /documents/{id}` | `documents:delete` | |
//!
//! The ownership rule lives here, not in the role table, because it needs the row: a role can
//! say "authors edit documents", only the data can say "this one is yours".

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use support::problem::Json;
use support::routing::endpoint;

use crate::error::AuthError;
use crate::guard::{
    Authenticated, Can, CreateDocuments, DeleteDocuments, EditOwnDocuments, ReadDocuments,
};
use crate::principal::{AccountId, Principal};
use crate::rbac::Permission;

pub type DocumentId = u64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    pub id: DocumentId,
    pub owner: AccountId,
    pub title: String,
    pub body: String,
}

/// A create or update body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DocumentInput {
    pub title: String,
    #[serde(default)]
    pub body: String,
}

impl DocumentInput {
    fn validate(&self) -> Result<(), AuthError> {
        let len = self.title.trim().chars().count();
        if len == 0 || len > 200 {
            return Err(AuthError::Invalid {
                field: "title",
                message: "a title has 1 to 200 characters".into(),
            });
        }
        if self.body.len() > 16 * 1024 {
            return Err(AuthError::Invalid {
                field: "body",
                message: "a body is at most 16 KiB".into(),
            });
        }
        Ok(())
    }
}

/// The rows, and the last id handed out.
type Table = (BTreeMap<DocumentId, Document>, DocumentId);

/// The document table. Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct Documents {
    table: Arc<RwLock<Table>>,
}

impl Documents {
    pub fn insert(&self, owner: AccountId, input: &DocumentInput) -> Result<Document, AuthError> {
        let mut table = self.write()?;
        table.1 += 1;
        let doc = Document {
            id: table.1,
            owner,
            title: input.title.trim().to_owned(),
            body: input.body.clone(),
        };
        table.0.insert(doc.id, doc.clone());
        Ok(doc)
    }

    pub fn get(&self, id: DocumentId) -> Result<Document, AuthError> {
        self.read()?
            .0
            .get(&id)
            .cloned()
            .ok_or(AuthError::NotFound("document"))
    }

    pub fn list(&self) -> Result<Vec<Document>, AuthError> {
        Ok(self.read()?.0.values().cloned().collect())
    }

    pub fn len(&self) -> usize {
        self.read().map_or(0, |t| t.0.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Replaces a document's title and body if `who` may: its owner, or anyone who may edit any.
    pub fn update(
        &self,
        who: &Principal,
        id: DocumentId,
        input: &DocumentInput,
    ) -> Result<Document, AuthError> {
        let mut table = self.write()?;
        let doc = table
            .0
            .get_mut(&id)
            .ok_or(AuthError::NotFound("document"))?;
        may_edit(who, doc)?;
        doc.title = input.title.trim().to_owned();
        doc.body = input.body.clone();
        Ok(doc.clone())
    }

    pub fn delete(&self, id: DocumentId) -> Result<(), AuthError> {
        self.write()?
            .0
            .remove(&id)
            .map(drop)
            .ok_or(AuthError::NotFound("document"))
    }

    fn read(&self) -> Result<RwLockReadGuard<'_, Table>, AuthError> {
        self.table.read().map_err(|_| poisoned())
    }

    fn write(&self) -> Result<RwLockWriteGuard<'_, Table>, AuthError> {
        self.table.write().map_err(|_| poisoned())
    }
}

/// The ownership rule, beside RBAC.
pub fn may_edit(who: &Principal, doc: &Document) -> Result<(), AuthError> {
    if doc.owner == who.account || who.can(Permission::EditAnyDocument) {
        Ok(())
    } else {
        Err(AuthError::NotOwner)
    }
}

fn poisoned() -> AuthError {
    AuthError::Unexpected(anyhow::anyhow!("document table lock poisoned"))
}

/// Mounts the routes in the table above, inside a mechanism's scope.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(endpoint("/me").get(me))
        .service(endpoint("/documents").get(list).post(create))
        .service(
            endpoint("/documents/{id}")
                .get(read)
                .put(update)
                .delete(delete),
        );
}

async fn me(who: Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(who.0)
}

async fn list(
    _: Can<ReadDocuments>,
    docs: web::Data<Documents>,
) -> Result<HttpResponse, AuthError> {
    Ok(HttpResponse::Ok().json(docs.list()?))
}

async fn read(
    _: Can<ReadDocuments>,
    docs: web::Data<Documents>,
    id: web::Path<DocumentId>,
) -> Result<HttpResponse, AuthError> {
    Ok(HttpResponse::Ok().json(docs.get(*id)?))
}

async fn create(
    can: Can<CreateDocuments>,
    req: HttpRequest,
    docs: web::Data<Documents>,
    body: Json<DocumentInput>,
) -> Result<HttpResponse, AuthError> {
    body.validate()?;
    let doc = docs.insert(can.who.account, &body)?;
    // Relative to the scope the request came through, so /basic/documents answers
    // /basic/documents/{id}.
    let location = format!("{}/{}", req.path().trim_end_matches('/'), doc.id);
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, location))
        .json(doc))
}

async fn update(
    can: Can<EditOwnDocuments>,
    docs: web::Data<Documents>,
    id: web::Path<DocumentId>,
    body: Json<DocumentInput>,
) -> Result<HttpResponse, AuthError> {
    body.validate()?;
    Ok(HttpResponse::Ok().json(docs.update(&can.who, *id, &body)?))
}

async fn delete(
    _: Can<DeleteDocuments>,
    docs: web::Data<Documents>,
    id: web::Path<DocumentId>,
) -> Result<HttpResponse, AuthError> {
    docs.delete(*id)?;
    Ok(HttpResponse::NoContent().finish())
}
