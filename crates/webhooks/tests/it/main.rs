//! One test binary for the crate: each module holds the claims of one part of the lesson.

mod consumer;
mod demo;
mod dispatcher;
mod outbox;
mod polling;
mod retry;
mod signature;
mod ssrf;
