//! The demo: every way of hearing about an order's change, side by side on the same events; an
//! outage the retries ride out; the attacks a consumer refuses; the goals; and what it all says.
//!
//! Each section is one file that measures, prints its table, records its typed figures with
//! `n.figures(..)` and returns them; [`closing`] writes "What you just saw" from those figures
//! alone. The provider, its database and its dispatcher are shared by the sections; each section
//! registers its own endpoint and consumer and disables the endpoint when it is done.

mod attacks;
pub mod closing;
mod goals;
mod methods;
mod outage;
mod relay;
mod watchers;

use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use support::db::{Backend, Target};
use support::demo::{DemoArgs, RunIds};
use support::narrate::Narrator;
use support::server::RunningServer;
use support::{Report, Service, Settings};

pub use attacks::{AttackRow, Attacks};
pub use closing::Figures;
pub use goals::Goals;
pub use methods::{Method, MethodRow, Methods};
pub use outage::{Outage, PhaseRow};

use crate::config::Config;
use crate::dispatcher::{Dispatcher, DispatcherHandle};
use crate::endpoints;
use crate::orders::OrderState;
use crate::provider::{self, Provider};
use crate::signature::Secret;
use crate::store::{self, Clock as _, Db, SystemClock};

/// What every section gets: the options, the configuration, the provider and its database.
pub struct Context {
    pub args: DemoArgs,
    pub config: Config,
    pub db: Db,
    pub backend: Backend,
    /// The provider's API on loopback: orders, endpoints, polling.
    pub provider: RunningServer,
    pub http: reqwest::Client,
}

/// An event the demo caused: when it asked for the change, and when the provider says the change
/// committed (taken just after the commit, before anyone is told). Notice latency starts at the
/// commit: that is when the event exists.
#[derive(Debug, Clone)]
pub struct Emitted {
    pub id: String,
    pub seq: i64,
    pub requested_at: DateTime<Utc>,
    pub committed_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
struct EventJson {
    id: String,
    seq: i64,
}

#[derive(Debug, Deserialize)]
struct Changed {
    event: EventJson,
    committed_at: DateTime<Utc>,
}

/// One attempt in the provider's delivery log, as its API shows it to the endpoint's owner.
#[derive(Debug, Clone, Deserialize)]
pub struct LoggedAttempt {
    pub event_id: String,
    pub attempt: i32,
    pub status: String,
    pub response_status: Option<i32>,
    pub error: Option<String>,
    pub scheduled_at: i64,
    pub attempted_at: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct DeliveryLog {
    deliveries: Vec<LoggedAttempt>,
}

#[derive(Debug, Deserialize)]
struct Registered {
    id: String,
    secret: String,
}

/// The orders the demo moves along: each one is created, paid, shipped and delivered, so the
/// event stream mixes four event types the way a shop's does.
#[derive(Debug, Default)]
pub struct Orders {
    current: Option<(String, OrderState)>,
}

impl Context {
    /// Registers `url` as a webhook endpoint through the provider's API, as its owner would,
    /// and returns the endpoint's id and the secret shown once.
    pub async fn register(&self, url: &str) -> anyhow::Result<(String, Secret)> {
        let response = self
            .http
            .post(self.provider.url("/endpoints"))
            .json(&serde_json::json!({ "url": url }))
            .send()
            .await?;
        anyhow::ensure!(
            response.status() == reqwest::StatusCode::CREATED,
            "registering {url} was answered {}",
            response.status()
        );
        let registered: Registered = response.json().await?;
        Ok((registered.id, Secret::parse(&registered.secret)?))
    }

    /// The endpoint's delivery log, every attempt, through the provider's API.
    pub async fn delivery_log(&self, endpoint: &str) -> anyhow::Result<Vec<LoggedAttempt>> {
        let response = self
            .http
            .get(
                self.provider
                    .url(&format!("/endpoints/{endpoint}/deliveries")),
            )
            .send()
            .await?;
        anyhow::ensure!(response.status().is_success(), "{}", response.status());
        Ok(response.json::<DeliveryLog>().await?.deliveries)
    }

    /// Stops `endpoint` receiving the next sections' events.
    pub async fn retire(&self, endpoint: &str) -> anyhow::Result<()> {
        let (id, now) = (endpoint.to_owned(), SystemClock.now_ms());
        self.db
            .interact(move |c| {
                endpoints::disable_in(c, &id, "the demo section that registered it ended", now)
            })
            .await?;
        Ok(())
    }

    /// Causes the next event through the provider's API: a new order, or the current one's next
    /// step.
    pub async fn emit(&self, orders: &mut Orders) -> anyhow::Result<Emitted> {
        let requested_at = Utc::now();
        let next = match &orders.current {
            Some((id, state)) => match state {
                OrderState::Created => Some((id.clone(), OrderState::Paid)),
                OrderState::Paid => Some((id.clone(), OrderState::Shipped)),
                OrderState::Shipped => Some((id.clone(), OrderState::Delivered)),
                OrderState::Delivered | OrderState::Cancelled => None,
            },
            None => None,
        };
        let request = match &next {
            Some((id, state)) => self
                .http
                .post(self.provider.url(&format!("/orders/{id}/state")))
                .json(&serde_json::json!({ "state": state.as_str() })),
            None => self.http.post(self.provider.url("/orders")),
        };
        let response = request.send().await?;
        anyhow::ensure!(
            response.status().is_success(),
            "the provider answered {}",
            response.status()
        );
        let body: serde_json::Value = response.json().await?;
        let changed: Changed = serde_json::from_value(body.clone())?;
        orders.current = match next {
            Some((id, state)) => Some((id, state)),
            None => Some((
                body["order"]["id"]
                    .as_str()
                    .context("no order id in the answer")?
                    .to_owned(),
                OrderState::Created,
            )),
        };
        Ok(Emitted {
            id: changed.event.id,
            seq: changed.event.seq,
            requested_at,
            committed_at: changed.committed_at,
        })
    }

