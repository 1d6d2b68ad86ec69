//! Claims about paging while the table changes. The writes are interleaved between page
//! fetches (not timed), so each run is deterministic: after odd pages the writer inserts two
//! new posts at the head of the feed, after even pages it deletes the two newest original ones.

use std::collections::HashSet;

use pagination::consistency::{Walk, Writer, walk};
use pagination::http::{CURSOR_PATH, OFFSET_PATH};

use crate::common::{Fixture, fixtures};

const ROWS: i64 = 200;

/// Walks `path` with the interleaved writer; returns the walk and the rows that were there
/// from start to end.
async fn walk_under_churn(fx: &Fixture, path: &str) -> anyhow::Result<(Walk, HashSet<i64>, usize)> {
    fx.seed(ROWS).await?;
    let seeded: HashSet<i64> = fx.ids_newest_first().await?.into_iter().collect();
    let seeded_max = seeded.iter().copied().max().unwrap_or(0);
    let mut writer = Writer::new(fx.db.clone(), seeded_max);
    let mut page = 0usize;
    let seen = walk(
        &fx.client,
        &fx.url(&format!("{path}?limit=10")),
        1_000,
        async || {
            page += 1;
            if page % 2 == 1 {
                writer.insert(2).await
            } else {
                writer.delete(2).await
            }
        },
    )
    .await?;
    let writes = writer.inserted.len() + writer.deleted.len();
    Ok((seen, writer.stable(&seeded), writes))
}

/// Cursor paging never serves a row twice and never skips a row that existed for the whole
/// scan, however the head of the table changes: each page starts after a *row*, not a count.
#[actix_web::test]
async fn cursor_pages_never_repeat_or_skip_rows_under_inserts_and_deletes() -> anyhow::Result<()> {
    for fx in fixtures("churn_cursor").await? {
        // Arrange + Act
        let (seen, stable, writes) = walk_under_churn(&fx, CURSOR_PATH).await?;
        // Assert
        assert!(
            writes >= 20,
            "the writer must actually have written ({writes})"
        );
        assert_eq!(seen.seen_twice(), 0, "{:?}", fx.backend);
        assert_eq!(seen.never_seen(&stable), 0, "{:?}", fx.backend);
    }
    Ok(())
}

/// Offset paging, under the same writes, serves rows twice (an insert above the reader pushes
/// the page boundary down) and never serves rows that were there all along (a delete above pulls
/// it up). The test shows both happening.
#[actix_web::test]
async fn offset_pages_repeat_rows_under_inserts_and_skip_rows_under_deletes() -> anyhow::Result<()>
{
    for fx in fixtures("churn_offset").await? {
        // Arrange + Act
        let (seen, stable, writes) = walk_under_churn(&fx, OFFSET_PATH).await?;
        // Assert
        assert!(
            writes >= 20,
            "the writer must actually have written ({writes})"
        );
        assert!(seen.seen_twice() > 0, "{:?}: no duplicates", fx.backend);
        assert!(
            seen.never_seen(&stable) > 0,
            "{:?}: no skipped rows",
            fx.backend
        );
    }
    Ok(())
}
