//! Polling against a real provider on loopback: short polling returns what is new, conditional
//! polling says "nothing" in a bodiless 304, long polling answers as soon as there is something
//! (and cleanly when there is not), and the provider's writes refuse what they should.
//!
//! Timings are asserted only with generous bounds: "before the 10 s wait ended", never "within
//! 50 ms", so a loaded CI machine cannot make a claim flaky.
//!
//! Every claim runs against one provider per reachable backend (SQLite always, PostgreSQL when it
//! answers), one after the other, each on its own database; failures name the backend.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use serde_json::{Value, json};
use support::server::{RunningServer, spawn};
use support::testkit::TestBackend;
use webhooks::config::Config;
use webhooks::provider::{self, Provider};
use webhooks::store::Db;

use crate::outbox::databases;

/// A provider on its own database. The [`TestBackend`] must outlive the server: dropping it
/// removes the database.
struct Harness {
    _backend: TestBackend,
    /// The backend's name, for assertion messages.
    label: &'static str,
    db: Db,
    server: RunningServer,
    http: reqwest::Client,
}

/// One provider per reachable backend, each on a fresh database.
async fn providers(label: &str) -> anyhow::Result<Vec<Harness>> {
    let mut out = Vec::new();
    for (backend, db) in databases(label).await? {
        let state = Provider::new(db.clone(), Config::compressed());
        let server = spawn(move |listener| provider::run(listener, state))?;
        out.push(Harness {
            label: backend.backend().name(),
            _backend: backend,
            db,
            server,
            http: reqwest::Client::new(),
        });
    }
    Ok(out)
}

impl Harness {
    async fn create_order(&self) -> anyhow::Result<String> {
        let response = self.http.post(self.server.url("/orders")).send().await?;
        anyhow::ensure!(
            response.status() == StatusCode::CREATED,
            "{}: {}",
            self.label,
            response.status()
        );
        let body: Value = response.json().await?;
        body["order"]["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("{}: no order id in {body}", self.label))
    }

    async fn set_state(&self, order: &str, state: &str) -> anyhow::Result<reqwest::Response> {
        Ok(self
            .http
            .post(self.server.url(&format!("/orders/{order}/state")))
            .json(&json!({ "state": state }))
            .send()
            .await?)
    }

    async fn events(&self, query: &str) -> anyhow::Result<reqwest::Response> {
        Ok(self
            .http
            .get(self.server.url(&format!("/events?{query}")))
            .send()
            .await?)
    }
}

fn seqs(body: &Value) -> Vec<i64> {
    body["events"]
        .as_array()
        .map(|events| events.iter().filter_map(|e| e["seq"].as_i64()).collect())
        .unwrap_or_default()
}

fn is_problem(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/problem+json"))
}

#[tokio::test]
async fn short_polling_returns_exactly_the_events_after_since() -> anyhow::Result<()> {
    for h in providers("wh_poll_short").await? {
        let label = h.label;
        let order = h.create_order().await?;
        h.set_state(&order, "paid").await?;
        h.set_state(&order, "shipped").await?;
        let all: Value = h.events("since=0").await?.json().await?;
        let all = seqs(&all);
        assert_eq!(all.len(), 3, "{label}: created, paid, shipped: {all:?}");

        let response = h.events(&format!("since={}", all[0])).await?;

        assert_eq!(response.status(), StatusCode::OK, "{label}");
        let body: Value = response.json().await?;
        assert_eq!(seqs(&body), all[1..].to_vec(), "{label}");
        assert_eq!(body["next_since"].as_i64(), Some(all[2]), "{label}");
        let limited: Value = h.events("since=0&limit=1").await?.json().await?;
        assert_eq!(seqs(&limited), vec![all[0]], "{label}: limit caps the page");
        h.server.stop().await;
    }
    Ok(())
}

#[tokio::test]
async fn conditional_polling_is_a_bodiless_304_until_something_changes() -> anyhow::Result<()> {
    for h in providers("wh_poll_conditional").await? {
        let label = h.label;
        let order = h.create_order().await?;
        let first = h.events("since=0").await?;
        let etag = first
            .headers()
            .get(ETAG)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("{label}: no ETag"))?;
        let conditional = || {
            h.http
                .get(h.server.url("/events?since=0"))
                .header(IF_NONE_MATCH, etag.clone())
                .send()
        };

        let unchanged = conditional().await?;

        assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED, "{label}");
        assert!(
            unchanged.bytes().await?.is_empty(),
            "{label}: a 304 has no body"
        );

        h.set_state(&order, "paid").await?;
        let changed = conditional().await?;

