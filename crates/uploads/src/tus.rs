//! Path 3, **resumable uploads (tus 1.0)** on the backend: a file sent in one or more `PATCH`es
//! that a client can continue after a dropped connection, from the last byte the server has.
//!
//! The core protocol and two extensions, each a few lines below:
//!
//! - **creation**: `POST /tus/files` with `Upload-Length` (and optionally `Upload-Metadata`,
//!   `filename` and `filetype` in base64) creates an empty upload: a `pending` row, an empty file
//!   in `partial/`, and `201` with its `Location`.
//! - **core**: `HEAD` answers the `Upload-Offset` the server holds, read from the file's length
//!   on disk (the one thing that survives a crash); `PATCH` with
//!   `Content-Type: application/offset+octet-stream` and an `Upload-Offset` equal to it appends
//!   the body. Any other offset is `409`: the client must `HEAD` and continue from there.
//! - **checksum**: a `PATCH` may carry `Upload-Checksum: <sha1|sha256> <base64>` of its body;
//!   when the bytes do not match, the chunk is cut off again and the answer is `460`.
//!
//! An interrupted `PATCH` keeps the bytes that arrived (flushed as they come), so the client
//! resends only what the server never saw; without a checksum that is safe because the bytes
//! are appended in order over TCP. A chunk *with* a checksum that is interrupted is discarded:
//! it cannot be verified.
//!
//! When the last byte arrives the file gets the same checks as the other paths (magic number,
//! allowlist, claims, image header) plus a SHA-256 of the whole file, and the row becomes
//! `ready` (the file moves to `files/`) or `rejected` (the file is deleted).
//!
//! An upload nobody finishes would keep its row and partial file forever: [`sweep`] removes
//! those older than a deadline (what tus's `expiration` extension would announce to clients).
//!
//! Not implemented: the `termination`, `expiration` (announcing `Upload-Expires`) and
//! `concatenation` extensions, and `creation-with-upload`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpResponse, web};
use base64::Engine as _;
use futures_util::StreamExt as _;
use sha1::Sha1;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::context::Shared;
use crate::error::Error;
use crate::headers::{TUS_RESUMABLE, TUS_VERSION_VALUE};
use crate::inspect::{self, SNIFF_BYTES};
use crate::metadata::{self, Status, Upload, Verified, Via};
use crate::owner::Owner;
use crate::storage::{self, StorageKey};

/// Creation endpoint.
pub const PATH: &str = "/tus/files";
/// One upload.
pub const UPLOAD_PATH: &str = "/tus/files/{id}";
/// The extensions this server implements, for `OPTIONS`.
pub const EXTENSIONS: &str = "creation,checksum";
/// The checksum algorithms it accepts (tus requires `sha1`).
pub const CHECKSUM_ALGORITHMS: &str = "sha1,sha256";
/// The media type of a `PATCH` body.
pub const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";
pub const UPLOAD_LENGTH: &str = "upload-length";
pub const UPLOAD_OFFSET: &str = "upload-offset";
pub const UPLOAD_METADATA: &str = "upload-metadata";
pub const UPLOAD_CHECKSUM: &str = "upload-checksum";
pub const TUS_EXTENSION: &str = "tus-extension";
pub const TUS_MAX_SIZE: &str = "tus-max-size";
pub const TUS_CHECKSUM_ALGORITHM: &str = "tus-checksum-algorithm";
/// How long a request waits for another `PATCH` of the same upload to finish (a client that
/// reconnects while the server is still writing its interrupted chunk).
const LOCK_WAIT: Duration = Duration::from_secs(10);
const WRITE_BUFFER: usize = 256 * 1024;

/// One lock per upload, so two `PATCH`es never append to the same file at once and a `HEAD`
/// reports an offset no write is still moving. Shared by every worker (built once, outside the
/// server's factory).
#[derive(Debug, Clone, Default)]
pub struct Locks(Arc<std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>);

