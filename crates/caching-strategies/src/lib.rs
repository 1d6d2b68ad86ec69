//! # caching-strategies: how a cache makes a backend faster, and what it costs
//!
//! The tree shows the two axes the alternatives vary along: *how* a strategy uses its cache
//! ([`strategies`]) and *where* the cache lives ([`tiers`]). Any strategy runs over any tier.
//!
//! | module | what it holds |
//! |---|---|
//! | [`strategies`] | the [`Strategy`] trait, TTL with jitter, what strategies share |
//! | [`strategies::no_cache`] | the baseline: every call goes to the store |
//! | [`strategies::cache_aside`] | lazy loading; the cache-aside race and its versioned fix |
//! | [`strategies::invalidation`] | invalidate on update versus update on write |
//! | [`strategies::read_through`] | the cache owns the loader; moka coalesces concurrent misses |
//! | [`strategies::write_through`] | store and cache on every write |
//! | [`strategies::write_back`] | cache now, store later in batches; what an abort loses |
//! | [`tiers`] | the [`Tier`] trait: where entries live, and the never-go-backwards rule |
//! | [`tiers::moka`] | in-process (moka) |
//! | [`tiers::redis`] | shared (Redis via deadpool-redis), falling back when Redis is gone, replaying the writes it missed when it returns |
//! | [`tiers::memcached`] | shared (Memcached via async-memcached): `add`/`cas` instead of a script, no pub/sub, no persistence |
//! | [`tiers::two_tier`] | moka in front of Redis, invalidated across instances over pub/sub |
//! | [`store`] | the truth: posts and likes in PostgreSQL or SQLite via diesel, with a query counter |
//! | [`schema`] | diesel's view of the two tables the migrations create |
//! | [`model`] | posts, top posts, the cache entry envelope (version, logical expiry, tombstones), keys |
//! | [`http`] | routes and HTTP caching: Cache-Control, ETag/If-None-Match, Last-Modified, Vary |
//! | [`app`] | wiring: store, Redis, every strategy on every tier under parallel prefixes; `forget` removes the kept store |
//! | [`config`], [`error`], [`clock`] | typed config, the error enum, a clock tests can move |
//! | [`memcached_server`] | finds `memcached` and runs one on a free loopback port (the demo and the tests start their own) |
//! | [`zipf`], [`fault`] | skewed keys for the load; a TCP link the demo can cut and mend to lose Redis and get it back |
//! | [`demo`] | the narrated, measured comparison |
#![doc = include_str!("../README.md")]

pub mod app;
pub mod clock;
pub mod config;
pub mod demo;
pub mod error;
pub mod fault;
pub mod http;
pub mod memcached_server;
pub mod model;
pub mod schema;
pub mod store;
pub mod strategies;
pub mod tiers;
pub mod zipf;

use std::net::TcpListener;

use actix_web::dev::Server;

pub use config::Config;
pub use error::Error;
pub use http::Mounted;
pub use strategies::Strategy;
pub use tiers::Tier;

/// What the server shares between workers: the mounted strategies.
#[derive(Clone)]
pub struct AppState {
    pub mounted: Vec<Mounted>,
}

/// The server, around a listener the caller bound (main, the demo and the tests share it).
pub fn run(listener: TcpListener, state: AppState) -> std::io::Result<Server> {
    support::server::app(listener, move |cfg| http::configure(&state.mounted, cfg))
}
