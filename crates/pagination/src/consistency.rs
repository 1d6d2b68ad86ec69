//! What a reader sees when the table changes under it: the client and the writer that the demo
//! and the tests share.
//!
//! The reader is a *generic* client: it fetches the first URL and then follows `rel="next"` in
//! the `Link` header until there is none, never looking inside a URL. So the same loop walks
//! both schemes, and any difference in what it sees comes from the scheme, not the client.

use std::collections::{HashMap, HashSet};

use anyhow::Context as _;
use chrono::Utc;

use crate::db::Db;
use crate::links::{self, REL_NEXT};
use crate::page::Page;
use crate::post::{self, NewPost};

/// Everything a walk saw, in order.
#[derive(Debug, Clone, Default)]
pub struct Walk {
    /// Ids in the order they were served (duplicates included).
    pub ids: Vec<i64>,
    /// Pages fetched.
    pub pages: usize,
}

impl Walk {
    /// Ids served more than once.
    pub fn seen_twice(&self) -> usize {
        let mut counts: HashMap<i64, usize> = HashMap::new();
        for id in &self.ids {
            *counts.entry(*id).or_default() += 1;
        }
        counts.values().filter(|&&n| n > 1).count()
    }

    /// Ids in `stable` (rows that existed for the whole walk) that were never served.
    pub fn never_seen(&self, stable: &HashSet<i64>) -> usize {
        let seen: HashSet<i64> = self.ids.iter().copied().collect();
        stable.difference(&seen).count()
    }
}

/// Fetches `first_url`, then follows `next` links to the end, calling `between` after every page
/// (tests use it to interleave writes deterministically; the demo passes a no-op and writes from
/// another task). `max_pages` bounds the loop so a server bug cannot make it endless.
pub async fn walk(
    client: &reqwest::Client,
    first_url: &str,
    max_pages: usize,
    mut between: impl AsyncFnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Walk> {
    let mut walk = Walk::default();
    let mut url = Some(first_url.to_owned());
    while let Some(current) = url.take() {
        anyhow::ensure!(walk.pages < max_pages, "more than {max_pages} pages");
        let res = client
            .get(&current)
            .send()
            .await
            .with_context(|| format!("Failed to GET {current}"))?;
        anyhow::ensure!(res.status().is_success(), "GET {current}: {}", res.status());
        url = res
            .headers()
            .get(reqwest::header::LINK)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| links::find(v, REL_NEXT));
        let page: Page = res.json().await.context("Failed to read a page")?;
        walk.ids.extend(page.items.iter().map(|p| p.id));
        walk.pages += 1;
        between().await?;
    }
    Ok(walk)
}

/// A writer that changes the head of the feed: it inserts brand-new posts (which land on page
/// one, above any reader) and deletes the newest of the posts that were there at the start.
#[derive(Debug)]
pub struct Writer {
    db: Db,
    /// Ids above this were inserted by the writer.
    seeded_max: i64,
    /// Ids the writer deleted (they did not exist for the whole walk).
    pub deleted: Vec<i64>,
    /// Ids the writer inserted.
    pub inserted: Vec<i64>,
}

impl Writer {
    /// A writer over `db`, whose current rows all have ids at most `seeded_max`.
    pub fn new(db: Db, seeded_max: i64) -> Self {
        Self {
            db,
            seeded_max,
            deleted: Vec::new(),
            inserted: Vec::new(),
        }
    }

    /// Inserts `n` posts stamped now.
    pub async fn insert(&mut self, n: usize) -> anyhow::Result<()> {
        for i in 0..n {
            let new = NewPost::at(Utc::now().naive_utc(), format!("fresh post {i}"));
            let id = self.db.interact(move |c| post::insert(c, &new)).await?;
            self.inserted.push(id);
        }
        Ok(())
    }

    /// Deletes the `n` newest seeded posts that remain.
    pub async fn delete(&mut self, n: usize) -> anyhow::Result<()> {
        for _ in 0..n {
            let below = self.deleted.last().map_or(self.seeded_max, |id| id - 1);
            if let Some(id) = self
                .db
                .interact(move |c| post::delete_newest_up_to(c, below))
                .await?
            {
                self.deleted.push(id);
            }
        }
        Ok(())
    }

    /// The seeded ids that were never deleted: the rows that existed for the whole walk.
    pub fn stable(&self, seeded: &HashSet<i64>) -> HashSet<i64> {
        let deleted: HashSet<i64> = self.deleted.iter().copied().collect();
        seeded.difference(&deleted).copied().collect()
    }
}
