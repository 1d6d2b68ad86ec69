//! A queue is a protocol, not a library: this crate's Rust code speaking the wire formats of two
//! job systems from other languages, so that their own producers and workers interoperate with it.
//!
//! | peer | file | what runs where |
//! |---|---|---|
//! | Celery (Python) | [`celery`] | Celery's `apply_async` enqueues on RabbitMQ, the Rust worker runs the task and stores the result where `AsyncResult.get()` reads it; the Rust producer enqueues a task a real Celery worker runs |
//! | BullMQ (Node.js) | [`bullmq`] | the Rust producer adds a job to BullMQ's Redis keys; a real BullMQ `Worker` processes it and records result and attempts there |
//!
//! Neither peer shares code with this crate: each side only agrees on bytes in RabbitMQ or Redis.
//! The two files do not import each other; what they share is the error type below.

pub mod bullmq;
pub mod celery;

/// Why talking to a peer's queue failed. Not an HTTP error: nothing here answers a request, so
/// the variants name the broker, the store or the message that was wrong, for the caller to log.
#[derive(Debug, thiserror::Error)]
pub enum InteropError {
    /// RabbitMQ refused or dropped an operation (connect, declare, publish, consume, ack).
    #[error("RabbitMQ: {0}")]
    Amqp(#[from] lapin::Error),
    /// Redis refused or dropped a command.
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A message or stored record did not have the peer's format (named field, and why).
    #[error("malformed {what}: {why}")]
    Malformed { what: &'static str, why: String },
    /// The broker did not confirm a publish (a nack): the message may not be stored.
    #[error("the broker did not confirm the publish of task {0}")]
    NotConfirmed(String),
    /// Waiting for a result took longer than the caller allowed.
    #[error("no result for {0} within {1:?}")]
    Timeout(String, std::time::Duration),
}

impl InteropError {
    fn malformed(what: &'static str, why: impl std::fmt::Display) -> Self {
        Self::Malformed {
            what,
            why: why.to_string(),
        }
    }
}