impl Locks {
    async fn lock(&self, id: &str) -> Result<tokio::sync::OwnedMutexGuard<()>, Error> {
        let lock = {
            let mut map = self
                .0
                .lock()
                .map_err(|_| Error::unexpected(anyhow::anyhow!("tus lock map poisoned")))?;
            // Forget locks nobody holds, so the map does not grow with every upload ever made.
            map.retain(|_, l| Arc::strong_count(l) > 1);
            Arc::clone(map.entry(id.to_owned()).or_default())
        };
        tokio::time::timeout(LOCK_WAIT, lock.lock_owned())
            .await
            .map_err(|_| {
                Error::Conflict("Another PATCH of this upload is still running.".to_owned())
            })
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Every tus request but `OPTIONS` must say which version it speaks.
fn require_version(headers: &HeaderMap) -> Result<(), Error> {
    match header(headers, TUS_RESUMABLE) {
        Some(TUS_VERSION_VALUE) => Ok(()),
        _ => Err(Error::TusVersion),
    }
}

fn parse_u64(headers: &HeaderMap, name: &'static str) -> Result<u64, Error> {
    let v =
        header(headers, name).ok_or_else(|| Error::Malformed(format!("`{name}` is required")))?;
    v.parse()
        .map_err(|_| Error::Malformed(format!("`{name}` must be a non-negative integer")))
}

/// `Upload-Metadata: key base64,key base64,…` → the pairs (values decoded).
fn parse_metadata(v: &str) -> Result<HashMap<String, String>, Error> {
    let mut out = HashMap::new();
    for pair in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once(' ').unwrap_or((pair, ""));
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|_| Error::Malformed(format!("Upload-Metadata `{key}` is not base64")))?;
        out.insert(
            key.to_owned(),
            String::from_utf8_lossy(&decoded).into_owned(),
        );
    }
    Ok(out)
}

fn tus_response(mut res: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    res.insert_header((TUS_RESUMABLE, TUS_VERSION_VALUE));
    res
}

