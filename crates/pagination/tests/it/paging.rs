//! Claims about walking the whole feed.

use chrono::{DateTime, TimeDelta};
use pagination::consistency::walk;
use pagination::http::{CURSOR_PATH, OFFSET_PATH};
use pagination::post::{self, NewPost};
use proptest::prelude::*;

use crate::common::fixtures;

/// Inserts posts stamped `base + stamp` seconds (duplicates make ties on `created_at`).
async fn insert_stamps(fx: &crate::common::Fixture, stamps: Vec<i64>) -> anyhow::Result<()> {
    let base = DateTime::from_timestamp(1_700_000_000, 0)
        .unwrap_or_default()
        .naive_utc();
    fx.db
        .interact(move |c| {
            use diesel::Connection as _;
            c.transaction(|c| {
                for (i, s) in stamps.iter().enumerate() {
                    let new = NewPost::at(base + TimeDelta::seconds(*s), format!("p{i}"));
                    post::insert(c, &new)?;
                }
                diesel::QueryResult::Ok(())
            })
        })
        .await?;
    Ok(())
}

async fn walk_whole_feed(page_size: u32, stamps: Vec<i64>) -> anyhow::Result<()> {
    for fx in fixtures("walk").await? {
        insert_stamps(&fx, stamps.clone()).await?;
        let expected = fx.ids_newest_first().await?;
        let url = fx.url(&format!("{CURSOR_PATH}?limit={page_size}"));
        let seen = walk(&fx.client, &url, 10_000, async || Ok(())).await?;
        anyhow::ensure!(
            seen.ids == expected,
            "{:?}: page size {page_size}: served {:?}, expected {:?}",
            fx.backend,
            seen.ids,
            expected
        );
    }
    Ok(())
}

proptest! {
    // Each case creates a database per backend, so the count stays modest.
    #![proptest_config(ProptestConfig::with_cases(10))]

    /// Cursor paging serves every row exactly once, newest first, whatever the page size and
    /// however many rows share a timestamp (small stamp ranges force many ties on created_at).
    #[test]
    fn cursor_paging_serves_every_row_exactly_once_in_order(
        page_size in 1u32..=25,
        stamps in proptest::collection::vec(0i64..30, 0..90),
    ) {
        let result = actix_web::rt::System::new().block_on(walk_whole_feed(page_size, stamps));
        prop_assert!(result.is_ok(), "{result:?}");
    }
}

/// Without changes underneath, offset paging is also complete and ordered: its problems are
/// cost and drift, not correctness on a still table.
#[actix_web::test]
async fn offset_paging_serves_every_row_once_on_a_still_table() -> anyhow::Result<()> {
    for fx in fixtures("offset_still").await? {
        // Arrange
        fx.seed(250).await?;
        let expected = fx.ids_newest_first().await?;
        // Act
        let seen = walk(
            &fx.client,
            &fx.url(&format!("{OFFSET_PATH}?limit=7")),
            100,
            async || Ok(()),
        )
        .await?;
        // Assert
        assert_eq!(seen.ids, expected, "{:?}", fx.backend);
        assert_eq!(seen.pages, 250usize.div_ceil(7), "{:?}", fx.backend);
    }
    Ok(())
}

/// The total is computed only when asked for, and then equals the row count.
#[actix_web::test]
async fn total_is_absent_by_default_and_exact_when_asked() -> anyhow::Result<()> {
    for fx in fixtures("total").await? {
        fx.seed(123).await?;
        for path in [OFFSET_PATH, CURSOR_PATH] {
            let (plain, _) = fx.page(&fx.url(&format!("{path}?limit=5"))).await?;
            let (counted, _) = fx
                .page(&fx.url(&format!("{path}?limit=5&count=true")))
                .await?;
            assert_eq!(plain.total, None, "{:?} {path}", fx.backend);
            assert_eq!(counted.total, Some(123), "{:?} {path}", fx.backend);
        }
    }
    Ok(())
}

/// Seeding is idempotent: a table that already holds the requested rows is reused untouched,
/// and a different size refills it exactly.
#[actix_web::test]
async fn a_seeded_table_of_the_right_size_is_reused_not_refilled() -> anyhow::Result<()> {
    use pagination::seed::{Seeded, ensure};
    for fx in fixtures("reuse").await? {
        // Arrange
        let first = ensure(&fx.db, 120, false).await?;
        let ids = fx.ids_newest_first().await?;
        // Act
        let again = ensure(&fx.db, 120, false).await?;
        let resized = ensure(&fx.db, 80, false).await?;
        // Assert
        assert_eq!(first, Seeded::Filled(120), "{:?}", fx.backend);
        assert_eq!(again, Seeded::Reused(120), "{:?}", fx.backend);
        assert_eq!(resized, Seeded::Filled(80), "{:?}", fx.backend);
        assert_eq!(ids.len(), 120);
        assert_eq!(fx.ids_newest_first().await?.len(), 80);
    }
    Ok(())
}

/// The same seed gives the same feed on PostgreSQL and SQLite, page for page: one query,
/// two backends, no dialect drift.
#[actix_web::test]
async fn both_backends_serve_the_same_feed_for_the_same_seed() -> anyhow::Result<()> {
    let mut feeds = Vec::new();
    for fx in fixtures("same_feed").await? {
        fx.seed(77).await?;
        let seen = walk(
            &fx.client,
            &fx.url(&format!("{CURSOR_PATH}?limit=9")),
            100,
            async || Ok(()),
        )
        .await?;
        let (page, _) = fx
            .page(&fx.url(&format!("{OFFSET_PATH}?page=3&limit=9")))
            .await?;
        let titles: Vec<String> = page.items.into_iter().map(|p| p.title).collect();
        feeds.push((fx.backend, seen.ids, titles));
    }
    // On a bare machine only SQLite runs; then there is nothing to compare.
    if let [(_, ids_a, titles_a), (_, ids_b, titles_b)] = feeds.as_slice() {
        assert_eq!(ids_a, ids_b);
        assert_eq!(titles_a, titles_b);
        assert_eq!(titles_a.len(), 9);
    }
    Ok(())
}
