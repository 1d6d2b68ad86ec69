//! Request ids: one id per request, in the logs and in the response.
//!
//! A client (or a proxy in front) may send `X-Request-Id`; a sane value is kept so one id follows
//! the request across services. Otherwise the server makes one (UUIDv7, so ids sort by time). The
//! id is echoed in the response and attached to every log line of the request, which is how a
//! support ticket quoting it finds the logged cause of a 500.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

/// The header, lower-case as HTTP/2 requires.
pub const REQUEST_ID: &str = "x-request-id";

/// Middleware: reuse or create the id, log under it, echo it.
pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_sane(v))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
    let span = tracing::info_span!("request", id = %id, method = %req.method(), path = %req.path());
    let mut res = next.call(req).instrument(span).await?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID), value);
    }
    Ok(res)
}

/// Up to 128 characters of letters, digits, `-`, `_`, `.`: nothing that could forge a log line.
fn is_sane(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}