/// `POST /tus/files`: creation.
pub async fn create(
    req: actix_web::HttpRequest,
    owner: Owner,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, Error> {
    let headers = req.headers();
    require_version(headers)?;
    let length = parse_u64(headers, UPLOAD_LENGTH)?;
    if length > shared.limits.max_bytes {
        return Err(Error::TooLarge {
            limit: shared.limits.max_bytes,
        });
    }
    if length == 0 {
        return Err(inspect::Refusal::Empty.into());
    }
    let meta = header(headers, UPLOAD_METADATA)
        .map(parse_metadata)
        .transpose()?
        .unwrap_or_default();
    let name = storage::display_name(meta.get("filename").map_or("", String::as_str));
    let key = StorageKey::generate();
    tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(shared.dir.partial(&key))
        .await?;
    let id = uuid::Uuid::new_v4().to_string();
    let inserted = metadata::insert(
        &shared.db,
        Upload {
            id: id.clone(),
            owner: owner.as_str().to_owned(),
            original_name: name,
            storage_key: key.to_string(),
            via: Via::Tus.as_str().to_owned(),
            size: i64::try_from(length).map_err(Error::unexpected)?,
            declared_type: meta.get("filetype").cloned(),
            detected_type: None,
            sha256: None,
            status: Status::Pending.as_str().to_owned(),
            created_at: metadata::now(),
            confirmed_at: None,
        },
    )
    .await;
    if let Err(e) = inserted {
        let _ = tokio::fs::remove_file(shared.dir.partial(&key)).await;
        return Err(e.into());
    }
    Ok(tus_response(HttpResponse::Created())
        .insert_header((header::LOCATION, UPLOAD_PATH.replace("{id}", &id)))
        .finish())
}

/// The owner's tus upload that is still in flight or finished.
async fn find(shared: &Shared, id: &str, owner: &Owner) -> Result<(Upload, StorageKey), Error> {
    let row = metadata::find_owned(&shared.db, id, owner.as_str())
        .await?
        .filter(|r| r.via == Via::Tus.as_str() && !r.is(Status::Rejected))
        .ok_or(Error::NotFound)?;
    let key = StorageKey::parse(&row.storage_key).ok_or_else(|| {
        Error::unexpected(anyhow::anyhow!(
            "stored key {:?} is malformed",
            row.storage_key
        ))
    })?;
    Ok((row, key))
}

/// The offset the server holds: the partial file's length, or the whole size once finished.
/// A partial file that is gone was swept (between the lookup and the lock): no such upload.
async fn offset(shared: &Shared, row: &Upload, key: &StorageKey) -> Result<u64, Error> {
    if row.is(Status::Ready) {
        return Ok(u64::try_from(row.size).unwrap_or_default());
    }
    match tokio::fs::metadata(shared.dir.partial(key)).await {
        Ok(m) => Ok(m.len()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::NotFound),
        Err(e) => Err(e.into()),
    }
}

/// Removes tus uploads still `pending` (never finished) that were created before `cutoff`: for
/// each, under its lock (so no PATCH is appending), the row if it is still pending, then its
/// partial file. A finished upload is never touched. Returns how many went.
pub async fn sweep(
    shared: &Shared,
    locks: &Locks,
    cutoff: chrono::NaiveDateTime,
) -> Result<usize, Error> {
    let mut swept = 0;
    for row in metadata::pending_before(&shared.db, Via::Tus, cutoff).await? {
        let _held = locks.lock(&row.id).await?;
        if !metadata::delete_pending(&shared.db, &row.id).await? {
            continue;
        }
        if let Some(key) = StorageKey::parse(&row.storage_key) {
            match tokio::fs::remove_file(shared.dir.partial(&key)).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        swept += 1;
    }
    Ok(swept)
}

/// `HEAD /tus/files/{id}`: where to resume.
pub async fn head(
    req: actix_web::HttpRequest,
    owner: Owner,
    id: web::Path<String>,
    shared: web::Data<Shared>,
    locks: web::Data<Locks>,
) -> Result<HttpResponse, Error> {
    require_version(req.headers())?;
    let (row, key) = find(&shared, &id, &owner).await?;
    let _held = locks.lock(&row.id).await?;
    let offset = offset(&shared, &row, &key).await?;
    Ok(tus_response(HttpResponse::Ok())
        .insert_header((UPLOAD_OFFSET, offset.to_string()))
        .insert_header((UPLOAD_LENGTH, row.size.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// A chunk's declared checksum, hashed as the bytes arrive.
enum ChunkHash {
    Sha1(Sha1, Vec<u8>),
    Sha256(Sha256, Vec<u8>),
}

impl ChunkHash {
    fn parse(v: &str) -> Result<Self, Error> {
        let (algorithm, b64) = v.split_once(' ').ok_or_else(|| {
            Error::Malformed("Upload-Checksum is `<algorithm> <base64>`".to_owned())
        })?;
        let expected = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| Error::Malformed("Upload-Checksum's digest is not base64".to_owned()))?;
        match algorithm {
            "sha1" => Ok(Self::Sha1(Sha1::new(), expected)),
            "sha256" => Ok(Self::Sha256(Sha256::new(), expected)),
            other => Err(Error::Malformed(format!(
                "unsupported checksum algorithm `{other}` (supported: {CHECKSUM_ALGORITHMS})"
            ))),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Sha1(h, _) => h.update(bytes),
            Self::Sha256(h, _) => h.update(bytes),
        }
    }

    fn matches(self) -> bool {
        match self {
            Self::Sha1(h, expected) => h.finalize().as_slice() == expected.as_slice(),
            Self::Sha256(h, expected) => h.finalize().as_slice() == expected.as_slice(),
        }
    }
}

/// `PATCH /tus/files/{id}`: append from `Upload-Offset`.
pub async fn patch(
    req: actix_web::HttpRequest,
    owner: Owner,
    id: web::Path<String>,
    shared: web::Data<Shared>,
    locks: web::Data<Locks>,
    body: web::Payload,
) -> Result<HttpResponse, Error> {
    let mut body = body;
    let headers = req.headers();
    require_version(headers)?;
    if header(headers, header::CONTENT_TYPE.as_str()) != Some(OFFSET_OCTET_STREAM) {
        return Err(Error::Refused(inspect::Refusal::NotAllowed {
            detected: header(headers, header::CONTENT_TYPE.as_str())
                .unwrap_or("no Content-Type")
                .to_owned(),
            accepted: OFFSET_OCTET_STREAM.to_owned(),
        }));
    }
    let claimed = parse_u64(headers, UPLOAD_OFFSET)?;
    let checksum = header(headers, UPLOAD_CHECKSUM)
        .map(ChunkHash::parse)
        .transpose()?;
    let (row, key) = find(&shared, &id, &owner).await?;
    let held = locks.lock(&row.id).await?;
    let start = offset(&shared, &row, &key).await?;
    if claimed != start {
        return Err(Error::Conflict(format!(
            "Upload-Offset is {claimed}, the server has {start} bytes; HEAD and resume from there."
        )));
    }
    let length = u64::try_from(row.size).unwrap_or_default();
    if row.is(Status::Ready) || start == length {
        return Err(Error::Conflict(
            "This upload is already complete.".to_owned(),
        ));
    }

    // The append runs in its own task, holding the lock: when the client disconnects, actix
    // drops this handler, but the task goes on until the body reports the error, so the bytes
    // that arrived are flushed and a HEAD (which waits for the lock) reports them.
    let shared = shared.into_inner();
    let task = actix_web::rt::spawn(async move {
        let _held = held;
        let at = append(&shared, &key, start, length, checksum, &mut body).await?;
        if at == length {
            finish(&shared, &row, &key).await?;
        }
        Ok::<u64, Error>(at)
    });
    let at = task
        .await
        .map_err(|e| Error::unexpected(anyhow::anyhow!("the PATCH task failed: {e}")))??;
    Ok(tus_response(HttpResponse::NoContent())
        .insert_header((UPLOAD_OFFSET, at.to_string()))
        .finish())
}

/// Appends the body at `start`; returns the new offset. A chunk that cannot be kept (over the
/// length, failing its checksum, or cut off while carrying one) is truncated away again.
async fn append(
    shared: &Shared,
    key: &StorageKey,
    start: u64,
    length: u64,
    mut checksum: Option<ChunkHash>,
    body: &mut web::Payload,
) -> Result<u64, Error> {
    let partial = shared.dir.partial(key);
    let file = tokio::fs::OpenOptions::new()
        .append(true)
        .open(&partial)
        .await?;
    let mut out = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
    let mut at = start;
    let mut failure: Option<Error> = None;
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                // The client went away (or sent broken framing): keep what arrived.
                failure = Some(Error::Malformed(format!("the body ended early ({e})")));
                break;
            }
        };
        if at + chunk.len() as u64 > length {
            failure = Some(Error::TooLarge { limit: length });
            break;
        }
        if let Some(c) = checksum.as_mut() {
            c.update(&chunk);
        }
        out.write_all(&chunk).await?;
        at += chunk.len() as u64;
    }
    out.flush().await?;
    let file = out.into_inner();
    let discard = match (&failure, checksum) {
        (Some(Error::TooLarge { .. }), _) | (Some(_), Some(_)) => true,
        (None, Some(c)) => !c.matches(),
        _ => false,
    };
    if discard {
        file.set_len(start).await?;
        file.sync_all().await?;
        return Err(failure.unwrap_or(Error::ChecksumMismatch));
    }
    file.sync_all().await?;
    match failure {
        Some(e) => Err(e),
        None => Ok(at),
    }
}

/// The last byte arrived: check the file like any other upload, then publish or reject it.
async fn finish(shared: &Shared, row: &Upload, key: &StorageKey) -> Result<(), Error> {
    let partial = shared.dir.partial(key);
    let mut file = tokio::fs::File::open(&partial).await?;
    let mut head = vec![0u8; SNIFF_BYTES];
    let mut filled = 0;
    while filled < SNIFF_BYTES {
        let n = file.read(&mut head[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    head.truncate(filled);
    let decision = inspect::decide(
        &head,
        row.declared_type.as_deref(),
        storage::extension(&row.original_name).as_deref(),
        &shared.allow,
        &shared.limits,
    );
    let decision = match decision {
        Ok(d) => d,
        Err(refusal) => {
            tokio::fs::remove_file(&partial).await?;
            metadata::mark_rejected(&shared.db, &row.id, metadata::now()).await?;
            return Err(refusal.into());
        }
    };
    // The hash of the whole file: the PATCHes came in separate requests, so it is computed once
    // here from the disk (a second read of the file, the cost of not persisting hasher state).
    let mut hasher = Sha256::new();
    hasher.update(&head);
    let mut buf = vec![0u8; WRITE_BUFFER];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    tokio::fs::rename(&partial, shared.dir.file(key)).await?;
    metadata::mark_ready(
        &shared.db,
        &row.id,
        Verified {
            size: row.size,
            detected_type: decision.kind.mime.to_owned(),
            sha256: Some(storage::hex(&hasher.finalize())),
            at: metadata::now(),
        },
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_metadata_decodes_and_a_bad_value_is_refused() {
        let m = parse_metadata("filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential")
            .unwrap();
        assert_eq!(m["filename"], "world_domination_plan.pdf");
        assert_eq!(m["is_confidential"], "");
        assert!(parse_metadata("filename !!!").is_err());
    }

    #[test]
    fn a_checksum_header_names_a_supported_algorithm() {
        assert!(ChunkHash::parse("sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=").is_ok());
        assert!(ChunkHash::parse("md5 AAAA").is_err());
        assert!(ChunkHash::parse("sha1").is_err());
    }
}
