//! Path 2, **direct to object storage**: the backend signs, the client sends the bytes straight
//! to the storage server, and the backend checks the result afterwards.
//!
//! The flow, in three requests:
//!
//! 1. `POST /direct/uploads` (or `/direct/policies`) with the file's claims: name, type, size,
//!    SHA-256. The backend checks the claims it can (size limit, type on the allowlist, extension
//!    agreeing with the type), inserts a `pending` row with a server-generated key, and answers
//!    with a **presigned PUT URL** (SigV4, `rusty-s3`) whose signature covers `Content-Type`,
//!    `Content-Length`, `Content-Disposition` and `x-amz-checksum-sha256`, or with a **POST
//!    policy** (for an HTML form) whose conditions pin the bucket, the key, the type and a
//!    `content-length-range`.
//! 2. The client sends the bytes to the storage server. *The storage server* enforces what was
//!    signed: a URL used after it expired, a longer body than signed, another type, or bytes
//!    whose SHA-256 differs are refused there (403 or 400), and never reach the backend.
//! 3. `POST /direct/uploads/{id}/confirm`: the backend HEADs the object (size, type, the checksum
//!    storage verified) and reads its first bytes with a ranged GET for the magic number and
//!    image header ([`crate::inspect::decide`], the same check as the other paths). Pass: the row
//!    becomes `ready`. Fail: the object is deleted and the row becomes `rejected`.
//!
//! A client that never confirms leaves a `pending` row and maybe an object. [`sweep`] removes
//! both once the confirm deadline has passed; a confirmed upload is never touched.
//!
//! What it costs: a second round trip (confirm), a window in which an unchecked object sits in
//! the bucket (it is private: nobody can read it without a URL the backend signs), and a
//! reconciliation job. What it saves: the backend carries none of the file's bytes.
//!
//! Firebase Storage (and other managed client SDKs) replace step 1 with security rules
//! evaluated by the storage service (`request.resource.size < 10 * 1024 * 1024 &&
//! request.resource.contentType.matches('image/.*')`): no presigning code, but the rules are
//! the only gate, the magic number is not checked unless a function triggered on upload does
//! step 3, and the rules cannot see your database. It cannot run here, so it is not shown.

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use base64::Engine as _;
use chrono::NaiveDateTime;
use hmac::{Hmac, KeyInit as _, Mac as _};
use rusty_s3::S3Action as _;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use support::clock::SharedClock;

use crate::context::Shared;
use crate::download::content_disposition;
use crate::error::Error;
use crate::inspect::{self, Refusal, SNIFF_BYTES};
use crate::metadata::{self, Status, Upload, Verified, Via};
use crate::object_store::ObjectStore;
use crate::owner::Owner;
use crate::storage::{self, StorageKey};

/// Announce an upload and get a presigned PUT URL.
pub const PUT_PATH: &str = "/direct/uploads";
/// Announce an upload and get a POST policy for an HTML form.
pub const POLICY_PATH: &str = "/direct/policies";
/// Confirm an upload once its bytes are in the bucket.
pub const CONFIRM_PATH: &str = "/direct/uploads/{id}/confirm";
/// Download a ready direct upload: a 303 to a short-lived presigned GET.
pub const DOWNLOAD_PATH: &str = "/direct/files/{id}";

/// The header that carries the SHA-256 storage verifies (base64 of the raw digest).
pub const CHECKSUM_HEADER: &str = "x-amz-checksum-sha256";
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How long a download redirect's URL stays valid.
const DOWNLOAD_TTL: Duration = Duration::from_secs(60);

/// The direct path's own state, next to [`Shared`].
#[derive(Debug, Clone)]
pub struct Direct {
    pub store: ObjectStore,
    /// How long a presigned URL or policy is valid.
    pub ttl: Duration,
    /// How long a pending upload may wait for its confirm.
    pub deadline: Duration,
    /// Where "now" comes from: signing times, row times and the sweep's cutoff.
    pub clock: SharedClock,
}

