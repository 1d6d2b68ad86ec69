//! RFC 9457 problem details: the one error body every crate answers with.
//!
//! A topic crate keeps one `thiserror` enum; its `ResponseError` impl turns each variant into a
//! [`Problem`]. A `Problem` carries a status, a short human title, an optional detail written for
//! the client, and extension members (`errors` for field-level validation, `retry_after`, ...).
//! Internal causes are never put in a problem: they are logged where the error is converted.
//!
//! Bad input often fails before a handler runs, inside actix's extractors. [`json_config`],
//! [`query_config`], [`form_config`] and [`path_config`] make those failures problems too, with
//! precise statuses: 413 for too large, 415 for the wrong media type, 400 for malformed, 422 for
//! well-formed but wrong.

use std::fmt;

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError, UrlencodedError};
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::json_body::{self, BodyFault};

/// The media type of a problem body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The detail a client sees for any unexpected failure. Fixed on purpose: the cause goes to the log.
pub const INTERNAL_DETAIL: &str = "The server hit an unexpected condition. It has been logged.";

/// An RFC 9457 problem details object, plus the response headers that belong with it
/// (`Allow` on a 405, `WWW-Authenticate` on a 401, `Retry-After` on a 429 or 503).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// A URI naming the problem type; `about:blank` means "see the status code".
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub instance: Option<String>,
    /// Extension members, serialised at the top level next to the standard ones.
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
    #[serde(skip)]
    headers: Vec<(String, String)>,
}

impl Problem {
    /// A problem of type `about:blank` whose title is the status's reason phrase.
    pub fn new(status: StatusCode) -> Self {
        Self {
            type_uri: "about:blank".to_owned(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: None,
            instance: None,
            extensions: Map::new(),
            headers: Vec::new(),
        }
    }

    /// A 500 with the fixed detail: what every unexpected error becomes on the wire.
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR).with_detail(INTERNAL_DETAIL)
    }

    /// 400: the request could not be parsed.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST).with_detail(detail)
    }

    /// 422: the request parsed, but a field's value is not acceptable.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::new(StatusCode::UNPROCESSABLE_ENTITY)
            .with_detail(format!(
                "The request body is well-formed but invalid: {message}"
            ))
            .with_field_error(field, message)
    }

    /// A more specific problem type (a URI; relative URIs are fine).
    pub fn with_type(mut self, type_uri: impl Into<String>) -> Self {
        self.type_uri = type_uri.into();
        self
    }

    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = Some(instance.into());
        self
    }

    /// Adds an extension member.
    pub fn with_extension(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extensions.insert(key.into(), value.into());
        self
    }

    /// Adds `{ "field": ..., "message": ... }` to the `errors` extension array.
    pub fn with_field_error(
        mut self,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let entry = json!({ "field": field.into(), "message": message.into() });
        match self.extensions.get_mut("errors") {
            Some(Value::Array(errors)) => errors.push(entry),
            _ => {
                self.extensions
                    .insert("errors".to_owned(), Value::Array(vec![entry]));
            }
        }
        self
    }

    /// Adds a response header that belongs with this problem (`Allow`, `Retry-After`, ...).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The status as a `StatusCode` (500 if the stored number is not a valid status).
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The HTTP response: status, headers, and the JSON body as `application/problem+json`.
    pub fn to_response(&self) -> HttpResponse {
        let mut builder = HttpResponse::build(self.status_code());
        builder.content_type(PROBLEM_JSON);
        for (name, value) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::try_from(name.as_str()),
                HeaderValue::try_from(value.as_str()),
            ) {
                builder.insert_header((name, value));
            }
        }
        builder.json(self)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.detail {
            Some(detail) => write!(f, "{} {}: {detail}", self.status, self.title),
            None => write!(f, "{} {}", self.status, self.title),
        }
    }
}

impl std::error::Error for Problem {}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        Problem::status_code(self)
    }

    fn error_response(&self) -> HttpResponse {
        self.to_response()
    }
}

/// The response to a topic's error, logged on the way out: at `error` with its internal `cause`
/// when there is one (the server's fault; the client never sees the cause), at `debug` when
/// there is none (the client's own mistake or a routine refusal). A topic's
/// `ResponseError::error_response` calls this, so every error is logged once, where it is
/// answered.
pub fn respond(
    error: &dyn fmt::Display,
    problem: &Problem,
    cause: Option<&anyhow::Error>,
) -> HttpResponse {
    let status = problem.status;
    match cause {
        Some(cause) => tracing::error!(status, error = ?cause, "{error}"),
        None => tracing::debug!(status, "{error}"),
    }
    problem.to_response()
}

