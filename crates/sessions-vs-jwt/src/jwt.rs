//! JSON Web Tokens: signing, verifying, keys, and the JWKS document.
//!
//! A JWT is a signed statement ("user u1, valid until 12:15, for this API") the client carries
//! in `Authorization: Bearer`. Verifying it needs no lookup, only a key and a clock: that is the
//! whole appeal, and also the catch (nothing is looked up, so nothing can be revoked; see
//! [`token_store`](crate::token_store) for the lookup that puts revocation back).
//!
//! What a verifier must check, and where it happens in [`Verifier::verify`]:
//! 1. the algorithm is the one pinned by configuration, not whatever the token's header claims
//!    (`alg: none` and the HS256-with-a-public-key confusion attack both fail here);
//! 2. the signature, with the key named by `kid` (so keys can rotate);
//! 3. `iss` and `aud`: the token was issued by our issuer, for this API and not another;
//! 4. `exp`, `nbf` and `iat` against an injected clock, with a small leeway for clock skew.

use std::sync::RwLock;
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use support::clock::{SharedClock, UnixSeconds};

use crate::config::JwtAlgorithm;

/// The path another service fetches our public keys from (RFC 8615 well-known URI, RFC 7517 set).
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// The claims of our access tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer: who minted it.
    pub iss: String,
    /// Audience: which API it is for.
    pub aud: String,
    /// Subject: the user id.
    pub sub: String,
    /// The username, so `/me` needs no user lookup (the stateless promise).
    pub name: String,
    pub exp: UnixSeconds,
    pub nbf: UnixSeconds,
    pub iat: UnixSeconds,
    /// Token id: what the denylist stores at logout.
    pub jti: String,
    /// The refresh-token family this token was issued with (logout revokes the family too).
    pub fam: String,
    /// The user's credential generation when issued; a password change bumps it.
    pub r#gen: u64,
}

/// The registered claims a verifier checks itself (see [`Verifier::verify`] for why).
pub trait TimeClaims {
    fn exp(&self) -> UnixSeconds;
    fn nbf(&self) -> Option<UnixSeconds> {
        None
    }
    fn iat(&self) -> Option<UnixSeconds> {
        None
    }
    fn iss(&self) -> Option<&str>;
    /// A single audience. Our issuer mints exactly one; a token with an array `aud` does not
    /// deserialize into our claims and is refused as malformed.
    fn aud(&self) -> Option<&str> {
        None
    }
}

impl TimeClaims for AccessClaims {
    fn exp(&self) -> UnixSeconds {
        self.exp
    }
    fn nbf(&self) -> Option<UnixSeconds> {
        Some(self.nbf)
    }
    fn iat(&self) -> Option<UnixSeconds> {
        Some(self.iat)
    }
    fn iss(&self) -> Option<&str> {
        Some(&self.iss)
    }
    fn aud(&self) -> Option<&str> {
        Some(&self.aud)
    }
}

/// Why a token was refused. The description goes into `WWW-Authenticate` and the problem body:
/// it names the failed check, never key material.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRejection {
    Malformed,
    WrongAlgorithm,
    UnknownKey,
    BadSignature,
    WrongIssuer,
    WrongAudience,
    MissingClaim,
    Expired,
    NotYetValid,
    IssuedInFuture,
    Revoked,
}

impl TokenRejection {
    /// A stable machine-readable code (the problem's `reason` extension).
    pub fn code(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::WrongAlgorithm => "wrong_algorithm",
            Self::UnknownKey => "unknown_key",
            Self::BadSignature => "bad_signature",
            Self::WrongIssuer => "wrong_issuer",
            Self::WrongAudience => "wrong_audience",
            Self::MissingClaim => "missing_claim",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::IssuedInFuture => "issued_in_future",
            Self::Revoked => "revoked",
        }
    }

    /// One human sentence fragment (no quotes or backslashes: it goes inside a quoted string).
    pub fn describe(self) -> &'static str {
        match self {
            Self::Malformed => "the token is not a well-formed JWT",
            Self::WrongAlgorithm => "the token is not signed with the algorithm this API accepts",
            Self::UnknownKey => "the token names a signing key this API does not know",
            Self::BadSignature => "the signature does not verify",
            Self::WrongIssuer => "the token was issued by someone else",
            Self::WrongAudience => "the token is meant for another audience",
            Self::MissingClaim => "a required claim is missing",
            Self::Expired => "the token has expired",
            Self::NotYetValid => "the token is not valid yet",
            Self::IssuedInFuture => "the token claims to be issued in the future",
            Self::Revoked => "the token has been revoked",
        }
    }
}

