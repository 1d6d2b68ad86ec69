//! PKCE (RFC 7636): proof that the client redeeming an authorization code is the one that asked
//! for it.
//!
//! The client makes a random `code_verifier`, sends only its SHA-256 (`code_challenge`, method
//! `S256`) with the authorization request, and reveals the verifier when it redeems the code. An
//! attacker who intercepts the code (a malicious app registered for the same redirect scheme, a
//! leaky log) cannot redeem it without the verifier. Shared by the provider, which checks, and
//! the client, which proves.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::secrets;

/// The only method this crate accepts (`plain` would send the verifier itself).
pub const S256: &str = "S256";

/// A fresh verifier: 32 random bytes, base64url (43 characters, within RFC 7636's 43 to 128).
pub fn new_verifier() -> anyhow::Result<String> {
    secrets::random_token()
}

/// `BASE64URL(SHA256(ASCII(code_verifier)))` (RFC 7636 §4.2).
pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Whether `verifier` is well-formed (RFC 7636 §4.1: 43 to 128 unreserved characters) and
/// hashes to `challenge`, compared in constant time.
pub fn verifies(verifier: &str, challenge_sent: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    well_formed && secrets::same(challenge(verifier).as_bytes(), challenge_sent.as_bytes())
}
