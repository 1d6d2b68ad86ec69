//! The routes, and the HTTP rules each handler follows.
//!
//! | resource | methods | what it shows |
//! |---|---|---|
//! | `/notes` | GET, HEAD, POST, OPTIONS | 201 + `Location`; `Idempotency-Key`; 406; 415; 413; a collection `ETag` (304 on `If-None-Match`) |
//! | `/notes/{id}` | GET, HEAD, PUT, PATCH, DELETE, OPTIONS | `ETag` and `Last-Modified`; 304 on `If-None-Match`, or on `If-Modified-Since` when no `If-None-Match` is sent; 412 on a stale `If-Match`; merge patch; 409 |
//! | `/notes/{id}/attachment` | GET, HEAD, PUT, OPTIONS | a raw-bytes body with its own media type; an `ETag` only (304 on `If-None-Match`) |
//! | `/admin/maintenance` | GET, HEAD, PUT, OPTIONS | 503 + `Retry-After` while on |
//! | `/debug/fail` | GET | a deliberate internal failure: 500 without the cause |
//!
//! Any other method on these resources is a 405 with `Allow`; any other path a 404 (both from
//! `support::routing`, the handling every server in the workspace shares). Writes check,
//! in order: who is calling (401/403), how often (429), what the body is (415, 413, 400, 422),
//! whether the note exists (404), whether the client's copy is current (412), and whether the
//! note's state allows it (409). Nothing is written until every check has passed. Writes are
//! guarded by `If-Match` only, never by a date: `If-Modified-Since` is a read-side validator.

use std::sync::atomic::Ordering;
use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, ResponseError, web};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::auth::{self, Caller};
use crate::body::read_limited;
use crate::conditional::{ReadConditions, if_match, if_none_match, note_etag};
use crate::error::ApiError;
use crate::idempotency::{self, Begin, IDEMPOTENCY_KEY, REPLAYED};
use crate::merge_patch;
use crate::model::{Note, NoteForm, NoteInput};
use crate::negotiate::{
    self, ACCEPT_PATCH, ACCEPT_POST, BodyFormat, PATCH_FORMATS, Representation, WRITE_FORMATS,
};
use crate::store::Attachment;
use support::routing::endpoint;

/// Note representations may be stored, but must be revalidated before each use: cheap with an
/// ETag (a 304 has no body), and never stale.
const NOTE_CACHE_CONTROL: &str = "private, no-cache";

type State = web::Data<AppState>;

/// Mounts every route. The caller provides `web::Data<AppState>`. Each endpoint lists its
/// methods once: they mount the handlers, fill `Allow` on the 405 any other method gets, and
/// answer `OPTIONS` (with `Accept-Post` / `Accept-Patch` where a write reads a body).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/notes")
            .wrap(from_fn(maintenance_gate))
            .service(
                endpoint("")
                    .get(list_notes)
                    .post(create_note)
                    .options_header(ACCEPT_POST, WRITE_FORMATS),
            )
            .service(
                endpoint("/{id}")
                    .get(get_note)
                    .put(replace_note)
                    .patch(patch_note)
                    .delete(delete_note)
                    .options_header(ACCEPT_POST, WRITE_FORMATS)
                    .options_header(ACCEPT_PATCH, PATCH_FORMATS),
            )
            .service(
                endpoint("/{id}/attachment")
                    .get(get_attachment)
                    .put(put_attachment),
            ),
    )
    .service(
        endpoint("/admin/maintenance")
            .get(get_maintenance)
            .put(set_maintenance),
    )
    .service(endpoint("/debug/fail").get(deliberate_failure));
}

/// While maintenance is on, every `/notes` request is a 503 with `Retry-After`: "come back later",
/// which clients and load balancers treat differently from a 500's "something broke".
async fn maintenance_gate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let state = req.app_data::<State>().cloned();
    if let Some(state) = state.filter(|s| s.maintenance.load(Ordering::Relaxed)) {
        let error = ApiError::Maintenance {
            retry_after_secs: state.config.maintenance_retry_after,
        };
        return Ok(req
            .into_response(error.error_response())
            .map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// Takes a write token for this caller or answers 429.
fn rate_limit(state: &AppState, caller: &Caller) -> Result<(), ApiError> {
    state
        .limiter
        .take(&caller.scope, Instant::now())
        .map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })
}