impl std::fmt::Display for TokenRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// Looks up the verification key for a token's `kid`.
pub trait KeySource {
    /// Runs `f` with the key named `kid` (with no `kid`: the current key), if there is one.
    fn with_key<R>(&self, kid: Option<&str>, f: impl FnOnce(&DecodingKey) -> R) -> Option<R>;
}

/// Verifies tokens of one pinned algorithm for one issuer and audience.
///
/// Why not simply `jsonwebtoken::decode` with a `Validation`: two reasons, both measured.
/// 1. It checks `exp` and `nbf` against the *system* clock, with no way to inject another; tests
///    must move time, and the RFC 7515 example token expired in 2011.
/// 2. On this path (every request, a budget of a few microseconds) it decodes the header three
///    times and the claims twice. Parsing the two header fields we need, calling its signature
///    check (`crypto::verify`) and checking the claims here parses each part once; on the
///    machine this was written on that made verification about twice as fast.
///
/// The cryptography is still jsonwebtoken's (aws-lc-rs underneath); what this adds is the order
/// of checks, written out where a reader can see every one of them.
#[derive(Debug, Clone)]
pub struct Verifier {
    algorithm: Algorithm,
    /// The `alg` header value of `algorithm` ("HS256", "EdDSA").
    algorithm_name: String,
    issuer: String,
    audience: Option<String>,
    leeway: u64,
    clock: SharedClock,
}

/// The two header parameters a verifier needs. Parsing only these (rather than jsonwebtoken's
/// full `Header`) keeps the per-request cost down, and an unknown `alg` such as `none` is simply a
/// string that does not match, not a parse error.
#[derive(Debug, Deserialize)]
struct JoseHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

impl Verifier {
    /// `audience: None` accepts tokens without `aud` (needed for the RFC 7515 example only);
    /// our own tokens are always verified with `Some`.
    pub fn new(
        algorithm: Algorithm,
        issuer: &str,
        audience: Option<&str>,
        leeway: Duration,
        clock: SharedClock,
    ) -> Self {
        // `Algorithm` serialises to its registered name; the fallback is never a real `alg`.
        let algorithm_name = serde_json::to_value(algorithm)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        Self {
            algorithm,
            algorithm_name,
            issuer: issuer.to_owned(),
            audience: audience.map(str::to_owned),
            leeway: leeway.as_secs(),
            clock,
        }
    }

