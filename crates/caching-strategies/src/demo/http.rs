//! HTTP caching: the same posts over HTTP, a client that revalidates with `If-None-Match`
//! against one that always asks plainly.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{ETAG, IF_NONE_MATCH};
use serde::{Deserialize, Serialize};
use support::Plan;
use support::measure::measure;
use support::narrate::Narrator;
use support::report::{Chart, Table, Unit};
use support::transcript::Recorder;

use super::Bench;
use crate::app::{StrategyKind, TierKind};
use crate::http::Mounted;
use crate::{AppState, run as serve_on};

/// The hottest posts, which both clients read over and over.
const HOT_POSTS: i64 = 20;

/// One client's run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientRow {
    /// Whether it kept ETags and sent `If-None-Match`.
    pub revalidating: bool,
    pub p50_us: f64,
    pub oks: u64,
    pub not_modified: u64,
    pub body_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpFigures {
    /// The transcript's second request (current ETag): 304 expected.
    pub revalidated_status: u16,
    /// The transcript's last request (the ETag from before an update): 200 expected.
    pub after_update_status: u16,
    pub clients: Vec<ClientRow>,
}

impl HttpFigures {
    pub fn client(&self, revalidating: bool) -> Option<&ClientRow> {
        self.clients.iter().find(|c| c.revalidating == revalidating)
    }
}

pub async fn run(n: &mut Narrator, b: &Bench) -> anyhow::Result<HttpFigures> {
    n.section("HTTP caching");
    n.say(
        "The same posts over HTTP (moka cache-aside on the server). One client keeps each post's \
         ETag and revalidates with If-None-Match; the other always asks plainly. Both read the 20 \
         hottest posts over and over; one post is updated half-way.",
    );
    let strategy = b
        .strategy(TierKind::Moka, StrategyKind::CacheAside, "http")
        .await?;
    let prefix = format!(
        "/{}/{}",
        TierKind::Moka.name(),
        StrategyKind::CacheAside.name()
    );
    let state = AppState {
        mounted: vec![Mounted {
            prefix: prefix.clone(),
            strategy,
        }],
    };
    let server = support::server::spawn(|l| serve_on(l, state))?;
    // The four exchanges the lesson hangs on, narrated like `curl -v` by the shared recorder
    // (which shows ETag, Last-Modified, Cache-Control and Vary among its default headers).
    let recorder = Recorder::new(reqwest::Client::new(), &server.base_url);
    let post = format!("{prefix}/posts/1");
    let first = recorder
        .exchange(recorder.request(Method::GET, &post))
        .await?;
    let etag = first.header(ETAG);
    let again = recorder
        .exchange(
            recorder
                .request(Method::GET, &post)
                .header(IF_NONE_MATCH, &etag),
        )
        .await?;
    let put = recorder
        .exchange(
            recorder
                .request(Method::PUT, &post)
                .json(&serde_json::json!({ "title": "A new title", "body": "A new body." })),
        )
        .await?;
    let after = recorder
        .exchange(
            recorder
                .request(Method::GET, &post)
                .header(IF_NONE_MATCH, &etag),
        )
        .await?;
    let (revalidated_status, after_update_status) = (again.status.as_u16(), after.status.as_u16());
    let mut transcript = Vec::new();
    for exchange in [first, again, put, after] {
        if !transcript.is_empty() {
            transcript.push(String::new());
        }
        transcript.extend(exchange.lines);
    }
    n.transcript(transcript);
    let client = recorder.client();
    let url = |id: i64| recorder.url(&format!("{prefix}/posts/{id}"));

    let mut table = Table::latency("client")
        .column("200s", Unit::Count)
        .column("304s", Unit::Count)
        .column("body bytes", Unit::Bytes)
        .chart(
            Chart::bars()
                .log()
                .of(&["200s", "304s", "body bytes"])
                .titled("a revalidating client against a plain one (log scale)"),
        );
    let requests = if b.quick { 200 } else { 2_000 };
    let mut clients = Vec::new();
    for revalidate in [false, true] {
        let etags: Mutex<HashMap<i64, String>> = Mutex::new(HashMap::new());
        let (oks, not_modified, bytes) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
        let plan = Plan::iterations(requests)
            .warmup(0)
            .concurrency(4)
            .budget(Duration::from_secs(10));
        let m = measure(plan, |i| {
            let id = 1 + i64::try_from(i).unwrap_or(0) % HOT_POSTS;
            let known = if revalidate {
                etags.lock().ok().and_then(|e| e.get(&id).cloned())
            } else {
                None
            };
            let (client, url, etags, oks, not_modified, bytes) =
                (client, url(id), &etags, &oks, &not_modified, &bytes);
            async move {
                if i == requests / 2 {
                    client
                        .put(url.clone())
                        .json(&serde_json::json!({ "title": format!("Half-way {revalidate}"), "body": "Changed." }))
                        .send()
                        .await?;
                }
                let mut request = client.get(url);
                if let Some(tag) = known {
                    request = request.header(IF_NONE_MATCH, tag);
                }
                let response = request.send().await?;
                let status = response.status();
                if let Some(tag) = response.headers().get(ETAG).and_then(|v| v.to_str().ok())
                    && let Ok(mut e) = etags.lock()
                {
                    e.insert(id, tag.to_owned());
                }
                let body = response.bytes().await?;
                bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                match status.as_u16() {
                    200 => oks.fetch_add(1, Ordering::Relaxed),
                    304 => not_modified.fetch_add(1, Ordering::Relaxed),
                    other => anyhow::bail!("unexpected status {other}"),
                };
                anyhow::Ok(())
            }
        })
        .await;
        let row = ClientRow {
            revalidating: revalidate,
            p50_us: m.p50_us(),
            oks: oks.load(Ordering::Relaxed),
            not_modified: not_modified.load(Ordering::Relaxed),
            body_bytes: bytes.load(Ordering::Relaxed),
        };
        let label = if revalidate {
            "revalidating (If-None-Match)"
        } else {
            "plain (no validators)"
        };
        table.row_measured(
            label,
            &m,
            [
                row.oks.into(),
                row.not_modified.into(),
                row.body_bytes.into(),
            ],
        );
        clients.push(row);
    }
    n.table(table);
    server.stop().await;
    let figures = HttpFigures {
        revalidated_status,
        after_update_status,
        clients,
    };
    n.figures(&figures)?;
    Ok(figures)
}
