//! Section 3, "Status codes: one real request each": the status-code tour, one real request for
//! every status this server can answer, checked for the headers that status requires.
//!
//! The demo prints the tour as a table ([`section`]); the conformance test runs the same tour
//! ([`run`]) and asserts every row. Writing it once means the table a reader sees is exactly
//! what the test proves.
//!
//! The tour expects a fresh server whose write bucket holds [`TOUR_BURST`] tokens and refills
//! slowly ([`tour_config`]), so that the 429 step is reached in a bounded number of requests.

use actix_web::web;
use reqwest::header::{self, HeaderMap};
use reqwest::{Client, Method, RequestBuilder};
use serde::Serialize;
use serde_json::{Value, json};
use support::narrate::Narrator;
use support::report::{Table, Unit};
use support::transcript::{Recorder, header_text};

use crate::config::Config;
use crate::negotiate::{ACCEPT_POST, Representation};
use crate::rate_limit::RateLimit;
use crate::{AppState, run as serve_on};

/// Write tokens available to the tour's caller.
pub const TOUR_BURST: u32 = 40;

/// The server configuration the tour expects: the defaults, with a small write bucket.
pub fn tour_config() -> Config {
    Config {
        write_rate: RateLimit {
            burst: TOUR_BURST,
            per_second: 0.2,
        },
        ..Config::default()
    }
}

/// One stop of the tour: what was asked, what was expected, what came back.
#[derive(Debug, Clone)]
pub struct Stop {
    pub expected: u16,
    pub got: u16,
    /// `METHOD /path`, as sent.
    pub request: String,
    /// Why this request gets this status, in a few words.
    pub lesson: &'static str,
    /// Headers this status requires, and whether each was present.
    pub required: Vec<(&'static str, bool)>,
    /// The response's `Content-Type`, if any.
    pub content_type: Option<String>,
    /// Whether the body contains text it must never show (internal host or user names).
    pub leaked: bool,
    pub body: String,
}

impl Stop {
    /// Status as expected, every required header present, errors as problem+json, nothing leaked.
    pub fn passed(&self) -> bool {
        self.expected == self.got
            && self.missing().is_empty()
            && self.problem_body_ok()
            && !self.leaked
    }

    /// Required headers (and body checks) the response lacked.
    pub fn missing(&self) -> Vec<&'static str> {
        self.required
            .iter()
            .filter(|(_, ok)| !ok)
            .map(|(name, _)| *name)
            .collect()
    }

    /// A success needs no problem body; an error must be `application/problem+json`.
    pub fn problem_body_ok(&self) -> bool {
        self.expected < 400
            || self
                .content_type
                .as_deref()
                .is_some_and(|ct| ct.starts_with(support::problem::PROBLEM_JSON))
    }
}

/// Text that appears in the deliberate failure's cause and must never reach a client.
const SECRETS: [&str; 2] = ["db-primary", "notes_admin"];

struct Tour {
    recorder: Recorder,
    writer: String,
    stops: Vec<Stop>,
}

struct Reply {
    headers: HeaderMap,
    body: String,
}

impl Tour {
    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.recorder.request(method, path)
    }

    fn write(&self, method: Method, path: &str) -> RequestBuilder {
        self.request(method, path).bearer_auth(&self.writer)
    }

    async fn visit(
        &mut self,
        expected: u16,
        lesson: &'static str,
        required: &[&'static str],
        builder: RequestBuilder,
    ) -> anyhow::Result<Reply> {
        let request = builder.build()?;
        let label = format!("{} {}", request.method(), request.url().path());
        let response = self.recorder.client().execute(request).await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_default();
        self.stops.push(Stop {
            expected,
            got: status,
            request: label,
            lesson,
            required: required
                .iter()
                .map(|name| (*name, headers.contains_key(*name)))
                .collect(),
            content_type: headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            leaked: SECRETS.iter().any(|s| body.contains(s)),
            body: body.clone(),
        });
        Ok(Reply { headers, body })
    }
}

