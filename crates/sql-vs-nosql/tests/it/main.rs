//! One test binary for the crate: each module holds the claims of one part of the lesson.

mod atomicity;
mod common;
mod document;
mod durability;
mod forget;
mod graph;
mod http;
mod isolation;
mod key_value;
mod relational;
