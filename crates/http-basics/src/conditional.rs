//! Validators and conditional requests: `ETag`, `If-None-Match` and `If-Match`.
//!
//! An ETag names one version of one representation. Two uses:
//! - **Saving bandwidth**: a client that has version 3 sends `If-None-Match: "3"`; if nothing
//!   changed, the answer is `304 Not Modified` with no body.
//! - **Preventing lost updates**: a client that read version 3 sends `PUT` with `If-Match: "3"`; if
//!   someone else wrote version 4 in between, the answer is `412 Precondition Failed` and nothing
//!   is overwritten. The check and the write happen under one lock in the store; checking first
//!   and writing later would reopen the race the header exists to close.

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderName};

use crate::model::Note;
use crate::negotiate::Representation;

/// The strong ETag of a note's representation. It changes with every version, and the text and
/// JSON representations of one version differ, as strong validators of different bytes must.
pub fn note_etag(note: &Note, representation: Representation) -> String {
    match representation {
        Representation::Json => format!("\"{}.{}\"", note.id, note.version),
        Representation::Text => format!("\"{}.{}.txt\"", note.id, note.version),
    }
}

/// A parsed `If-Match` or `If-None-Match` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntityTags {
    /// `*`: any current representation.
    Any,
    /// A list of entity tags, as sent (quotes and `W/` included).
    List(Vec<String>),
}

impl EntityTags {
    /// Reads the header, if present.
    pub fn from_header(req: &HttpRequest, name: HeaderName) -> Option<Self> {
        let values: Vec<&str> = req
            .headers()
            .get_all(name)
            .filter_map(|v| v.to_str().ok())
            .collect();
        if values.is_empty() {
            return None;
        }
        let joined = values.join(",");
        if joined.trim() == "*" {
            return Some(EntityTags::Any);
        }
        Some(EntityTags::List(
            joined
                .split(',')
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
                .collect(),
        ))
    }

    /// `If-Match` uses the strong comparison: a weak tag never matches.
    pub fn strong_match(&self, etags: &[String]) -> bool {
        match self {
            EntityTags::Any => true,
            EntityTags::List(tags) => tags
                .iter()
                .any(|t| !t.starts_with("W/") && etags.iter().any(|e| e == t)),
        }
    }

    /// `If-None-Match` uses the weak comparison: `W/"x"` and `"x"` match.
    pub fn weak_match(&self, etag: &str) -> bool {
        match self {
            EntityTags::Any => true,
            EntityTags::List(tags) => tags
                .iter()
                .any(|t| t.trim_start_matches("W/") == etag.trim_start_matches("W/")),
        }
    }
}

/// The `If-Match` header of a write, if any.
pub fn if_match(req: &HttpRequest) -> Option<EntityTags> {
    EntityTags::from_header(req, header::IF_MATCH)
}

/// The `If-None-Match` header of a read, if any.
pub fn if_none_match(req: &HttpRequest) -> Option<EntityTags> {
    EntityTags::from_header(req, header::IF_NONE_MATCH)
}

/// Whether a write's `If-Match` allows changing `note`. Any representation's ETag counts: the
/// client may have read the text form and still want to update the same version.
pub fn write_allowed(condition: Option<&EntityTags>, note: &Note) -> bool {
    condition.is_none_or(|c| {
        c.strong_match(&[
            note_etag(note, Representation::Json),
            note_etag(note, Representation::Text),
        ])
    })
}
