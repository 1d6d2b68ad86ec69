//! One integration-test binary; each module holds the claims about one concept.

mod common;
mod demo;
mod jwks;
mod jwt_rejections;
mod nginx;
mod redis_outage;
mod refresh_and_revocation;
mod sessions;
mod two_instances;
