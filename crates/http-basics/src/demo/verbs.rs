//! The eight calls section 2 makes, one per method (and one POST with an `Idempotency-Key`),
//! with what RFC 9110 promises about each. The retry table and the latency table both read
//! them from here, so the two tables are about the same requests.

use reqwest::header;
use reqwest::{Method, RequestBuilder};
use serde::Serialize;
use serde_json::json;

use super::Bench;
use crate::idempotency::IDEMPOTENCY_KEY;
use crate::negotiate::MERGE_PATCH;

/// One row of the method tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verb {
    Get,
    Head,
    Options,
    Put,
    /// PATCH with a JSON Merge Patch body: idempotent because of the patch format, not the method.
    PatchMerge,
    Delete,
    Post,
    /// The same POST, carrying an `Idempotency-Key` the server remembers.
    PostWithKey,
}

impl Verb {
    /// Every row, in the order the retry table prints them: safe, then idempotent, then neither.
    pub const ALL: [Verb; 8] = [
        Verb::Get,
        Verb::Head,
        Verb::Options,
        Verb::Put,
        Verb::PatchMerge,
        Verb::Delete,
        Verb::Post,
        Verb::PostWithKey,
    ];

    /// The rows the latency table times. Not DELETE (after the first call every repeat is a 404
    /// of a note that is gone) nor the keyed POST (every repeat is a replay): timing them would
    /// time a different request from the one the row names.
    pub const TIMED: [Verb; 6] = [
        Verb::Get,
        Verb::Head,
        Verb::Options,
        Verb::Put,
        Verb::PatchMerge,
        Verb::Post,
    ];

    /// The row's name, as printed.
    pub fn label(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Head => "HEAD",
            Verb::Options => "OPTIONS",
            Verb::Put => "PUT",
            Verb::PatchMerge => "PATCH (merge)",
            Verb::Delete => "DELETE",
            Verb::Post => "POST",
            Verb::PostWithKey => "POST + Idempotency-Key",
        }
    }

    /// Safe (RFC 9110 §9.2.1): the client asks for no change of state.
    pub fn safe(self) -> bool {
        matches!(self, Verb::Get | Verb::Head | Verb::Options)
    }

    /// Idempotent as the RFC defines it (§9.2.2), for the method alone. The keyed POST is not:
    /// its retries are safe by agreement with this server, which a generic client cannot know.
    pub fn idempotent(self) -> bool {
        !matches!(self, Verb::Post | Verb::PostWithKey)
    }
}

/// The notes the eight calls act on, and the key the keyed POST carries.
#[derive(Debug)]
pub struct Targets<'a> {
    bench: &'a Bench,
    /// Read, replaced and patched.
    target: String,
    /// Deleted (a separate note, so DELETE does not take the others' target away).
    victim: String,
    key: String,
}

impl<'a> Targets<'a> {
    /// Creates the two notes on the bench's server.
    pub async fn create(bench: &'a Bench) -> anyhow::Result<Self> {
        let mut targets = Self {
            bench,
            target: String::new(),
            victim: String::new(),
            // A fresh key per run: a fixed one would replay an earlier run's response from a
            // server that was kept up.
            key: uuid::Uuid::new_v4().to_string(),
        };
        targets.target = targets.location_of("retry target").await?;
        targets.victim = targets.location_of("delete target").await?;
        Ok(targets)
    }

    async fn location_of(&self, title: &str) -> anyhow::Result<String> {
        let created = self.create_note(title).send().await?;
        anyhow::ensure!(
            created.status() == 201,
            "creating {title:?} answered {}",
            created.status()
        );
        Ok(support::transcript::header_text(
            created.headers(),
            header::LOCATION,
        ))
    }

    fn create_note(&self, title: &str) -> RequestBuilder {
        self.bench
            .recorder
            .request(Method::POST, "/notes")
            .bearer_auth(self.bench.writer())
            .json(&json!({ "title": title }))
    }

    /// The request a row sends; called again for the retry, so both are the same request.
    pub fn request(&self, verb: Verb) -> RequestBuilder {
        let recorder = &self.bench.recorder;
        let writer = self.bench.writer();
        match verb {
            Verb::Get => recorder.request(Method::GET, &self.target),
            Verb::Head => recorder.request(Method::HEAD, &self.target),
            Verb::Options => recorder.request(Method::OPTIONS, &self.target),
            Verb::Put => recorder
                .request(Method::PUT, &self.target)
                .bearer_auth(writer)
                .json(&json!({ "title": "replaced" })),
            Verb::PatchMerge => recorder
                .request(Method::PATCH, &self.target)
                .bearer_auth(writer)
                .header(header::CONTENT_TYPE, MERGE_PATCH)
                .body(r#"{"body": "patched"}"#),
            Verb::Delete => recorder
                .request(Method::DELETE, &self.victim)
                .bearer_auth(writer),
            Verb::Post => self.create_note("posted"),
            Verb::PostWithKey => self.create_note("keyed").header(IDEMPOTENCY_KEY, &self.key),
        }
    }
}
