//! Section: the bare broker. Plain lapin loops set RabbitMQ's own ceiling; the job backend is
//! measured the same way beside them.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use support::Plan;
use support::measure::measure;
use support::narrate::Narrator;
use support::report::{Chart, Table, Unit};

use super::{Context, drain_batch, ms};
use crate::bare::{self, AckMode};
use crate::config::BackendKind;
use crate::runner::JobRunner;
use crate::worker::WorkerPool;

/// A job backend within this share of the best bare rate counts as keeping up with it (single
/// timed batches differ by more than a few percent from run to run).
pub const KEPT_UP: f64 = 0.95;

/// One configuration's rate.
#[derive(Debug, Clone, Serialize)]
pub struct CeilingRow {
    pub label: String,
    pub messages_per_s: f64,
    pub time_ms: f64,
}

/// What the section measured.
#[derive(Debug, Clone, Serialize)]
pub struct Ceiling {
    /// The bare loops, in the order they ran.
    pub bare: Vec<CeilingRow>,
    /// The RabbitMQ job backend, no-op jobs, measured like the pipelined loops.
    pub backend: CeilingRow,
    pub workers: usize,
}

impl Ceiling {
    /// The fastest bare configuration.
    pub fn best(&self) -> Option<&CeilingRow> {
        self.bare
            .iter()
            .max_by(|a, b| a.messages_per_s.total_cmp(&b.messages_per_s))
    }

    /// The job backend's rate as a share of the best bare one (1.0 = as fast).
    pub fn backend_share(&self) -> Option<f64> {
        self.best()
            .map(|b| self.backend.messages_per_s / b.messages_per_s.max(1e-9))
    }
}

pub async fn run(n: &mut Narrator, ctx: &Context) -> anyhow::Result<Ceiling> {
    let (args, config, sink) = (&ctx.args, &ctx.config, &ctx.sink);
    n.section("The bare broker: RabbitMQ's own ceiling, and how acks and confirms set it");
    let count = args.pick(20_000u64, 300);
    let each = args.pick(2_000u64, 30);
    n.say(&format!(
        "Plain lapin loops with no job framework: {count} persistent messages to a durable queue \
         with pipelined publisher confirms (publish all, collect the confirms), prefetch {}, \
         consumed as they are published, acked three ways; time until the last ack. Then \
         publishing {each} messages waiting for each confirm before the next publish (publishing \
         only). Then the job backend with no-op jobs, measured the same way as the first three, \
         with the same prefetch and as many enqueues in flight.",
        bare::BARE_PREFETCH
    ));
    let url = &config.settings.amqp_url;
    let once = || {
        Plan::iterations(1)
            .warmup(0)
            .budget(Duration::from_secs(60))
    };
    let mut rows: Vec<CeilingRow> = Vec::new();
    let row = |label: String, messages: u64, time: Duration| CeilingRow {
        label,
        messages_per_s: messages as f64 / time.as_secs_f64().max(1e-9),
        time_ms: ms(time),
    };
    for (label, mode) in [
        ("bare: ack each, awaited", AckMode::EachAwaited),
        (
            &*format!("bare: `multiple` acks per {}", bare::ACK_BATCH),
            AckMode::Multiple,
        ),
        ("bare: acks off the receive loop", AckMode::OffLoop),
    ] {
        let queue = ctx.queue("bare");
        let m = measure(once(), |_| bare::pipelined(url, &queue, count, mode)).await;
        anyhow::ensure!(m.ok == 1, "the bare loop failed ({label})");
        rows.push(row(label.to_owned(), count, m.p50));
    }
    let queue = ctx.queue("bare_each");
    let m = measure(once(), |_| bare::confirm_each(url, &queue, each)).await;
    anyhow::ensure!(m.ok == 1, "the confirm-each loop failed");
    rows.push(row("bare: confirm each publish".to_owned(), each, m.p50));

    sink.state.set_latency(Duration::ZERO);
    let runner = Arc::new(JobRunner::new(sink.send_url()));
    // The same prefetch as the bare loops, and as many enqueues in flight, so the row differs
    // from them only by being a job queue.
    let mut ceiling_config = config.clone();
    ceiling_config.prefetch = bare::BARE_PREFETCH;
    let queue = BackendKind::RabbitMq
        .open(&ceiling_config, &ctx.queue("ceiling"))
        .await?;
    let pool = WorkerPool::start(queue.clone(), runner.clone(), config.worker_options());
    let producers = usize::from(bare::BARE_PREFETCH);
    let m = measure(once(), |_| {
        drain_batch(queue.clone(), runner.clone(), count, producers)
    })
    .await;
    pool.shutdown().await;
    queue.delete().await?;
    anyhow::ensure!(m.ok == 1, "the job backend batch failed");
    let figures = Ceiling {
        bare: rows,
        backend: row(
            format!("job backend: no-op jobs, {} workers", config.workers),
            count,
            m.p50,
        ),
        workers: config.workers,
    };
    let best = figures
        .best()
        .ok_or_else(|| anyhow::anyhow!("no bare row ran"))?;
    let mut table = Table::new("configuration")
        .column("messages/s", Unit::PerSecond)
        .column("time", Unit::Millis)
        .ratio_against("messages/s", best.label.clone())
        .chart(
            Chart::bars()
                .of(&["messages/s"])
                .titled("RabbitMQ's own ceiling against the job backend"),
        );
    for r in figures.bare.iter().chain([&figures.backend]) {
        table.row(r.label.clone(), [r.messages_per_s.into(), r.time_ms.into()]);
    }
    n.table(table);
    n.say(&figures.bound_sentence());
    n.figures(&figures)?;
    Ok(figures)
}

impl Ceiling {
    /// What the job backend's row says about what bounds it, from the rows.
    pub fn bound_sentence(&self) -> String {
        let (Some(best), Some(share)) = (self.best(), self.backend_share()) else {
            return String::new();
        };
        let each = self.bare.first();
        if share >= KEPT_UP {
            let mut text = format!(
                "The job backend kept up with the best bare configuration this run ({:.0}% of \
                 {}): its {} workers ack concurrently and its {} enqueues in flight pipeline \
                 their confirms, so here the broker, not the job framework, set the pace.",
                100.0 * share,
                best.label,
                self.workers,
                bare::BARE_PREFETCH,
            );
            if share > 1.0 / KEPT_UP {
                text.push_str(
                    " A job queue above the bare ceiling means the ceiling was measured low: one \
                     timed batch per row is noisy on a busy machine; rerun before reading more \
                     into it.",
                );
            }
            return text;
        }
        let mut text = format!(
            "The job backend reached {:.0}% of the best bare configuration ({}). What bounds it: \
             every job still costs its own publisher confirm (pipelined only across the {} \
             enqueues in flight) and its own ack frame, plus a JSON encode and decode, a consumer \
             stream shared by the workers behind a mutex, and status updates.",
            100.0 * share,
            best.label,
            bare::BARE_PREFETCH,
        );
        if let Some(each) = each {
            if self.backend.messages_per_s > each.messages_per_s {
                text.push_str(&format!(
                    " It beat the single-loop '{}' row because its {} workers await their acks \
                     concurrently.",
                    each.label, self.workers
                ));
            } else {
                text.push_str(&format!(
                    " It did not even beat the single-loop '{}' row this run, though its {} \
                     workers await their acks concurrently: the job framework's own costs \
                     dominated.",
                    each.label, self.workers
                ));
            }
        }
        text.push_str(
            " A job queue must not skip confirms; batching acks is possible but widens what a \
             crash redelivers.",
        );
        text
    }
}