/// `Last-Modified` wants an IMF-fixdate.
fn http_date(time: chrono::DateTime<chrono::Utc>) -> String {
    time.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// The validator and caching headers every note response carries, 304s included.
fn note_headers(res: &mut HttpResponseBuilder, note: &Note, repr: Representation) {
    res.insert_header((header::ETAG, note_etag(note, repr)))
        .insert_header((header::LAST_MODIFIED, http_date(note.updated_at)))
        .insert_header((header::CACHE_CONTROL, NOTE_CACHE_CONTROL))
        .insert_header((header::VARY, "Accept"));
}

fn note_response(status: StatusCode, note: &Note, repr: Representation) -> HttpResponse {
    let mut res = HttpResponse::build(status);
    note_headers(&mut res, note, repr);
    res.content_type(repr.media_type());
    match repr {
        Representation::Json => res.json(note),
        Representation::Text => res.body(note.to_text()),
    }
}

fn created(note: &Note, repr: Representation) -> HttpResponse {
    let mut res = note_response(StatusCode::CREATED, note, repr);
    if let Ok(location) = HeaderValue::from_str(&format!("/notes/{}", note.id)) {
        res.headers_mut().insert(header::LOCATION, location);
    }
    res
}

async fn list_notes(req: HttpRequest, state: State) -> Result<HttpResponse, ApiError> {
    let repr = negotiate::choose(&req)?;
    let (notes, generation) = state.store.list()?;
    let etag = match repr {
        Representation::Json => format!("\"g{generation}\""),
        Representation::Text => format!("\"g{generation}.txt\""),
    };
    let mut res = HttpResponse::Ok();
    res.insert_header((header::ETAG, etag.clone()))
        .insert_header((header::CACHE_CONTROL, NOTE_CACHE_CONTROL))
        .insert_header((header::VARY, "Accept"));
    if if_none_match(&req).is_some_and(|c| c.weak_match(&etag)) {
        return Ok(res.status(StatusCode::NOT_MODIFIED).finish());
    }
    res.content_type(repr.media_type());
    Ok(match repr {
        Representation::Json => res.json(&notes),
        Representation::Text => res.body(
            notes
                .iter()
                .map(Note::to_text)
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    })
}

async fn get_note(
    req: HttpRequest,
    state: State,
    id: web::Path<u64>,
) -> Result<HttpResponse, ApiError> {
    let repr = negotiate::choose(&req)?;
    let note = state.store.get(*id)?;
    // `If-None-Match` first, `If-Modified-Since` only without it (RFC 9110 §13.2.2); either way
    // the 304 carries the same validators as the 200 would, so the client's cache stays current.
    let conditions = ReadConditions::from_request(&req);
    if conditions.not_modified(&note_etag(&note, repr), note.updated_at, Utc::now()) {
        let mut res = HttpResponse::NotModified();
        note_headers(&mut res, &note, repr);
        return Ok(res.finish());
    }
    Ok(note_response(StatusCode::OK, &note, repr))
}

/// Parses a POST or PUT body in the format its `Content-Type` named.
fn parse_input(format: BodyFormat, body: &[u8]) -> Result<NoteInput, ApiError> {
    let input = match format {
        BodyFormat::Json | BodyFormat::MergePatch => support::problem::parse_json(body)?,
        BodyFormat::Form => {
            let form: NoteForm =
                serde_urlencoded::from_bytes(body).map_err(|e| ApiError::Invalid {
                    field: String::new(),
                    message: e.to_string(),
                })?;
            NoteInput::try_from(form)?
        }
    };
    input.validate()?;
    Ok(input)
}

async fn create_note(
    req: HttpRequest,
    state: State,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let caller = auth::writer(&req, &state.config.tokens)?;
    rate_limit(&state, &caller)?;
    let format = negotiate::write_format(&req)?;
    let repr = negotiate::choose(&req)?;
    let body = read_limited(&req, payload, state.config.body_limit).await?;
    let key = match req.headers().get(IDEMPOTENCY_KEY) {
        None => None,
        Some(value) => {
            let key = value
                .to_str()
                .map_err(|_| ApiError::BadRequest("Idempotency-Key must be ASCII".to_owned()))?;
            idempotency::validate_key(key)?;
            Some(key.to_owned())
        }
    };
    let Some(key) = key else {
        let note = state.store.create(parse_input(format, &body)?)?;
        return Ok(created(&note, repr));
    };
    let content_type = negotiate::content_type_essence(&req).unwrap_or_default();
    let fingerprint = idempotency::fingerprint(&content_type, &body);
    if let Begin::Replay(note) = state.idempotency.begin(&caller.scope, &key, fingerprint)? {
        let mut res = created(&note, repr);
        res.headers_mut().insert(
            header::HeaderName::from_static(REPLAYED),
            HeaderValue::from_static("true"),
        );
        return Ok(res);
    }
    match parse_input(format, &body).and_then(|input| state.store.create(input)) {
        Ok(note) => {
            state
                .idempotency
                .complete(&caller.scope, &key, note.clone())?;
            Ok(created(&note, repr))
        }
        Err(error) => {
            // A request that failed created nothing: the client may fix it and reuse the key.
            state.idempotency.abandon(&caller.scope, &key);
            Err(error)
        }
    }
}

async fn replace_note(
    req: HttpRequest,
    state: State,
    id: web::Path<u64>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let caller = auth::writer(&req, &state.config.tokens)?;
    rate_limit(&state, &caller)?;
    let format = negotiate::write_format(&req)?;
    let repr = negotiate::choose(&req)?;
    let body = read_limited(&req, payload, state.config.body_limit).await?;
    let input = parse_input(format, &body)?;
    let condition = if_match(&req);
    let note = state
        .store
        .update(*id, condition.as_ref(), move |_| Ok(input))?;
    Ok(note_response(StatusCode::OK, &note, repr))
}

async fn patch_note(
    req: HttpRequest,
    state: State,
    id: web::Path<u64>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let caller = auth::writer(&req, &state.config.tokens)?;
    rate_limit(&state, &caller)?;
    negotiate::patch_format(&req)?;
    let repr = negotiate::choose(&req)?;
    let body = read_limited(&req, payload, state.config.body_limit).await?;
    let patch: Value = support::problem::parse_json(&body)?;
    let condition = if_match(&req);
    let note = state.store.update(*id, condition.as_ref(), |current| {
        // Apply the patch to the editable fields, then read the result back as a full input:
        // a patch that removes the title or adds an unknown field fails here, as a 422.
        let mut document =
            serde_json::to_value(current.editable()).map_err(|e| ApiError::Unexpected(e.into()))?;
        merge_patch::apply(&mut document, &patch);
        let bytes = serde_json::to_vec(&document).map_err(|e| ApiError::Unexpected(e.into()))?;
        Ok(support::problem::parse_json::<NoteInput>(&bytes)?)
    })?;
    Ok(note_response(StatusCode::OK, &note, repr))
}

async fn delete_note(
    req: HttpRequest,
    state: State,
    id: web::Path<u64>,
) -> Result<HttpResponse, ApiError> {
    let caller = auth::writer(&req, &state.config.tokens)?;
    rate_limit(&state, &caller)?;
    state.store.delete(*id, if_match(&req).as_ref())?;
    Ok(HttpResponse::NoContent().finish())
}

fn attachment_etag(attachment: &Attachment) -> String {
    let digest = Sha256::digest(&attachment.bytes);
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

async fn get_attachment(
    req: HttpRequest,
    state: State,
    id: web::Path<u64>,
) -> Result<HttpResponse, ApiError> {
    let attachment = state.store.attachment(*id)?;
    let etag = attachment_etag(&attachment);
    let mut res = HttpResponse::Ok();
    res.insert_header((header::ETAG, etag.clone()))
        .insert_header((header::CACHE_CONTROL, NOTE_CACHE_CONTROL));
    if if_none_match(&req).is_some_and(|c| c.weak_match(&etag)) {
        return Ok(res.status(StatusCode::NOT_MODIFIED).finish());
    }
    Ok(res
        .insert_header((header::CONTENT_TYPE, attachment.content_type))
        .body(attachment.bytes))
}

async fn put_attachment(
    req: HttpRequest,
    state: State,
    id: web::Path<u64>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let caller = auth::writer(&req, &state.config.tokens)?;
    rate_limit(&state, &caller)?;
    // Raw bytes: any media type is accepted and stored as sent; none means "just bytes".
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let body = read_limited(&req, payload, state.config.attachment_limit).await?;
    let attachment = Attachment {
        content_type,
        bytes: body.to_vec(),
    };
    let etag = attachment_etag(&attachment);
    let replaced = state.store.put_attachment(*id, attachment)?;
    let mut res = if replaced {
        HttpResponse::NoContent()
    } else {
        HttpResponse::Created()
    };
    res.insert_header((header::ETAG, etag));
    if !replaced {
        res.insert_header((header::LOCATION, format!("/notes/{id}/attachment")));
    }
    Ok(res.finish())
}

/// The maintenance switch's representation.
#[derive(Debug, Serialize, Deserialize)]
pub struct Maintenance {
    pub enabled: bool,
}

async fn get_maintenance(state: State) -> HttpResponse {
    HttpResponse::Ok().json(Maintenance {
        enabled: state.maintenance.load(Ordering::Relaxed),
    })
}

async fn set_maintenance(
    req: HttpRequest,
    state: State,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    auth::admin(&req, &state.config.tokens)?;
    negotiate::write_format(&req)?;
    let body = read_limited(&req, payload, 1024).await?;
    let wanted: Maintenance = support::problem::parse_json(&body)?;
    state.maintenance.store(wanted.enabled, Ordering::Relaxed);
    Ok(HttpResponse::Ok().json(wanted))
}

/// A deliberate failure, to show what a 500 looks like from outside. The error carries the kind
/// of detail real failures carry (a host, a user name); the response carries none of it.
async fn deliberate_failure() -> Result<HttpResponse, ApiError> {
    Err(ApiError::Unexpected(anyhow::anyhow!(
        "connection to db-primary.internal:5432 failed: password authentication failed for user \"notes_admin\""
    )))
}
