//! The demo: a narrated transcript of real requests, the method table, and the status tour.
//!
//! Everything printed comes from requests this run sent to a server this run started: statuses
//! and headers are read off the responses, state changes are read back from the server, and
//! latencies are measured with `support::measure`.

use std::time::Duration;

use actix_web::web;
use anyhow::Context as _;
use reqwest::header::{self, HeaderMap};
use reqwest::{Client, Method, RequestBuilder};
use serde_json::json;
use support::demo::DemoArgs;
use support::narrate::Narrator;
use support::report::{Cell, Table, Unit};
use support::server::RunningServer;
use support::{Plan, Report, measure};

use crate::tour;
use crate::{AppState, Config, run};

/// Response headers worth showing in a transcript.
const SHOWN: [&str; 13] = [
    "location",
    "etag",
    "last-modified",
    "cache-control",
    "vary",
    "allow",
    "accept-post",
    "accept-patch",
    "www-authenticate",
    "retry-after",
    "idempotent-replayed",
    "content-type",
    "x-request-id",
];
/// Longest body shown in a transcript, in characters.
const BODY_SHOWN: usize = 160;

/// What one exchange returned.
struct Reply {
    status: u16,
    headers: HeaderMap,
}

impl Reply {
    fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

/// A client that prints each exchange like `curl -v` and keeps the lines.
struct Transcript<'a> {
    client: &'a Client,
    server: &'a RunningServer,
}

impl Transcript<'_> {
    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.server.url(path))
            .timeout(Duration::from_secs(10))
    }

    /// Sends the request and returns the reply with its transcript lines.
    async fn exchange(&self, builder: RequestBuilder) -> anyhow::Result<(Reply, Vec<String>)> {
        let request = builder.build()?;
        let mut lines = vec![format!(
            "> {} {} HTTP/1.1",
            request.method(),
            request.url().path()
        )];
        for (name, value) in request.headers() {
            let value = if name == header::AUTHORIZATION {
                "Bearer …".to_owned()
            } else {
                value.to_str().unwrap_or("<binary>").to_owned()
            };
            lines.push(format!("> {name}: {value}"));
        }
        if let Some(body) = request.body().and_then(|b| b.as_bytes()) {
            lines.push(format!("> {}", shorten(&String::from_utf8_lossy(body))));
        }
        let response = self.client.execute(request).await?;
        let status = response.status();
        lines.push(format!("< HTTP/1.1 {status}"));
        for name in SHOWN {
            if let Some(value) = response.headers().get(name) {
                lines.push(format!(
                    "< {name}: {}",
                    value.to_str().unwrap_or("<binary>")
                ));
            }
        }
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_default();
        if !body.is_empty() {
            lines.push(format!("< {}", shorten(&body.replace('\n', "⏎"))));
        }
        Ok((
            Reply {
                status: status.as_u16(),
                headers,
            },
            lines,
        ))
    }
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= BODY_SHOWN {
        text.to_owned()
    } else {
        format!(
            "{}… ({} bytes)",
            text.chars().take(BODY_SHOWN).collect::<String>(),
            text.len()
        )
    }
}