    /// Checks a compact JWT and returns its claims. Synchronous, no I/O: this is the whole
    /// per-request cost of a stateless token.
    pub fn verify<C: DeserializeOwned + TimeClaims>(
        &self,
        token: &str,
        keys: &impl KeySource,
    ) -> Result<C, TokenRejection> {
        let (message, signature) = token.rsplit_once('.').ok_or(TokenRejection::Malformed)?;
        let (header, payload) = message.split_once('.').ok_or(TokenRejection::Malformed)?;
        // 1. The algorithm is ours to choose, never the token's: anything but the pinned one
        //    (`none`, HS256 presented to an EdDSA verifier, ...) is refused before a key is touched.
        let header: JoseHeader = URL_SAFE_NO_PAD
            .decode(header)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or(TokenRejection::Malformed)?;
        if header.alg != self.algorithm_name {
            return Err(TokenRejection::WrongAlgorithm);
        }
        // 2. The signature, with the key the header names (constant-time comparison inside).
        let valid = keys
            .with_key(header.kid.as_deref(), |key| {
                jsonwebtoken::crypto::verify(signature, message.as_bytes(), key, self.algorithm)
            })
            .ok_or(TokenRejection::UnknownKey)?
            .map_err(|_| TokenRejection::Malformed)?;
        if !valid {
            return Err(TokenRejection::BadSignature);
        }
        // Only now is the payload worth reading.
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenRejection::Malformed)?;
        let claims: C = serde_json::from_slice(&json).map_err(|_| TokenRejection::Malformed)?;
        // 3. Who issued it, and for whom.
        match claims.iss() {
            None => return Err(TokenRejection::MissingClaim),
            Some(iss) if iss != self.issuer => return Err(TokenRejection::WrongIssuer),
            Some(_) => {}
        }
        if let Some(expected) = &self.audience {
            match claims.aud() {
                None => return Err(TokenRejection::MissingClaim),
                Some(aud) if aud != expected => return Err(TokenRejection::WrongAudience),
                Some(_) => {}
            }
        }
        // 4. Time, against the injected clock. RFC 7519 §4.1.4: refuse when now >= exp; the
        //    leeway absorbs small clock skew between issuer and verifier.
        let now = self.clock.now();
        if now >= claims.exp().saturating_add(self.leeway) {
            return Err(TokenRejection::Expired);
        }
        if claims
            .nbf()
            .is_some_and(|nbf| nbf > now.saturating_add(self.leeway))
        {
            return Err(TokenRejection::NotYetValid);
        }
        if claims
            .iat()
            .is_some_and(|iat| iat > now.saturating_add(self.leeway))
        {
            return Err(TokenRejection::IssuedInFuture);
        }
        Ok(claims)
    }
}

struct KeyEntry {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// The public half as a JWK (EdDSA only: an HMAC secret is never published).
    public: Option<Jwk>,
    /// After a rotation the old key still verifies until this time, then it is dropped.
    retire_at: Option<UnixSeconds>,
}

/// The signing keys of one issuer. The newest key signs; older keys verify until every token
/// they signed has expired, then disappear from the JWKS.
pub struct Keyring {
    algorithm: Algorithm,
    keys: RwLock<Vec<KeyEntry>>,
    clock: SharedClock,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// An HS256 keyring with this shared secret.
    pub fn hs256(secret: &[u8], clock: SharedClock) -> Self {
        let entry = hmac_entry(secret);
        Self {
            algorithm: Algorithm::HS256,
            keys: RwLock::new(vec![entry]),
            clock,
        }
    }

    /// An EdDSA (Ed25519) keyring with one freshly generated key.
    pub fn eddsa(clock: SharedClock) -> anyhow::Result<Self> {
        Ok(Self {
            algorithm: Algorithm::EdDSA,
            keys: RwLock::new(vec![ed25519_entry()?]),
            clock,
        })
    }

