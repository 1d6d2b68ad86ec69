//! Reading a JSON body so that every way it can be wrong gets its own precise answer.
//!
//! actix's `web::Json` answers a bad body with a plain-text 400 that names no field. A Conduit
//! client expects `{"errors": {...}}`, and a learner should see *which* field was wrong, so this
//! extractor reads the bytes itself and tells apart:
//!
//! | what was wrong | status | `errors` |
//! |---|---|---|
//! | a `Content-Type` that is not JSON | 415 | `body: must be application/json` |
//! | more bytes than the limit | 413 | `body: is larger than N bytes` |
//! | not JSON at all (syntax, truncated) | 400 | `body: <where parsing stopped>` |
//! | JSON, but a field of the wrong type or missing | 422 | `<path.to.field>: <what was expected>` |
//!
//! The path comes from `serde_path_to_error`, which tracks where deserialisation was when it
//! failed (`article.tagList[1]`). Unknown fields are ignored: the spec's schemas do not forbid
//! them, and a newer client sending a field this server does not know should still work.
//!
//! Also here: [`double_option`], the serde helper that tells a missing field from an explicit
//! `null` (`Option<Option<T>>`: `None` absent, `Some(None)` null), which the spec's update rules
//! depend on.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::{FromRequest, HttpRequest, web};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::error::Error;

/// A JSON body of type `T`, or an [`Error`] saying exactly what was wrong with it.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type_ok = is_json(req);
        let limit = req
            .app_data::<BodyLimit>()
            .map_or(DEFAULT_LIMIT, |limit| limit.0);
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !content_type_ok {
                return Err(Error::NotJson);
            }
            let bytes = bytes
                .await
                .map_err(|e| match e.as_error::<PayloadError>() {
                    Some(PayloadError::Overflow) => Error::TooLarge(limit),
                    _ => Error::MalformedBody("could not be read".to_owned()),
                })?;
            parse(&bytes).map(JsonBody)
        })
    }
}

/// actix's own default, used when the app sets no limit.
const DEFAULT_LIMIT: usize = 262_144;

/// The largest body accepted, registered as app data next to actix's `web::PayloadConfig`
/// with the same number: the config enforces it while reading, this names it in the answer
/// (the config keeps its limit private).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A missing `Content-Type` is accepted (curl without `-H` sends a form type, which is refused;
/// sending none at all is rare enough to allow); anything else must be `application/json` or
/// a `+json` type.
fn is_json(req: &HttpRequest) -> bool {
    let Some(value) = req.headers().get(actix_web::http::header::CONTENT_TYPE) else {
        return true;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses `bytes` as `T`, classifying the failure: syntax (400) versus shape (422).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    let value = value.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        // Whether the bytes are JSON decides 400 against 422, not the category of serde's first
        // error: serde stops at the first problem it meets, so a body that is not JSON at all
        // can fail on a missing field first, and well-formed JSON can fail with a "syntax"
        // error (an array read as a struct that has more items than the struct has fields).
        let well_formed = serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok();
        if !well_formed {
            Error::MalformedBody(format!("is not valid JSON: {inner}"))
        } else {
            let field = if path == "." { "body".to_owned() } else { path };
            let why = if inner.is_syntax() {
                "has more items than expected".to_owned()
            } else {
                without_position(&inner.to_string())
            };
            Error::invalid(field, why)
        }
    })?;
    // Trailing garbage after the value is a syntax error too.
    de.end()
        .map_err(|e| Error::MalformedBody(format!("is not valid JSON: {e}")))?;
    Ok(value)
}

/// serde_json appends " at line 1 column 42" to its messages: useful for syntax, noise once
/// the field is named.
fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// `Option<Option<T>>` that keeps "absent" (`None`) apart from "null" (`Some(None)`). Use with
/// `#[serde(default, deserialize_with = "double_option")]`.
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}
