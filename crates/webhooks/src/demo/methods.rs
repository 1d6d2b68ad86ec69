//! Section: one stream of order events, watched by every method at once. Short polling at
//! several intervals, conditional polling, long polling, server-sent events and webhooks each
//! count their requests, the bytes on their wire and how late they noticed each event.
//!
//! All of them run together against the same provider on the same two cores, so none gets a
//! quieter machine than another, and each talks through its own counting [`Relay`]. The polling
//! clients and their relays run on a runtime of their own, as they would in the consumers' own
//! processes: the provider's dispatcher does not queue behind a thousand poll requests a second
//! on one thread, and the pollers do not queue behind it.

use std::time::Duration;

use anyhow::Context as _;
use rand::RngExt as _;
use serde::Serialize;
use support::narrate::Narrator;
use support::report::{Chart, Table, Unit, format_number};
use tokio_util::sync::CancellationToken;

use super::relay::Relay;
use super::watchers::{self, Watch};
use super::{Context, Emitted, Orders, ms_between, quantile};
use crate::consumer::{self, Consumer, ProcessedLog};

/// How a consumer finds out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    ShortPolling,
    ConditionalPolling,
    LongPolling,
    ServerSentEvents,
    Webhooks,
}

/// One method's figures over the section's window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MethodRow {
    pub method: Method,
    /// The polling interval, for the methods that have one.
    pub interval_ms: Option<u64>,
    /// Requests made (for webhooks: the provider's attempts, from its delivery log).
    pub requests: u64,
    /// Requests answered with nothing new.
    pub empty: u64,
    /// Bytes on the wire, both directions, headers included.
    pub bytes: u64,
    /// Events it noticed, of [`Methods::events`].
    pub noticed: usize,
    /// Event requested → noticed, over the events it noticed.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

impl MethodRow {
    /// The row's label in the table.
    pub fn label(&self) -> String {
        let name = match self.method {
            Method::ShortPolling => "short polling",
            Method::ConditionalPolling => "conditional polling",
            Method::LongPolling => "long polling",
            Method::ServerSentEvents => "server-sent events",
            Method::Webhooks => "webhooks",
        };
        match self.interval_ms {
            Some(ms) => format!("{name}, every {ms} ms"),
            None => name.to_owned(),
        }
    }
}

/// What the section measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Methods {
    pub events: usize,
    /// The mean gap between events (each gap drawn from 0.5× to 1.5× of it).
    pub mean_gap_ms: u64,
    /// From the first watcher starting to all of them stopping: the span requests were counted over.
    pub window_ms: f64,
    /// How long each long poll was held at most.
    pub long_poll_wait_s: u64,
    /// Change requested → committed, at the median: the provider's own part, before any method
    /// can know (notice latencies start at the commit).
    pub commit_p50_ms: Option<f64>,
    pub rows: Vec<MethodRow>,
}

impl Methods {
    pub fn row(&self, method: Method) -> Option<&MethodRow> {
        self.rows.iter().find(|r| r.method == method)
    }

    /// The short-polling rows, slowest interval first.
    pub fn short_polls(&self) -> Vec<&MethodRow> {
        let mut rows: Vec<&MethodRow> = self
            .rows
            .iter()
            .filter(|r| r.method == Method::ShortPolling)
            .collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.interval_ms));
        rows
    }

    /// The slowest short-polling interval whose p99 is at most the webhooks' p99, if any reached it.
    pub fn short_poll_matching_webhooks(&self) -> Option<&MethodRow> {
        let target = self.row(Method::Webhooks)?.p99_ms?;
        self.short_polls()
            .into_iter()
            .find(|r| r.noticed == self.events && r.p99_ms.is_some_and(|p| p <= target))
    }
}

/// The section's sizes: full, quick.
struct Plan {
    events: usize,
    mean_gap: Duration,
    intervals_ms: Vec<u64>,
    conditional_ms: u64,
    long_poll_wait_s: u64,
}

impl Plan {
    fn for_run(quick: bool) -> Self {
        if quick {
            Self {
                events: 8,
                mean_gap: Duration::from_millis(250),
                intervals_ms: vec![500, 50, 2],
                conditional_ms: 50,
                long_poll_wait_s: 1,
            }
        } else {
            Self {
                events: 30,
                mean_gap: Duration::from_millis(500),
                intervals_ms: vec![1000, 100, 10, 2],
                conditional_ms: 100,
                long_poll_wait_s: 5,
            }
        }
    }
}

