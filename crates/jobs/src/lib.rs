//! # jobs: background work in-process, on Redis and on RabbitMQ
//!
//! | module | what it holds |
//! |---|---|
//! | [`job`] | the job envelope and the [`Queue`](job::Queue) trait every backend implements |
//! | [`synchronous`] | the baseline: the job runs in the request handler |
//! | [`in_process`] | a tokio channel and a worker pool: fast, lost on crash |
//! | [`redis_queue`] | a reliable Redis queue: `BLMOVE` to an in-flight list, leases, reaper |
//! | `redis_dead_letters` | the dead-letter hash both Redis backends share (encode, list, look up for replay) |
//! | [`redis_stream`] | a Redis Stream and a consumer group: `XREADGROUP`, `XACK`, `XAUTOCLAIM`, replay (the Kafka stand-in) |
//! | [`rabbitmq`] | RabbitMQ via lapin: durable, confirms, manual acks, prefetch, DLX, TTL retries, priorities |
//! | [`worker`] | the worker loop all backends share; crash points for the demo and tests |
//! | [`runner`] | what a job does (email, thumbnail), idempotent by job id |
//! | [`backoff`] | the retry schedule: exponential, capped, jittered, printable |
//! | [`status`] | job status for `GET /jobs/{id}` |
//! | [`routes`] | the HTTP service: sign-up, thumbnails, job status, dead letters |
//! | [`mail`] | the local mail service the welcome email goes to (latency and failures on demand) |
//! | [`thumbnail`] | the CPU-bound job: decode, resize, encode with `image` |
//! | [`bare`] | plain lapin loops: the broker's own ceiling, for the demo |
//! | [`config`] | typed configuration and the backend factory |
//! | [`error`] | the crate's error enum and its problem+json mapping |
//! | [`demo`] | the narrated, measured comparison |
#![doc = include_str!("../README.md")]

pub mod backoff;
pub mod bare;
pub mod config;
pub mod demo;
pub mod error;
pub mod in_process;
pub mod job;
pub mod mail;
pub mod rabbitmq;
mod redis_dead_letters;
pub mod redis_queue;
pub mod redis_stream;
pub mod routes;
pub mod runner;
pub mod status;
pub mod synchronous;
pub mod thumbnail;
pub mod worker;

pub use config::{BackendKind, JobsConfig};
pub use job::{Job, Queue, Task};
pub use routes::{AppState, run};
