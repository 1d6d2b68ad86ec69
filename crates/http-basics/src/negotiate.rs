//! Content negotiation: which representation to send (`Accept`) and which bodies we can read
//! (`Content-Type`).
//!
//! `Accept` is a list of media ranges with optional weights (`text/plain;q=0.5, */*;q=0.1`). For each
//! representation we can produce, the most specific range that matches it gives its weight; the
//! highest non-zero weight wins and ties go to our own preference (JSON). No match at all is a 406:
//! better to say "I can't" than to send something the client said it cannot use.

use actix_web::HttpRequest;
use actix_web::http::header;

use crate::error::ApiError;

/// A representation this server can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Representation {
    Json,
    Text,
}

impl Representation {
    /// In order of our preference.
    const ALL: [Representation; 2] = [Representation::Json, Representation::Text];

    pub fn media_type(self) -> &'static str {
        match self {
            Representation::Json => "application/json",
            Representation::Text => "text/plain; charset=utf-8",
        }
    }

    fn essence(self) -> (&'static str, &'static str) {
        match self {
            Representation::Json => ("application", "json"),
            Representation::Text => ("text", "plain"),
        }
    }
}

/// Picks the representation for this request's `Accept` header.
pub fn choose(req: &HttpRequest) -> Result<Representation, ApiError> {
    let accept = req
        .headers()
        .get_all(header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    choose_from(&accept).ok_or(ApiError::NotAcceptable)
}

/// The negotiation itself, on the header's text. An empty header accepts anything.
pub fn choose_from(accept: &str) -> Option<Representation> {
    if accept.trim().is_empty() {
        return Some(Representation::Json);
    }
    let ranges: Vec<MediaRange> = accept.split(',').filter_map(MediaRange::parse).collect();
    let mut best: Option<(Representation, f32)> = None;
    for candidate in Representation::ALL {
        let weight = ranges
            .iter()
            .filter_map(|r| r.specificity(candidate).map(|s| (s, r.q)))
            .max_by_key(|(specificity, _)| *specificity)
            .map_or(0.0, |(_, q)| q);
        if weight > 0.0 && best.is_none_or(|(_, w)| weight > w) {
            best = Some((candidate, weight));
        }
    }
    best.map(|(representation, _)| representation)
}

#[derive(Debug)]
struct MediaRange {
    kind: String,
    subtype: String,
    q: f32,
}

impl MediaRange {
    /// Parses `type/subtype;param=value;q=0.5`. A malformed range is ignored, not fatal.
    fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split(';');
        let (kind, subtype) = parts.next()?.trim().split_once('/')?;
        if kind.is_empty() || subtype.is_empty() {
            return None;
        }
        let mut q = 1.0;
        for param in parts {
            if let Some((name, value)) = param.split_once('=')
                && name.trim().eq_ignore_ascii_case("q")
            {
                q = value
                    .trim()
                    .parse::<f32>()
                    .ok()
                    .filter(|q| (0.0..=1.0).contains(q))?;
            }
        }
        Some(Self {
            kind: kind.trim().to_ascii_lowercase(),
            subtype: subtype.trim().to_ascii_lowercase(),
            q,
        })
    }

    /// How specifically this range names `candidate` (2 exact, 1 `type/*`, 0 `*/*`), if at all.
    fn specificity(&self, candidate: Representation) -> Option<u8> {
        let (kind, subtype) = candidate.essence();
        match (self.kind.as_str(), self.subtype.as_str()) {
            ("*", "*") => Some(0),
            (k, "*") if k == kind => Some(1),
            (k, s) if k == kind && s == subtype => Some(2),
            _ => None,
        }
    }
}

/// The body formats a write endpoint can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    Json,
    Form,
    MergePatch,
}

/// The header that lists what POST and PUT read (W3C LDP §7.1), sent on `OPTIONS` and 415s.
pub const ACCEPT_POST: &str = "Accept-Post";
/// The header that lists what PATCH reads (RFC 5789 §3.1).
pub const ACCEPT_PATCH: &str = "Accept-Patch";

/// What POST and PUT accept, as advertised in `Accept-Post`.
pub const WRITE_FORMATS: &str = "application/json, application/x-www-form-urlencoded";
/// The JSON Merge Patch media type (RFC 7396 §4): the one PATCH body this server reads.
pub const MERGE_PATCH: &str = "application/merge-patch+json";
/// What PATCH accepts, as advertised in `Accept-Patch`.
pub const PATCH_FORMATS: &str = MERGE_PATCH;

/// The media type of the request body without parameters, lower-cased (`application/json`).
pub fn content_type_essence(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next()?.trim().to_ascii_lowercase();
    (!essence.is_empty()).then_some(essence)
}

/// The body format of a POST or PUT, or 415.
pub fn write_format(req: &HttpRequest) -> Result<BodyFormat, ApiError> {
    match content_type_essence(req).as_deref() {
        Some("application/json") => Ok(BodyFormat::Json),
        Some("application/x-www-form-urlencoded") => Ok(BodyFormat::Form),
        _ => Err(ApiError::UnsupportedMediaType {
            supported: WRITE_FORMATS,
            advertise: ACCEPT_POST,
        }),
    }
}

/// The body format of a PATCH, or 415.
pub fn patch_format(req: &HttpRequest) -> Result<BodyFormat, ApiError> {
    match content_type_essence(req).as_deref() {
        Some(MERGE_PATCH) => Ok(BodyFormat::MergePatch),
        _ => Err(ApiError::UnsupportedMediaType {
            supported: PATCH_FORMATS,
            advertise: ACCEPT_PATCH,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_and_specificity_decide_and_ties_go_to_json() {
        assert_eq!(choose_from(""), Some(Representation::Json));
        assert_eq!(choose_from("*/*"), Some(Representation::Json));
        assert_eq!(choose_from("text/plain"), Some(Representation::Text));
        assert_eq!(
            choose_from("application/json;q=0.4, text/*;q=0.9"),
            Some(Representation::Text)
        );
        // The exact range wins over the wildcard for JSON, so JSON is excluded.
        assert_eq!(
            choose_from("application/json;q=0, */*"),
            Some(Representation::Text)
        );
        assert_eq!(choose_from("application/xml"), None);
        assert_eq!(choose_from("text/html, image/*"), None);
    }

    #[test]
    fn malformed_ranges_are_ignored() {
        assert_eq!(
            choose_from("garbage, text/plain"),
            Some(Representation::Text)
        );
        assert_eq!(choose_from("text/plain;q=7"), None);
    }
}
