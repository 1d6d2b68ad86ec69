//! # pagination: offset versus cursor, measured
//!
//! | module | what it holds |
//! |---|---|
//! | [`offset`] | `GET /offset/posts?page=&limit=` / `?offset=&limit=`: the query that skips rows |
//! | [`cursor`] | `GET /cursor/posts?after=` / `?before=`: the keyset query and the signed cursor |
//! | [`links`] | RFC 8288 `Link` headers (`first`, `prev`, `next`), built and parsed |
//! | [`http`] | the server: state, the page envelope both schemes answer with, routes, `run` |
//! | [`db`] | the migrations and named data sets, on `support::db`'s PostgreSQL-or-SQLite connection |
//! | [`schema`], [`post`] | the `pagination_posts` table and its rows |
//! | [`seed`] | filling a million rows in seconds, with a progress bar, reused between runs |
//! | [`consistency`] | a generic client that follows `next`, and a writer that changes the table |
//! | [`config`] | typed configuration: cursor key, `limit` bounds, pool size |
//! | [`error`] | the crate's error enum and its problem+json answers |
//! | [`demo`] | the measured, narrated comparison `cargo demo pagination` runs |
#![doc = include_str!("../README.md")]

pub mod config;
pub mod consistency;
pub mod cursor;
pub mod db;
pub mod demo;
pub mod error;
pub mod http;
pub mod links;
pub mod offset;
pub mod post;
pub mod schema;
pub mod seed;

pub use config::{Config, Limits};
pub use db::{Backend, Db};
pub use error::Error;
pub use http::{AppState, run};
