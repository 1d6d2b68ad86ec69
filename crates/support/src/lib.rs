//! # support: the lab bench every topic uses
//!
//! Every topic crate in this workspace does the same four things around its lesson: it reads its
//! settings, finds out which real services it can use, measures alternatives, and prints a table.
//! This crate does those things once, so that a topic crate contains only its topic.
//!
//! | module | what it gives a topic |
//! |---|---|
//! | [`config`] | [`Settings`], the typed configuration built once from the environment |
//! | [`services`] | a protocol-level reachability probe for PostgreSQL, Redis and RabbitMQ, and the one-line note a demo prints for each missing service |
//! | `jwk` (feature) | an Ed25519 signing key and its public JWK, named by its RFC 7638 thumbprint |
//! | [`measure`] | run an operation N times or for a while, sequentially or C at a time, with warm-up; latency percentiles from an HDR histogram and throughput |
//! | [`report`] | the side-by-side table every demo prints (with a ratio column) and the serialisable [`Report`] it returns and can write as JSON |
//! | [`narrate`] | headings, wrapped paragraphs and transcripts, so every demo reads the same |
//! | [`clock`] | time, injected: the [`clock::Clock`] trait, the system clock and a [`clock::ManualClock`] tests and demos move by hand, so expiry is checked without sleeping |
//! | [`cli`] | the command line every topic binary shares: the demo by default, `serve` with `--port`/`--host`, plus the topic's own flags |
//! | `db` (feature) | PostgreSQL or SQLite behind one diesel connection type: the pool, per-connection settings, embedded migrations |
//! | [`demo`] | the flags every demo accepts (`--quick`, `--json PATH`), and [`demo::RunIds`], the per-run allocator of ids and names |
//! | [`json_body`] | reading a JSON body and telling "not JSON" (400) from "JSON of the wrong shape" (422, naming the field) |
//! | [`html`] | escaping text for the pages built by hand (auth's login page, the report page) |
//! | [`names`] | unique names for databases, key prefixes and queues |
//! | [`programs`] | where an installed program a demo runs itself is (Memcached, nginx, Chromium), by one rule with a `none` override, and a free loopback port for it |
//! | [`problem`] | RFC 9457 `application/problem+json`, the one error body every crate maps into, and extractor configs that answer bad input with it |
//! | [`routing`] | endpoints that list their methods once, so a wrong method is a 405 with `Allow`, an unknown path a 404, and any bare error a problem+json body |
//! | [`server`] | start an actix-web server on `127.0.0.1:0` and get its base URL back (demos and tests) |
//! | [`telemetry`] | tracing set-up shared by all binaries |
//! | `transcript` (feature) | send a request and narrate it like `curl -v`: the request, the response headers that carry the lesson, a body excerpt, credentials cut |
//! | `testkit` (feature) | skip-or-fail on missing services, unique names, a database or SQLite file per test, a Redis key prefix per test |
//!
//! What this crate never holds: topic logic. A type that two topics share belongs in the capstone
//! (`examples/mini-blog`), not here.

pub mod cli;
pub mod clock;
pub mod config;
#[cfg(feature = "db")]
pub mod db;
pub mod demo;
pub mod html;
pub mod json_body;
#[cfg(feature = "jwk")]
pub mod jwk;
pub mod measure;
pub mod names;
pub mod narrate;
pub mod problem;
pub mod programs;
pub mod report;
pub mod routing;
pub mod server;
pub mod services;
pub mod telemetry;
#[cfg(feature = "testkit")]
pub mod testkit;
#[cfg(feature = "transcript")]
pub mod transcript;

pub use config::Settings;
pub use measure::{Measurement, Plan};
pub use problem::Problem;
pub use report::{Column, Report, Section, Table, Unit};
pub use services::{Service, Services};
