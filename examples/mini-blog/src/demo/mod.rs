//! The demo: a seeded blog, a user's session through the API as a transcript, and three
//! measurements (the top list with and without its cache, lists by offset versus cursor at
//! depth, a login against an authenticated read), then the goals and a closing paragraph built
//! only from what those sections returned.
//!
//! Each section is a file with one `run` that measures, prints its table and returns a typed
//! struct of its figures (also recorded in the JSON report).

pub mod closing;
pub mod data_set;
pub mod depth;
pub mod goals;
pub mod login_cost;
pub mod session;
pub mod top_posts;

use std::sync::Arc;
use std::time::Duration;

use support::demo::DemoArgs;
use support::narrate::Narrator;
use support::server::RunningServer;
use support::{Report, Service, Settings};

use crate::config::Config;
use crate::db::Backend;
use crate::state::AppState;

/// Everything the sections share: the seeded server and a client.
#[derive(Debug)]
pub struct Context {
    pub state: Arc<AppState>,
    pub server: RunningServer,
    pub client: reqwest::Client,
    pub backend: Backend,
    pub quick: bool,
    pub articles: i64,
}

impl Context {
    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
    }
}

/// Runs the demo and returns what it measured.
pub async fn run(settings: &Settings, args: &DemoArgs) -> anyhow::Result<Report> {
    let mut n = Narrator::new(
        "mini-blog",
        "The capstone: a RealWorld blog API built from the lessons",
        args,
    );
    n.probe(
        settings,
        &[
            (Service::Postgres, "storing in embedded SQLite"),
            (
                Service::Redis,
                "caching the top list in this process only (moka)",
            ),
            (
                Service::RabbitMq,
                "notification jobs on Redis, or in memory without Redis either",
            ),
        ],
    )
    .await?;
    let target = crate::serve::target(settings, crate::seed::data_set(args.quick)).await?;
    // Names of this run's own: a server or another demo on the same Redis keeps its cache and
    // queue; the queue is deleted at the end.
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let config = Config {
        cache_namespace: format!("mini-blog-demo-{run}"),
        queue_name: format!("mini-blog-demo-{run}"),
        ..Config::default()
    };
    let state = crate::serve::state(settings, config, &target).await?;
    let data = data_set::run(&mut n, &state, args).await?;
    let server = {
        let state = state.clone();
        support::server::spawn(move |listener| crate::http::run(listener, state, 2))?
    };
    let ctx = Context {
        backend: state.db.backend(),
        state,
        server,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
        quick: args.quick,
        articles: data.articles,
    };
    let session = session::run(&mut n, &ctx).await?;
    let top = top_posts::run(&mut n, &ctx).await?;
    let depth = depth::run(&mut n, &ctx).await?;
    let login = login_cost::run(&mut n, &ctx).await?;
    let goals = goals::run(&mut n, &top)?;
    closing::run(
        &mut n,
        &closing::Summary::new(&ctx, &session, &top, &depth, &login, &goals),
    )?;

    ctx.server.stop().await;
    ctx.state.notifier.shutdown(true).await;
    n.finish(args.json.as_deref())
}

/// The median of `samples`, in microseconds (0 for none).
pub fn median_us(samples: &mut [Duration]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1e6
}
