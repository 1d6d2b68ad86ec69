//! # pagination: offset versus cursor, measured
//!
//! In reading order, leaves first:
//!
//! | module | what it holds |
//! |---|---|
//! | [`schema`], [`post`] | the `pagination_posts` table and its rows |
//! | [`db`] | the migrations and named data sets, on `support::db`'s PostgreSQL-or-SQLite connection |
//! | [`page`] | the envelope both schemes answer with, `limit` bounds, the response with its `Link` header |
//! | [`links`] | RFC 8288 `Link` headers (`first`, `prev`, `next`), built and parsed |
//! | [`offset`] | `GET /offset/posts?page=&limit=` / `?offset=&limit=`: the query that skips rows |
//! | [`cursor`] | `GET /cursor/posts?after=` / `?before=`: the keyset query and the signed cursor |
//! | [`http`] | the server: state, the routes that mount both schemes side by side, `run` |
//! | [`seed`] | filling a million rows in seconds, with a progress bar, reused between runs, removed by `forget` |
//! | [`consistency`] | a generic client that follows `next`, and a writer that changes the table |
//! | [`config`] | typed configuration: cursor key, `limit` bounds, pool size |
//! | [`error`] | the crate's error enum and its problem+json answers |
//! | [`demo`] | the measured, narrated comparison `cargo demo pagination` runs, one file per section |
//! | [`app`] | `serve`: the demo's feed, seeded or reused, behind the server until Ctrl-C |
#![doc = include_str!("../README.md")]

pub mod app;
pub mod config;
pub mod consistency;
pub mod cursor;
pub mod db;
pub mod demo;
pub mod error;
pub mod http;
pub mod links;
pub mod offset;
pub mod page;
pub mod post;
pub mod schema;
pub mod seed;

pub use config::Config;
pub use db::{Backend, Db};
pub use error::Error;
pub use http::{AppState, run};
pub use page::{Limits, Page};
