//! The mini-blog suite: each test states one claim about the API, the spec's or an extension's.
//! Storage claims run on SQLite and on PostgreSQL (required in CI); HTTP-only claims on SQLite.

mod articles;
mod bad_input;
mod comments;
mod common;
mod jobs;
mod lists;
mod openapi;
mod profiles;
mod properties;
mod top;
mod users;
