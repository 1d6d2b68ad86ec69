//! Reading a JSON body and saying which way it was wrong: not JSON at all, or JSON of the
//! wrong shape.
//!
//! The two deserve different answers (400 against 422), and the second should name the field.
//! serde's own error categories are not enough to tell them apart: serde stops at the first
//! problem it meets, so a truncated body can fail on a missing field first, and well-formed JSON
//! can fail with a "syntax" error (an array read as a struct, with items left over). So the
//! question "is this JSON?" is asked of the bytes themselves, and only the answer to it decides.
//! Trailing bytes after the document are refused too, which `serde_json::from_slice` does and a
//! bare `Deserializer` does not.
//!
//! [`crate::problem::parse_json`] maps a [`BodyFault`] to a problem+json body; the capstone maps
//! it to the Conduit error shape.

use serde::de::{DeserializeOwned, IgnoredAny};

/// Why a body could not be read as the type asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyFault {
    /// The bytes are not one JSON document; `why` says where parsing stopped.
    NotJson { why: String },
    /// The bytes are JSON, but `field` does not fit: a path such as `article.tagList[1]`, empty
    /// when the whole body is the wrong shape.
    WrongShape { field: String, why: String },
}

/// Parses `bytes` as one `T`, or says which [`BodyFault`] it was.
pub fn read<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, BodyFault> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    match value {
        Ok(value) => {
            de.end()
                .map_err(|e| BodyFault::NotJson { why: e.to_string() })?;
            Ok(value)
        }
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if let Err(syntax) = serde_json::from_slice::<IgnoredAny>(bytes) {
                return Err(BodyFault::NotJson {
                    why: syntax.to_string(),
                });
            }
            let field = if path == "." { String::new() } else { path };
            // On well-formed JSON, the only "syntax" error serde_json raises is a sequence or
            // map with more entries than the type reads.
            let why = if inner.is_syntax() {
                "has more items than expected".to_owned()
            } else {
                without_position(&inner.to_string())
            };
            Err(BodyFault::WrongShape { field, why })
        }
    }
}

/// serde_json appends " at line 1 column 42" to its messages: useful for syntax, noise once the
/// field is named.
pub fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}
