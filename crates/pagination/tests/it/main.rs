//! The pagination suite: every claim runs against PostgreSQL (required in CI) and SQLite.

mod bad_input;
mod common;
mod consistency;
mod links;
mod paging;
