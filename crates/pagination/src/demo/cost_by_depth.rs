//! "Cost by depth": one page at increasing depth, both schemes, through HTTP and as the bare
//! query, with what the database touched.

use diesel::prelude::*;
use serde::Serialize;
use support::measure::{Measurement, measure, measure_sync};
use support::narrate::Narrator;
use support::report::{Cell, Chart, Table, Unit};

use super::{Context, LIMIT, explain};
use crate::cursor::{self, Direction, Position};
use crate::db::Db;
use crate::http::{CURSOR_PATH, OFFSET_PATH};
use crate::offset;
use crate::post::Post;
use crate::schema::pagination_posts::dsl as p;

/// One scheme at one depth.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Timing {
    /// Median and 99th percentile of the whole request through HTTP, in µs.
    pub p50_us: f64,
    pub p99_us: f64,
    /// Median of the diesel query alone, on its blocking thread, in µs.
    pub query_p50_us: f64,
    /// Rows the database read to answer (EXPLAIN ANALYZE; `None` on SQLite).
    pub rows_touched: Option<f64>,
}

impl Timing {
    fn new(http: &Measurement, query: &Measurement, rows_touched: Option<f64>) -> Self {
        Self {
            p50_us: http.p50_us(),
            p99_us: http.p99_us(),
            query_p50_us: query.p50_us(),
            rows_touched,
        }
    }
}

/// Both schemes at one depth.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Depth {
    /// The 1-based page number.
    pub page: i64,
    pub offset: Timing,
    pub cursor: Timing,
}

impl Depth {
    /// Offset's HTTP median divided by the cursor's.
    pub fn http_ratio(&self) -> f64 {
        self.offset.p50_us / self.cursor.p50_us
    }

    /// The same for the query alone.
    pub fn query_ratio(&self) -> f64 {
        self.offset.query_p50_us / self.cursor.query_p50_us
    }
}

/// What the section measured: every depth, from page 1 to the last page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostByDepth {
    pub rows: i64,
    pub depths: Vec<Depth>,
}

impl CostByDepth {
    /// Page 1 (the section always measures it first).
    pub fn first(&self) -> Option<&Depth> {
        self.depths.first()
    }

    /// The last page (the section always measures it last).
    pub fn last(&self) -> Option<&Depth> {
        self.depths.last()
    }
}

/// Page 1, 100, 1,000 and 10,000 where the table has them, and the last page.
fn depths(rows: i64) -> Vec<i64> {
    let last_page = (rows + i64::from(LIMIT) - 1) / i64::from(LIMIT);
    let mut pages: Vec<i64> = [1, 100, 1_000, 10_000]
        .into_iter()
        .filter(|&d| d < last_page)
        .collect();
    pages.push(last_page);
    pages
}

fn label(page: i64, last: bool) -> String {
    if last {
        format!("last (page {page})")
    } else {
        format!("page {page}")
    }
}

/// The position of the last row of the page before `page` (what a client holding that page's
/// `next` link would send), read directly, untimed.
async fn cursor_before_page(db: &Db, page: i64) -> anyhow::Result<Option<Position>> {
    if page <= 1 {
        return Ok(None);
    }
    let skip = (page - 1) * i64::from(LIMIT) - 1;
    let post = db
        .interact(move |c| {
            p::pagination_posts
                .order((p::created_at.desc(), p::id.desc()))
                .offset(skip)
                .limit(1)
                .select(Post::as_select())
                .first(c)
        })
        .await?;
    Ok(Some((&post).into()))
}

