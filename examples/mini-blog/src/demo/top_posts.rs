//! "Top posts: cache versus database": `GET /api/articles/top` served from the two-tier cache,
//! and computed from the favourites table because a write has just invalidated it.

use std::time::{Duration, Instant};

use serde::Serialize;
use support::narrate::Narrator;
use support::report::{Cell, Chart, Table, Unit};

use super::{Context, median_us};

/// The section's figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TopPosts {
    /// Median of a request served from the cache (µs).
    pub cached_us: f64,
    /// Median of a request that computed the ranking (µs).
    pub computed_us: f64,
    pub cached_samples: usize,
    pub computed_samples: usize,
    /// Rankings computed from the database during the cached run (0 when the cache held).
    pub computed_during_cached: u64,
    /// Favourites the ranking aggregates.
    pub favorites: i64,
}

impl TopPosts {
    pub fn speedup(&self) -> f64 {
        if self.cached_us > 0.0 {
            self.computed_us / self.cached_us
        } else {
            0.0
        }
    }
}

async fn get(ctx: &Context) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let response = ctx.client.get(ctx.url("/api/articles/top")).send().await?;
    anyhow::ensure!(response.status().is_success(), "top: {}", response.status());
    response.bytes().await?;
    Ok(started.elapsed())
}

pub async fn run(n: &mut Narrator, ctx: &Context) -> anyhow::Result<TopPosts> {
    n.section("Top posts: cache versus database");
    let favorites = {
        use crate::schema::blog_favorites as f;
        use diesel::prelude::*;
        ctx.state
            .db
            .interact(|c| f::table.count().get_result::<i64>(c))
            .await?
    };
    let (cached_n, computed_n) = if ctx.quick { (300, 15) } else { (3_000, 60) };
    let budget = if ctx.quick {
        Duration::from_millis(800)
    } else {
        Duration::from_secs(8)
    };

    // Computed: invalidate (as a favourite would), then time the read that recomputes.
    let mut computed = Vec::new();
    let started = Instant::now();
    while computed.len() < computed_n && (started.elapsed() < budget || computed.len() < 3) {
        ctx.state.top.invalidate().await;
        computed.push(get(ctx).await?);
    }
    // Cached: warm once, then time reads the cache answers.
    get(ctx).await?;
    let before = ctx.state.top.computed();
    let mut cached = Vec::new();
    let started = Instant::now();
    while cached.len() < cached_n && started.elapsed() < budget {
        cached.push(get(ctx).await?);
    }
    let figures = TopPosts {
        cached_us: median_us(&mut cached),
        computed_us: median_us(&mut computed),
        cached_samples: cached.len(),
        computed_samples: computed.len(),
        computed_during_cached: ctx.state.top.computed() - before,
        favorites,
    };
    let mut table = Table::new("GET /api/articles/top")
        .column("p50", Unit::Micros)
        .column("requests", Unit::Count)
        .column("rankings computed", Unit::Count)
        .ratio_against("p50", "from the cache")
        .chart(
            Chart::bars()
                .of(&["p50", "rankings computed"])
                .titled("The top list: cached against computed"),
        );
    table.row(
        "computed from the database",
        [
            Cell::Number(figures.computed_us),
            Cell::Number(figures.computed_samples as f64),
            Cell::Number(figures.computed_samples as f64),
        ],
    );
    table.row(
        "from the cache",
        [
            Cell::Number(figures.cached_us),
            Cell::Number(figures.cached_samples as f64),
            Cell::Number(figures.computed_during_cached as f64),
        ],
    );
    n.table(table);
    n.say(&format!(
        "Computing the list groups {} favourites by article; the cache answers with one \
         generation check ({}) and a local copy. Every request above went through HTTP, so both \
         rows pay the same request overhead.",
        favorites, ctx.state.top.description
    ));
    n.figures(&figures)?;
    Ok(figures)
}