/// Runs the whole tour against a fresh server at `base` configured with [`tour_config`].
pub async fn run(client: &Client, base: &str, config: &Config) -> anyhow::Result<Vec<Stop>> {
    let mut t = Tour {
        recorder: Recorder::new(client.clone(), base),
        writer: config.tokens.writer.clone(),
        stops: Vec::new(),
    };
    let note = json!({ "title": "Tour", "body": "a note to visit", "tags": ["tour"] });

    let created = t
        .visit(
            201,
            "POST creates; Location names the new resource",
            &["location", "etag"],
            t.write(Method::POST, "/notes").json(&note),
        )
        .await?;
    let location = header_text(&created.headers, header::LOCATION);
    let etag = header_text(&created.headers, header::ETAG);

    t.visit(
        200,
        "GET returns the representation and its validator",
        &["etag", "content-type"],
        t.request(Method::GET, &location),
    )
    .await?;
    t.visit(
        304,
        "If-None-Match with the current ETag: nothing new, no body",
        &["etag"],
        t.request(Method::GET, &location)
            .header(header::IF_NONE_MATCH, &etag),
    )
    .await?;
    t.visit(
        204,
        "OPTIONS: what the resource supports, no body",
        &["allow"],
        t.request(Method::OPTIONS, &location),
    )
    .await?;

    t.visit(
        400,
        "Malformed JSON: the request cannot be parsed",
        &[],
        t.write(Method::POST, "/notes")
            .header(header::CONTENT_TYPE, Representation::Json.media_type())
            .body("{\"title\": "),
    )
    .await?;
    t.visit(
        401,
        "No credentials: the challenge says how to authenticate",
        &["www-authenticate"],
        t.request(Method::POST, "/notes").json(&note),
    )
    .await?;
    t.visit(
        403,
        "Known token without the right: asking again will not help",
        &[],
        t.request(Method::POST, "/notes")
            .bearer_auth(&config.tokens.reader)
            .json(&note),
    )
    .await?;
    t.visit(
        404,
        "No such note",
        &[],
        t.request(Method::GET, "/notes/987654321"),
    )
    .await?;
    t.visit(
        405,
        "The collection cannot be deleted; Allow lists what can be done",
        &["allow"],
        t.write(Method::DELETE, "/notes"),
    )
    .await?;
    t.visit(
        406,
        "Only JSON and plain text exist; XML was demanded",
        &[],
        t.request(Method::GET, &location)
            .header(header::ACCEPT, "application/xml"),
    )
    .await?;

    let archived = t
        .write(Method::POST, "/notes")
        .json(&json!({ "title": "Archived", "archived": true }))
        .send()
        .await?;
    let archived_location = header_text(archived.headers(), header::LOCATION);
    t.visit(
        409,
        "The note is archived (read-only): valid request, conflicting state",
        &[],
        t.write(Method::PUT, &archived_location)
            .json(&json!({ "title": "Edited", "archived": true })),
    )
    .await?;

    t.visit(
        200,
        "PUT with If-Match of the current version succeeds",
        &["etag"],
        t.write(Method::PUT, &location)
            .header(header::IF_MATCH, &etag)
            .json(&json!({ "title": "Tour, edited", "tags": ["tour"] })),
    )
    .await?;
    t.visit(
        412,
        "PUT with If-Match of the old version: a lost update, refused",
        &[],
        t.write(Method::PUT, &location)
            .header(header::IF_MATCH, &etag)
            .json(&json!({ "title": "Stale edit" })),
    )
    .await?;

    let too_big = "x".repeat(config.body_limit + 1);
    t.visit(
        413,
        "Body larger than the limit: refused before it is read",
        &[],
        t.write(Method::POST, "/notes")
            .header(header::CONTENT_TYPE, Representation::Json.media_type())
            .body(too_big),
    )
    .await?;
    t.visit(
        415,
        "XML body; Accept-Post lists what can be read",
        &[ACCEPT_POST],
        t.write(Method::POST, "/notes")
            .header(header::CONTENT_TYPE, "application/xml")
            .body("<note/>"),
    )
    .await?;
    let invalid = t
        .visit(
            422,
            "Well-formed JSON, but the title is blank: the field is named",
            &[],
            t.write(Method::POST, "/notes")
                .json(&json!({ "title": "  " })),
        )
        .await?;
    let field = serde_json::from_str::<Value>(&invalid.body)
        .ok()
        .and_then(|v| v["errors"][0]["field"].as_str().map(str::to_owned));
    if field.as_deref() != Some("title")
        && let Some(stop) = t.stops.last_mut()
    {
        stop.required.push(("errors[0].field = title", false));
    }

    let victim = t.write(Method::POST, "/notes").json(&note).send().await?;
    let victim_location = header_text(victim.headers(), header::LOCATION);
    t.visit(
        204,
        "DELETE succeeded; nothing to say",
        &[],
        t.write(Method::DELETE, &victim_location),
    )
    .await?;

    // Spend the rest of the bucket on cheap writes (deletes of a note that does not exist).
    let mut limited = None;
    for _ in 0..=TOUR_BURST {
        let reply = t.write(Method::DELETE, "/notes/987654321").send().await?;
        if reply.status().as_u16() == 429 {
            limited = Some(());
            break;
        }
    }
    if limited.is_some() {
        t.visit(
            429,
            "Write bucket empty: Retry-After says when to come back",
            &["retry-after"],
            t.write(Method::DELETE, "/notes/987654321"),
        )
        .await?;
    } else {
        anyhow::bail!("the rate limit was never reached; is the server using tour_config()?");
    }

    let on = t
        .request(Method::PUT, "/admin/maintenance")
        .bearer_auth(&config.tokens.admin)
        .json(&json!({ "enabled": true }))
        .send()
        .await?;
    anyhow::ensure!(
        on.status().is_success(),
        "could not enable maintenance: {}",
        on.status()
    );
    t.visit(
        503,
        "Maintenance: not broken, come back after Retry-After",
        &["retry-after"],
        t.request(Method::GET, "/notes"),
    )
    .await?;
    t.request(Method::PUT, "/admin/maintenance")
        .bearer_auth(&config.tokens.admin)
        .json(&json!({ "enabled": false }))
        .send()
        .await?;

    t.visit(
        500,
        "An internal failure: a fixed sentence out, the cause in the log",
        &[],
        t.request(Method::GET, "/debug/fail"),
    )
    .await?;
    Ok(t.stops)
}

