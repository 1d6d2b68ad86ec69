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
//! | [`consumer`] | the receiving service: verify the raw body, deduplicate by `webhook-id`, acknowledge at once, process from a bounded queue |
//! | [`config`] | the crate's one typed configuration |
//! | [`store`] | the tables and their migrations, the millisecond clock, ids, the storage error |
//! | [`orders`] | the provider's state: an order's change and its event written in one transaction |
//! | [`outbox`] | the transactional outbox: events, their pending deliveries, `events_since` for pollers |
//! | [`endpoints`] | registered endpoints: the SSRF check, `whsec_` secrets, rotation with a grace period, disabling |
//! | [`dispatcher`] | the background sender: claims due attempts, signs and POSTs them, records each, retries, disables |
//! | [`retry`] | when to try again: the schedule, bounded jitter, the point of giving up |
//! | [`provider`] | the provider's HTTP routes: orders, endpoints, the delivery log, redelivery, short, conditional and long polling, server-sent events |
//! | [`error`] | the provider's one error type, each failure mapped to its HTTP status as problem+json |
//! | [`serve`] | `webhooks serve`: the provider with its dispatcher, on PostgreSQL or SQLite |
//! | [`demo`] | every method on the same events, an outage, the attacks, the goals, "what you just saw" |
#![doc = include_str!("../README.md")]

pub mod config;
pub mod consumer;
pub mod demo;
pub mod dispatcher;
pub mod endpoints;
pub mod error;
pub mod orders;
pub mod outbox;
pub mod provider;
pub mod retry;
pub mod serve;
pub mod signature;
pub mod ssrf;
pub mod store;
