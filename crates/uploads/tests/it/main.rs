//! The uploads suite: each test is a claim; storage claims run on SQLite and PostgreSQL
//! (required in CI); each test has its own database, storage directory and ports.

mod backend;
mod common;
mod direct;
mod hostile;
mod multipart;
mod names;
mod sigv4;
mod tus;