/// A stop that did not come back as specified, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Miss {
    pub expected: u16,
    pub got: u16,
    /// `METHOD /path`.
    pub request: String,
    /// Required headers (or body checks) that were absent.
    pub missing: Vec<&'static str>,
    /// An error that did not come as `application/problem+json`.
    pub not_problem_json: bool,
    /// The body showed text only the log may hold.
    pub leaked: bool,
}

/// What the tour found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TourFigures {
    /// Requests in the tour (one per row; 200 and 204 appear twice).
    pub stops: usize,
    pub passed: usize,
    pub misses: Vec<Miss>,
}

impl TourFigures {
    pub fn from_stops(stops: &[Stop]) -> Self {
        let misses: Vec<Miss> = stops
            .iter()
            .filter(|s| !s.passed())
            .map(|s| Miss {
                expected: s.expected,
                got: s.got,
                request: s.request.clone(),
                missing: s.missing(),
                not_problem_json: !s.problem_body_ok(),
                leaked: s.leaked,
            })
            .collect();
        Self {
            stops: stops.len(),
            passed: stops.len() - misses.len(),
            misses,
        }
    }
}

/// Starts a server configured for the tour, walks it, prints the table.
pub async fn section(n: &mut Narrator, client: &Client) -> anyhow::Result<TourFigures> {
    let config = tour_config();
    let state = web::Data::new(AppState::new(config.clone()));
    let server = support::server::spawn(|l| serve_on(l, state.clone()))?;
    let stops = run(client, &server.base_url, &config).await;
    server.stop().await;
    let stops = stops?;

    n.section("3. Status codes: one real request each");
    n.say("A fresh server with a small write bucket, and one request chosen to produce each status. 'required headers' lists what the status obliges the server to send, checked on the real response; every error body must be application/problem+json.");
    n.table(table(&stops));
    let figures = TourFigures::from_stops(&stops);
    n.figures(&figures)?;
    Ok(figures)
}

fn table(stops: &[Stop]) -> Table {
    let mut table = Table::new("status")
        .column("request", Unit::Text)
        .column("why", Unit::Text)
        .column("required headers", Unit::Text)
        .column("as specified", Unit::Text);
    for stop in stops {
        let required = if stop.required.is_empty() {
            "–".to_owned()
        } else {
            stop.required
                .iter()
                // Header names print in lower case, as HTTP/2 sends them, whatever the constant's case.
                .map(|(name, ok)| {
                    format!(
                        "{} {}",
                        name.to_ascii_lowercase(),
                        if *ok { "✓" } else { "✗" }
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let verdict = if stop.passed() {
            "yes".to_owned()
        } else {
            format!("NO (got {})", stop.got)
        };
        table.row(
            stop.expected.to_string(),
            [
                stop.request.clone().into(),
                stop.lesson.into(),
                required.into(),
                verdict.into(),
            ],
        );
    }
    table
}
