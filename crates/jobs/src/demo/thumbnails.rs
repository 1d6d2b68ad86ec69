//! Section (continuing "Response time"): the CPU-bound job, POST /thumbnails made in the handler
//! or by a worker.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use support::Plan;
use support::measure::{Measurement, measure};
use support::narrate::Narrator;
use support::report::{Cell, Chart, Table, Unit};

use super::{Context, Running, ms};
use crate::backends::synchronous;
use crate::config::BackendKind;
use crate::runner::JobRunner;

/// What the thumbnail comparison measured.
#[derive(Debug, Clone, Serialize)]
pub struct Thumbnails {
    pub width: u32,
    pub height: u32,
    pub max_side: u32,
    pub synchronous_p50_ms: f64,
    pub in_process_p50_ms: f64,
    pub synchronous: Measurement,
    pub in_process: Measurement,
}

pub async fn run(n: &mut Narrator, ctx: &Context) -> anyhow::Result<Thumbnails> {
    let (args, config, sink) = (&ctx.args, &ctx.config, &ctx.sink);
    let (width, height, max_side) = args.pick((1600u32, 1200u32, 200u32), (480, 360, 100));
    n.say(&format!(
        "The CPU-bound job: POST /thumbnails draws a {width}×{height} PNG (standing in for the \
         upload), decodes it, resizes it to fit {max_side}×{max_side} with a Lanczos filter and \
         encodes the result, on a blocking thread (spawn_blocking) in both cases: synchronously \
         the handler awaits it, enqueued (in-process) a worker does."
    ));
    let client = reqwest::Client::new();
    let body = json!({ "width": width, "height": height, "max_side": max_side });
    let mut table = Table::latency("thumbnail, made by")
        .column("status", Unit::Text)
        .ratio_against("p50", synchronous::NAME)
        .chart(
            Chart::bars()
                .log()
                .of(&["p50", "p99"])
                .titled("Upload response time: thumbnail made in the handler or enqueued"),
        );
    let mut measured = Vec::new();
    for mode in [None, Some(BackendKind::InProcess)] {
        let runner = Arc::new(JobRunner::new(sink.send_url()));
        let running = Running::start(config, mode, &runner, &ctx.queue("thumbnails")).await?;
        let url = running.server.url("/thumbnails");
        let plan = match mode {
            None => Plan::iterations(args.pick(20, 2)).warmup(1),
            Some(_) => Plan::iterations(args.pick(40, 4)).warmup(1),
        }
        .budget(Duration::from_secs(args.pick(10, 3)));
        let status = std::sync::Mutex::new(0u16);
        let m = measure(plan, |_| {
            let request = client.post(&url).json(&body).send();
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
        let code = status.lock().map(|s| *s).unwrap_or_default();
        table.row_measured(
            mode.map_or(synchronous::NAME, BackendKind::label),
            &m,
            [Cell::from(code.to_string())],
        );
        running.stop().await?;
        measured.push(m);
    }
    n.table(table);
    let (Some(in_process), Some(synchronous)) = (measured.pop(), measured.pop()) else {
        anyhow::bail!("the thumbnail rows did not run");
    };
    let figures = Thumbnails {
        width,
        height,
        max_side,
        synchronous_p50_ms: ms(synchronous.p50),
        in_process_p50_ms: ms(in_process.p50),
        synchronous,
        in_process,
    };
    n.figures(&figures)?;
    Ok(figures)
}
