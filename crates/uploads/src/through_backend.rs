//! Path 1, **through the backend**: the client POSTs `multipart/form-data`, the server streams the
//! `file` part to disk and checks it on the way.
//!
//! The server carries every byte, so it must never hold the file in memory: each chunk actix
//! hands over (a few KB to 64 KB) is counted, hashed and written through a 1 MiB buffer, and then
//! dropped. Memory per upload is that buffer plus the 64 KiB head kept for the type check,
//! whatever the file's size (the demo measures the resident set while 1 GB goes through).
//!
//! In the order they fire:
//!
//! 1. `Content-Length` over the limit: 413 before a byte is read. A chunked body has no length, so
//! 2. the running count is checked on every chunk: 413 the moment it crosses the limit.
//! 3. As soon as the first [`SNIFF_BYTES`] have arrived (or the part ends), the type is decided
//!    from them ([`crate::inspect::decide`]): a spoofed type or extension is 415 and an image
//!    bomb 422 *before the rest is received*.
//! 4. A body that ends before its closing boundary (a dropped connection, a truncated request)
//!    is 400.
//!
//! On every refusal the partial file is removed (a guard that deletes it unless the upload
//! completes, so even a handler dropped mid-stream cleans up) and no row is written. Only after
//! the last byte is fsynced is the file renamed into `files/` and the row inserted as `ready`.
//!
//! What it costs: the backend's bandwidth, CPU and a worker for the whole transfer; the demo
//! puts numbers on each.

use std::path::PathBuf;

use actix_multipart::{Multipart, MultipartError};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::TryStreamExt as _;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;

use crate::context::Shared;
use crate::error::Error;
use crate::inspect::{self, Decision, SNIFF_BYTES};
use crate::metadata::{self, Status, Upload, Via};
use crate::owner::Owner;
use crate::storage::{self, StorageKey};

/// Where uploads through the backend are POSTed.
pub const PATH: &str = "/backend/files";
/// The form field that carries the file.
pub const FIELD: &str = "file";
/// Bytes buffered before a write reaches the file: few enough system calls for disk speed,
/// little enough memory per concurrent upload.
const WRITE_BUFFER: usize = 1024 * 1024;
/// Multipart framing around the file (boundaries, part headers) allowed on top of the size
/// limit when judging a `Content-Length`.
const FRAMING_ALLOWANCE: u64 = 16 * 1024;
/// How much of a refused body is read and discarded so that the client, still sending, can
/// read the 413/415 instead of seeing its connection reset. Past this the connection is closed.
pub const DRAIN_CAP: u64 = 16 * 1024 * 1024;

/// What a successful upload answers with (also the body of `201 Created`).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Stored {
    pub id: String,
    pub name: String,
    pub size: i64,
    pub detected_type: String,
    pub sha256: String,
    pub location: String,
}

/// `POST /backend/files`.
pub async fn upload(
    req: HttpRequest,
    owner: Owner,
    shared: web::Data<Shared>,
    mut form: Multipart,
) -> Result<HttpResponse, Error> {
    let limit = shared.limits.max_bytes;
    let declared_length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared_length.is_some_and(|len| len > limit.saturating_add(FRAMING_ALLOWANCE)) {
        return Err(Error::TooLarge { limit });
    }
    let result = receive(&shared, &owner, &mut form).await;
    if result.is_err() {
        drain(&mut form, DRAIN_CAP).await;
    }
    let stored = result?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, stored.location.clone()))
        .json(stored))
}

