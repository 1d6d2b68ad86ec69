//! # jobs: background work in-process, on Redis and on RabbitMQ
//!
//! The alternatives sit in `backends/`, one file each; everything else is the plumbing they share.
//!
//! | module | what it holds |
//! |---|---|
//! | [`job`] | the job envelope, the [`Queue`](job::Queue) trait every backend implements, and the typed errors |
//! | **[`backends`]** | **the five alternatives, side by side** |
//! | [`backends::synchronous`] | the baseline: the job runs in the request handler |
//! | [`backends::in_process`] | a bounded tokio channel and a worker pool: fast, lost on crash |
//! | [`backends::redis_list`] | a reliable Redis queue: `BLMOVE` to an in-flight list, leases, reaper |
//! | [`backends::redis_stream`] | a Redis Stream and a consumer group: `XREADGROUP`, `XACK`, `XAUTOCLAIM`, replay (the Kafka stand-in) |
//! | [`backends::redis_common`] | what both Redis shapes share: delayed set, dead-letter hash, retry, dead-letter, replay, and their one `Queue` implementation over a `Shape` |
//! | [`backends::rabbitmq`] | RabbitMQ via lapin: durable, confirms, manual acks, prefetch, DLX, TTL retries, priorities |
//! | **[`interop`]** | **a queue is a protocol: other languages' job systems on the same broker** |
//! | [`interop::celery`] | Celery's message protocol 2 on RabbitMQ and its Redis result backend: a Rust worker for Celery's `apply_async`, a Rust producer for a real Celery worker |
//! | [`interop::bullmq`] | BullMQ's Redis keys: a Rust producer for a real BullMQ worker, the job read back as BullMQ keeps it, and why this crate does not consume BullMQ jobs |
//! | [`worker`] | the worker loop all backends share; crash points for the demo and tests |
//! | [`runner`] | what a job does (email, thumbnail), idempotent by job id |
//! | [`backoff`] | the retry schedule: exponential, capped, jittered, printable |
//! | [`status`] | job status for `GET /jobs/{id}` |
//! | [`routes`] | the HTTP service: sign-up, thumbnails, job status, dead letters |
//! | [`error`] | the crate's error enum and its problem+json mapping |
//! | [`mail`] | the local mail service the welcome email goes to (latency and failures on demand) |
//! | [`thumbnail`] | the CPU-bound job: decode, resize, encode with `image` |
//! | [`bare`] | plain lapin loops: the broker's own ceiling, for the demo |
//! | [`config`] | typed configuration and the backend factory |
//! | [`serve`] | `serve`: the service on the best reachable backend, for curl |
//! | [`demo`] | the narrated, measured comparison: one file per section, the closing paragraph from their figures |
#![doc = include_str!("../README.md")]

pub mod backends;
pub mod backoff;
pub mod bare;
pub mod config;
pub mod demo;
pub mod error;
pub mod interop;
pub mod job;
pub mod mail;
pub mod routes;
pub mod runner;
pub mod serve;
pub mod status;
pub mod thumbnail;
pub mod worker;

pub use config::{BackendKind, JobsConfig};
pub use job::{Job, Queue, Task};
pub use routes::{AppState, run};
