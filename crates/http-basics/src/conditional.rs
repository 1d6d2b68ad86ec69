//! Validators and conditional requests: `ETag` with `If-None-Match` and `If-Match`, and
//! `Last-Modified` with `If-Modified-Since`.
//!
//! An ETag names one version of one representation; `Last-Modified` names the moment the
//! resource last changed. Two uses:
//! - **Saving bandwidth**: a client that has version 3 sends `If-None-Match: "3"`; if nothing
//!   changed, the answer is `304 Not Modified` with no body. A client that kept only the date
//!   sends it back as `If-Modified-Since` and gets the same 304 if nothing changed after that
//!   date. The date is the older and coarser validator (whole seconds, read off a clock), so
//!   when a request carries both, the ETag decides and the date is not looked at
//!   (RFC 9110 §13.2.2).
//! - **Preventing lost updates**: a client that read version 3 sends `PUT` with `If-Match: "3"`; if
//!   someone else wrote version 4 in between, the answer is `412 Precondition Failed` and nothing
//!   is overwritten. The check and the write happen under one lock in the store; checking first
//!   and writing later would reopen the race the header exists to close.

use std::time::SystemTime;

use actix_web::HttpRequest;
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderName, HttpDate};
use chrono::{DateTime, Utc};

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

/// The `If-Modified-Since` date of a read, if there is exactly one and it is a valid HTTP-date.
///
/// Every "ignore" of RFC 9110 §13.1.3 that can be decided from the request alone is decided
/// here, so that [`ReadConditions::not_modified`] only ever sees a date worth comparing.
pub fn if_modified_since(req: &HttpRequest) -> Option<DateTime<Utc>> {
    // Only a read can be answered "you already have it". A PUT or POST carrying this header
    // still has work to do, and skipping it because of a date would silently drop a write, so
    // the RFC says a recipient MUST ignore the header on any other method.
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return None;
    }
    // Two `If-Modified-Since` lines are two different questions; rather than guess which one
    // the client meant, ignore both (§13.1.3 treats a value with more than one member like an
    // invalid date). A comma-joined pair fails to parse below, since one HTTP-date already
    // contains a comma.
    let mut values = req.headers().get_all(header::IF_MODIFIED_SINCE);
    let (Some(value), None) = (values.next(), values.next()) else {
        return None;
    };
    // `HttpDate` reads all three formats a recipient must accept (IMF-fixdate, the obsolete
    // RFC 850 form and asctime). Anything else ("yesterday", a Unix timestamp) is not a date,
    // and an unparseable condition is ignored: the client gets a full 200, which costs bytes
    // but can never leave it holding a stale copy.
    let since: HttpDate = value.to_str().ok()?.parse().ok()?;
    Some(DateTime::<Utc>::from(SystemTime::from(since)))
}

/// Whether a resource last changed at `last_modified` is unchanged since the client's `since`
/// date, as judged at the server's `now`. Pure: the clock is a parameter, so a test can put the
/// change and the date anywhere it likes.
pub fn unmodified_since(
    last_modified: DateTime<Utc>,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> bool {
    // A date later than the server's clock cannot be a `Last-Modified` this server sent: the
    // client made it up, or its own clock is ahead. §13.1.3 calls it invalid and says to ignore
    // it. Trusting it would be worse than wasteful: a note edited between the server's "now"
    // and that future date would be reported unchanged, and the client would keep its stale
    // copy. Ignoring the condition means answering in full, as if it had not been sent.
    // (Here every date comes from one process's clock. Behind a load balancer, production takes
    // `Last-Modified` from the database row, so that instances with skewed clocks do not disagree
    // about what "the future" is.)
    if since.timestamp() > now.timestamp() {
        return false;
    }
    // HTTP-date has whole seconds, and `Last-Modified` was printed with the fraction cut off.
    // Comparing the stored time, milliseconds and all, would find every note "modified after"
    // the very date it was sent with (12:00:00.750 is later than 12:00:00), and no client would
    // ever get a 304. So compare whole seconds: "at or before the date" means not modified.
    // The cost is real: a second edit within the same second as the date the client holds goes
    // unnoticed. That blind spot is why a server that has an ETag lets the ETag decide, and why
    // `If-Match`, not `If-Unmodified-Since`, guards the writes here.
    last_modified.timestamp() <= since.timestamp()
}

/// The conditions a GET or HEAD can carry, read once from the request with RFC 9110's
/// "ignore this header" rules already applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadConditions {
    /// `If-None-Match`, if sent.
    pub if_none_match: Option<EntityTags>,
    /// `If-Modified-Since`, if sent on a GET or HEAD as one valid HTTP-date.
    pub if_modified_since: Option<DateTime<Utc>>,
}

impl ReadConditions {
    /// Reads both headers. Which one counts is decided later, in [`Self::not_modified`].
    pub fn from_request(req: &HttpRequest) -> Self {
        Self {
            if_none_match: if_none_match(req),
            if_modified_since: if_modified_since(req),
        }
    }

