//! `serve`: the service with the best backend this machine can reach, its workers and a mail
//! sink, for curl or Postman. The same `run` the tests and the demo start.

use std::sync::Arc;

use actix_web::web;
use support::cli::ServeArgs;
use support::{Service, Services, Settings};

use crate::config::{BackendKind, JobsConfig, QUEUE_PREFIX};
use crate::mail::{DEFAULT_LATENCY, MailSink};
use crate::runner::JobRunner;
use crate::worker::WorkerPool;
use crate::{AppState, run};

/// Serves on `args`' address until stopped (Ctrl-C), then shuts the workers down gracefully.
pub async fn serve(settings: Settings, args: &ServeArgs) -> anyhow::Result<()> {
    let config = JobsConfig::new(settings);
    let services =
        Services::probe_only(&config.settings, &[Service::Redis, Service::RabbitMq]).await;
    // The last available in `BackendKind::ALL` order: RabbitMQ, else Redis, else in-process.
    let kind = BackendKind::available(&services)
        .last()
        .copied()
        .unwrap_or(BackendKind::InProcess);
    let sink = MailSink::start(DEFAULT_LATENCY)?;
    let runner = Arc::new(JobRunner::new(sink.send_url()));
    let queue = kind.open(&config, QUEUE_PREFIX).await?;
    let pool = WorkerPool::start(queue.clone(), runner.clone(), config.worker_options());
    let state = web::Data::new(AppState::new(queue, runner));
    let listener = std::net::TcpListener::bind(args.address())?;
    tracing::info!(
        backend = kind.label(),
        "serving on http://{}:{} (POST /signup, POST /thumbnails, GET /jobs/{{id}}, GET /dead-letters)",
        args.host,
        args.port
    );
    run(listener, state)?.await?;
    pool.shutdown().await;
    Ok(())
}
