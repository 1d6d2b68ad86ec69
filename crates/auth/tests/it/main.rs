//! One integration-test binary; each module holds the claims about one concept.

mod api_keys;
mod common;
mod csrf;
mod malformed_headers;
mod oauth_flow;
mod oidc_interop;
mod passwords;
mod rbac_matrix;
mod revocation;
mod rfc_vectors;
mod throttle;
