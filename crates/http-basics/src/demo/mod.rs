//! The demo: a narrated transcript of real requests, the method tables, and the status tour.
//!
//! Everything printed comes from requests this run sent to a server this run started: statuses
//! and headers are read off the responses, state changes are read back from the server, and
//! latencies are measured with `support::measure`. Each section measures, prints, and returns
//! its figures as a typed struct (also recorded in the JSON report); the closing paragraph is
//! written from those structs alone.
//!
//! | section, in the order it runs | file | returns |
//! |---|---|---|
//! | 1. A request, in full | [`request_in_full`] | [`request_in_full::RequestFigures`] |
//! | 2. Methods: which ones are safe to retry? Measured. | [`retries`], then [`latency`] | [`retries::RetryFigures`], [`latency::LatencyFigures`] |
//! | 3. Status codes: one real request each | [`status_tour`] (the tour the conformance test runs too) | [`status_tour::TourFigures`] |
//! | What you just saw | [`closing`] | the paragraph |
//!
//! [`verbs`] holds the eight calls both halves of section 2 make.

pub mod closing;
pub mod latency;
pub mod request_in_full;
pub mod retries;
pub mod status_tour;
pub mod verbs;

use actix_web::web;
use reqwest::Client;
use support::demo::DemoArgs;
use support::narrate::Narrator;
use support::transcript::Recorder;
use support::{Report, server};

use crate::idempotency::REPLAYED;
use crate::{AppState, Config, run};

/// What the sections that share one server are handed.
#[derive(Debug)]
pub struct Bench {
    /// The server's configuration (its tokens, its limits).
    pub config: Config,
    /// Sends requests to the server, narrating them when asked.
    pub recorder: Recorder,
    pub args: DemoArgs,
}

impl Bench {
    /// The token allowed to write.
    pub fn writer(&self) -> &str {
        &self.config.tokens.writer
    }
}

/// Runs the demo against servers it starts itself.
pub async fn demo(args: &DemoArgs) -> anyhow::Result<Report> {
    let mut n = Narrator::new(
        "http-basics",
        "HTTP basics: what methods, status codes, headers and bodies promise",
        args,
    );
    n.say("This demo starts a real actix-web server on a free port and talks to it with reqwest. Every status, header and number below was read off a real response during this run. It needs no external service.");

    let client = Client::builder().build()?;
    let config = Config::default();
    let state = web::Data::new(AppState::new(config.clone()));
    let server = server::spawn(|l| run(l, state.clone()))?;
    let bench = Bench {
        config,
        // `Idempotent-Replayed` is this crate's own header: shown so a replay is visible.
        recorder: Recorder::new(client.clone(), &server.base_url).show(REPLAYED),
        args: args.clone(),
    };

    request_in_full::section(&mut n, &bench).await?;
    // The notes section 2 calls every method on, created once so both halves use the same ones.
    let targets = verbs::Targets::create(&bench).await?;
    let retries = retries::section(&mut n, &bench, &targets).await?;
    let latency = latency::section(&mut n, &bench, &targets).await?;
    server.stop().await;
    // The tour starts its own server: it needs a write bucket small enough to run dry.
    let tour = status_tour::section(&mut n, &client).await?;

    closing::section(
        &mut n,
        &closing::Figures {
            retries: &retries,
            latency: &latency,
            tour: &tour,
        },
    );
    n.finish(args.json.as_deref())
}