/// Parses a JSON body, and on failure says which field was wrong.
///
/// Not JSON (truncated, trailing bytes) is 400; a document that parses but does not fit the
/// type (missing field, wrong type, unknown variant) is 422 with the field's path in `errors`.
/// [`json_body::read`] draws the line.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    json_body::read(body).map_err(|fault| match fault {
        BodyFault::NotJson { why } => {
            Problem::bad_request(format!("The body is not valid JSON: {why}"))
        }
        BodyFault::WrongShape { field, why } => Problem::invalid_field(field, why),
    })
}

/// `web::Json` settings: `limit` bytes at most, and every failure answered as a problem.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _req| json_problem(&err).into())
}

fn json_problem(err: &JsonPayloadError) -> Problem {
    match err {
        JsonPayloadError::OverflowKnownLength { length, limit } => {
            Problem::new(StatusCode::PAYLOAD_TOO_LARGE).with_detail(format!(
                "The body is {length} bytes; this endpoint accepts at most {limit}."
            ))
        }
        JsonPayloadError::Overflow { limit } => Problem::new(StatusCode::PAYLOAD_TOO_LARGE)
            .with_detail(format!("The body exceeds the limit of {limit} bytes.")),
        JsonPayloadError::ContentType => Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE)
            .with_detail("This endpoint accepts application/json."),
        JsonPayloadError::Deserialize(inner) if inner.is_data() => {
            Problem::invalid_field("", json_body::without_position(&inner.to_string()))
        }
        JsonPayloadError::Deserialize(inner) => {
            Problem::bad_request(format!("The body is not valid JSON: {inner}"))
        }
        _ => Problem::bad_request("The request body could not be read."),
    }
}

/// `web::Form` settings: `limit` bytes at most, failures answered as problems.
pub fn form_config(limit: usize) -> web::FormConfig {
    web::FormConfig::default()
        .limit(limit)
        .error_handler(|err, _req| {
            let problem = match &err {
                UrlencodedError::Overflow { size, limit } => {
                    Problem::new(StatusCode::PAYLOAD_TOO_LARGE).with_detail(format!(
                        "The body is {size} bytes; this endpoint accepts at most {limit}."
                    ))
                }
                UrlencodedError::ContentType => Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE)
                    .with_detail("This endpoint accepts application/x-www-form-urlencoded."),
                UrlencodedError::Parse(_) => {
                    Problem::new(StatusCode::UNPROCESSABLE_ENTITY).with_detail(format!("{err}"))
                }
                _ => Problem::bad_request("The form body could not be read."),
            };
            problem.into()
        })
}

/// `web::Query` settings: a query string that does not fit is a 400 naming the problem.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        let QueryPayloadError::Deserialize(inner) = &err else {
            return Problem::bad_request("The query string could not be read.").into();
        };
        Problem::bad_request(format!("Invalid query string: {inner}")).into()
    })
}

/// `web::Path` settings: a path segment that cannot be the resource's id names no resource: 404.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err: PathError, req: &HttpRequest| {
        Problem::new(StatusCode::NOT_FOUND)
            .with_detail(format!("No resource at {}: {err}", req.path()))
            .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Note {
        title: String,
        tags: Vec<String>,
    }

    #[test]
    fn malformed_json_is_400_and_invalid_json_is_422_naming_the_field() {
        let bad = parse_json::<Note>(b"{\"title\": ").unwrap_err();
        assert_eq!(bad.status, 400);
        let invalid = parse_json::<Note>(br#"{"title": "x", "tags": [1]}"#).unwrap_err();
        assert_eq!(invalid.status, 422);
        assert_eq!(invalid.extensions["errors"][0]["field"], "tags[0]");
    }

    #[test]
    fn a_problem_serialises_with_type_and_flattened_extensions() {
        let p = Problem::new(StatusCode::TOO_MANY_REQUESTS).with_extension("retry_after", 3);
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["type"], "about:blank");
        assert_eq!(v["title"], "Too Many Requests");
        assert_eq!(v["status"], 429);
        assert_eq!(v["retry_after"], 3);
        assert!(v.get("detail").is_none());
    }

    #[actix_web::test]
    async fn the_response_has_the_problem_media_type_and_its_headers() {
        let res = Problem::new(StatusCode::METHOD_NOT_ALLOWED)
            .with_header("Allow", "GET, HEAD")
            .to_response();
        assert_eq!(res.status(), 405);
        assert_eq!(res.headers().get("content-type").unwrap(), PROBLEM_JSON);
        assert_eq!(res.headers().get("allow").unwrap(), "GET, HEAD");
    }
}
