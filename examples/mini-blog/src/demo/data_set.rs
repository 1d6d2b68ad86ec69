//! "The data set": seeds (or reuses) the blog the other sections measure.

use std::time::Instant;

use serde::Serialize;
use support::demo::DemoArgs;
use support::narrate::Narrator;

use crate::seed::{self, Size};
use crate::state::AppState;

/// What the section found or did.
#[derive(Debug, Clone, Serialize)]
pub struct DataSet {
    pub backend: &'static str,
    pub users: i64,
    pub articles: i64,
    pub favorites: i64,
    pub seeded_now: bool,
    pub seconds: f64,
    pub cache: &'static str,
    pub queue: &'static str,
}

pub async fn run(n: &mut Narrator, state: &AppState, args: &DemoArgs) -> anyhow::Result<DataSet> {
    n.section("The data set");
    let size = args.pick(Size::FULL, Size::QUICK);
    let started = Instant::now();
    let hash = state.passwords.hash(seed::PASSWORD).await?;
    let seeded = seed::ensure(&state.db, size, hash, !args.silent).await?;
    let figures = DataSet {
        backend: state.db.backend().name(),
        users: seeded.users,
        articles: seeded.articles,
        favorites: seeded.favorites,
        seeded_now: seeded.seeded_now,
        seconds: started.elapsed().as_secs_f64(),
        cache: state.top.description,
        queue: state.notifier.backend(),
    };
    n.say(&format!(
        "{} users, {} articles and {} favourites (skewed: a few articles get most of them) in {}, {} \
         ({:.1} s). The top list is cached in {}; background jobs run on the {} queue.",
        figures.users,
        figures.articles,
        figures.favorites,
        figures.backend,
        if figures.seeded_now { "seeded now" } else { "reused from an earlier run" },
        figures.seconds,
        figures.cache,
        figures.queue,
    ));
    n.figures(&figures)?;
    Ok(figures)
}
