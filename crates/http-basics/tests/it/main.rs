//! The claims of the http-basics lesson, one test each.
//!
//! Every test starts its own server on a free port (nothing shared between tests) and talks to it
//! over real HTTP with reqwest, the way any client would.

mod bodies;
mod conditional;
mod demo;
mod errors;
mod merge_patch;
mod methods;
mod negotiation;
mod status_codes;

use actix_web::web;
use http_basics::{AppState, Config, run};
use support::server::RunningServer;

/// A fresh server with `config`, and a client for it.
pub(crate) fn start(config: Config) -> anyhow::Result<(RunningServer, reqwest::Client)> {
    let state = web::Data::new(AppState::new(config));
    let server = support::server::spawn(|listener| run(listener, state))?;
    Ok((server, reqwest::Client::new()))
}

/// The writer token of the default configuration.
pub(crate) fn writer() -> String {
    Config::default().tokens.writer
}
