//! # uploads: who carries the bytes, and what the server checks
//!
//! | module | what it holds |
//! |---|---|
//! | [`schema`], [`metadata`] | the `uploads` table (both dialects), its rows and the queries every path uses |
//! | [`storage`] | server-generated storage keys, the storage directory, display-name sanitising |
//! | [`inspect`] | magic-number type detection against an allowlist, image dimensions from headers |
//! | [`owner`] | who is asking (a header standing in for the `auth` topic's session) |
//! | [`context`] | the state every path shares |
//! | [`through_backend`] | path 1: streaming multipart to disk, checked while streaming |
//! | [`download`] | serving a stored file: owner only, RFC 6266 name, detected type, `nosniff` |
//! | [`config`] | typed configuration |
//! | [`error`] | the crate's error enum and its problem+json answers |
//! | [`headers`] | header names more than one module uses |
//! | [`http`] | the server: every path mounted side by side |

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
