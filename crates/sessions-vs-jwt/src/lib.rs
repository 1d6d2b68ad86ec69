//! # sessions-vs-jwt: where login state lives, and what that costs
//!
//! | module | what it holds |
//! |---|---|
//! | [`session`] | what both cookie mechanisms share: session id, cookie attributes, idle and absolute timeouts, the `/login`, `/me`, `/logout` handlers, and the [`session::SessionStore`] trait |
//! | [`memory_session`] | alternative 1: sessions in this process's memory |
//! | [`redis_session`] | alternative 2: sessions in Redis (a hand-written store over deadpool-redis) |
//! | [`jwt`] | alternative 3, the token itself: claims, pinned-algorithm verification with an injected clock, HS256 and EdDSA keyrings, rotation, JWKS |
//! | [`jwt_auth`] | alternative 3 as a service: token pairs, `/jwt/...` and `/jwt-plain/me`, `/.well-known/jwks.json` |
//! | [`token_store`] | the state tokens need after all: refresh-token families with reuse detection, the `jti` denylist, per-user generations |
//! | [`users`] | seeded demo users, argon2id on a blocking thread |
//! | [`app`] | the actix-web service: [`app::AppState`], [`app::configure`], [`app::run`], and what `serve` runs: [`app::ServeOptions`], [`app::serve_state`], [`app::serve`] |
//! | [`nginx`] | a real nginx in front of two instances (round robin or `ip_hash`), rendered from `deploy/nginx.conf`, run on a free loopback port and killed on drop |
//! | [`config`] | [`config::Config`]: cookies, timeouts, JWT claims and lifetimes, argon2 cost |
//! | [`error`] | [`error::AuthError`] and its problem+json mapping (401s with `WWW-Authenticate`) |
//! | [`demo`](mod@demo) | `cargo demo sessions-vs-jwt`: one file per section (login cost, bytes, authentication cost, the whole request, revocation, two instances, the classic table, goals), each returning typed figures, and the closing paragraph written from them |
#![doc = include_str!("../README.md")]

pub mod app;
pub mod config;
pub mod demo;
pub mod error;
pub mod jwt;
pub mod jwt_auth;
pub mod memory_session;
pub mod nginx;
pub mod redis_session;
pub mod session;
pub mod token_store;
pub mod users;

pub use app::{AppState, Parts, run};
pub use config::Config;
pub use demo::demo;
pub use error::AuthError;
