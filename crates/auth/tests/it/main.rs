//! One integration-test binary; each module holds the claims about one concept.

mod common;
mod rbac_matrix;
mod rfc_vectors;