/// Streams the one `file` part to `partial/`, checking as it goes, then publishes it.
async fn receive(shared: &Shared, owner: &Owner, form: &mut Multipart) -> Result<Stored, Error> {
    let mut field = match form.try_next().await.map_err(malformed)? {
        Some(field) if field.name() == Some(FIELD) => field,
        Some(field) => {
            return Err(Error::Malformed(format!(
                "expected the `{FIELD}` part first, got `{}`",
                field.name().unwrap_or_default()
            )));
        }
        None => return Err(Error::Malformed(format!("no `{FIELD}` part"))),
    };
    // RFC 7578 §4.2: `filename*` (RFC 5987 encoding) if present, else `filename`. The encoded
    // form can carry any byte, control characters included, so sanitising must not rely on
    // the HTTP parser having refused them.
    let raw_name = field
        .content_disposition()
        .and_then(|cd| {
            cd.get_filename_ext()
                .map(|ext| String::from_utf8_lossy(&ext.value).into_owned())
                .or_else(|| cd.get_filename().map(str::to_owned))
        })
        .ok_or_else(|| Error::Malformed(format!("the `{FIELD}` part has no filename")))?;
    let name = storage::display_name(&raw_name);
    let extension = storage::extension(&name);
    let declared = field.content_type().map(|m| m.essence_str().to_owned());
    let limits = shared.limits;

    let key = StorageKey::generate();
    let partial = shared.dir.partial(&key);
    let mut guard = RemoveOnDrop(Some(partial.clone()));
    let file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&partial)
        .await?;
    let mut out = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
    let mut hasher = Sha256::new();
    let mut total: u64 = 0;
    let mut head: Vec<u8> = Vec::with_capacity(SNIFF_BYTES);
    let mut decision: Option<Decision> = None;
    let check = |head: &[u8]| {
        inspect::decide(
            head,
            declared.as_deref(),
            extension.as_deref(),
            &shared.allow,
            &limits,
        )
    };

    while let Some(chunk) = field.try_next().await.map_err(malformed)? {
        total += chunk.len() as u64;
        if total > limits.max_bytes {
            return Err(Error::TooLarge {
                limit: limits.max_bytes,
            });
        }
        if decision.is_none() {
            let room = SNIFF_BYTES - head.len();
            head.extend_from_slice(&chunk[..room.min(chunk.len())]);
            if head.len() == SNIFF_BYTES {
                decision = Some(check(&head)?);
            }
        }
        hasher.update(&chunk);
        out.write_all(&chunk).await?;
    }
    let decision = match decision {
        Some(d) => d,
        None => check(&head)?,
    };
    // The part ended at a boundary; the body must end too (one file per request). The field
    // is dropped first: the multipart stream yields nothing while a field is still held.
    drop(field);
    if form.try_next().await.map_err(malformed)?.is_some() {
        return Err(Error::Malformed("more than one part".to_owned()));
    }

    // Durable before visible: the bytes reach the disk, then the name appears in `files/`,
    // then the row makes it servable.
    out.flush().await?;
    out.into_inner().sync_all().await?;
    let final_path = shared.dir.file(&key);
    tokio::fs::rename(&partial, &final_path).await?;
    guard.0 = Some(final_path);

    let sha256 = storage::hex(&hasher.finalize());
    let id = uuid::Uuid::new_v4().to_string();
    let now = metadata::now();
    let size = i64::try_from(total).map_err(Error::unexpected)?;
    metadata::insert(
        &shared.db,
        Upload {
            id: id.clone(),
            owner: owner.as_str().to_owned(),
            original_name: name.clone(),
            storage_key: key.to_string(),
            via: Via::Backend.as_str().to_owned(),
            size,
            declared_type: declared,
            detected_type: Some(decision.kind.mime.to_owned()),
            sha256: Some(sha256.clone()),
            status: Status::Ready.as_str().to_owned(),
            created_at: now,
            confirmed_at: Some(now),
        },
    )
    .await?;
    guard.0 = None;
    Ok(Stored {
        location: crate::download::PATH.replace("{id}", &id),
        id,
        name,
        size,
        detected_type: decision.kind.mime.to_owned(),
        sha256,
    })
}

/// Reads and discards what is left of a refused body, up to `cap` bytes.
async fn drain(form: &mut Multipart, cap: u64) {
    let mut seen: u64 = 0;
    while let Ok(Some(mut field)) = form.try_next().await {
        while let Ok(Some(chunk)) = field.try_next().await {
            seen += chunk.len() as u64;
            if seen > cap {
                return;
            }
        }
    }
}

fn malformed(e: MultipartError) -> Error {
    Error::Malformed(format!("the multipart body is malformed ({e})"))
}

/// Deletes the file at its path when dropped, unless disarmed by setting it to `None`. A plain
/// `std::fs::remove_file` in `Drop` (one unlink, no async in `Drop`): it runs on the error path
/// and when actix drops the handler because the client went away.
struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = self.0.take()
            && let Err(e) = std::fs::remove_file(&path)
        {
            tracing::warn!(path = %path.display(), error = %e, "could not remove a refused upload");
        }
    }
}