    /// The keyring configuration asks for.
    pub fn for_config(
        algorithm: JwtAlgorithm,
        secret: &[u8],
        clock: SharedClock,
    ) -> anyhow::Result<Self> {
        match algorithm {
            JwtAlgorithm::Hs256 => Ok(Self::hs256(secret, clock)),
            JwtAlgorithm::EdDsa => Self::eddsa(clock),
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Signs `claims` with the current key, naming it in `kid`.
    pub fn sign<C: Serialize>(&self, claims: &C) -> anyhow::Result<String> {
        let keys = self.read()?;
        let current = keys.last().context("the keyring is empty")?;
        let mut header = Header::new(self.algorithm);
        header.kid = Some(current.kid.clone());
        jsonwebtoken::encode(&header, claims, &current.encoding).context("signing a token")
    }

    /// Adds a new signing key. The previous ones keep verifying for `keep_for` (the longest a
    /// token they signed can still be valid: access TTL plus leeway), then are dropped.
    /// Returns the new key's `kid`.
    pub fn rotate(&self, keep_for: Duration) -> anyhow::Result<String> {
        let entry = match self.algorithm {
            Algorithm::EdDSA => ed25519_entry()?,
            _ => {
                let mut secret = [0u8; 32];
                rand::fill(&mut secret[..]);
                hmac_entry(&secret)
            }
        };
        let kid = entry.kid.clone();
        let retire_at = self.clock.now().saturating_add(keep_for.as_secs());
        let mut keys = self
            .keys
            .write()
            .map_err(|_| anyhow::anyhow!("keyring lock poisoned"))?;
        for old in keys.iter_mut() {
            old.retire_at.get_or_insert(retire_at);
        }
        keys.push(entry);
        Ok(kid)
    }

    /// The public keys still in use, as a JWK Set (empty for HS256: a secret is never published).
    pub fn jwks(&self) -> anyhow::Result<JwkSet> {
        let now = self.clock.now();
        let keys = self.read()?;
        Ok(JwkSet {
            keys: keys
                .iter()
                .filter(|k| k.retire_at.is_none_or(|t| now < t))
                .filter_map(|k| k.public.clone())
                .collect(),
        })
    }

    /// The `kid` of the key that signs now.
    pub fn current_kid(&self) -> Option<String> {
        self.read().ok()?.last().map(|k| k.kid.clone())
    }

    fn read(&self) -> anyhow::Result<std::sync::RwLockReadGuard<'_, Vec<KeyEntry>>> {
        self.keys
            .read()
            .map_err(|_| anyhow::anyhow!("keyring lock poisoned"))
    }
}

impl KeySource for Keyring {
    fn with_key<R>(&self, kid: Option<&str>, f: impl FnOnce(&DecodingKey) -> R) -> Option<R> {
        let keys = self.keys.read().ok()?;
        let entry = match kid {
            None => keys.last()?,
            Some(kid) => keys.iter().find(|k| k.kid == kid)?,
        };
        // A retired key verifies nothing, even before it is pruned from memory.
        if entry.retire_at.is_some_and(|t| self.clock.now() >= t) {
            return None;
        }
        Some(f(&entry.decoding))
    }
}

/// The `kid` of an HMAC key is derived from the secret (a truncated SHA-256 of it: it names the
/// key without revealing it), so every instance sharing the secret names it the same way.
fn hmac_entry(secret: &[u8]) -> KeyEntry {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret);
    let id = digest.as_ref().get(..9).unwrap_or_default();
    KeyEntry {
        kid: format!("hs-{}", URL_SAFE_NO_PAD.encode(id)),
        encoding: EncodingKey::from_secret(secret),
        decoding: DecodingKey::from_secret(secret),
        public: None,
        retire_at: None,
    }
}

/// A fresh Ed25519 key pair from the OS CSPRNG; its `kid` is the RFC 7638 thumbprint of the
/// public key, so it is stable, unique and derivable by anyone holding the JWK.
fn ed25519_entry() -> anyhow::Result<KeyEntry> {
    let key = support::jwk::Ed25519Key::generate()?;
    Ok(KeyEntry {
        kid: key.kid,
        encoding: key.encoding,
        decoding: key.decoding,
        public: Some(key.public),
        retire_at: None,
    })
}

/// Verification keys built from nothing but a published JWKS document: what another service
/// does with our `/.well-known/jwks.json`. It never sees a private key or a secret.
#[derive(Clone)]
pub struct JwksKeys {
    keys: Vec<(String, DecodingKey)>,
}

impl std::fmt::Debug for JwksKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("JwksKeys").field("kids", &kids).finish()
    }
}

impl JwksKeys {
    /// Parses a JWK Set and keeps the keys that carry a `kid` and parse.
    pub fn from_document(json: &str) -> anyhow::Result<Self> {
        let set: JwkSet = serde_json::from_str(json).context("parsing the JWKS document")?;
        let keys = set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                DecodingKey::from_jwk(jwk).ok().map(|key| (kid, key))
            })
            .collect();
        Ok(Self { keys })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl KeySource for JwksKeys {
    /// A token without `kid` is refused: with several published keys, guessing is not verifying.
    fn with_key<R>(&self, kid: Option<&str>, f: impl FnOnce(&DecodingKey) -> R) -> Option<R> {
        let kid = kid?;
        self.keys
            .iter()
            .find(|(k, _)| k == kid)
            .map(|(_, key)| f(key))
    }
}
