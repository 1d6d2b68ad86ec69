//! One integration-test binary; each module holds the claims about one concept.

mod cache_aside;
mod coalescing;
mod common;
mod demo;
mod http;
mod memcached;
mod race;
mod redis_failure;
mod two_tier;
mod write_paths;
