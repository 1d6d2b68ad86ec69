//! Section 2, first half: which methods are safe to retry, measured rather than recited.
//!
//! Each of the eight calls is sent once, then again as a client would after a lost response.
//! Before, between and after, the server's state is read back: the number of notes, and the
//! collection's ETag, which changes on every write. "The retry changed state" is therefore an
//! observation (the ETag moved), not the RFC's promise restated.

use anyhow::Context as _;
use reqwest::Method;
use reqwest::header;
use serde::Serialize;
use support::narrate::Narrator;
use support::report::{Cell, Chart, Table, Unit};
use support::transcript::header_text;

use super::Bench;
use super::verbs::{Targets, Verb};
use crate::idempotency::REPLAYED;

/// One row of the retry table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetryRow {
    pub verb: Verb,
    /// Status of the first call, and of the retry.
    pub first: u16,
    pub retry: u16,
    /// The retry's response said it was a replay of the first (`Idempotent-Replayed`).
    pub replayed: bool,
    /// Notes on the server before the first call, after it, and after the retry.
    pub before: usize,
    pub after_first: usize,
    pub after_retry: usize,
    /// The collection's ETag differed after the retry from after the first call.
    pub retry_changed_state: bool,
}

impl RetryRow {
    /// Notes this row's two calls added (negative changes count as none).
    pub fn created(&self) -> usize {
        self.after_retry.saturating_sub(self.before)
    }
}

/// The retry table, row by row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetryFigures {
    pub rows: Vec<RetryRow>,
}

impl RetryFigures {
    pub fn row(&self, verb: Verb) -> Option<&RetryRow> {
        self.rows.iter().find(|r| r.verb == verb)
    }

    /// The methods whose retry changed the server's state, in table order.
    pub fn changed_by_retry(&self) -> Vec<Verb> {
        self.rows
            .iter()
            .filter(|r| r.retry_changed_state)
            .map(|r| r.verb)
            .collect()
    }
}

/// The server's state as a client can see it: note count and the collection's ETag.
async fn observe(bench: &Bench) -> anyhow::Result<(usize, String)> {
    let response = bench.recorder.request(Method::GET, "/notes").send().await?;
    let etag = header_text(response.headers(), header::ETAG);
    let notes: Vec<serde_json::Value> = response.json().await.context("listing notes")?;
    Ok((notes.len(), etag))
}

/// Runs every call twice, prints the table, and returns its rows.
pub async fn section(
    n: &mut Narrator,
    bench: &Bench,
    targets: &Targets<'_>,
) -> anyhow::Result<RetryFigures> {
    n.section("2. Methods: which ones are safe to retry? Measured.");
    n.say("Each method is called once, then called again as a client would after a lost response (the first response is thrown away, as a timeout would). Before, after the first call and after the retry, the demo reads the server's state back: the number of notes and the collection's ETag, which changes on every write. RFC 9110 promises that safe methods change nothing and idempotent methods change nothing more on a retry; the last column checks the promise.");

    let mut rows = Vec::new();
    for verb in Verb::ALL {
        let (before, _) = observe(bench).await?;
        let first = targets.request(verb).send().await?.status();
        let (after_first, etag_first) = observe(bench).await?;
        let retry = targets.request(verb).send().await?;
        let replayed = retry.headers().contains_key(REPLAYED);
        let retry_status = retry.status();
        let (after_retry, etag_retry) = observe(bench).await?;
        rows.push(RetryRow {
            verb,
            first: first.as_u16(),
            retry: retry_status.as_u16(),
            replayed,
            before,
            after_first,
            after_retry,
            retry_changed_state: etag_first != etag_retry,
        });
    }
    let figures = RetryFigures { rows };

    n.table(table(&figures));
    n.say(&reading(&figures));
    n.figures(&figures)?;
    Ok(figures)
}

/// The paragraph under the table, from the rows it comments on.
fn reading(figures: &RetryFigures) -> String {
    let mut text = String::new();
    if let Some(delete) = figures.row(Verb::Delete) {
        text.push_str(&match (delete.retry, delete.retry_changed_state) {
            (404, false) => "DELETE's retry answers 404, not 204, and that is fine: idempotency is about the server's state, not about getting the same status twice.".to_owned(),
            (status, false) => format!("DELETE's retry answered {status} and left the state as the first call did: idempotency is about the server's state, not about the status."),
            (status, true) => format!("DELETE's retry answered {status} and changed the state again: that breaks the promise RFC 9110 makes for DELETE."),
        });
    }
    if let Some(post) = figures.row(Verb::Post) {
        text.push_str(if post.after_retry > post.after_first {
            " POST's retry created a duplicate;"
        } else {
            " POST's retry created no duplicate this time (nothing in HTTP prevents one);"
        });
    }
    if let Some(keyed) = figures.row(Verb::PostWithKey) {
        text.push_str(if keyed.replayed && keyed.created() == 1 {
            " with an Idempotency-Key the server recognised the retry and replayed the first response."
        } else {
            " with an Idempotency-Key the retry was not recognised as one: the key did not protect it."
        });
    }
    text.trim_start().to_owned()
}

fn table(figures: &RetryFigures) -> Table {
    let mut table = Table::new("method")
        .column("safe (RFC)", Unit::Text)
        .column("idempotent (RFC)", Unit::Text)
        .column("1st", Unit::Text)
        .column("retry", Unit::Text)
        .column("notes before", Unit::Count)
        .column("after 1st", Unit::Count)
        .column("after retry", Unit::Count)
        .column("retry changed state", Unit::Text)
        .chart(
            Chart::bars()
                .of(&["notes before", "after 1st", "after retry"])
                .titled("Notes stored before a request, after it, and after its retry"),
        );
    let yes_no = |b: bool| Cell::from(if b { "yes" } else { "no" });
    for row in &figures.rows {
        let retry = if row.replayed {
            format!("{} (replayed)", row.retry)
        } else {
            row.retry.to_string()
        };
        table.row(
            row.verb.label(),
            [
                yes_no(row.verb.safe()),
                yes_no(row.verb.idempotent()),
                row.first.to_string().into(),
                retry.into(),
                row.before.into(),
                row.after_first.into(),
                row.after_retry.into(),
                yes_no(row.retry_changed_state),
            ],
        );
    }
    table
}
