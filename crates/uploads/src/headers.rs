//! Header names and fixed values more than one module uses, named once.

/// The request header that names the owner (see `owner.rs`).
pub const OWNER: &str = "x-owner";

/// tus: the protocol version a request speaks, required on every request but `OPTIONS`.
pub const TUS_RESUMABLE: &str = "tus-resumable";
/// tus: the versions a server supports (on `OPTIONS` and on a 412).
pub const TUS_VERSION: &str = "tus-version";
/// The one tus version this server speaks.
pub const TUS_VERSION_VALUE: &str = "1.0.0";
