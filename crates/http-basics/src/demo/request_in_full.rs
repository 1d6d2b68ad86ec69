//! Section 1, "A request, in full": one note's life as `curl -v` would show it. Created (201 +
//! `Location` + `ETag`), revalidated both ways (304 by `If-None-Match`, 304 by
//! `If-Modified-Since`), negotiated (text/plain, then a 406 for XML), patched under `If-Match`,
//! protected from a lost update (412), and refused precisely when the body is wrong (400, 422).

use reqwest::Method;
use reqwest::header;
use serde::Serialize;
use serde_json::json;
use support::narrate::Narrator;
use support::transcript::Exchange;

use super::Bench;
use crate::negotiate::{MERGE_PATCH, Representation};

/// The status of each exchange, in the order they were narrated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestFigures {
    pub created: u16,
    pub revalidated_by_etag: u16,
    pub revalidated_by_date: u16,
    pub as_text: u16,
    pub as_xml: u16,
    pub patched: u16,
    pub stale_put: u16,
    pub malformed_json: u16,
    pub invalid_field: u16,
}

/// Prints the transcripts and returns their statuses.
pub async fn section(n: &mut Narrator, bench: &Bench) -> anyhow::Result<RequestFigures> {
    let t = &bench.recorder;
    let writer = bench.writer();
    n.section("1. A request, in full");
    n.say("POST creates a note. The server answers 201 Created, names the new resource in Location, and gives its version as an ETag.");
    let created = t
        .exchange(
            t.request(Method::POST, "/notes")
                .bearer_auth(writer)
                .json(&json!({ "title": "Buy milk", "body": "2 litres", "tags": ["home"] })),
        )
        .await?;
    let created = shown(n, created);
    let location = created.header(header::LOCATION);
    let etag = created.header(header::ETAG);

    n.say("A client that already holds this version asks again with If-None-Match. Nothing changed, so the answer is 304 with no body: the bytes are not sent twice.");
    let by_etag = t
        .exchange(
            t.request(Method::GET, &location)
                .header(header::IF_NONE_MATCH, &etag),
        )
        .await?;
    let by_etag = shown(n, by_etag);

    n.say("A client that kept only the date sends Last-Modified back as If-Modified-Since. The note has not changed since that second, so this is 304 too. A date has whole seconds, so a second edit within the same second would go unnoticed; that is why, when a request carries both headers, the ETag decides.");
    let by_date = t
        .exchange(t.request(Method::GET, &location).header(
            header::IF_MODIFIED_SINCE,
            created.header(header::LAST_MODIFIED),
        ))
        .await?;
    let by_date = shown(n, by_date);
    // The paragraph above promised a 304: stop rather than print a promise the run broke.
    anyhow::ensure!(
        by_date.status == 304,
        "If-Modified-Since answered {}",
        by_date.status
    );

    n.say("Accept picks the representation. Plain text has its own ETag; XML does not exist, so the honest answer is 406.");
    let as_text = t
        .exchange(
            t.request(Method::GET, &location)
                .header(header::ACCEPT, "text/plain"),
        )
        .await?;
    let as_text = shown(n, as_text);
    let as_xml = t
        .exchange(
            t.request(Method::GET, &location)
                .header(header::ACCEPT, "application/xml"),
        )
        .await?;
    let as_xml = shown(n, as_xml);

    n.say("PATCH sends a JSON Merge Patch (RFC 7396): fields present are set, null removes. If-Match makes it conditional on the version we read.");
    let patched = t
        .exchange(
            t.request(Method::PATCH, &location)
                .bearer_auth(writer)
                .header(header::IF_MATCH, &etag)
                .header(header::CONTENT_TYPE, MERGE_PATCH)
                .body(r#"{"body": "3 litres, oat"}"#),
        )
        .await?;
    let patched = shown(n, patched);
    // The next step is "the old ETag is now stale": it only is if this PATCH went through.
    anyhow::ensure!(patched.status == 200, "PATCH answered {}", patched.status);

    n.say("Another client still holds the old ETag and tries to overwrite the note. Without If-Match its PUT would silently erase the change above (a lost update); with it, the server refuses with 412.");
    let stale_put = t
        .exchange(
            t.request(Method::PUT, &location)
                .bearer_auth(writer)
                .header(header::IF_MATCH, &etag)
                .json(&json!({ "title": "Buy bread" })),
        )
        .await?;
    let stale_put = shown(n, stale_put);

    n.say("Bad input gets a precise answer as application/problem+json (RFC 9457): malformed JSON is 400; JSON that parses but breaks a rule is 422 and names the field.");
    let malformed = t
        .exchange(
            t.request(Method::POST, "/notes")
                .bearer_auth(writer)
                .header(header::CONTENT_TYPE, Representation::Json.media_type())
                .body(r#"{"title": "unterminated"#),
        )
        .await?;
    let malformed = shown(n, malformed);
    let invalid = t
        .exchange(
            t.request(Method::POST, "/notes")
                .bearer_auth(writer)
                .json(&json!({ "title": "ok", "tags": ["Not A Tag"] })),
        )
        .await?;
    let invalid = shown(n, invalid);

    let figures = RequestFigures {
        created: created.status.as_u16(),
        revalidated_by_etag: by_etag.status.as_u16(),
        revalidated_by_date: by_date.status.as_u16(),
        as_text: as_text.status.as_u16(),
        as_xml: as_xml.status.as_u16(),
        patched: patched.status.as_u16(),
        stale_put: stale_put.status.as_u16(),
        malformed_json: malformed.status.as_u16(),
        invalid_field: invalid.status.as_u16(),
    };
    n.figures(&figures)?;
    Ok(figures)
}

/// Prints an exchange's transcript and hands the exchange back for its status and headers.
fn shown(n: &mut Narrator, exchange: Exchange) -> Exchange {
    n.transcript(exchange.lines.clone());
    exchange
}
