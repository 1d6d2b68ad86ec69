//! What every handler shares, and how a server picks its backends.
//!
//! Each piece falls back on its own, and says so: no PostgreSQL, SQLite (chosen by the caller,
//! see `support::db::Target::choose`); no Redis, the top-articles cache is moka alone; no
//! RabbitMQ nor Redis, the notification job runs on the in-process queue.

use std::sync::Arc;
use std::time::Duration;

use auth::passwords::Passwords;
use jobs::backends::in_process::InProcess;
use jobs::backends::rabbitmq::RabbitQueue;
use jobs::backends::redis_list::RedisList;
use jobs::job::Queue;
use pagination::cursor::CursorCodec;
use support::Settings;
use support::services::{self, Service, Status};

use crate::config::Config;
use crate::db::Db;
use crate::notify::Notifier;
use crate::top_cache::TopCache;

/// Which queue carries the notification job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueChoice {
    /// RabbitMQ if it answers, else Redis, else in-process.
    Auto,
    InProcess,
    Redis,
    RabbitMq,
}

/// Which cache holds the top-articles list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheChoice {
    /// moka + Redis if Redis answers, else moka alone.
    Auto,
    LocalOnly,
}

/// The state behind every request.
#[derive(Debug)]
pub struct AppState {
    pub db: Db,
    pub config: Config,
    pub passwords: Passwords,
    pub cursors: CursorCodec,
    pub top: TopCache,
    pub notifier: Notifier,
}

impl AppState {
    /// Builds the state on `db`, choosing the cache and the queue as asked.
    pub async fn build(
        settings: &Settings,
        config: Config,
        db: Db,
        cache: CacheChoice,
        queue: QueueChoice,
    ) -> anyhow::Result<Arc<Self>> {
        let top = match cache {
            CacheChoice::Auto if up(settings, Service::Redis).await? => {
                TopCache::shared(
                    &settings.redis_url,
                    &config.cache_namespace,
                    config.top_local_ttl,
                    config.top_ttl,
                )
                .await?
            }
            _ => TopCache::local(config.top_ttl),
        };
        let queue = open_queue(settings, &config.queue_name, queue).await?;
        let notifier = Notifier::start(queue, db.clone());
        Ok(Arc::new(Self {
            passwords: Passwords::new(config.password_cost).await?,
            cursors: CursorCodec::new(&config.cursor_key),
            db,
            config,
            top,
            notifier,
        }))
    }

    /// One line per fallback taken, for the server's and the demo's first lines.
    pub fn left_out(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if self.db.backend() == support::db::Backend::Sqlite {
            lines.push(
                "PostgreSQL: not reachable, storing in SQLite (set DATABASE_URL or `just up`)"
                    .to_owned(),
            );
        }
        if self.top.description == "moka only" {
            lines.push(
                "Redis: not reachable, top articles cached in this process only (set REDIS_URL or `just up`)"
                    .to_owned(),
            );
        }
        if self.notifier.backend() == "in-process" {
            lines.push(
                "RabbitMQ and Redis: not reachable, notification jobs in memory (lost on a crash)"
                    .to_owned(),
            );
        }
        lines
    }
}

/// Whether `service` answers; under `BF_REQUIRE_SERVICES=1` an absent one is an error.
async fn up(settings: &Settings, service: Service) -> anyhow::Result<bool> {
    match services::probe(service, service.url(settings)).await {
        Status::Up => Ok(true),
        Status::Down(why) if settings.require_services => {
            anyhow::bail!("{service} is required and unreachable ({why})")
        }
        Status::Down(_) => Ok(false),
    }
}

async fn open_queue(
    settings: &Settings,
    name: &str,
    choice: QueueChoice,
) -> anyhow::Result<Arc<dyn Queue>> {
    let rabbit = || async {
        let queue = RabbitQueue::connect(&settings.amqp_url, name, 16).await?;
        anyhow::Ok(Arc::new(queue) as Arc<dyn Queue>)
    };
    let redis = || async {
        let queue = RedisList::connect(
            &settings.redis_url,
            &format!("{name}:jobs"),
            Duration::from_secs(30),
        )
        .await?
        .with_block(Duration::from_millis(200));
        anyhow::Ok(Arc::new(queue) as Arc<dyn Queue>)
    };
    Ok(match choice {
        QueueChoice::InProcess => Arc::new(InProcess::new()),
        QueueChoice::RabbitMq => rabbit().await?,
        QueueChoice::Redis => redis().await?,
        QueueChoice::Auto => {
            if up(settings, Service::RabbitMq).await? {
                rabbit().await?
            } else if up(settings, Service::Redis).await? {
                redis().await?
            } else {
                Arc::new(InProcess::new())
            }
        }
    })
}