/// Measures one depth: both schemes through HTTP, then each query alone, then EXPLAIN.
async fn measure_depth(ctx: &Context, page: i64) -> anyhow::Result<Depth> {
    let at = cursor_before_page(&ctx.db, page).await?;
    let offset_url = ctx
        .server
        .url(&format!("{OFFSET_PATH}?page={page}&limit={LIMIT}"));
    let cursor_url = match at {
        None => ctx.server.url(&format!("{CURSOR_PATH}?limit={LIMIT}")),
        Some(pos) => ctx.server.url(&format!(
            "{CURSOR_PATH}?limit={LIMIT}&after={}",
            ctx.codec.encode(pos)
        )),
    };
    let fetch = |url: String| {
        let client = &ctx.client;
        async move {
            let res = client.get(&url).send().await?;
            let ok = res.status().is_success();
            // Read the whole body: the JSON is part of what a page costs.
            res.bytes().await?;
            anyhow::ensure!(ok, "status");
            anyhow::Ok(())
        }
    };
    let plan = ctx.plan;
    let off = measure(plan, |_| fetch(offset_url.clone())).await;
    let cur = measure(plan, |_| fetch(cursor_url.clone())).await;
    anyhow::ensure!(
        off.errors == 0 && cur.errors == 0,
        "requests failed while measuring page {page}"
    );
    // The query alone, on the blocking thread, without HTTP and JSON around it.
    let skip = (page - 1) * i64::from(LIMIT);
    let from = at.map(|pos| (Direction::After, pos));
    let (off_q, cur_q) = ctx
        .db
        .interact(move |c| {
            let off = measure_sync(plan, || offset::fetch(c, skip, LIMIT));
            let cur = measure_sync(plan, || cursor::fetch(c, from, LIMIT));
            Ok((off, cur))
        })
        .await?;
    anyhow::ensure!(
        off_q.errors == 0 && cur_q.errors == 0,
        "queries failed while measuring page {page}"
    );
    let (offset_sql, cursor_sql) = explain::sql(skip, at);
    let (off_touched, cur_touched) = ctx
        .db
        .interact(move |c| {
            Ok((
                explain::rows_touched(c, &offset_sql)?,
                explain::rows_touched(c, &cursor_sql)?,
            ))
        })
        .await?;
    Ok(Depth {
        page,
        offset: Timing::new(&off, &off_q, off_touched),
        cursor: Timing::new(&cur, &cur_q, cur_touched),
    })
}

/// Measures every depth, prints the two tables, and returns the figures.
pub async fn run(n: &mut Narrator, ctx: &Context) -> anyhow::Result<CostByDepth> {
    n.section("Cost by depth");
    n.say(&format!(
        "One page of {LIMIT} rows at increasing depth, fetched through the HTTP API. \
         Offset asks for `?page=N`; cursor sends the `after=` cursor a client holding page N-1 \
         would have. `query p50` times the same diesel query alone on its blocking thread; \
         `rows touched` is what EXPLAIN ANALYZE of that query reports (PostgreSQL)."
    ));
    let pages = depths(ctx.rows);
    let mut figures = CostByDepth {
        rows: ctx.rows,
        depths: Vec::with_capacity(pages.len()),
    };
    for page in pages {
        figures.depths.push(measure_depth(ctx, page).await?);
    }

    let last = figures.depths.len().saturating_sub(1);
    let mut depth_table = Table::new("scheme @ depth")
        .column("p50", Unit::Micros)
        .column("p99", Unit::Micros)
        .column("query p50", Unit::Micros)
        .column("rows touched", Unit::Count)
        .ratio_against("p50", "cursor @ page 1")
        // Rows read `<scheme> @ <depth>`: one line per scheme across the depths, on a log axis
        // because offset's cost grows by decades while cursor's stays flat.
        .chart(
            Chart::lines()
                .log()
                .of(&["p50", "query p50", "rows touched"])
                .split(" @ ")
                .titled("Cost by depth, offset against cursor"),
        );
    // All the cursor rows, then all the offset rows: the flat column reads as one block.
    for (scheme, pick) in [
        ("cursor", (|d: &Depth| d.cursor) as fn(&Depth) -> Timing),
        ("offset", |d: &Depth| d.offset),
    ] {
        for (i, depth) in figures.depths.iter().enumerate() {
            let t = pick(depth);
            depth_table.row(
                format!("{scheme} @ {}", label(depth.page, i == last)),
                [
                    t.p50_us.into(),
                    t.p99_us.into(),
                    t.query_p50_us.into(),
                    Cell::from(t.rows_touched),
                ],
            );
        }
    }
    n.table(depth_table);

    n.say(
        "The same depths, offset divided by cursor: through HTTP (where parsing, JSON and the \
         network add a fixed cost to both) and for the query alone.",
    );
    let mut versus_table = Table::new("depth")
        .column("HTTP p50 offset ÷ cursor", Unit::Ratio)
        .column("query p50 offset ÷ cursor", Unit::Ratio);
    for (i, depth) in figures.depths.iter().enumerate() {
        versus_table.row(
            label(depth.page, i == last),
            [depth.http_ratio().into(), depth.query_ratio().into()],
        );
    }
    n.table(versus_table);
    n.figures(&figures)?;
    Ok(figures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depths_stop_before_the_last_page_and_end_with_it() {
        assert_eq!(depths(1_000_000), vec![1, 100, 1_000, 10_000, 50_000]);
        assert_eq!(depths(50_000), vec![1, 100, 1_000, 2_500]);
        assert_eq!(depths(20), vec![1]);
    }
}