/// Runs the demo against servers it starts itself.
pub async fn demo(args: &DemoArgs) -> anyhow::Result<Report> {
    let mut n = Narrator::new(
        "http-basics",
        "HTTP basics: what methods, status codes, headers and bodies promise",
        args,
    );
    n.say("This demo starts a real actix-web server on a free port and talks to it with reqwest. Every status, header and number below was read off a real response during this run. It needs no external service.");

    let config = Config::default();
    let state = web::Data::new(AppState::new(config.clone()));
    let server = support::server::spawn(|l| run(l, state.clone()))?;
    let client = Client::builder().build()?;
    let t = Transcript {
        client: &client,
        server: &server,
    };

    transcript_section(&mut n, &t, &config).await?;
    let methods = methods_section(&mut n, &t, &config, args).await?;
    server.stop().await;

    // The tour needs a server whose write bucket is small enough to run dry.
    let tour_config = tour::tour_config();
    let tour_state = web::Data::new(AppState::new(tour_config.clone()));
    let tour_server = support::server::spawn(|l| run(l, tour_state.clone()))?;
    let stops = tour::run(&client, &tour_server.base_url, &tour_config).await?;
    tour_server.stop().await;
    let passed = tour_section(&mut n, &stops);

    n.section("What you just saw");
    n.say(&format!(
        "Of the eight calls retried after a lost response, only these changed the server's state a second time: {}. The plain POST's retry created a duplicate ({} notes after the retry instead of {}), while the same POST with an Idempotency-Key was replayed ({} new note for two calls). \
         On loopback the verbs cost about the same (GET p50 {} µs, POST {} µs in this run): what makes a request expensive is the work behind it, not its method. \
         {passed} of {} status codes came back exactly as HTTP specifies, with their required headers, every error as application/problem+json, and the deliberate 500 without its internal cause. \
         The rule behind all of it: a status code and its headers are a contract a generic client (a browser, a proxy, a retry library) acts on without reading your docs, so say precisely what happened.",
        methods.changed_by_retry.join(", "),
        methods.post_after_retry,
        methods.post_after_first,
        methods.keyed_after_retry,
        support::report::format_number(methods.get_p50_us),
        support::report::format_number(methods.post_p50_us),
        stops.len(),
    ));
    n.finish(args.json.as_deref())
}

