//! Claims about RFC 8288 `Link` headers.

use pagination::consistency::walk;
use pagination::http::{CURSOR_PATH, OFFSET_PATH};
use pagination::links::{self, REL_FIRST, REL_NEXT, REL_PREV};

use crate::common::fixtures;

/// First, middle and last pages carry exactly the relations that make sense, on both schemes:
/// no `prev` on the first page, no `next` on the last, `first` everywhere.
#[actix_web::test]
async fn link_headers_are_right_on_the_first_a_middle_and_the_last_page() -> anyhow::Result<()> {
    for fx in fixtures("links").await? {
        fx.seed(30).await?;
        for path in [OFFSET_PATH, CURSOR_PATH] {
            let first_url = fx.url(&format!("{path}?limit=10"));
            // First page.
            let (first, link) = fx.page(&first_url).await?;
            assert!(first.has_more);
            assert_eq!(links::find(&link, REL_PREV), None, "{path}: {link}");
            let first_link =
                links::find(&link, REL_FIRST).ok_or_else(|| anyhow::anyhow!("no first"))?;
            assert_eq!(fx.page(&first_link).await?.0.items, first.items, "{path}");
            let next = links::find(&link, REL_NEXT).ok_or_else(|| anyhow::anyhow!("no next"))?;
            // Middle page: prev leads back to exactly the first page.
            let (middle, link) = fx.page(&next).await?;
            assert!(middle.has_more);
            let prev = links::find(&link, REL_PREV).ok_or_else(|| anyhow::anyhow!("no prev"))?;
            let (back, _) = fx.page(&prev).await?;
            assert_eq!(back.items, first.items, "{path}: prev of page 2 is page 1");
            assert_eq!(links::find(&link, REL_FIRST), Some(first_link), "{path}");
            let next = links::find(&link, REL_NEXT).ok_or_else(|| anyhow::anyhow!("no next"))?;
            // Last page.
            let (last, link) = fx.page(&next).await?;
            assert_eq!(last.items.len(), 10);
            assert!(!last.has_more, "{path}");
            assert_eq!(links::find(&link, REL_NEXT), None, "{path}: {link}");
            assert!(links::find(&link, REL_PREV).is_some(), "{path}: {link}");
            // And every row was served once across the three.
            let mut ids: Vec<i64> = [first, middle, last]
                .iter()
                .flat_map(|p| p.items.iter().map(|i| i.id))
                .collect();
            assert_eq!(ids, fx.ids_newest_first().await?, "{:?} {path}", fx.backend);
            ids.dedup();
            assert_eq!(ids.len(), 30);
        }
    }
    Ok(())
}

/// A generic client that knows nothing but `rel="next"` walks the full set on both schemes.
#[actix_web::test]
async fn following_next_alone_walks_the_full_set() -> anyhow::Result<()> {
    for fx in fixtures("follow").await? {
        fx.seed(101).await?;
        let expected = fx.ids_newest_first().await?;
        for path in [OFFSET_PATH, CURSOR_PATH] {
            let seen = walk(
                &fx.client,
                &fx.url(&format!("{path}?limit=10")),
                100,
                async || Ok(()),
            )
            .await?;
            assert_eq!(seen.ids, expected, "{:?} {path}", fx.backend);
            assert_eq!(seen.pages, 11);
        }
    }
    Ok(())
}

/// Walking backwards with `prev` from the last page serves the pages in reverse, each intact.
#[actix_web::test]
async fn following_prev_from_the_last_page_walks_back_to_the_first() -> anyhow::Result<()> {
    for fx in fixtures("prev").await? {
        fx.seed(45).await?;
        let expected = fx.ids_newest_first().await?;
        // Walk forward to the last page, remembering each page.
        let mut pages = Vec::new();
        let mut url = Some(fx.url(&format!("{CURSOR_PATH}?limit=10")));
        let mut last_link = String::new();
        while let Some(u) = url {
            let (page, link) = fx.page(&u).await?;
            pages.push(page.items.iter().map(|p| p.id).collect::<Vec<_>>());
            url = links::find(&link, REL_NEXT);
            last_link = link;
        }
        // Walk back.
        let mut back = vec![pages.last().cloned().unwrap_or_default()];
        let mut url = links::find(&last_link, REL_PREV);
        while let Some(u) = url {
            let (page, link) = fx.page(&u).await?;
            back.push(page.items.iter().map(|p| p.id).collect());
            url = links::find(&link, REL_PREV);
        }
        back.reverse();
        assert_eq!(back, pages, "{:?}", fx.backend);
        assert_eq!(back.concat(), expected);
    }
    Ok(())
}
