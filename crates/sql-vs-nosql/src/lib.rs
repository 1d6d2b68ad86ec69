//! # sql-vs-nosql: one data model on relational, key-value, document and graph engines
//!
//! The question: **when would you use NoSQL over SQL?** This crate stores one small social model
//! (users, follows, posts, likes) on every engine family this machine can run, asks each the same
//! questions, and measures the answers. Then it shows ACID instead of listing it: a transfer with
//! a failure injected halfway, and the Hermitage isolation anomalies run automatically.
//!
//! | module | what it holds |
//! |---|---|
//! | [`model`] | the records and answers every engine shares, and input validation |
//! | [`seed`] | the deterministic data set (the same bytes for every engine) |
//! | [`store`] | [`store::SocialStore`], the operations every engine answers, and [`store::Engine`] |
//! | [`relational`] | PostgreSQL, MariaDB and SQLite through one diesel query text (diesel-async) |
//! | [`key_value`] | Redis as Redis is used: hashes, sets, sorted sets; fan-out on write or on read |
//! | [`document`] | PostgreSQL `JSONB` as a document store (the MongoDB stand-in) |
//! | [`graph`] | FalkorDB: the same operations in Cypher over `GRAPH.QUERY` |
//! | [`graph_server`] | finds FalkorDB's server and starts one on a free loopback port |
//! | [`atomicity`] | a transfer with a failure injected between its two writes, on each engine |
//! | [`isolation`] | the Hermitage anomaly cases, run on real interleaved connections |
//! | [`durability`] | commit latency with and without waiting for the disk |
//! | [`engines`] | opens every reachable engine on the data set of this run's size (and starts FalkorDB); `forget` removes every size's |
//! | [`app`] | the HTTP API over any engine (`/engines/{engine}/...`), problem+json on bad input |
//! | [`config`] | the crate's one typed configuration |
//! | [`error`] | the crate's error type and its one mapping to HTTP statuses |
//! | [`demo`] | the measured side-by-side demo (`cargo demo sql-vs-nosql`) |
//!
//! Reading order: `model` → `store` → `relational` → `key_value` → `document` → `graph` →
//! `atomicity` → `isolation` → `durability`, then `demo` for the figures.
#![doc = include_str!("../README.md")]

pub mod app;
pub mod atomicity;
pub mod config;
pub mod demo;
pub mod document;
pub mod durability;
pub mod engines;
pub mod error;
pub mod graph;
pub mod graph_server;
pub mod isolation;
pub mod key_value;
pub mod model;
pub mod relational;
pub mod seed;
pub mod store;
