//! "Consistency under change": a generic client follows `next` links while a writer inserts and
//! deletes at the head of the feed; what each scheme served twice or never.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Context as _;
use diesel::prelude::*;
use serde::Serialize;
use support::narrate::Narrator;
use support::report::{Chart, Table, Unit, format_number};

use super::{Context, LIMIT};
use crate::consistency::{Writer, walk};
use crate::db::Db;
use crate::http::{CURSOR_PATH, OFFSET_PATH, run as serve};
use crate::schema::pagination_posts::dsl as p;
use crate::seed;

/// Rows in the table this section pages through while a writer changes it.
const CHURN_ROWS: i64 = 2_000;
/// The writer's pace: one write (alternately an insert and a delete) per tick.
const WRITE_EVERY: Duration = Duration::from_millis(3);
/// A bound on the walk, so a server bug cannot make it endless (the feed has about 100 pages).
const MAX_PAGES: usize = 10_000;

/// One scheme's walk through the changing feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SchemeWalk {
    pub pages: usize,
    /// Inserts and deletes the writer made while this walk ran.
    pub writes: usize,
    /// Rows served more than once.
    pub seen_twice: usize,
    /// Rows that existed for the whole walk and were never served.
    pub never_seen: usize,
}

/// What the section measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Churn {
    pub rows: i64,
    pub write_every_ms: u64,
    pub offset: SchemeWalk,
    pub cursor: SchemeWalk,
}

/// Walks `url` to the end while a writer task changes the table underneath.
async fn walk_under_writes(ctx: &Context, db: &Db, url: &str) -> anyhow::Result<SchemeWalk> {
    let ids: Vec<i64> = db
        .interact(|c| p::pagination_posts.select(p::id).load(c))
        .await?;
    let seeded: HashSet<i64> = ids.iter().copied().collect();
    let seeded_max = ids.iter().copied().max().unwrap_or(0);
    let mut writer = Writer::new(db.clone(), seeded_max);
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    // The writer runs until the walk ends (the walk itself is bounded by MAX_PAGES), on a fixed
    // tick rather than between pages, so the writes land wherever the reader happens to be.
    let writing = tokio::spawn(async move {
        let mut tick = tokio::time::interval(WRITE_EVERY);
        let mut i = 0u64;
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                _ = tick.tick() => {
                    if i.is_multiple_of(2) {
                        writer.insert(1).await?;
                    } else {
                        writer.delete(1).await?;
                    }
                    i += 1;
                }
            }
        }
        anyhow::Ok(writer)
    });
    let seen = walk(&ctx.client, url, MAX_PAGES, async || Ok(())).await;
    // Stop the writer before looking at the walk's result, so an error leaves no task behind.
    let _ = stop.send(());
    let writer = writing.await.context("the writer task failed")??;
    let seen = seen?;
    Ok(SchemeWalk {
        pages: seen.pages,
        writes: writer.inserted.len() + writer.deleted.len(),
        seen_twice: seen.seen_twice(),
        never_seen: seen.never_seen(&writer.stable(&seeded)),
    })
}

/// Seeds the churn table, walks it with each scheme, prints the table, returns the figures.
pub async fn run(n: &mut Narrator, ctx: &Context) -> anyhow::Result<Churn> {
    n.section("Consistency under change");
    // Its own small table: the writer must not change the feed the other sections measure.
    let db = ctx.open_dataset(seed::CHURN_DATA_SET).await?;
    seed::ensure(&db, CHURN_ROWS, false).await?;
    let server = support::server::spawn(|l| serve(l, ctx.state(db.clone())))?;
    n.say(&format!(
        "A reader pages through a {}-row feed, {LIMIT} at a time, following only \
         `next` links, while a writer alternately inserts a new post and deletes the newest \
         original one, one write every {} ms.",
        format_number(CHURN_ROWS as f64),
        WRITE_EVERY.as_millis()
    ));
    let walks = async {
        let offset_url = server.url(&format!("{OFFSET_PATH}?limit={LIMIT}"));
        let offset = walk_under_writes(ctx, &db, &offset_url).await?;
        let cursor_url = server.url(&format!("{CURSOR_PATH}?limit={LIMIT}"));
        let cursor = walk_under_writes(ctx, &db, &cursor_url).await?;
        anyhow::Ok((offset, cursor))
    }
    .await;
    // Stopped before `?`, so a failed walk does not leave the server running.
    server.stop().await;
    let (offset, cursor) = walks?;
    let figures = Churn {
        rows: CHURN_ROWS,
        write_every_ms: u64::try_from(WRITE_EVERY.as_millis()).unwrap_or(u64::MAX),
        offset,
        cursor,
    };

    let mut table = Table::new("scheme")
        .column("pages", Unit::Count)
        .column("writes during the walk", Unit::Count)
        .column("rows seen twice", Unit::Count)
        .column("rows never seen", Unit::Count)
        .chart(
            Chart::bars()
                .of(&["rows seen twice", "rows never seen"])
                .titled("Walking every page while rows are written"),
        );
    for (scheme, w) in [("offset", figures.offset), ("cursor", figures.cursor)] {
        table.row(
            scheme,
            [
                w.pages.into(),
                w.writes.into(),
                w.seen_twice.into(),
                w.never_seen.into(),
            ],
        );
    }
    n.table(table);
    n.figures(&figures)?;
    Ok(figures)
}
