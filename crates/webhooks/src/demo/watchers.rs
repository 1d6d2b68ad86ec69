//! The consumer's side of each polling style: a client loop per method that asks the provider
//! "what happened since?" its own way, and notes when it first saw each event.
//!
//! Each loop is the client a team would write for that style, nothing tuned for the demo: short
//! polling asks on a timer; conditional polling asks on the same timer with `If-None-Match`;
//! long polling asks again as soon as an answer arrives; the SSE client holds one response and
//! reads frames from it. Each stops when told to, dropping a request in flight.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::{ETAG, IF_NONE_MATCH};
use serde::Deserialize;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// What one watcher did: requests made, how many told it nothing new, and when it first saw
/// each event. Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct Watch(Arc<Mutex<WatchLog>>);

#[derive(Debug, Clone, Default)]
pub struct WatchLog {
    pub requests: u64,
    /// Requests answered with nothing new: a 304, an empty page, a long poll that timed out.
    pub empty: u64,
    /// `webhook-id`/event id → when this watcher first saw it.
    pub seen: HashMap<String, DateTime<Utc>>,
}

impl Watch {
    fn requested(&self) {
        if let Ok(mut log) = self.0.lock() {
            log.requests += 1;
        }
    }

    /// Notes an answer: the events it carried (seen now), or nothing new.
    fn answered(&self, ids: Vec<String>) {
        let now = Utc::now();
        if let Ok(mut log) = self.0.lock() {
            if ids.is_empty() {
                log.empty += 1;
            }
            for id in ids {
                log.seen.entry(id).or_insert(now);
            }
        }
    }

    /// How many distinct events it has seen.
    pub fn seen(&self) -> usize {
        self.0.lock().map(|log| log.seen.len()).unwrap_or(0)
    }

    /// Everything so far.
    pub fn snapshot(&self) -> WatchLog {
        self.0.lock().map(|log| log.clone()).unwrap_or_default()
    }
}

/// A page of `GET /events`, as much of it as a watcher needs.
#[derive(Debug, Deserialize)]
struct Page {
    events: Vec<EventId>,
    next_since: i64,
}

#[derive(Debug, Deserialize)]
struct EventId {
    id: String,
    seq: i64,
}

/// Short polling every `every` (conditional: sending back the last `ETag`), from `since`.
pub async fn poll_on_a_timer(
    http: reqwest::Client,
    base: String,
    mut since: i64,
    every: Duration,
    conditional: bool,
    watch: Watch,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(every);
    // A slow answer pushes the next ask back instead of firing a burst to catch up.
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut etag: Option<String> = None;
    loop {
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            _ = tick.tick() => {}
        }
        let since_text = since.to_string();
        let mut request = http
            .get(format!("{base}/events"))
            .query(&[("since", since_text.as_str())]);
        if let (true, Some(tag)) = (conditional, &etag) {
            request = request.header(IF_NONE_MATCH, tag);
        }
        watch.requested();
        let Some(response) = until_stopped(&stop, request.send()).await? else {
            return Ok(());
        };
        if response.status() == StatusCode::NOT_MODIFIED {
            watch.answered(Vec::new());
            continue;
        }
        anyhow::ensure!(response.status().is_success(), "{}", response.status());
        etag = response
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let Some(page) = until_stopped(&stop, response.json::<Page>()).await? else {
            return Ok(());
        };
        since = page.next_since;
        watch.answered(page.events.into_iter().map(|e| e.id).collect());
    }
}

/// Long polling: each request is held up to `wait` seconds, and the next one leaves as soon as
/// the last one is answered.
pub async fn poll_held_open(
    http: reqwest::Client,
    base: String,
    mut since: i64,
    wait: u64,
    watch: Watch,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    loop {
        let (since_text, wait_text) = (since.to_string(), wait.to_string());
        let request = http
            .get(format!("{base}/events"))
            .query(&[("since", since_text.as_str()), ("wait", wait_text.as_str())]);
        watch.requested();
        let Some(response) = until_stopped(&stop, request.send()).await? else {
            return Ok(());
        };
        anyhow::ensure!(response.status().is_success(), "{}", response.status());
        let Some(page) = until_stopped(&stop, response.json::<Page>()).await? else {
            return Ok(());
        };
        since = page.next_since;
        watch.answered(page.events.into_iter().map(|e| e.id).collect());
    }
}

/// Server-sent events: one response read frame by frame; on a dropped stream, one reconnect
/// from the last id seen, as `EventSource` does.
pub async fn listen_to_the_stream(
    http: reqwest::Client,
    base: String,
    mut since: i64,
    watch: Watch,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    loop {
        let request = http
            .get(format!("{base}/events/stream"))
            .header("last-event-id", since.to_string());
        watch.requested();
        let Some(mut response) = until_stopped(&stop, request.send()).await? else {
            return Ok(());
        };
        anyhow::ensure!(response.status().is_success(), "{}", response.status());
        let mut buffer = String::new();
        loop {
            let Some(chunk) = until_stopped(&stop, response.chunk()).await? else {
                return Ok(());
            };
            let Some(chunk) = chunk else {
                break; // The server ended the stream: reconnect from `since`.
            };
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            // A frame ends at a blank line; a chunk may hold several frames or part of one.
            while let Some(end) = buffer.find("\n\n") {
                let frame: String = buffer.drain(..end + 2).collect();
                if let Some(event) = frame
                    .lines()
                    .find_map(|line| line.strip_prefix("data: "))
                    .and_then(|data| serde_json::from_str::<EventId>(data).ok())
                {
                    since = event.seq;
                    watch.answered(vec![event.id]);
                }
            }
        }
    }
}

/// `future`'s output, or `None` once `stop` is cancelled (the future is dropped).
async fn until_stopped<T, E>(
    stop: &CancellationToken,
    future: impl Future<Output = Result<T, E>>,
) -> anyhow::Result<Option<T>>
where
    E: Into<anyhow::Error>,
{
    tokio::select! {
        () = stop.cancelled() => Ok(None),
        result = future => result.map(Some).map_err(Into::into),
    }
}
