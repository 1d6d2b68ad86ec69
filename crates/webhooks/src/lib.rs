//! # webhooks: how one system learns that something happened in another
//!
//! A provider (orders that change state) and a consumer that wants to know, both real actix-web
//! servers on loopback, with every way of finding out side by side: polling (short, conditional,
//! long), server-sent events, and webhooks per the Standard Webhooks specification, delivered from
//! a transactional outbox with retries.
//!
//! | module | what it holds |
//! |---|---|
//! | [`signature`] | Standard Webhooks signing and verification (`whsec_` secrets, rotation), and GitHub's `X-Hub-Signature-256` beside it |
//! | [`ssrf`] | the check every registered endpoint URL passes: no private, loopback or link-local targets unless allowed |
//! | [`config`] | the crate's one typed configuration |
//!
//! (In progress: the outbox, the dispatcher, the consumer, the polling routes and the demo join
//! this map as they land.)

pub mod config;
pub mod signature;
pub mod ssrf;
