//! An Ed25519 signing key with its public half as a JWK (RFC 7517, RFC 8037), for any topic that
//! signs JWTs someone else verifies.
//!
//! Plumbing, not a lesson: generating the pair from the operating system's CSPRNG, encoding the
//! public key as an `OKP` JWK and naming it by its RFC 7638 thumbprint is the same wherever it is
//! done, while what a topic does with the key (a keyring that rotates, a provider's JWKS) is its
//! own. Feature `jwk` (it pulls in jsonwebtoken and aws-lc-rs).

use anyhow::Context as _;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse, ThumbprintHash,
};
use jsonwebtoken::{DecodingKey, EncodingKey};

/// A fresh Ed25519 key pair: the keys jsonwebtoken signs and verifies with, and the public JWK.
pub struct Ed25519Key {
    /// The RFC 7638 thumbprint of the public key: stable, unique, derivable by anyone holding it.
    pub kid: String,
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
    /// The public half, `kid` included; no private member.
    pub public: Jwk,
}

impl std::fmt::Debug for Ed25519Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ed25519Key")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Ed25519Key {
    /// A new key pair from the operating system's CSPRNG.
    pub fn generate() -> anyhow::Result<Self> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| anyhow::anyhow!("Ed25519 key generation failed"))?;
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
            .map_err(|e| anyhow::anyhow!("generated Ed25519 key rejected: {e}"))?;
        let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        let mut public = Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(KeyAlgorithm::EdDSA),
                ..CommonParameters::default()
            },
            algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: x.clone(),
            }),
        };
        let kid = public
            .thumbprint(ThumbprintHash::SHA256)
            .context("computing the JWK thumbprint")?;
        public.common.key_id = Some(kid.clone());
        Ok(Self {
            kid,
            encoding: EncodingKey::from_ed_der(pkcs8.as_ref()),
            decoding: DecodingKey::from_ed_components(&x).context("Ed25519 public key")?,
            public,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_signs_what_its_public_jwk_verifies() -> anyhow::Result<()> {
        let key = Ed25519Key::generate()?;
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(key.kid.clone());
        let token = jsonwebtoken::encode(&header, &serde_json::json!({"sub": "1"}), &key.encoding)?;
        let from_jwk = DecodingKey::from_jwk(&key.public)?;
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        jsonwebtoken::decode::<serde_json::Value>(&token, &from_jwk, &validation)?;
        assert_eq!(key.public.common.key_id.as_deref(), Some(key.kid.as_str()));
        Ok(())
    }
}
