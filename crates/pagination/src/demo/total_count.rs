//! "The price of a total count": the first page with and without `count=true`.

use serde::Serialize;
use support::measure::{Measurement, measure};
use support::narrate::Narrator;
use support::report::{Chart, Table, Unit};

use super::{Context, LIMIT};
use crate::http::CURSOR_PATH;

/// Medians and 99th percentiles in µs, through HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TotalCount {
    pub page_p50_us: f64,
    pub page_p99_us: f64,
    pub with_total_p50_us: f64,
    pub with_total_p99_us: f64,
}

impl TotalCount {
    /// How many times slower the first page was with a total (below 1: faster).
    pub fn slowdown(&self) -> f64 {
        self.with_total_p50_us / self.page_p50_us
    }
}

async fn time(ctx: &Context, path: &str) -> anyhow::Result<Measurement> {
    let url = ctx.server.url(path);
    let m = measure(ctx.plan, |_| {
        let (client, url) = (&ctx.client, &url);
        async move { client.get(url).send().await?.error_for_status().map(drop) }
    })
    .await;
    anyhow::ensure!(m.errors == 0, "requests failed while measuring {path}");
    Ok(m)
}

/// Measures both requests, prints the table, and returns the figures.
pub async fn run(n: &mut Narrator, ctx: &Context) -> anyhow::Result<TotalCount> {
    n.section("The price of a total count");
    n.say(
        "`count=true` adds `total` to the page. It is a full count of the table on every \
         request, which is why it is off by default.",
    );
    let page = time(ctx, &format!("{CURSOR_PATH}?limit={LIMIT}")).await?;
    let with_total = time(ctx, &format!("{CURSOR_PATH}?limit={LIMIT}&count=true")).await?;
    let figures = TotalCount {
        page_p50_us: page.p50_us(),
        page_p99_us: page.p99_us(),
        with_total_p50_us: with_total.p50_us(),
        with_total_p99_us: with_total.p99_us(),
    };
    let mut table = Table::new("request")
        .column("p50", Unit::Micros)
        .column("p99", Unit::Micros)
        .ratio_against("p50", "page 1")
        .chart(
            Chart::bars()
                .of(&["p50", "p99"])
                .titled("The price of a total count"),
        );
    table.row(
        "page 1",
        [figures.page_p50_us.into(), figures.page_p99_us.into()],
    );
    table.row(
        "page 1 + total",
        [
            figures.with_total_p50_us.into(),
            figures.with_total_p99_us.into(),
        ],
    );
    n.table(table);
    n.figures(&figures)?;
    Ok(figures)
}
