//! Serving a stored file back: only to its owner, as an attachment, with the type the server
//! detected, and with the browser told not to guess.
//!
//! - `Content-Disposition: attachment` (RFC 6266) so a browser saves the file instead of
//!   rendering it inside this site's origin (an uploaded HTML or SVG rendered inline is stored
//!   XSS). The name goes twice: `filename="…"` with an ASCII fallback for old clients, and
//!   `filename*=UTF-8''…` percent-encoded per RFC 8187 for everyone else, so `résumé.pdf` and a
//!   name with quotes or semicolons survive intact and cannot inject parameters.
//! - `Content-Type` is the *detected* type, never the client's claim.
//! - `X-Content-Type-Options: nosniff`: without it some browsers second-guess the type from
//!   the content and may execute what we served as data.
//! - The body is streamed from disk, never read whole into memory.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::context::Shared;
use crate::error::Error;
use crate::metadata::{self, Status};
use crate::owner::Owner;
use crate::storage::StorageKey;

/// Where finished files (from the backend and tus paths) are served.
pub const PATH: &str = "/files/{id}";

/// RFC 8187 `attr-char`: ALPHA / DIGIT / "!" / "#" / "$" / "&" / "+" / "-" / "." / "^" / "_" /
/// "`" / "|" / "~"; everything else is percent-encoded.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `attachment; filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded>`.
pub fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
        utf8_percent_encode(name, ATTR_CHAR)
    )
}

/// `GET /files/{id}`: the owner's ready file, streamed.
pub async fn get(
    owner: Owner,
    id: web::Path<String>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, Error> {
    let row = metadata::find_owned(&shared.db, &id, owner.as_str())
        .await?
        .filter(|r| r.is(Status::Ready) && r.via != metadata::Via::Direct.as_str())
        .ok_or(Error::NotFound)?;
    let key = StorageKey::parse(&row.storage_key).ok_or_else(|| {
        Error::unexpected(anyhow::anyhow!(
            "stored key {:?} is malformed",
            row.storage_key
        ))
    })?;
    let file = tokio::fs::File::open(shared.dir.file(&key)).await?;
    let detected = row
        .detected_type
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, detected))
        .insert_header((
            header::CONTENT_DISPOSITION,
            content_disposition(&row.original_name),
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // A file is private to its owner: no shared cache may keep it.
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .no_chunking(u64::try_from(row.size).unwrap_or_default())
        .streaming(tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unicode_name_is_percent_encoded_and_quotes_cannot_break_out() {
        assert_eq!(
            content_disposition("résumé.pdf"),
            "attachment; filename=\"r_sum_.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"
        );
        let tricky = content_disposition("a\"; filename=evil.exe");
        assert!(
            tricky.starts_with("attachment; filename=\"a_; filename=evil.exe\""),
            "{tricky}"
        );
        assert!(
            tricky.ends_with("filename*=UTF-8''a%22%3B%20filename%3Devil.exe"),
            "{tricky}"
        );
    }
}
