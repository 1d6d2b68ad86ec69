//! Random secrets and their digests: session ids, CSRF tokens, API keys, OAuth2 codes.
//!
//! Everything a client presents as proof is 32 bytes from the operating system's CSPRNG,
//! base64url without padding (43 characters, safe in a cookie, a header or a URL). A value that
//! is looked up by its secret is stored as its SHA-256 digest and compared in constant time.
//! A fast hash is right here, and wrong for passwords: 256 random bits cannot be guessed, so
//! the slow hash that protects a human's password would only add cost to every request.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// 32 random bytes, base64url.
pub fn random_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| anyhow::anyhow!("no system randomness"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The SHA-256 digest of `secret`.
pub fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Equality that takes the same time wherever the first difference is.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}