        assert_eq!(changed.status(), StatusCode::OK, "{label}");
        let new_etag = changed.headers().get(ETAG).cloned();
        assert!(
            new_etag.is_some() && new_etag != Some(etag),
            "{label}: a new ETag"
        );
        let body: Value = changed.json().await?;
        assert_eq!(seqs(&body).len(), 2, "{label}");
        h.server.stop().await;
    }
    Ok(())
}

#[tokio::test]
async fn long_polling_returns_as_soon_as_an_event_arrives() -> anyhow::Result<()> {
    for h in providers("wh_poll_long").await? {
        let label = h.label;
        let order = h.create_order().await?;
        let first: Value = h.events("since=0").await?.json().await?;
        let since = first["next_since"].as_i64().unwrap_or_default();
        let started = Instant::now();
        let query = format!("since={since}&wait=10");
        let held = h.events(&query);
        let change = async {
            // Let the poll be held first; the claim holds even if the change wins this race.
            tokio::time::sleep(Duration::from_millis(300)).await;
            h.set_state(&order, "paid").await
        };

        let (response, changed) = tokio::join!(held, change);

        assert_eq!(changed?.status(), StatusCode::OK, "{label}");
        let response = response?;
        assert_eq!(response.status(), StatusCode::OK, "{label}");
        let body: Value = response.json().await?;
        assert_eq!(seqs(&body).len(), 1, "{label}: the one new event: {body}");
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{label}: returned before the 10 s wait ended ({:?})",
            started.elapsed()
        );
        h.server.stop().await;
    }
    Ok(())
}

#[tokio::test]
async fn long_polling_times_out_cleanly_with_no_events() -> anyhow::Result<()> {
    for h in providers("wh_poll_timeout").await? {
        let label = h.label;
        h.create_order().await?;
        let first = h.events("since=0").await?;
        let etag = first.headers().get(ETAG).cloned();
        let since = first.json::<Value>().await?["next_since"]
            .as_i64()
            .unwrap_or_default();
        let started = Instant::now();

        let response = h.events(&format!("since={since}&wait=1")).await?;

        assert!(
            started.elapsed() >= Duration::from_millis(900),
            "{label}: it was held"
        );
        assert_eq!(response.status(), StatusCode::OK, "{label}");
        let body: Value = response.json().await?;
        assert_eq!(seqs(&body), Vec::<i64>::new(), "{label}");
        assert_eq!(body["next_since"].as_i64(), Some(since), "{label}");

        let mut conditional = h
            .http
            .get(h.server.url(&format!("/events?since={since}&wait=1")));
        if let Some(etag) = etag {
            conditional = conditional.header(IF_NONE_MATCH, etag);
        }
        let unchanged = conditional.send().await?;
        assert_eq!(
            unchanged.status(),
            StatusCode::NOT_MODIFIED,
            "{label}: the current ETag sent: 304"
        );
        h.server.stop().await;
    }
    Ok(())
}

#[tokio::test]
async fn a_bad_since_or_wait_is_a_400_problem() -> anyhow::Result<()> {
    for h in providers("wh_poll_bad").await? {
        let label = h.label;
        for query in [
            "since=abc",
            "since=-1",
            "wait=31",
            "wait=soon",
            "limit=0",
            "limit=101",
        ] {
            let response = h.events(query).await?;

            assert_eq!(
                response.status(),
                StatusCode::BAD_REQUEST,
                "{label}: {query}"
            );
            assert!(is_problem(&response), "{label}: {query}: problem+json");
        }
        h.server.stop().await;
    }
    Ok(())
}

#[tokio::test]
async fn an_ssrf_refused_endpoint_is_a_422_and_stores_nothing() -> anyhow::Result<()> {
    use diesel::prelude::*;
    use webhooks::store::schema::webhooks_endpoints::dsl as e;
    for h in providers("wh_poll_ssrf").await? {
        let label = h.label;

        let response = h
            .http
            .post(h.server.url("/endpoints"))
            .json(&json!({ "url": "http://169.254.169.254/latest/meta-data" }))
            .send()
            .await?;

        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{label}"
        );
        assert!(is_problem(&response), "{label}: problem+json");
        let problem: Value = response.json().await?;
        assert!(
            problem["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{label}: the problem names the rule: {problem}"
        );
        let stored: i64 =
            h.db.interact(|c| e::webhooks_endpoints.count().get_result(c))
                .await?;
        assert_eq!(stored, 0, "{label}: nothing stored");
        h.server.stop().await;
    }
    Ok(())
}

