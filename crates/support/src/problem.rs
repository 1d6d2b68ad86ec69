//! RFC 9457 problem details: the one error body every crate answers with.
//!
//! A topic crate keeps one `thiserror` enum; its `ResponseError` impl turns each variant into a
//! [`Problem`]. A `Problem` carries a status, a short human title, an optional detail written for
//! the client, and extension members (`errors` for field-level validation, `retry_after`, ...).
//! Internal causes are never put in a problem: they are logged where the error is converted.
//!
//! Bad input often fails before a handler runs, inside actix's extractors. [`Json`] (with its
//! limit, [`json_config`]), [`query_config`], [`form_config`] and [`path_config`] make those
//! failures problems too, with precise statuses: 413 for too large, 415 for the wrong media type,
//! 400 for malformed, 422 for well-formed but wrong.

use std::fmt;

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::{Decompress, Payload};
use actix_web::error::{PathError, QueryPayloadError, UrlencodedError};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{
    FromRequest, HttpMessage as _, HttpRequest, HttpResponse, ResponseError, mime, web,
};
use futures_util::StreamExt as _;
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

/// A JSON request body, in place of `web::Json`: the same extraction (a JSON media type,
/// `Content-Encoding` undone, at most the scope's [`json_config`] limit, 2 MB by default), but
/// judged by [`parse_json`], so every failure is a problem with a precise status. `web::Json`
/// asks serde's first error whether the body was JSON, and so answers a well-formed array read as
/// a struct with 400 "not valid JSON"; this asks the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> std::ops::DerefMut for Json<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

/// The largest [`Json`] body a scope accepts, in bytes: `.app_data(json_config(limit))`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonLimit(pub usize);

/// `web::JsonConfig`'s default, kept for scopes that set none.
const DEFAULT_JSON_LIMIT: usize = 2_097_152;

/// [`Json`] settings for a scope: `limit` bytes at most.
pub fn json_config(limit: usize) -> JsonLimit {
    JsonLimit(limit)
}

impl<T: serde::de::DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = Problem;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Problem>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<JsonLimit>()
            .map_or(DEFAULT_JSON_LIMIT, |limit| limit.0);
        let is_json = matches!(
            req.mime_type(),
            Ok(Some(mime)) if mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON)
        );
        let length = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<usize>().ok());
        let mut body = Decompress::from_headers(payload.take(), req.headers());
        Box::pin(async move {
            if !is_json {
                return Err(Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE)
                    .with_detail("This endpoint accepts application/json."));
            }
            if let Some(length) = length.filter(|length| *length > limit) {
                return Err(too_large(Some(length), limit));
            }
            let mut bytes = web::BytesMut::new();
            while let Some(chunk) = body.next().await {
                let chunk = chunk
                    .map_err(|_| Problem::bad_request("The request body could not be read."))?;
                if bytes.len() + chunk.len() > limit {
                    return Err(too_large(None, limit));
                }
                bytes.extend_from_slice(&chunk);
            }
            parse_json(&bytes).map(Json)
        })
    }
}

/// 413, with the body's length when the client announced it.
fn too_large(length: Option<usize>, limit: usize) -> Problem {
    let detail = match length {
        Some(length) => {
            format!("The body is {length} bytes; this endpoint accepts at most {limit}.")
        }
        None => format!("The body exceeds the limit of {limit} bytes."),
    };
    Problem::new(StatusCode::PAYLOAD_TOO_LARGE).with_detail(detail)
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

    /// The status a `Json<Note>` route behind a 64-byte limit answers `request` with.
    async fn json_status(request: actix_web::test::TestRequest) -> u16 {
        use actix_web::{App, test};
        let app = test::init_service(App::new().app_data(json_config(64)).route(
            "/",
            web::post().to(|note: Json<Note>| async move { note.into_inner().title }),
        ))
        .await;
        test::call_service(
            &app,
            request
                .uri("/")
                .method(actix_web::http::Method::POST)
                .to_request(),
        )
        .await
        .status()
        .as_u16()
    }

    #[actix_web::test]
    async fn the_json_extractor_tells_media_type_size_syntax_and_shape_apart() {
        use actix_web::test::TestRequest;
        let json = || TestRequest::default().insert_header(("content-type", "application/json"));
        let ok = r#"{"title": "x", "tags": []}"#;
        let typed = |content_type: &'static str| {
            TestRequest::default()
                .insert_header(("content-type", content_type))
                .set_payload(ok)
        };
        assert_eq!(json_status(typed("application/json")).await, 200);
        let merge_patch = json_status(typed("application/merge-patch+json")).await;
        assert_eq!(merge_patch, 200, "a +json type is JSON");
        assert_eq!(json_status(typed("text/plain")).await, 415);
        assert_eq!(
            json_status(TestRequest::default().set_payload(ok)).await,
            415
        );
        let big = format!(r#"{{"title": "{}", "tags": []}}"#, "x".repeat(100));
        assert_eq!(json_status(json().set_payload(big)).await, 413);
        assert_eq!(json_status(json().set_payload(r#"{"title": "#)).await, 400);
        assert_eq!(
            json_status(json().set_payload(r#"{"title": 1, "tags": []}"#)).await,
            422
        );
        assert_eq!(
            json_status(json().set_payload(r#"["x", [], null]"#)).await,
            422,
            "well-formed JSON of the wrong shape, which web::Json calls not JSON"
        );
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
