//! Section: the consumer answers too slowly, then goes down, then comes back, while the provider
//! keeps committing events. The retry schedule carries every event across; the `webhook-id`
//! check absorbs the duplicates the slow answers caused.
//!
//! Nothing here is simulated on the provider's side: the attempts time out, the connections are
//! refused, the retries are the dispatcher's. On the consumer's side, "slow" is
//! [`ConsumerState::set_ack_delay`] (a consumer that works before it answers), and "down" is its
//! server stopped, then started again on the same port with the same state, as a restarted
//! process with its seen-ids in a database would be.

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;
use support::narrate::Narrator;
use support::report::{Chart, Table, Unit};

use super::{Context, Emitted, LoggedAttempt, Orders, ms_between};
use crate::consumer::{self, Consumer, ConsumerState, ProcessedLog};
use crate::outbox::DeliveryStatus;

/// What happened to one phase's events, by the end of the section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseRow {
    pub phase: String,
    pub events: usize,
    /// Delivered by their first attempt.
    pub on_first_attempt: usize,
    /// Delivered, but only after at least one failed attempt.
    pub late: usize,
    /// Attempts the provider made for them.
    pub attempts: usize,
    /// Deliveries the consumer received again after processing (and acknowledged unprocessed).
    pub duplicates_received: usize,
    /// Events the consumer processed more than once (the goal: 0).
    pub processed_twice: usize,
    /// Events the consumer never processed (the goal: 0).
    pub missed: usize,
    /// The longest time from requesting the change to the consumer processing it.
    pub longest_ms: Option<f64>,
}

impl PhaseRow {
    /// A phase of `events` events with nothing counted yet.
    fn empty(phase: &str, events: usize) -> Self {
        Self {
            phase: phase.to_owned(),
            events,
            on_first_attempt: 0,
            late: 0,
            attempts: 0,
            duplicates_received: 0,
            processed_twice: 0,
            missed: 0,
            longest_ms: None,
        }
    }
}

/// What the section measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outage {
    pub attempt_timeout_ms: u64,
    pub slow_ack_ms: u64,
    pub slow_for_ms: u64,
    pub down_for_ms: u64,
    /// The retry schedule's total span: an outage longer than this would exhaust it.
    pub schedule_total_ms: u64,
    pub rows: Vec<PhaseRow>,
}

