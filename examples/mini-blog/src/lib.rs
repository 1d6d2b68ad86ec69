//! # mini-blog: the capstone, the RealWorld (Conduit) API built from the topic lessons
//!
//! In reading order, leaves first:
//!
//! | module | what it holds | the lesson it comes from |
//! |---|---|---|
//! | [`schema`], [`db`] | the tables and migrations, on `support::db` (SQLite or PostgreSQL) | pagination, sql-vs-nosql |
//! | [`model`] | the spec's request and response bodies; absent versus `null` | http-basics |
//! | [`error`] | the one error enum and its `{"errors": …}` answers with the spec's statuses | http-basics |
//! | [`body`] | reading a JSON body: 400, 413, 415 and 422 told apart, the field named | http-basics |
//! | [`validate`] | the field rules and slugs | |
//! | [`token`] | the login JWT and the extractors that read `Authorization: Token …` | sessions-vs-jwt, auth |
//! | [`queries`] | the rows and the article/comment views, a page at a time (no N+1) | sql-vs-nosql |
//! | [`top_cache`] | the top list's cache: caching-strategies' moka + Redis tiers, reused | caching-strategies |
//! | [`notify`] | the background job that tells followers: jobs' queues, reused | jobs |
//! | [`config`], [`state`] | typed configuration; the shared state and how backends are chosen | |
//! | [`users`], [`profiles`], [`articles`], [`favorites`], [`comments`], [`tags`] | the spec's endpoints | auth (argon2id) |
//! | [`listing`] | lists and the feed: offset (the spec) and keyset cursors (an extension) | pagination |
//! | [`top`], [`inbox`] | the extensions: the top list, the notifications | caching-strategies, jobs |
//! | [`openapi`], [`http`] | the document's fixed parts; routes, middleware, `run` | |
//! | [`serve`] | `serve`: the API on a port, backends chosen by what answers | |
//! | [`seed`] | a realistic data set in seconds, reused between runs, removed by `forget` | pagination |
//! | [`bench`] | `just bench mini-blog`: wrk on four endpoints, and the layers priced against a minimal handler | |
//! | [`demo`] | the seeded, narrated, measured walk-through `cargo demo mini-blog` runs | |
#![doc = include_str!("../README.md")]

pub mod articles;
pub mod bench;
pub mod body;
pub mod comments;
pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod favorites;
pub mod http;
pub mod inbox;
pub mod listing;
pub mod model;
pub mod notify;
pub mod openapi;
pub mod profiles;
pub mod queries;
pub mod schema;
pub mod seed;
pub mod serve;
pub mod state;
pub mod tags;
pub mod token;
pub mod top;
pub mod top_cache;
pub mod users;
pub mod validate;

pub use config::Config;
pub use error::Error;
pub use http::run;
pub use state::AppState;