async fn transcript_section(
    n: &mut Narrator,
    t: &Transcript<'_>,
    config: &Config,
) -> anyhow::Result<()> {
    let writer = &config.tokens.writer;
    n.section("1. A request, in full");
    n.say("POST creates a note. The server answers 201 Created, names the new resource in Location, and gives its version as an ETag.");
    let (created, lines) = t
        .exchange(
            t.request(Method::POST, "/notes")
                .bearer_auth(writer)
                .json(&json!({ "title": "Buy milk", "body": "2 litres", "tags": ["home"] })),
        )
        .await?;
    n.transcript(lines);
    let location = created.header("location");
    let etag = created.header("etag");

    n.say("A client that already holds this version asks again with If-None-Match. Nothing changed, so the answer is 304 with no body: the bytes are not sent twice.");
    let (_, lines) = t
        .exchange(
            t.request(Method::GET, &location)
                .header(header::IF_NONE_MATCH, &etag),
        )
        .await?;
    n.transcript(lines);

    n.say("A client that kept only the date sends Last-Modified back as If-Modified-Since. The note has not changed since that second, so this is 304 too. A date has whole seconds, so a second edit within the same second would go unnoticed; that is why, when a request carries both headers, the ETag decides.");
    let (by_date, lines) = t
        .exchange(
            t.request(Method::GET, &location)
                .header(header::IF_MODIFIED_SINCE, created.header("last-modified")),
        )
        .await?;
    n.transcript(lines);
    anyhow::ensure!(
        by_date.status == 304,
        "If-Modified-Since answered {}",
        by_date.status
    );

    n.say("Accept picks the representation. Plain text has its own ETag; XML does not exist, so the honest answer is 406.");
    let (_, lines) = t
        .exchange(
            t.request(Method::GET, &location)
                .header(header::ACCEPT, "text/plain"),
        )
        .await?;
    n.transcript(lines);
    let (_, lines) = t
        .exchange(
            t.request(Method::GET, &location)
                .header(header::ACCEPT, "application/xml"),
        )
        .await?;
    n.transcript(lines);

    n.say("PATCH sends a JSON Merge Patch (RFC 7396): fields present are set, null removes. If-Match makes it conditional on the version we read.");
    let (patched, lines) = t
        .exchange(
            t.request(Method::PATCH, &location)
                .bearer_auth(writer)
                .header(header::IF_MATCH, &etag)
                .header(header::CONTENT_TYPE, "application/merge-patch+json")
                .body(r#"{"body": "3 litres, oat"}"#),
        )
        .await?;
    n.transcript(lines);
    anyhow::ensure!(patched.status == 200, "PATCH answered {}", patched.status);

    n.say("Another client still holds the old ETag and tries to overwrite the note. Without If-Match its PUT would silently erase the change above (a lost update); with it, the server refuses with 412.");
    let (_, lines) = t
        .exchange(
            t.request(Method::PUT, &location)
                .bearer_auth(writer)
                .header(header::IF_MATCH, &etag)
                .json(&json!({ "title": "Buy bread" })),
        )
        .await?;
    n.transcript(lines);

    n.say("Bad input gets a precise answer as application/problem+json (RFC 9457): malformed JSON is 400; JSON that parses but breaks a rule is 422 and names the field.");
    let (_, lines) = t
        .exchange(
            t.request(Method::POST, "/notes")
                .bearer_auth(writer)
                .header(header::CONTENT_TYPE, "application/json")
                .body(r#"{"title": "unterminated"#),
        )
        .await?;
    n.transcript(lines);
    let (_, lines) = t
        .exchange(
            t.request(Method::POST, "/notes")
                .bearer_auth(writer)
                .json(&json!({ "title": "ok", "tags": ["Not A Tag"] })),
        )
        .await?;
    n.transcript(lines);
    Ok(())
}

/// The figures the closing paragraph quotes.
struct MethodFigures {
    /// Methods whose retry changed the server's state (read back, not assumed).
    changed_by_retry: Vec<String>,
    post_after_first: usize,
    post_after_retry: usize,
    keyed_after_retry: usize,
    get_p50_us: f64,
    post_p50_us: f64,
}

/// The server's state as a client can see it: note count and the collection's ETag.
async fn observe(t: &Transcript<'_>) -> anyhow::Result<(usize, String)> {
    let response = t.request(Method::GET, "/notes").send().await?;
    let etag = response
        .headers()
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let notes: Vec<serde_json::Value> = response.json().await.context("listing notes")?;
    Ok((notes.len(), etag))
}

async fn methods_section(
    n: &mut Narrator,
    t: &Transcript<'_>,
    config: &Config,
    args: &DemoArgs,
) -> anyhow::Result<MethodFigures> {
    n.section("2. Methods: which ones are safe to retry? Measured.");
    n.say("Each method is called once, then called again as a client would after a lost response (the first response is thrown away, as a timeout would). Before, after the first call and after the retry, the demo reads the server's state back: the number of notes and the collection's ETag, which changes on every write. RFC 9110 promises that safe methods change nothing and idempotent methods change nothing more on a retry; the last column checks the promise.");

    let writer = config.tokens.writer.clone();
    let create = |title: &str| {
        t.request(Method::POST, "/notes")
            .bearer_auth(&writer)
            .json(&json!({ "title": title }))
    };
    let fresh = create("retry target").send().await?;
    let target = fresh
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let victim = create("delete target").send().await?;
    let victim = victim
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let key = uuid::Uuid::new_v4().to_string();

    type Make<'b> = Box<dyn Fn() -> RequestBuilder + 'b>;
    let calls: Vec<(&str, bool, bool, Make<'_>)> = vec![
        (
            "GET",
            true,
            true,
            Box::new(|| t.request(Method::GET, &target)),
        ),
        (
            "HEAD",
            true,
            true,
            Box::new(|| t.request(Method::HEAD, &target)),
        ),
        (
            "OPTIONS",
            true,
            true,
            Box::new(|| t.request(Method::OPTIONS, &target)),
        ),
        (
            "PUT",
            false,
            true,
            Box::new(|| {
                t.request(Method::PUT, &target)
                    .bearer_auth(&writer)
                    .json(&json!({ "title": "replaced" }))
            }),
        ),
        (
            "PATCH (merge)",
            false,
            true,
            Box::new(|| {
                t.request(Method::PATCH, &target)
                    .bearer_auth(&writer)
                    .header(header::CONTENT_TYPE, "application/merge-patch+json")
                    .body(r#"{"body": "patched"}"#)
            }),
        ),
        (
            "DELETE",
            false,
            true,
            Box::new(|| t.request(Method::DELETE, &victim).bearer_auth(&writer)),
        ),
        ("POST", false, false, Box::new(|| create("posted"))),
        (
            "POST + Idempotency-Key",
            false,
            false,
            Box::new(|| create("keyed").header("idempotency-key", &key)),
        ),
    ];

    let mut table = Table::new("method")
        .column("safe (RFC)", Unit::Text)
        .column("idempotent (RFC)", Unit::Text)
        .column("1st", Unit::Text)
        .column("retry", Unit::Text)
        .column("notes before", Unit::Count)
        .column("after 1st", Unit::Count)
        .column("after retry", Unit::Count)
        .column("retry changed state", Unit::Text);
    let yes_no = |b: bool| Cell::from(if b { "yes" } else { "no" });
    let mut post_counts = (0, 0);
    let mut keyed_after_retry = 0;
    let mut changed_by_retry = Vec::new();
    for (name, safe, idempotent, make) in &calls {
        let (before, _) = observe(t).await?;
        let first = make().send().await?.status();
        let (after_first, etag_first) = observe(t).await?;
        let retry = make().send().await?;
        let replayed = retry.headers().contains_key("idempotent-replayed");
        let retry_status = retry.status();
        let (after_retry, etag_retry) = observe(t).await?;
        let changed = etag_first != etag_retry;
        if changed {
            changed_by_retry.push((*name).to_owned());
        }
        if *name == "POST" {
            post_counts = (after_first, after_retry);
        }
        if name.starts_with("POST +") {
            keyed_after_retry = after_retry - before;
        }
        let retry_label = if replayed {
            format!("{} (replayed)", retry_status.as_u16())
        } else {
            retry_status.as_u16().to_string()
        };
        table.row(
            *name,
            [
                yes_no(*safe),
                yes_no(*idempotent),
                first.as_u16().to_string().into(),
                retry_label.into(),
                before.into(),
                after_first.into(),
                after_retry.into(),
                yes_no(changed),
            ],
        );
    }
    n.table(table);
    n.say("DELETE's retry answers 404, not 204, and that is fine: idempotency is about the server's state, not about getting the same status twice. POST's retry created a duplicate; with an Idempotency-Key the server recognised the retry and replayed the first response.");

    n.say("What each method costs on this server (loopback, one request at a time):");
    let plan = Plan::iterations(args.pick(400, 40)).budget(Duration::from_secs(5));
    let mut latency = Table::latency("method").ratio_against("p50", "GET");
    let mut get_p50_us = 0.0;
    let mut post_p50_us = 0.0;
    for (name, _, _, make) in calls
        .iter()
        .filter(|(name, ..)| !matches!(*name, "DELETE" | "POST + Idempotency-Key"))
    {
        let m = measure::measure(plan, |_| async {
            make().send().await.map(|r| r.status().is_success())
        })
        .await;
        if *name == "GET" {
            get_p50_us = m.p50_us();
        }
        if *name == "POST" {
            post_p50_us = m.p50_us();
        }
        latency.row_measured(*name, &m, []);
    }
    n.table(latency);
    Ok(MethodFigures {
        changed_by_retry,
        post_after_first: post_counts.0,
        post_after_retry: post_counts.1,
        keyed_after_retry,
        get_p50_us,
        post_p50_us,
    })
}

/// Prints the tour and returns how many stops passed.
fn tour_section(n: &mut Narrator, stops: &[tour::Stop]) -> usize {
    n.section("3. Status codes: one real request each");
    n.say("A fresh server with a small write bucket, and one request chosen to produce each status. 'required headers' lists what the status obliges the server to send, checked on the real response; every error body must be application/problem+json.");
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
                .map(|(name, ok)| format!("{name} {}", if *ok { "✓" } else { "✗" }))
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
    n.table(table);
    stops.iter().filter(|s| s.passed()).count()
}
