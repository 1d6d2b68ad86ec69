//! # uploads: the crate map
//!
//! In reading order, leaves first:
//!
//! | module | what it holds |
//! |---|---|
//! | [`inspect`] | magic-number type detection against an allowlist; image dimensions from headers, before decoding |
//! | [`storage`] | server-generated storage keys, the storage directory (`files/`, `partial/`), display-name sanitising |
//! | [`schema`], [`metadata`] | the `uploads` table (both dialects), its rows, and the queries every path uses |
//! | [`owner`] | who is asking (a header standing in for the `auth` topic's session) |
//! | [`headers`] | header names more than one module uses |
//! | [`context`] | the state every path shares |
//! | [`through_backend`] | path 1: streaming multipart to disk, checked and hashed while streaming |
//! | [`download`] | serving a stored file: owner only, RFC 6266 name, detected type, `nosniff` |
//! | [`object_store`] | the local S3-compatible server (`s3s-fs`) and the backend's SigV4 client for it |
//! | [`presigned`] | path 2: presigned PUT and POST policy, the confirm, the reconciliation sweep |
//! | [`tus`] | path 3: tus 1.0 resumable uploads (core, creation, checksum) |
//! | [`config`] | typed configuration from the environment |
//! | [`error`] | the crate's error enum and its problem+json answers |
//! | [`http`] | the server: every path mounted side by side |
//! | [`app`] | `serve`: the server, its own object store, the sweep on a timer |
//! | [`demo`] | the measured, narrated comparison `cargo demo uploads` runs, one file per section |
//!
//! No two modules import each other; the paths (`through_backend`, `presigned`, `tus`) import
//! only the leaves, never one another.
#![doc = include_str!("../README.md")]

pub mod app;
pub mod config;
pub mod context;
pub mod demo;
pub mod download;
pub mod error;
pub mod headers;
pub mod http;
pub mod inspect;
pub mod metadata;
pub mod object_store;
pub mod owner;
pub mod presigned;
pub mod schema;
pub mod storage;
pub mod through_backend;
pub mod tus;

pub use config::Config;
pub use context::Shared;
pub use error::Error;