    /// The outbox's last `seq`: where a new watcher starts.
    pub async fn last_seq(&self) -> anyhow::Result<i64> {
        let mut since = 0;
        loop {
            let page = crate::outbox::events_since(&self.db, since, provider::MAX_LIMIT).await?;
            match page.last() {
                Some(last) => since = last.seq,
                None => return Ok(since),
            }
        }
    }
}

/// Where this run keeps its tables, and how to remove them afterwards.
struct Storage {
    target: Target,
    schema: String,
    sqlite_file: String,
}

impl Storage {
    /// PostgreSQL (a schema of this run's own) when it answers, otherwise an SQLite file of this
    /// run's own: a run never meets an earlier run's endpoints, which would still get deliveries.
    async fn choose(settings: &Settings, ids: &RunIds) -> anyhow::Result<Self> {
        let schema = ids.name("webhooks_demo");
        let sqlite_file = std::env::temp_dir()
            .join(format!("{schema}.sqlite3"))
            .to_string_lossy()
            .into_owned();
        let target = Target::choose(settings, &sqlite_file)
            .await?
            .in_schema(&schema)
            .await?;
        Ok(Self {
            target,
            schema,
            sqlite_file,
        })
    }

    async fn remove(&self) -> anyhow::Result<()> {
        self.target.drop_schema(&self.schema).await?;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.sqlite_file));
        }
        Ok(())
    }
}

/// Runs the demo and returns its report.
pub async fn demo(settings: &Settings, args: &DemoArgs) -> anyhow::Result<Report> {
    let mut n = Narrator::new(
        "webhooks",
        "Polling or webhooks: how one system learns that something happened in another",
        args,
    );
    n.probe(
        settings,
        &[(
            Service::Postgres,
            "the outbox and the delivery log are kept in an SQLite file instead",
        )],
    )
    .await?;
    let ids = RunIds::new(0..0);
    let storage = Storage::choose(settings, &ids).await?;
    let result = run_sections(&mut n, args, &storage).await;
    // The run's tables go whatever happened; an error in removing them is secondary.
    if let Err(error) = storage.remove().await {
        tracing::warn!(%error, "the demo's tables were not removed");
    }
    result?;
    n.finish(args.json.as_deref())
}

async fn run_sections(n: &mut Narrator, args: &DemoArgs, storage: &Storage) -> anyhow::Result<()> {
    let config = demo_config(args);
    let db = store::open(&storage.target, 8).await?;
    let provider_state = Provider::new(db.clone(), config.clone());
    let changes = provider_state.changes();
    let provider = support::server::spawn(move |l| provider::run(l, provider_state))?;
    let dispatcher = Dispatcher::new(db.clone(), config.clone())?
        .woken_by(changes)
        .start();
    let ctx = Context {
        args: args.clone(),
        config,
        backend: db.backend(),
        db,
        provider,
        http: reqwest::Client::new(),
    };
    let result = sections(n, &ctx).await;
    stop(dispatcher, ctx.provider).await;
    result
}

async fn sections(n: &mut Narrator, ctx: &Context) -> anyhow::Result<()> {
    let methods = methods::run(n, ctx).await?;
    let outage = outage::run(n, ctx).await?;
    let attacks = attacks::run(n, ctx).await?;
    let goals = goals::section(n, &methods)?;
    closing::run(
        n,
        &Figures {
            backend: ctx.backend,
            methods,
            outage,
            attacks,
            goals,
        },
    )
}

async fn stop(dispatcher: DispatcherHandle, provider: RunningServer) {
    dispatcher.stop().await;
    provider.stop().await;
}

/// The compressed clock of [`Config::compressed`], with a shorter attempt timeout in quick mode
/// (the outage section waits one out) and a disabling threshold above what the outage causes:
/// the section shows retries riding out an outage, and the tests show disabling.
fn demo_config(args: &DemoArgs) -> Config {
    Config {
        attempt_timeout: Duration::from_millis(args.pick(400, 150)),
        disable_after: 1000,
        ..Config::compressed()
    }
}

/// The `q`-quantile (0..=1) of `samples` by nearest rank; `None` when there are none.
pub fn quantile(samples: &[f64], q: f64) -> Option<f64> {
    let mut sorted: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted.get(rank - 1).copied()
}

/// Milliseconds from `from` to `to` (negative if `to` is earlier).
pub fn ms_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let micros = (to - from).num_microseconds().unwrap_or(i64::MAX) as f64;
    micros / 1e3
}

#[cfg(test)]
mod tests {
    use super::quantile;

    #[test]
    fn quantiles_by_nearest_rank() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&samples, 0.5), Some(50.0));
        assert_eq!(quantile(&samples, 0.99), Some(99.0));
        assert_eq!(quantile(&samples, 1.0), Some(100.0));
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[3.0], 0.99), Some(3.0));
    }
}