    /// Whether a read is answered `304 Not Modified` instead of the representation: the
    /// precedence of RFC 9110 §13.2.2, steps 3 and 4, for a representation with this `etag`
    /// whose resource last changed at `last_modified`.
    pub fn not_modified(
        &self,
        etag: &str,
        last_modified: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> bool {
        // Step 3: `If-None-Match`, when present, decides alone, and the date is not consulted
        // even if it would say "unchanged" (§13.1.3: the recipient MUST ignore it). An ETag
        // changes with every version; a date cannot tell two edits within one second apart.
        // A client that sends both is saying "the ETag if you understand it, the date if not",
        // and this server understands the ETag.
        if let Some(tags) = &self.if_none_match {
            return tags.weak_match(etag);
        }
        // Step 4: only without an ETag condition does the date get a say.
        self.if_modified_since
            .is_some_and(|since| unmodified_since(last_modified, since, now))
    }
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

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;
    use chrono::TimeZone;

    use super::*;

    /// 2024-05-01 12:00:00 UTC plus `millis`.
    fn at(millis: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap() + chrono::Duration::milliseconds(millis)
    }

    const SENT: &str = "Wed, 01 May 2024 12:00:00 GMT";

    #[test]
    fn a_change_within_the_second_of_the_date_is_not_a_modification() {
        // The note changed at 12:00:00.750 and was sent as "12:00:00"; that date must earn a 304.
        assert!(unmodified_since(at(750), at(0), at(5_000)));
        assert!(unmodified_since(at(0), at(0), at(5_000)));
        // A date after the change is also fine.
        assert!(unmodified_since(at(0), at(2_000), at(5_000)));
    }

    #[test]
    fn a_change_in_a_later_second_is_a_modification() {
        assert!(!unmodified_since(at(1_000), at(0), at(5_000)));
        assert!(!unmodified_since(at(3_250), at(2_000), at(5_000)));
    }

    #[test]
    fn a_date_later_than_the_clock_is_ignored() {
        // Unchanged since 12:00:00, but the client claims 12:00:10 while it is 12:00:05.
        assert!(!unmodified_since(at(0), at(10_000), at(5_000)));
        // The same second as the clock is not the future.
        assert!(unmodified_since(at(0), at(5_000), at(5_400)));
    }

    #[test]
    fn if_none_match_decides_alone_when_present() {
        let stale_tag_current_date = ReadConditions {
            if_none_match: Some(EntityTags::List(vec!["\"1.1\"".to_owned()])),
            if_modified_since: Some(at(0)),
        };
        assert!(!stale_tag_current_date.not_modified("\"1.2\"", at(0), at(5_000)));

        let current_tag_old_date = ReadConditions {
            if_none_match: Some(EntityTags::List(vec!["\"1.2\"".to_owned()])),
            if_modified_since: Some(at(-60_000)),
        };
        assert!(current_tag_old_date.not_modified("\"1.2\"", at(0), at(5_000)));

        let date_only = ReadConditions {
            if_none_match: None,
            if_modified_since: Some(at(0)),
        };
        assert!(date_only.not_modified("\"1.2\"", at(750), at(5_000)));
        assert!(!ReadConditions::default().not_modified("\"1.2\"", at(0), at(5_000)));
    }

    #[test]
    fn if_modified_since_is_read_on_get_and_head_in_any_of_the_three_date_formats() {
        for date in [
            SENT,
            "Wednesday, 01-May-24 12:00:00 GMT",
            "Wed May  1 12:00:00 2024",
        ] {
            let get = TestRequest::get()
                .insert_header((header::IF_MODIFIED_SINCE, date))
                .to_http_request();
            assert_eq!(if_modified_since(&get), Some(at(0)), "{date}");
        }
        let head = TestRequest::default()
            .method(Method::HEAD)
            .insert_header((header::IF_MODIFIED_SINCE, SENT))
            .to_http_request();
        assert_eq!(if_modified_since(&head), Some(at(0)));
    }

    #[test]
    fn if_modified_since_is_ignored_on_writes_when_unparseable_and_when_repeated() {
        let put = TestRequest::put()
            .insert_header((header::IF_MODIFIED_SINCE, SENT))
            .to_http_request();
        assert_eq!(if_modified_since(&put), None);

        for garbage in [
            "yesterday",
            "1714564800",
            "",
            "Wed, 01 May 2024 12:00:00 GMT, Thu, 02 May 2024 12:00:00 GMT",
        ] {
            let get = TestRequest::get()
                .insert_header((header::IF_MODIFIED_SINCE, garbage))
                .to_http_request();
            assert_eq!(if_modified_since(&get), None, "{garbage:?}");
        }

        let twice = TestRequest::get()
            .append_header((header::IF_MODIFIED_SINCE, SENT))
            .append_header((header::IF_MODIFIED_SINCE, "Thu, 02 May 2024 12:00:00 GMT"))
            .to_http_request();
        assert_eq!(if_modified_since(&twice), None);
    }
}
