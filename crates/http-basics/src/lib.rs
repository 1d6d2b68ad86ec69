//! # http-basics: what HTTP promises, and what a server must do to keep those promises
//!
//! | module | what it holds |
//! |---|---|
//! | [`routes`] | every route and handler, and the order of checks on a write |
//! | [`negotiate`] | `Accept` (406) and `Content-Type` (415) negotiation |
//! | [`conditional`] | the validators: `ETag` with `If-None-Match` (304) and `If-Match` (412), `Last-Modified` with `If-Modified-Since` (304, and which of the two decides) |
//! | [`idempotency`] | `Idempotency-Key`: a POST that is safe to retry |
//! | [`merge_patch`] | JSON Merge Patch (RFC 7396), the PATCH body |
//! | [`body`] | reading a body with a size limit (413 before reading) |
//! | [`auth`] | 401 + `WWW-Authenticate` versus 403 |
//! | [`rate_limit`] | a token bucket: 429 + `Retry-After` |
//! | [`request_id`] | `X-Request-Id` on every response and log line |
//! | [`store`], [`model`] | the notes themselves (in memory) |
//! | [`error`] | every failure and its status, in one place |
//! | [`demo`] | the demo, one file per section: the transcripts, the method tables, the status tour (which the conformance test runs too), the closing paragraph |
//! | [`config`] | the server's settings |
//! | [`serve`], [`run`] | the server on a fixed address (`serve`), or around any listener (demo, tests) |
#![doc = include_str!("../README.md")]

pub mod auth;
pub mod body;
pub mod conditional;
pub mod config;
pub mod demo;
pub mod error;
pub mod idempotency;
pub mod merge_patch;
pub mod model;
pub mod negotiate;
pub mod rate_limit;
pub mod request_id;
pub mod routes;
pub mod store;

use std::net::TcpListener;
use std::sync::atomic::AtomicBool;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context as _;
use support::Settings;
use support::cli::ServeArgs;

pub use config::Config;

/// Everything the handlers share: one instance per server.
#[derive(Debug)]
pub struct AppState {
    pub config: Config,
    pub store: store::NoteStore,
    pub idempotency: idempotency::IdempotencyStore,
    pub limiter: rate_limit::RateLimiter,
    pub maintenance: AtomicBool,
}

impl AppState {
    pub fn new(config: Config) -> Self {
        Self {
            limiter: rate_limit::RateLimiter::new(config.write_rate),
            config,
            store: store::NoteStore::default(),
            idempotency: idempotency::IdempotencyStore::default(),
            maintenance: AtomicBool::new(false),
        }
    }
}

/// Builds the server around a listener the caller bound (a fixed port in `main`, port 0 in the
/// demo and tests).
pub fn run(listener: TcpListener, state: web::Data<AppState>) -> std::io::Result<Server> {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(support::problem::path_config())
            .app_data(support::problem::query_config())
            .configure(routes::configure)
            .default_service(web::to(support::routing::not_found))
            .wrap(support::routing::bare_errors_as_problems())
            .wrap(from_fn(request_id::request_id))
    })
    .workers(2)
    .listen(listener)?
    .run();
    Ok(server)
}

/// `serve`: the server on the address asked for, with the default configuration, until stopped.
/// The notes live in memory and the server uses no external service, so `settings` is not read;
/// it is taken so that every topic's `serve` has the same shape.
pub async fn serve(_settings: &Settings, address: &ServeArgs) -> anyhow::Result<()> {
    let (host, port) = address.address();
    let listener = TcpListener::bind((host.as_str(), port))
        .with_context(|| format!("binding {host}:{port}"))?;
    let config = Config::default();
    tracing::info!(
        writer = %config.tokens.writer,
        reader = %config.tokens.reader,
        "serving notes on http://{host}:{port}/notes"
    );
    run(listener, web::Data::new(AppState::new(config)))?
        .await
        .context("running the server")
}
