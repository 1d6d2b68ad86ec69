//! "Lists at depth: offset versus cursor": `GET /api/articles?limit=20` at growing depths, once
//! with the spec's `offset` and once with the cursor extension pointing at the same row.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use pagination::cursor::Position;
use serde::Serialize;
use support::narrate::Narrator;
use support::report::{Cell, Chart, Table, Unit};

use super::{Context, median_us};
use crate::schema::blog_articles as a;

/// One depth, both ways (µs medians).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AtDepth {
    pub depth: i64,
    pub offset_us: f64,
    pub cursor_us: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Depth {
    pub rows: i64,
    pub depths: Vec<AtDepth>,
}

impl Depth {
    pub fn deepest(&self) -> Option<&AtDepth> {
        self.depths.last()
    }
    pub fn first(&self) -> Option<&AtDepth> {
        self.depths.first()
    }
}

async fn sample(ctx: &Context, path: &str, count: usize) -> anyhow::Result<f64> {
    let url = ctx.url(path);
    let mut samples = Vec::with_capacity(count);
    let started = Instant::now();
    while samples.len() < count && (started.elapsed() < Duration::from_secs(3) || samples.len() < 3)
    {
        let t = Instant::now();
        let response = ctx.client.get(&url).send().await?;
        anyhow::ensure!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.bytes().await?;
        samples.push(t.elapsed());
    }
    Ok(median_us(&mut samples))
}

pub async fn run(n: &mut Narrator, ctx: &Context) -> anyhow::Result<Depth> {
    n.section("Lists at depth: offset versus cursor");
    let rows = ctx.articles;
    let depths: Vec<i64> = [0, rows / 10, rows / 2, rows - 40]
        .into_iter()
        .filter(|d| *d >= 0)
        .collect();
    let count = if ctx.quick { 20 } else { 150 };
    let mut out = Vec::new();
    for depth in depths {
        // The cursor a client would hold after reading `depth` articles: the position of the
        // last one it saw.
        let position = ctx
            .state
            .db
            .interact(move |c| {
                if depth == 0 {
                    return Ok(None);
                }
                a::table
                    .order((a::created_at.desc(), a::id.desc()))
                    .offset(depth - 1)
                    .select((a::created_at, a::id))
                    .first::<(chrono::NaiveDateTime, i64)>(c)
                    .optional()
            })
            .await?;
        let offset_us = sample(
            ctx,
            &format!("/api/articles?limit=20&offset={depth}"),
            count,
        )
        .await?;
        let cursor_path = match (depth, position) {
            (0, _) | (_, None) => "/api/articles?limit=20".to_owned(),
            (_, Some((created_at, id))) => format!(
                "/api/articles?limit=20&cursor={}",
                ctx.state.cursors.encode(Position { created_at, id })
            ),
        };
        let cursor_us = sample(ctx, &cursor_path, count).await?;
        out.push(AtDepth {
            depth,
            offset_us,
            cursor_us,
        });
    }
    let mut table = Table::new("articles skipped")
        .column("offset p50", Unit::Micros)
        .column("cursor p50", Unit::Micros)
        .column("offset / cursor", Unit::Ratio)
        .chart(
            Chart::lines()
                .of(&["offset p50", "cursor p50"])
                .titled("Article lists at depth: offset against cursor"),
        );
    for d in &out {
        table.row(
            d.depth.to_string(),
            [
                Cell::Number(d.offset_us),
                Cell::Number(d.cursor_us),
                Cell::Number(if d.cursor_us > 0.0 {
                    d.offset_us / d.cursor_us
                } else {
                    0.0
                }),
            ],
        );
    }
    n.table(table);
    n.say(
        "Both columns include the same `articlesCount` (a COUNT(*) over the matches) and the same \
         six view queries; only how the page is found differs: offset walks past the skipped rows, \
         the cursor seeks to the last one seen.",
    );
    let figures = Depth { rows, depths: out };
    n.figures(&figures)?;
    Ok(figures)
}