impl Outage {
    /// The sum over every phase.
    pub fn total(&self) -> PhaseRow {
        let mut total = PhaseRow::empty("total", 0);
        for r in &self.rows {
            total.events += r.events;
            total.on_first_attempt += r.on_first_attempt;
            total.late += r.late;
            total.attempts += r.attempts;
            total.duplicates_received += r.duplicates_received;
            total.processed_twice += r.processed_twice;
            total.missed += r.missed;
            total.longest_ms = match (total.longest_ms, r.longest_ms) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
        total
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub async fn run(n: &mut Narrator, ctx: &Context) -> anyhow::Result<Outage> {
    let config = &ctx.config;
    let slow_ack = config.attempt_timeout + Duration::from_millis(100);
    let slow_for = config.attempt_timeout * 2 + Duration::from_millis(50);
    let down_for = Duration::from_millis(ctx.args.pick(700, 400));
    let schedule_total: Duration = config.retry_schedule.iter().sum();
    n.section("An outage: slow answers, then no answers, then back");
    n.say(&format!(
        "The provider gives each attempt {} ms and retries after {} ms (a compressed Standard \
         Webhooks schedule, {} ms in all, plus up to {:.0}% jitter). First the consumer answers \
         after {} ms for {} ms, past the attempt timeout; then its server is down for {} ms; \
         then it comes back on the same port. Events keep coming throughout.",
        ms(config.attempt_timeout),
        config
            .retry_schedule
            .iter()
            .map(|d| d.as_millis().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        ms(schedule_total),
        config.jitter * 100.0,
        ms(slow_ack),
        ms(slow_for),
        ms(down_for),
    ));

    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let (endpoint, secret) = ctx
        .register(&format!("http://{addr}{}", consumer::PATH))
        .await?;
    let (state, log) = Consumer::new(vec![secret], config.tolerance).start();
    let serve = |listener, state: ConsumerState| {
        support::server::spawn_on(listener, move |l| consumer::run(l, state))
    };
    let mut orders = Orders::default();
    let gap = Duration::from_millis(ctx.args.pick(120, 80));

    // Up: each event delivered at once.
    let server = serve(listener, state.clone())?;
    let up = emit(ctx, &mut orders, 3, gap).await?;
    log.wait_for(up.len(), Duration::from_secs(5)).await;

    // Slow: processed, but the provider has stopped waiting before the 200 comes.
    state.set_ack_delay(slow_ack);
    let slow = emit(ctx, &mut orders, 2, gap).await?;
    tokio::time::sleep(slow_for.saturating_sub(gap * 2)).await;
    state.set_ack_delay(Duration::ZERO);

    // Down: connections refused, attempts fail at once, the schedule spaces the retries.
    server.kill().await;
    let down_started = std::time::Instant::now();
    let down = emit(ctx, &mut orders, 3, down_for / 4).await?;
    tokio::time::sleep(down_for.saturating_sub(down_started.elapsed())).await;
    let server = serve(std::net::TcpListener::bind(addr)?, state.clone())?;

    // Back: wait for the schedule to bring everything across (or to give up).
    let expected = up.len() + slow.len() + down.len();
    log.wait_for(expected, schedule_total * 2 + Duration::from_secs(2))
        .await;
    // Let a retry already on its way land, so the duplicates column is complete.
    tokio::time::sleep(config.attempt_timeout).await;
    let attempts = ctx.delivery_log(&endpoint).await?;
    server.stop().await;
    ctx.retire(&endpoint).await?;

    let duplicates = state.duplicates();
    let rows = vec![
        phase("consumer up", &up, &attempts, &log, &duplicates),
        phase("slow answers", &slow, &attempts, &log, &duplicates),
        phase("consumer down", &down, &attempts, &log, &duplicates),
    ];
    let figures = Outage {
        attempt_timeout_ms: ms(config.attempt_timeout),
        slow_ack_ms: ms(slow_ack),
        slow_for_ms: ms(slow_for),
        down_for_ms: ms(down_for),
        schedule_total_ms: ms(schedule_total),
        rows,
    };
    n.table(table(&figures));
    n.figures(&figures)?;
    Ok(figures)
}

async fn emit(
    ctx: &Context,
    orders: &mut Orders,
    count: usize,
    gap: Duration,
) -> anyhow::Result<Vec<Emitted>> {
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        out.push(ctx.emit(orders).await?);
        tokio::time::sleep(gap).await;
    }
    Ok(out)
}

fn phase(
    name: &str,
    events: &[Emitted],
    attempts: &[LoggedAttempt],
    log: &ProcessedLog,
    duplicates: &[String],
) -> PhaseRow {
    let processed = log.snapshot();
    let mut times: HashMap<&str, usize> = HashMap::new();
    for p in &processed {
        *times.entry(p.id.as_str()).or_default() += 1;
    }
    let mut row = PhaseRow::empty(name, events.len());
    for e in events {
        let mine: Vec<&LoggedAttempt> = attempts
            .iter()
            .filter(|a| a.event_id == e.id && a.attempted_at.is_some())
            .collect();
        row.attempts += mine.len();
        let delivered_at = mine
            .iter()
            .filter(|a| a.status == DeliveryStatus::Delivered.as_str())
            .map(|a| a.attempt)
            .min();
        match delivered_at {
            Some(1) => row.on_first_attempt += 1,
            Some(_) => row.late += 1,
            None => {}
        }
        row.duplicates_received += duplicates.iter().filter(|d| **d == e.id).count();
        match times.get(e.id.as_str()).copied().unwrap_or(0) {
            0 => row.missed += 1,
            1 => {}
            _ => row.processed_twice += 1,
        }
        if let Some(p) = processed.iter().find(|p| p.id == e.id) {
            let took = ms_between(e.committed_at, p.processed_at);
            row.longest_ms = Some(row.longest_ms.map_or(took, |m: f64| m.max(took)));
        }
    }
    row
}

fn table(f: &Outage) -> Table {
    let mut table = Table::new("phase")
        .column("events", Unit::Count)
        .column("delivered first try", Unit::Count)
        .column("delivered late", Unit::Count)
        .column("attempts", Unit::Count)
        .column("duplicates received", Unit::Count)
        .column("processed twice", Unit::Count)
        .column("missed", Unit::Count)
        .column("longest to processed", Unit::Millis)
        .chart(
            Chart::bars()
                .of(&[
                    "delivered first try",
                    "delivered late",
                    "duplicates received",
                    "missed",
                ])
                .titled("An outage: deliveries per phase"),
        );
    for r in f.rows.iter().chain(std::iter::once(&f.total())) {
        table.row(
            r.phase.clone(),
            [
                r.events.into(),
                r.on_first_attempt.into(),
                r.late.into(),
                r.attempts.into(),
                r.duplicates_received.into(),
                r.processed_twice.into(),
                r.missed.into(),
                r.longest_ms.into(),
            ],
        );
    }
    table
}