#[tokio::test]
async fn a_registered_endpoint_shows_its_secret_once_and_has_a_delivery_log() -> anyhow::Result<()>
{
    for h in providers("wh_poll_register").await? {
        let label = h.label;
        let response = h
            .http
            .post(h.server.url("/endpoints"))
            .json(&json!({ "url": "http://127.0.0.1:9/hook" }))
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::CREATED, "{label}");
        let body: Value = response.json().await?;
        assert!(
            body["secret"]
                .as_str()
                .is_some_and(|s| s.starts_with("whsec_")),
            "{label}: the secret is shown: {body}"
        );
        let id = body["id"].as_str().unwrap_or_default().to_owned();
        h.create_order().await?;

        let log = h
            .http
            .get(h.server.url(&format!("/endpoints/{id}/deliveries")))
            .send()
            .await?;

        assert_eq!(log.status(), StatusCode::OK, "{label}");
        let log: Value = log.json().await?;
        assert_eq!(
            log["deliveries"].as_array().map(Vec::len),
            Some(1),
            "{label}: {log}"
        );
        assert!(
            !log.to_string().contains("whsec_"),
            "{label}: the log never shows the secret"
        );
        h.server.stop().await;
    }
    Ok(())
}

#[tokio::test]
async fn an_invalid_state_transition_is_a_409_and_writes_no_event() -> anyhow::Result<()> {
    for h in providers("wh_poll_invalid").await? {
        let label = h.label;
        let order = h.create_order().await?;
        let before: Value = h.events("since=0").await?.json().await?;

        let refused = h.set_state(&order, "delivered").await?;

        assert_eq!(refused.status(), StatusCode::CONFLICT, "{label}");
        assert!(is_problem(&refused), "{label}: problem+json");
        let after: Value = h.events("since=0").await?.json().await?;
        assert_eq!(seqs(&after), seqs(&before), "{label}: no new event");
        let unknown = h.set_state("ord_missing", "paid").await?;
        assert_eq!(unknown.status(), StatusCode::NOT_FOUND, "{label}");
        let nonsense = h.set_state(&order, "teleported").await?;
        assert_eq!(
            nonsense.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{label}"
        );
        h.server.stop().await;
    }
    Ok(())
}

/// Reads the stream until `needle` has arrived, for at most `within`.
async fn read_until(
    response: &mut reqwest::Response,
    seen: &mut String,
    needle: &str,
    within: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    while !seen.contains(needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, response.chunk())
            .await
            .map_err(|_| anyhow::anyhow!("{needle:?} did not arrive; saw {seen:?}"))??
            .ok_or_else(|| anyhow::anyhow!("the stream ended; saw {seen:?}"))?;
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    Ok(())
}

#[tokio::test]
async fn server_sent_events_push_each_event_as_it_commits_with_its_seq_as_id() -> anyhow::Result<()>
{
    for h in providers("wh_poll_sse").await? {
        let label = h.label;
        let order = h.create_order().await?;
        let first: Value = h.events("since=0").await?.json().await?;
        let created = seqs(&first)[0];
        let mut response = h
            .http
            .get(h.server.url("/events/stream?since=0"))
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::OK, "{label}");
        assert!(
            response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/event-stream")),
            "{label}: an event stream"
        );
        let mut seen = String::new();
        read_until(
            &mut response,
            &mut seen,
            &format!("id: {created}\n"),
            Duration::from_secs(10),
        )
        .await
        .map_err(|e| e.context(label))?;

        h.set_state(&order, "paid").await?;

        read_until(
            &mut response,
            &mut seen,
            "event: order.paid\n",
            Duration::from_secs(10),
        )
        .await
        .map_err(|e| e.context(label))?;
        assert!(
            seen.contains(&format!("id: {}\n", created + 1)),
            "{label}: {seen}"
        );
        drop(response);
        // The stream never ends by itself; stop without waiting for it.
        h.server.kill().await;
    }
    Ok(())
}

#[tokio::test]
async fn a_reconnecting_stream_resumes_after_its_last_event_id() -> anyhow::Result<()> {
    for h in providers("wh_poll_sse_resume").await? {
        let label = h.label;
        let order = h.create_order().await?;
        h.set_state(&order, "paid").await?;
        let all = seqs(&h.events("since=0").await?.json().await?);

        let mut response = h
            .http
            .get(h.server.url("/events/stream?since=0"))
            .header("Last-Event-ID", all[0].to_string())
            .send()
            .await?;

        let mut seen = String::new();
        read_until(
            &mut response,
            &mut seen,
            "event: order.paid\n",
            Duration::from_secs(10),
        )
        .await
        .map_err(|e| e.context(label))?;
        assert!(
            !seen.contains("order.created"),
            "{label}: already seen: {seen}"
        );
        drop(response);
        h.server.kill().await;
    }
    Ok(())
}
