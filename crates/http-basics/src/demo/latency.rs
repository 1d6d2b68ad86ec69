//! Section 2, second half: what each method costs on this server, one request at a time over
//! loopback. The point it tests is that a method is a word on the request line: what a request
//! costs is the work its handler does, and this table shows how far apart those are here.

use std::time::Duration;

use serde::Serialize;
use support::narrate::Narrator;
use support::report::{Chart, Table};
use support::{Plan, measure};

use super::Bench;
use super::verbs::{Targets, Verb};

/// One method's timing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerbLatency {
    pub verb: Verb,
    pub p50_us: f64,
    pub p99_us: f64,
    /// Calls that failed or answered a non-2xx status (none expected).
    pub errors: u64,
}

/// The latency table, row by row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencyFigures {
    pub rows: Vec<VerbLatency>,
    /// Measured with `--quick`'s few samples.
    pub quick: bool,
}

impl LatencyFigures {
    /// The row with the lowest median.
    pub fn fastest(&self) -> Option<&VerbLatency> {
        self.rows
            .iter()
            .min_by(|a, b| a.p50_us.total_cmp(&b.p50_us))
    }

    /// The row with the highest median.
    pub fn slowest(&self) -> Option<&VerbLatency> {
        self.rows
            .iter()
            .max_by(|a, b| a.p50_us.total_cmp(&b.p50_us))
    }
}

/// Times each method in [`Verb::TIMED`] and prints the table.
pub async fn section(
    n: &mut Narrator,
    bench: &Bench,
    targets: &Targets<'_>,
) -> anyhow::Result<LatencyFigures> {
    n.say("What each method costs on this server (loopback, one request at a time):");
    // A budget as well as a count, so a slow machine shortens the table rather than the demo
    // taking minutes.
    let plan = Plan::iterations(bench.args.pick(400, 40)).budget(Duration::from_secs(5));
    let mut table = Table::latency("method")
        .ratio_against("p50", Verb::Get.label())
        .chart(
            Chart::bars()
                .of(&["p50", "p99"])
                .titled("Latency per method, loopback HTTP"),
        );
    let mut rows = Vec::new();
    for verb in Verb::TIMED {
        // A bool, not the `Result`: a 4xx is a successful send but not the request the row
        // names, so it must count as an error rather than be timed.
        let m = measure::measure(plan, |_| async {
            targets
                .request(verb)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await;
        table.row_measured(verb.label(), &m, []);
        rows.push(VerbLatency {
            verb,
            p50_us: m.p50_us(),
            p99_us: m.p99_us(),
            errors: m.errors,
        });
    }
    n.table(table);
    let figures = LatencyFigures {
        rows,
        quick: bench.args.quick,
    };
    n.figures(&figures)?;
    Ok(figures)
}
