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
//! `support::json_body` draws the line between the last two and finds the field's path
//! (`article.tagList[1]`). Unknown fields are ignored: the spec's schemas do not forbid
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
use support::json_body::BodyFault;

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

/// Parses `bytes` as `T`, classifying the failure: not JSON (400) versus the wrong shape (422).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    support::json_body::read(bytes).map_err(|fault| match fault {
        BodyFault::NotJson { why } => Error::MalformedBody(format!("is not valid JSON: {why}")),
        BodyFault::WrongShape { field, why } if field.is_empty() => Error::invalid("body", why),
        BodyFault::WrongShape { field, why } => Error::invalid(field, why),
    })
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
