//! An Ed25519 signing key and its public half as a JWK: what the JWT issuer and the local
//! OAuth2 provider sign with.
//!
//! EdDSA rather than HS256 because the verifier is not always the signer: the provider's
//! `id_token` is checked by a client that must never hold the signing secret, and a public key
//! published in a JWKS document (RFC 7517) is exactly that. The `kid` is the key's RFC 7638
//! thumbprint, so a verifier picks the right key after a rotation.

use anyhow::Context as _;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde::Serialize;
use support::jwk::Ed25519Key;

/// One Ed25519 key pair.
pub struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    public: Jwk,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh key pair from the operating system's CSPRNG.
    pub fn generate() -> anyhow::Result<Self> {
        let Ed25519Key {
            kid,
            encoding,
            decoding,
            public,
        } = Ed25519Key::generate()?;
        Ok(Self {
            kid,
            encoding,
            decoding,
            public,
        })
    }

    /// The one algorithm this key signs with; verifiers pin it.
    pub const ALGORITHM: Algorithm = Algorithm::EdDSA;

    /// A compact JWS of `claims`, with `kid` in the header.
    pub fn sign(&self, claims: &impl Serialize) -> anyhow::Result<String> {
        let mut header = Header::new(Self::ALGORITHM);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).context("signing a JWT")
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }

    /// The public key as a JWK Set, for `/jwks`.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: vec![self.public.clone()],
        }
    }
}
