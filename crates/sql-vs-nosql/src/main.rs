//! Run with: `cargo demo sql-vs-nosql` (add `-- --quick` for a small data set), or
//! `cargo run -p sql-vs-nosql -- serve --port 8080` and ask any engine with curl.

fn main() {}
