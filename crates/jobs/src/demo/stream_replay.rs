//! Section: log versus queue. The same batch through the Redis list and the Redis Stream; then
//! what is still stored, and what a new consumer group can replay.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use support::narrate::Narrator;
use support::report::{Cell, Table, Unit};

use super::throughput::PRODUCERS;
use super::{Context, drain_batch, us};
use crate::backends::redis_stream::{RedisStream, WORKER_GROUP};
use crate::config::BackendKind;
use crate::runner::JobRunner;
use crate::worker::WorkerPool;

/// The consumer group that replays the log: a service started after the jobs ran.
const LATE_GROUP: &str = "audit";

/// What the list still held after its jobs ran.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ListHeld {
    pub ran: u64,
    /// Ready, in flight or delayed: all a late reader could get.
    pub stored: u64,
}

/// What the stream still held, and what a new group got from it.
#[derive(Debug, Clone, Serialize)]
pub struct StreamHeld {
    pub ran: u64,
    pub stored: u64,
    pub replayed: u64,
    pub replay_us: f64,
    /// The workers' group had the same offset, PEL and lag after the replay as before it.
    pub workers_offset_kept: bool,
}

/// What the section measured.
#[derive(Debug, Clone, Serialize)]
pub struct StreamReplay {
    pub batch: u64,
    pub list: ListHeld,
    pub stream: StreamHeld,
}

pub async fn run(n: &mut Narrator, ctx: &Context) -> anyhow::Result<StreamReplay> {
    let (args, config, sink) = (&ctx.args, &ctx.config, &ctx.sink);
    n.section("Log versus queue: what is left after the jobs ran");
    let batch = args.pick(1000u64, 100);
    n.say(&format!(
        "{batch} no-op jobs through the Redis list queue and through the Redis Stream, all run \
         and acked by the workers. Then a new consumer group (say, an audit service started \
         today) asks the stream for everything from offset 0, and we check that the workers' \
         group kept its offset. The list queue has nothing to offer it: BLMOVE and the ack \
         removed each job. This is the Kafka model: a topic is kept, each group has its offset."
    ));
    sink.state.set_latency(Duration::ZERO);
    let mut table = Table::new("backend")
        .column("jobs run", Unit::Count)
        .column("still stored", Unit::Count)
        .column("replayed by a new group", Unit::Count)
        .column("replay time", Unit::Micros)
        .column("workers' offset kept", Unit::Text);

    // The list: run the batch, then count what is left.
    let name = ctx.queue("log_list");
    let runner = Arc::new(JobRunner::new(sink.send_url()));
    let queue = BackendKind::Redis.open(config, &name).await?;
    let pool = WorkerPool::start(queue.clone(), runner.clone(), config.worker_options());
    // `drain_batch` returns Ok only once every one of the batch's jobs has succeeded.
    drain_batch(queue.clone(), runner.clone(), batch, PRODUCERS).await?;
    pool.shutdown().await;
    let left = queue.pending().await?;
    queue.delete().await?;
    let list = ListHeld {
        ran: batch,
        stored: left,
    };
    table.row(
        BackendKind::Redis.label(),
        [
            Cell::from(list.ran),
            list.stored.into(),
            list.stored.into(),
            Cell::Empty,
            Cell::from("n/a"),
        ],
    );

    // The stream: run the batch, then replay it with a group created afterwards.
    let name = ctx.queue("log_stream");
    let runner = Arc::new(JobRunner::new(sink.send_url()));
    let queue = BackendKind::RedisStream.open(config, &name).await?;
    let pool = WorkerPool::start(queue.clone(), runner.clone(), config.worker_options());
    drain_batch(queue.clone(), runner.clone(), batch, PRODUCERS).await?;
    pool.shutdown().await;
    let log =
        RedisStream::connect(&config.settings.redis_url, &name, config.visibility_timeout).await?;
    let before = log.offset(WORKER_GROUP).await?;
    let stored = log.log_len().await?;
    let started = Instant::now();
    let replayed = log.replay_group(LATE_GROUP).await?.len() as u64;
    let replay_us = us(started.elapsed());
    let kept = before == log.offset(WORKER_GROUP).await?;
    queue.delete().await?;
    let stream = StreamHeld {
        ran: batch,
        stored,
        replayed,
        replay_us,
        workers_offset_kept: kept,
    };
    table.row(
        BackendKind::RedisStream.label(),
        [
            Cell::from(stream.ran),
            stream.stored.into(),
            stream.replayed.into(),
            stream.replay_us.into(),
            Cell::from(if kept { "yes" } else { "NO" }),
        ],
    );
    n.table(table);
    let figures = StreamReplay {
        batch,
        list,
        stream,
    };
    n.say(&format!(
        "{} Kafka adds what one stream lacks: partitions (parallel, ordered per key, across \
         machines) and retention by age or size; a stream is trimmed by hand (XADD MAXLEN, XTRIM).",
        figures.sentence()
    ));
    n.figures(&figures)?;
    Ok(figures)
}

impl StreamReplay {
    /// What the two rows show, said from them, whichever way they went.
    pub fn sentence(&self) -> String {
        let (list, stream) = (&self.list, &self.stream);
        let mut text = format!(
            "After {} jobs ran on each, the list held {} and the stream {}; a group created \
             after the fact replayed {} entries from the stream",
            self.batch, list.stored, stream.stored, stream.replayed
        );
        text.push_str(if stream.workers_offset_kept {
            ", while the workers' group kept its own offset and lag."
        } else {
            ", but the workers' group's offset moved, which a replay by another group must \
             never do: something else read with the workers' group."
        });
        if stream.replayed < stream.ran {
            text.push_str(" The replay came back short of the jobs that ran: the log was trimmed or written by someone else.");
        }
        if list.stored > 0 {
            text.push_str(" The list still held jobs: not every job had been acked.");
        }
        text
    }
}
