//! Section: sign-up response time with the email sent in the handler, or enqueued.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use support::Plan;
use support::measure::{Measurement, measure};
use support::narrate::Narrator;
use support::report::{Cell, Chart, Table, Unit};

use super::{Context, MAIL_LATENCY, Running, ms};
use crate::backends::synchronous;
use crate::config::BackendKind;
use crate::runner::JobRunner;

/// Requests in flight at once when measuring response time.
pub const CLIENTS: usize = 4;

/// One row: how fast POST /signup answered with the email sent one way.
#[derive(Debug, Clone, Serialize)]
pub struct ResponseRow {
    /// The HTTP status the sign-ups got (201 synchronous, 202 enqueued).
    pub status: u16,
    pub p50_ms: f64,
    pub measured: Measurement,
}

/// What the section measured.
#[derive(Debug, Clone, Serialize)]
pub struct ResponseTime {
    pub mail_latency_ms: f64,
    pub synchronous: ResponseRow,
    /// One row per queue backend, in the order they ran.
    pub queued: Vec<(BackendKind, ResponseRow)>,
}

impl ResponseTime {
    /// The queue backend that answered fastest at the median.
    pub fn fastest_queue(&self) -> Option<&(BackendKind, ResponseRow)> {
        self.queued
            .iter()
            .min_by(|a, b| a.1.p50_ms.total_cmp(&b.1.p50_ms))
    }
}

pub async fn run(n: &mut Narrator, ctx: &Context) -> anyhow::Result<ResponseTime> {
    let (args, config, sink) = (&ctx.args, &ctx.config, &ctx.sink);
    n.section("Response time: send the welcome email in the handler, or enqueue it");
    n.say(&format!(
        "POST /signup, {CLIENTS} clients at once. The mail service answers after {} ms. \
         Synchronously, the handler waits for it and answers 201; with a queue, it stores the job \
         and answers 202 Accepted with a job id and a Location to poll (GET /jobs/{{id}}), while \
         {} workers send the emails in the background.",
        MAIL_LATENCY.as_millis(),
        config.workers
    ));
    sink.state.set_latency(MAIL_LATENCY);
    let client = reqwest::Client::new();
    let counter = AtomicU64::new(0);
    let mut table = Table::latency("sign-up, email sent by")
        .column("status", Unit::Text)
        .column("speed-up (p50)", Unit::Ratio)
        // A log axis: sending in the handler is two to three decades slower than enqueueing.
        .chart(
            Chart::bars()
                .log()
                .of(&["p50", "p99"])
                .titled("Sign-up response time: email sent in the handler or enqueued"),
        );
    let mut synchronous_row: Option<ResponseRow> = None;
    let mut queued = Vec::new();
    let modes: Vec<Option<BackendKind>> = std::iter::once(None)
        .chain(ctx.kinds.iter().copied().map(Some))
        .collect();
    for mode in modes {
        let runner = Arc::new(JobRunner::new(sink.send_url()));
        let label = mode.map_or(synchronous::NAME, BackendKind::label);
        let running = Running::start(config, mode, &runner, &ctx.queue("signup")).await?;
        let url = running.server.url("/signup");
        let plan = match mode {
            None => Plan::iterations(args.pick(40, 4)).warmup(CLIENTS as u64),
            Some(_) => Plan::iterations(args.pick(2000, 100)).warmup(args.pick(50, 20)),
        }
        .concurrency(CLIENTS)
        .budget(Duration::from_secs(args.pick(10, 3)));
        let status = std::sync::Mutex::new(0u16);
        let m = measure(plan, |_| {
            let email = format!(
                "user{}@example.com",
                counter.fetch_add(1, Ordering::Relaxed)
            );
            let request = client.post(&url).json(&json!({ "email": email })).send();
            let status = &status;
            async move {
                let response = request.await?;
                if let Ok(mut s) = status.lock() {
                    *s = response.status().as_u16();
                }
                response.error_for_status().map(|_| ())
            }
        })
        .await;
        running.stop().await?;
        let row = ResponseRow {
            status: status.lock().map(|s| *s).unwrap_or_default(),
            p50_ms: ms(m.p50),
            measured: m,
        };
        let base = synchronous_row.as_ref().map_or(row.p50_ms, |s| s.p50_ms);
        table.row_measured(
            label,
            &row.measured,
            [
                Cell::from(row.status.to_string()),
                Cell::from(base / row.p50_ms.max(1e-9)),
            ],
        );
        match mode {
            None => synchronous_row = Some(row),
            Some(kind) => queued.push((kind, row)),
        }
    }
    n.table(table);
    n.say(
        "The synchronous row is the mail service's latency plus the request; the queue rows are \
         the cost of handing the job over: a channel send, a Redis LPUSH or XADD, or a RabbitMQ \
         publish waited for until the broker confirmed it. The user no longer waits for the email.",
    );
    let figures = ResponseTime {
        mail_latency_ms: ms(MAIL_LATENCY),
        synchronous: synchronous_row
            .ok_or_else(|| anyhow::anyhow!("the synchronous row did not run"))?,
        queued,
    };
    n.figures(&figures)?;
    Ok(figures)
}