/// A polling watcher and the relay it talks through.
struct Running {
    method: Method,
    interval_ms: Option<u64>,
    relay: Relay,
    watch: Watch,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

pub async fn run(n: &mut Narrator, ctx: &Context) -> anyhow::Result<Methods> {
    let plan = Plan::for_run(ctx.args.quick);
    n.section("Every way of finding out, on the same events");
    n.say(&format!(
        "The provider commits {} order events about {} ms apart (each gap drawn between half and \
         one and a half times that). At the same time, on this machine: short polling at {} ms, \
         conditional polling (ETag, 304) at {} ms, long polling held up to {} s, one server-sent \
         event stream, and a webhook endpoint the provider's dispatcher delivers to. Each talks \
         through its own relay that counts the bytes on its wire. Notice latency runs from the \
         commit (as the provider reports it) to the moment the consumer had the event.",
        plan.events,
        plan.mean_gap.as_millis(),
        plan.intervals_ms
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        plan.conditional_ms,
        plan.long_poll_wait_s,
    ));

    let since = ctx.last_seq().await?;
    let clients = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("pollers")
        .enable_all()
        .build()?;
    let stop = CancellationToken::new();
    let provider_addr = ctx.provider.addr;
    let mut running = Vec::new();
    let mut add = async |method, interval_ms: Option<u64>| -> anyhow::Result<()> {
        let relay = clients
            .spawn(Relay::start(provider_addr))
            .await
            .context("the relay task failed")??;
        let watch = Watch::default();
        let (http, base, w, s) = (
            reqwest::Client::new(),
            relay.url(""),
            watch.clone(),
            stop.clone(),
        );
        let task = match (method, interval_ms) {
            (Method::ShortPolling | Method::ConditionalPolling, Some(ms)) => {
                clients.spawn(watchers::poll_on_a_timer(
                    http,
                    base,
                    since,
                    Duration::from_millis(ms),
                    method == Method::ConditionalPolling,
                    w,
                    s,
                ))
            }
            (Method::LongPolling, _) => clients.spawn(watchers::poll_held_open(
                http,
                base,
                since,
                plan.long_poll_wait_s,
                w,
                s,
            )),
            _ => clients.spawn(watchers::listen_to_the_stream(http, base, since, w, s)),
        };
        running.push(Running {
            method,
            interval_ms,
            relay,
            watch,
            task,
        });
        Ok(())
    };
    for &ms in &plan.intervals_ms {
        add(Method::ShortPolling, Some(ms)).await?;
    }
    add(Method::ConditionalPolling, Some(plan.conditional_ms)).await?;
    add(Method::LongPolling, None).await?;
    add(Method::ServerSentEvents, None).await?;

    // The webhook consumer: its port first (the endpoint's URL), then its secret (from the
    // registration), then the server.
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let hook_relay = Relay::start(listener.local_addr()?).await?;
    let (endpoint, secret) = ctx.register(&hook_relay.url(consumer::PATH)).await?;
    let (state, log) = Consumer::new(vec![secret], ctx.config.tolerance).start();
    let hook_server = support::server::spawn_on(listener, |l| consumer::run(l, state))?;

    let started = std::time::Instant::now();
    let emitted = produce(ctx, &plan).await?;
    // Until every method has seen every event, or the slowest poll interval and a margin passed.
    let slowest = plan.intervals_ms.iter().copied().max().unwrap_or(0);
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(slowest) * 2 + Duration::from_secs(2);
    loop {
        let all_seen = running.iter().all(|r| r.watch.seen() >= emitted.len())
            && log.snapshot().len() >= emitted.len();
        if all_seen || tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.cancel();
    let window_ms = started.elapsed().as_secs_f64() * 1e3;

    let mut rows = Vec::new();
    for r in running {
        r.task
            .await
            .context("a watcher panicked")?
            .with_context(|| format!("the {:?} watcher failed", r.method))?;
        let watched = r.watch.snapshot();
        let latencies: Vec<f64> = emitted
            .iter()
            .filter_map(|e| {
                watched
                    .seen
                    .get(&e.id)
                    .map(|at| ms_between(e.committed_at, *at))
            })
            .collect();
        rows.push(row(
            r.method,
            r.interval_ms,
            watched.requests,
            watched.empty,
            r.relay.bytes(),
            &latencies,
        ));
    }
    let attempts = ctx.delivery_log(&endpoint).await?;
    let webhook_latencies = hook_latencies(&emitted, &log);
    rows.push(row(
        Method::Webhooks,
        None,
        attempts.iter().filter(|a| a.attempted_at.is_some()).count() as u64,
        0,
        hook_relay.bytes(),
        &webhook_latencies,
    ));
    hook_server.stop().await;
    // Not dropped in place: dropping a runtime blocks, which an async context must not do.
    clients.shutdown_background();
    ctx.retire(&endpoint).await?;

    let figures = Methods {
        events: emitted.len(),
        mean_gap_ms: u64::try_from(plan.mean_gap.as_millis()).unwrap_or(u64::MAX),
        window_ms,
        long_poll_wait_s: plan.long_poll_wait_s,
        commit_p50_ms: quantile(
            &emitted
                .iter()
                .map(|e| ms_between(e.requested_at, e.committed_at))
                .collect::<Vec<_>>(),
            0.5,
        ),
        rows,
    };
    n.table(table(&figures));
    n.say(&format!(
        "Requests were counted over {} ms; \"empty\" answers told the client nothing new (a 304, \
         an empty page, a long poll that timed out). The ratio is each method's requests over the \
         webhooks'. Before any of that, the provider took {} ms at the median from the request \
         to the commit.",
        format_number(figures.window_ms.round()),
        figures
            .commit_p50_ms
            .map_or_else(|| "?".to_owned(), |v| format!("{v:.2}"))
    ));
    n.figures(&figures)?;
    Ok(figures)
}

/// Emits the plan's events with random gaps, and returns them in order.
async fn produce(ctx: &Context, plan: &Plan) -> anyhow::Result<Vec<Emitted>> {
    let mut orders = Orders::default();
    let mut emitted = Vec::with_capacity(plan.events);
    for _ in 0..plan.events {
        let factor = rand::rng().random_range(0.5..1.5);
        tokio::time::sleep(plan.mean_gap.mul_f64(factor)).await;
        emitted.push(ctx.emit(&mut orders).await?);
    }
    Ok(emitted)
}

fn hook_latencies(emitted: &[Emitted], log: &ProcessedLog) -> Vec<f64> {
    let received: std::collections::HashMap<String, chrono::DateTime<chrono::Utc>> = log
        .snapshot()
        .into_iter()
        .map(|p| (p.id, p.received_at))
        .collect();
    emitted
        .iter()
        .filter_map(|e| {
            received
                .get(&e.id)
                .map(|at| ms_between(e.committed_at, *at))
        })
        .collect()
}

fn row(
    method: Method,
    interval_ms: Option<u64>,
    requests: u64,
    empty: u64,
    bytes: u64,
    latencies: &[f64],
) -> MethodRow {
    MethodRow {
        method,
        interval_ms,
        requests,
        empty,
        bytes,
        noticed: latencies.len(),
        p50_ms: quantile(latencies, 0.50),
        p99_ms: quantile(latencies, 0.99),
        max_ms: quantile(latencies, 1.0),
    }
}

fn table(f: &Methods) -> Table {
    let mut table = Table::new("method")
        .column("requests", Unit::Count)
        .column("empty answers", Unit::Count)
        .column("bytes", Unit::Bytes)
        .column("noticed", Unit::Text)
        .column("p50", Unit::Millis)
        .column("p99", Unit::Millis)
        .column("max", Unit::Millis)
        .ratio_against("requests", "webhooks")
        // A log axis: polling every 2 ms sends a thousand times the requests of a push.
        .chart(
            Chart::bars()
                .log()
                .of(&["p50", "p99", "requests"])
                .titled("Finding out: how soon, and at how many requests"),
        );
    for r in &f.rows {
        table.row(
            r.label(),
            [
                r.requests.into(),
                r.empty.into(),
                r.bytes.into(),
                format!("{}/{}", r.noticed, f.events).into(),
                r.p50_ms.into(),
                r.p99_ms.into(),
                r.max_ms.into(),
            ],
        );
    }
    table
}