impl Direct {
    fn now(&self) -> (jiff::Timestamp, NaiveDateTime) {
        let secs = i64::try_from(self.clock.now()).unwrap_or(i64::MAX);
        let jiff = jiff::Timestamp::from_second(secs).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let naive = chrono::DateTime::from_timestamp(secs, 0)
            .unwrap_or_default()
            .naive_utc();
        (jiff, naive)
    }
}

/// What the client claims about the file it is about to send.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Announce {
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    /// Lowercase hex SHA-256 of the whole file. Required for PUT (storage verifies it); a POST
    /// form cannot compute it, so the policy path ignores it.
    #[serde(default)]
    pub sha256: Option<String>,
}

/// The answer to a PUT announcement: send `PUT url` with exactly these headers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PresignedPut {
    pub id: String,
    pub url: String,
    pub headers: BTreeMap<String, String>,
    pub expires_at: i64,
    pub confirm: String,
}

/// The answer to a POST announcement: an HTML form posting `fields`, then the `file`, to `url`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PresignedPost {
    pub id: String,
    pub url: String,
    pub fields: BTreeMap<String, String>,
    pub expires_at: i64,
    pub confirm: String,
}

/// What a confirmed upload answers with.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Confirmed {
    pub id: String,
    pub name: String,
    pub size: i64,
    pub detected_type: String,
    pub sha256: Option<String>,
    pub status: String,
}

/// The claims checks both announcements share; returns the display name.
fn check_claims(shared: &Shared, a: &Announce) -> Result<String, Error> {
    if a.size == 0 {
        return Err(Refusal::Empty.into());
    }
    if a.size > shared.limits.max_bytes {
        return Err(Error::TooLarge {
            limit: shared.limits.max_bytes,
        });
    }
    let name = storage::display_name(&a.filename);
    let kind = shared
        .allow
        .get(&a.content_type)
        .ok_or_else(|| Refusal::NotAllowed {
            detected: a.content_type.clone(),
            accepted: shared.allow.mimes().join(", "),
        })?;
    if let Some(ext) = storage::extension(&name)
        && !kind.extensions.contains(&ext.as_str())
    {
        return Err(Refusal::ExtensionMismatch {
            detected: kind.mime.to_owned(),
            extension: ext,
        }
        .into());
    }
    Ok(name)
}

/// Hex SHA-256 → base64 of the raw digest (S3's checksum encoding).
fn sha256_hex_to_base64(hex: &str) -> Result<String, Error> {
    let bad = || Error::invalid("sha256", "must be 64 lowercase hex digits");
    if hex.len() != 64 {
        return Err(bad());
    }
    let raw = (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| bad())?;
    Ok(base64::engine::general_purpose::STANDARD.encode(raw))
}

async fn insert_pending(
    shared: &Shared,
    direct: &Direct,
    owner: &Owner,
    name: &str,
    a: &Announce,
    key: &StorageKey,
) -> Result<String, Error> {
    let id = uuid::Uuid::new_v4().to_string();
    metadata::insert(
        &shared.db,
        Upload {
            id: id.clone(),
            owner: owner.as_str().to_owned(),
            original_name: name.to_owned(),
            storage_key: key.to_string(),
            via: Via::Direct.as_str().to_owned(),
            size: i64::try_from(a.size).map_err(Error::unexpected)?,
            declared_type: Some(a.content_type.clone()),
            detected_type: None,
            sha256: a.sha256.clone(),
            status: Status::Pending.as_str().to_owned(),
            created_at: direct.now().1,
            confirmed_at: None,
        },
    )
    .await?;
    Ok(id)
}

/// Signs a PUT of exactly these bytes: the signature covers every header in the answer, so
/// storage refuses the request if any differs (a larger body has another `Content-Length`).
pub fn sign_put(
    store: &ObjectStore,
    key: &str,
    headers: &BTreeMap<String, String>,
    ttl: Duration,
    at: &jiff::Timestamp,
) -> url::Url {
    let mut action = store.bucket.put_object(Some(&store.credentials), key);
    for (name, value) in headers {
        action.headers_mut().insert(name.clone(), value.clone());
    }
    action.sign_with_time(ttl, at)
}

