//! "The data set": the same seeded users, follows, posts and likes in every engine, loaded once
//! and reused by later runs (each store keeps a marker with the generator version and sizes).

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use support::narrate::Narrator;
use support::report::{Chart, Table, Unit};

use crate::seed::Dataset;
use crate::store::{Engine, SocialStore};

/// How one engine came by its data.
#[derive(Debug, Clone, Serialize)]
pub struct Loaded {
    pub engine: Engine,
    /// False when an earlier run's data of the same sizes was reused.
    pub seeded_now: bool,
    /// Seconds spent loading (0 when reused).
    pub seconds: f64,
}

/// What the section found or did.
#[derive(Debug, Clone, Serialize)]
pub struct DataSet {
    pub users: i64,
    pub follows: usize,
    pub posts: i64,
    pub likes: i64,
    pub loaded: Vec<Loaded>,
}

impl DataSet {
    /// Records per engine: what a load writes.
    pub fn records(&self) -> u64 {
        (self.users + self.follows as i64 + self.posts + self.likes).unsigned_abs()
    }
}

/// Seeds every store that does not already hold `data`, with a progress bar per store.
pub async fn run(
    n: &mut Narrator,
    stores: &[&dyn SocialStore],
    data: &Dataset,
    show_progress: bool,
) -> anyhow::Result<DataSet> {
    n.section("The data set");
    let mut figures = DataSet {
        users: data.sizes.users,
        follows: data.follows.len(),
        posts: data.sizes.posts,
        likes: data.sizes.likes,
        loaded: Vec::new(),
    };
    let total = figures.records();
    for store in stores {
        let engine = store.engine();
        if store.seeded().await? == Some(data.sizes) {
            figures.loaded.push(Loaded {
                engine,
                seeded_now: false,
                seconds: 0.0,
            });
            continue;
        }
        let bar = progress_bar(show_progress, total, engine);
        let started = Instant::now();
        store
            .load(data, &|written| bar.set_position(written))
            .await?;
        bar.finish_and_clear();
        figures.loaded.push(Loaded {
            engine,
            seeded_now: true,
            seconds: started.elapsed().as_secs_f64(),
        });
    }

    n.say(&format!(
        "{} users, {} follows, {} posts and {} likes, generated from a fixed seed so that every \
         engine holds the same records; follows and likes are skewed, as in any social graph \
         (a few users and posts get most of the attention).",
        figures.users, figures.follows, figures.posts, figures.likes
    ));
    let mut table = Table::new("engine")
        .column("family", Unit::Text)
        .column("load", Unit::Seconds)
        .column("records per second", Unit::PerSecond)
        .column("reused from an earlier run", Unit::Text)
        .chart(
            Chart::bars()
                .of(&["records per second"])
                .titled("Loading the data set: records per second"),
        );
    for l in &figures.loaded {
        let rate = (l.seconds > 0.0).then(|| total as f64 / l.seconds);
        table.row(
            l.engine.label(),
            [
                l.engine.family().into(),
                l.seconds.into(),
                rate.into(),
                if l.seeded_now { "no" } else { "yes" }.into(),
            ],
        );
    }
    n.table(table);
    n.figures(&figures)?;
    Ok(figures)
}

fn progress_bar(show: bool, total: u64, engine: Engine) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    let template = format!(
        "  {:<28} {{bar:36}} {{pos:>9}}/{{len:9}}  {{elapsed}}",
        engine.label()
    );
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}