/// Signs a GET of `key` (the published-example test uses this with AWS's fixed date).
pub fn sign_get(store: &ObjectStore, key: &str, ttl: Duration, at: &jiff::Timestamp) -> url::Url {
    store
        .bucket
        .get_object(Some(&store.credentials), key)
        .sign_with_time(ttl, at)
}

/// `POST /direct/uploads`: claims in, presigned PUT out.
pub async fn announce_put(
    owner: Owner,
    shared: web::Data<Shared>,
    direct: web::Data<Direct>,
    body: web::Bytes,
) -> Result<HttpResponse, Error> {
    let a: Announce = support::problem::parse_json(&body).map_err(|p| {
        Error::invalid(
            "body",
            p.detail.unwrap_or_else(|| "invalid JSON".to_owned()),
        )
    })?;
    let name = check_claims(&shared, &a)?;
    let Some(sha256_hex) = a.sha256.as_deref() else {
        return Err(Error::invalid(
            "sha256",
            "a presigned PUT needs the file's SHA-256",
        ));
    };
    let checksum = sha256_hex_to_base64(sha256_hex)?;
    let key = StorageKey::generate();
    let id = insert_pending(&shared, &direct, &owner, &name, &a, &key).await?;
    let headers = BTreeMap::from([
        ("content-type".to_owned(), a.content_type.clone()),
        ("content-length".to_owned(), a.size.to_string()),
        ("content-disposition".to_owned(), content_disposition(&name)),
        (CHECKSUM_HEADER.to_owned(), checksum),
    ]);
    let (at, _) = direct.now();
    let url = sign_put(&direct.store, key.as_str(), &headers, direct.ttl, &at);
    let answer = PresignedPut {
        confirm: CONFIRM_PATH.replace("{id}", &id),
        id,
        url: url.to_string(),
        headers,
        expires_at: at.as_second() + direct.ttl.as_secs() as i64,
    };
    Ok(HttpResponse::Created().json(answer))
}

/// The policy document and its form fields, signed (SigV4 POST: the signature is an HMAC of the
/// base64 policy under the day's signing key).
pub fn sign_post_policy(
    store: &ObjectStore,
    key: &str,
    content_type: &str,
    disposition: &str,
    max_bytes: u64,
    ttl: Duration,
    at: &jiff::Timestamp,
) -> BTreeMap<String, String> {
    let date = at.strftime("%Y%m%dT%H%M%SZ").to_string();
    let day = at.strftime("%Y%m%d").to_string();
    let region = store.bucket.region();
    let credential = format!("{}/{day}/{region}/s3/aws4_request", store.credentials.key());
    let expiration = (*at + ttl).strftime("%Y-%m-%dT%H:%M:%S.000Z").to_string();
    let policy = serde_json::json!({
        "expiration": expiration,
        "conditions": [
            {"bucket": store.bucket.name()},
            {"key": key},
            {"Content-Type": content_type},
            {"Content-Disposition": disposition},
            ["content-length-range", 1, max_bytes],
            {"x-amz-credential": credential},
            {"x-amz-algorithm": ALGORITHM},
            {"x-amz-date": date},
        ]
    });
    let policy_b64 = base64::engine::general_purpose::STANDARD.encode(policy.to_string());
    let signature = post_signature(&policy_b64, store.credentials.secret(), &day, region);
    BTreeMap::from([
        ("key".to_owned(), key.to_owned()),
        ("Content-Type".to_owned(), content_type.to_owned()),
        ("Content-Disposition".to_owned(), disposition.to_owned()),
        ("policy".to_owned(), policy_b64),
        ("x-amz-algorithm".to_owned(), ALGORITHM.to_owned()),
        ("x-amz-credential".to_owned(), credential),
        ("x-amz-date".to_owned(), date),
        ("x-amz-signature".to_owned(), signature),
    ])
}

/// SigV4 for a POST policy: `hex(HMAC(signing key, base64 policy))`, where the signing key is
/// `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, day), region), "s3"), "aws4_request")`.
pub fn post_signature(policy_b64: &str, secret: &str, day: &str, region: &str) -> String {
    let mut k = hmac(format!("AWS4{secret}").as_bytes(), day.as_bytes());
    for part in [region, "s3", "aws4_request"] {
        k = hmac(&k, part.as_bytes());
    }
    storage::hex(&hmac(&k, policy_b64.as_bytes()))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length, so `new_from_slice` cannot fail here.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// `POST /direct/policies`: claims in, POST policy out (the browser-form variant).
pub async fn announce_post(
    owner: Owner,
    shared: web::Data<Shared>,
    direct: web::Data<Direct>,
    body: web::Bytes,
) -> Result<HttpResponse, Error> {
    let mut a: Announce = support::problem::parse_json(&body).map_err(|p| {
        Error::invalid(
            "body",
            p.detail.unwrap_or_else(|| "invalid JSON".to_owned()),
        )
    })?;
    // A form cannot hash the file before sending it: no checksum on this path.
    a.sha256 = None;
    let name = check_claims(&shared, &a)?;
    let key = StorageKey::generate();
    let id = insert_pending(&shared, &direct, &owner, &name, &a, &key).await?;
    let (at, _) = direct.now();
    let fields = sign_post_policy(
        &direct.store,
        key.as_str(),
        &a.content_type,
        &content_disposition(&name),
        a.size,
        direct.ttl,
        &at,
    );
    let mut url = direct.store.bucket.object_url("");
    url.set_path(&format!("/{}", direct.store.bucket.name()));
    let answer = PresignedPost {
        confirm: CONFIRM_PATH.replace("{id}", &id),
        id,
        url: url.to_string(),
        fields,
        expires_at: at.as_second() + direct.ttl.as_secs() as i64,
    };
    Ok(HttpResponse::Created().json(answer))
}

/// `POST /direct/uploads/{id}/confirm`.
pub async fn confirm(
    owner: Owner,
    id: web::Path<String>,
    shared: web::Data<Shared>,
    direct: web::Data<Direct>,
) -> Result<HttpResponse, Error> {
    let row = metadata::find_owned(&shared.db, &id, owner.as_str())
        .await?
        .filter(|r| r.via == Via::Direct.as_str())
        .ok_or(Error::NotFound)?;
    if row.is(Status::Ready) {
        return Ok(HttpResponse::Ok().json(confirmed(&row)));
    }
    if row.is(Status::Rejected) {
        return Err(Error::Conflict(
            "This upload was already checked and rejected.".to_owned(),
        ));
    }
    let key = StorageKey::parse(&row.storage_key).ok_or_else(|| {
        Error::unexpected(anyhow::anyhow!(
            "stored key {:?} is malformed",
            row.storage_key
        ))
    })?;
    let info = direct
        .store
        .head(key.as_str())
        .await
        .map_err(Error::Storage)?
        .ok_or_else(|| {
            Error::Conflict(
                "Nothing has been uploaded for this id yet; send the bytes first.".to_owned(),
            )
        })?;
    let verdict = match check_object(&shared, &direct, &row, &key, &info).await {
        Ok(v) => v,
        Err(refusal) => {
            // Delete first, then record: if the delete fails the row stays pending and the
            // sweep retries, so an unchecked object is never left behind a `rejected` row.
            direct
                .store
                .delete(key.as_str())
                .await
                .map_err(Error::Storage)?;
            metadata::mark_rejected(&shared.db, &row.id, direct.now().1).await?;
            return Err(refusal);
        }
    };
    if !metadata::mark_ready(&shared.db, &row.id, verdict).await? {
        // Swept (or rejected) between the HEAD and now: the sweep owns the object.
        return Err(Error::NotFound);
    }
    let row = metadata::find_owned(&shared.db, &row.id, owner.as_str())
        .await?
        .ok_or(Error::NotFound)?;
    Ok(HttpResponse::Ok().json(confirmed(&row)))
}

/// The confirm's checks; an `Err` is the refusal to answer with.
async fn check_object(
    shared: &Shared,
    direct: &Direct,
    row: &Upload,
    key: &StorageKey,
    info: &crate::object_store::ObjectInfo,
) -> Result<Verified, Error> {
    let declared = row.declared_type.clone().unwrap_or_default();
    if info.size == 0 {
        return Err(Refusal::Empty.into());
    }
    if info.size > u64::try_from(row.size).unwrap_or(0) {
        return Err(Error::TooLarge {
            limit: u64::try_from(row.size).unwrap_or(0),
        });
    }
    // First: an object storage did not verify (no checksum recorded) is not trusted further.
    if let Some(hex) = row.sha256.as_deref()
        && info.sha256_base64.as_deref() != Some(sha256_hex_to_base64(hex)?.as_str())
    {
        return Err(Error::invalid(
            "sha256",
            "the stored object's checksum is not the announced one",
        ));
    }
    if info.content_type.as_deref() != Some(declared.as_str()) {
        return Err(Refusal::DeclaredMismatch {
            detected: info.content_type.clone().unwrap_or_default(),
            declared,
        }
        .into());
    }
    let head = direct
        .store
        .first_bytes(key.as_str(), SNIFF_BYTES)
        .await
        .map_err(Error::Storage)?;
    let decision = inspect::decide(
        &head,
        Some(&declared),
        storage::extension(&row.original_name).as_deref(),
        &shared.allow,
        &shared.limits,
    )?;
    Ok(Verified {
        size: i64::try_from(info.size).map_err(Error::unexpected)?,
        detected_type: decision.kind.mime.to_owned(),
        sha256: row.sha256.clone(),
        at: direct.now().1,
    })
}

fn confirmed(row: &Upload) -> Confirmed {
    Confirmed {
        id: row.id.clone(),
        name: row.original_name.clone(),
        size: row.size,
        detected_type: row.detected_type.clone().unwrap_or_default(),
        sha256: row.sha256.clone(),
        status: row.status.clone(),
    }
}

/// `GET /direct/files/{id}`: 303 to a presigned GET, valid for a minute. The object carries the
/// `Content-Type` and `Content-Disposition` that were signed into its upload.
pub async fn download(
    owner: Owner,
    id: web::Path<String>,
    shared: web::Data<Shared>,
    direct: web::Data<Direct>,
) -> Result<HttpResponse, Error> {
    let row = metadata::find_owned(&shared.db, &id, owner.as_str())
        .await?
        .filter(|r| r.via == Via::Direct.as_str() && r.is(Status::Ready))
        .ok_or(Error::NotFound)?;
    let (at, _) = direct.now();
    let url = sign_get(&direct.store, &row.storage_key, DOWNLOAD_TTL, &at);
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, url.to_string()))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .finish())
}

/// What a sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Swept {
    pub rows: usize,
}

/// Removes direct uploads still `pending` after the confirm deadline: the row first (only if
/// still pending, so a confirm that won the race keeps its object), then the object.
pub async fn sweep(shared: &Shared, direct: &Direct) -> Result<Swept, Error> {
    let (_, now) = direct.now();
    let cutoff = now - chrono::Duration::from_std(direct.deadline).map_err(Error::unexpected)?;
    let mut swept = Swept::default();
    for row in metadata::pending_before(&shared.db, Via::Direct, cutoff).await? {
        if metadata::delete_pending(&shared.db, &row.id).await? {
            direct
                .store
                .delete(&row.storage_key)
                .await
                .map_err(Error::Storage)?;
            swept.rows += 1;
        }
    }
    Ok(swept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_digests_become_s3_base64_and_bad_ones_are_refused() {
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(
            sha256_hex_to_base64(hex).unwrap(),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        assert!(sha256_hex_to_base64("zz").is_err());
        assert!(sha256_hex_to_base64(&"g".repeat(64)).is_err());
    }
}
