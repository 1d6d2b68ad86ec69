//! Signing and verifying deliveries: Standard Webhooks, and GitHub's older scheme beside it.
//!
//! A webhook endpoint is a URL anyone on the internet can POST to, so the consumer must be able
//! to tell the provider's deliveries from forgeries and from replays of real ones. Both schemes
//! here answer "did someone holding our shared secret send exactly these bytes?" with an HMAC;
//! only Standard Webhooks also answers "and did they send them just now?".
//!
//! **Standard Webhooks** (standardwebhooks.com) signs `{webhook-id}.{webhook-timestamp}.{body}`
//! with HMAC-SHA256 and sends three headers:
//!
//! ```text
//! webhook-id:        msg_p5jXN8AQM9LWM0D4loKWxJek
//! webhook-timestamp: 1614265330
//! webhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
//! ```
//!
//! Signing the id and the timestamp *with* the body is the point: an attacker who recorded a
//! delivery cannot replay it later (the timestamp falls outside the consumer's tolerance, and
//! changing it breaks the signature), and the id is the consumer's idempotency key for the
//! redeliveries that happen legitimately.
//!
//! The signature header is a space-separated *list* so that secrets can be rotated without
//! downtime: during a grace period the provider's [`Signer`] signs with the old and the new
//! secret, and a consumer holding either accepts. Entries of versions this code does not know
//! (`v1a` is the specification's Ed25519 form) are skipped, not refused, so a provider can add
//! a scheme before every consumer understands it.
//!
//! **GitHub** (`X-Hub-Signature-256: sha256=<hex>`) signs the raw body only. It proves
//! authenticity but not freshness: a recorded delivery verifies forever. That is the gap
//! Standard Webhooks closes, and why [`github_verify`] takes no clock.
//!
//! Two rules every verifier here keeps:
//!
//! - **Compare in constant time.** A `==` on the expected signature returns sooner the earlier
//!   the first wrong byte is; by timing it an attacker learns the signature byte by byte and the
//!   consumer becomes a signing oracle. The comparison uses `subtle`.
//! - **Check the timestamp before computing.** A stale delivery is refused without spending an
//!   HMAC on it, so a flood of replays costs the consumer a parse, not a hash per secret.
//!
//! Verify the *raw* bytes as received. Parsing the JSON and serialising it again changes
//! whitespace or key order, and the signature no longer matches: the most common way consumers
//! break their own verification.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use support::clock::UnixSeconds;

/// The event's unique id: the same on every retry, so the consumer can deduplicate by it.
pub const HEADER_ID: &str = "webhook-id";
/// When this *attempt* was made (unix seconds); a retry carries a new one.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// Space-separated `version,base64` entries.
pub const HEADER_SIGNATURE: &str = "webhook-signature";
/// GitHub's header: `sha256=` and the hex HMAC-SHA256 of the raw body.
pub const GITHUB_HEADER: &str = "x-hub-signature-256";

/// How a symmetric secret is written when shown to people: `whsec_` and base64.
pub const SECRET_PREFIX: &str = "whsec_";
/// The version tag of the HMAC-SHA256 scheme.
const V1: &str = "v1";
const GITHUB_PREFIX: &str = "sha256=";

type HmacSha256 = Hmac<Sha256>;

/// Why a `whsec_…` string is not a usable secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// It does not start with `whsec_`, so it may be some other kind of key pasted by mistake.
    #[error("a webhook secret starts with `{SECRET_PREFIX}`")]
    MissingPrefix,
    /// The part after the prefix is not standard base64.
    #[error("the part after `{SECRET_PREFIX}` is not base64")]
    NotBase64,
    /// The specification asks for 24 to 64 bytes of key.
    #[error("a webhook secret has 24 to 64 bytes of key, this one has {0}")]
    BadLength(usize),
}

/// A symmetric signing secret: 24 to 64 random bytes, shared by the provider and one endpoint.
///
/// Its `Debug` shows only the length, so a secret that ends up in a log line or a panic message
/// is not leaked by it. [`Secret::expose`] is the one way to get the text back out, named so
/// that every place doing it stands out in review.
#[derive(Clone)]
pub struct Secret {
    key: Vec<u8>,
}

impl Secret {
    /// The fewest key bytes the specification allows (192 bits).
    pub const MIN_BYTES: usize = 24;
    /// The most key bytes the specification allows (512 bits).
    pub const MAX_BYTES: usize = 64;
    /// What [`Secret::generate`] makes: 256 bits, the HMAC-SHA256 output size.
    pub const GENERATED_BYTES: usize = 32;

    /// Parses the `whsec_<base64>` form. The prefix is required (the reference libraries also
    /// accept bare base64; being strict here catches a wrong key pasted into the wrong field).
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let encoded = text
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretError::MissingPrefix)?;
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| SecretError::NotBase64)?;
        Self::from_bytes(key)
    }

    /// A secret from raw key bytes.
    pub fn from_bytes(key: Vec<u8>) -> Result<Self, SecretError> {
        if (Self::MIN_BYTES..=Self::MAX_BYTES).contains(&key.len()) {
            Ok(Self { key })
        } else {
            Err(SecretError::BadLength(key.len()))
        }
    }

    /// A new random secret for a newly registered endpoint (or a rotation). `rand`'s thread
    /// generator is a CSPRNG seeded from the operating system, which is what a key needs.
    pub fn generate() -> Self {
        let mut key = vec![0u8; Self::GENERATED_BYTES];
        rand::fill(&mut key[..]);
        Self { key }
    }

    /// The `whsec_…` text, to show the endpoint's owner once (or to store encrypted).
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.key))
    }

    fn mac(&self) -> HmacSha256 {
        hmac_with(&self.key)
    }
}

impl FromStr for Secret {
    type Err = SecretError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Secret({SECRET_PREFIX}<redacted, {} bytes>)",
            self.key.len()
        )
    }
}

/// An HMAC-SHA256 keyed with `key`, without a fallible constructor.
///
/// `new_from_slice` returns a `Result` although HMAC takes keys of any length, and a fallback
/// key on its "error" path would be a silent disaster in a signature. RFC 2104 §2 defines the
/// key handling instead: a key longer than the hash's 64-byte block is replaced by its digest,
/// and the key is then zero-padded to the block. Doing that here yields the block-sized key the
/// infallible constructor takes, and exactly the same MAC (the test vectors check it).
fn hmac_with(key: &[u8]) -> HmacSha256 {
    let mut block = hmac::digest::Key::<HmacSha256>::default();
    if key.len() > block.len() {
        let digest = Sha256::digest(key);
        block[..digest.len()].copy_from_slice(&digest);
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    <HmacSha256 as KeyInit>::new(&block)
}

/// The raw 32-byte tag over `{id}.{timestamp}.{body}`.
fn tag(secret: &Secret, id: &str, timestamp: UnixSeconds, body: &[u8]) -> [u8; 32] {
    let mut mac = secret.mac();
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// One signature entry, `v1,<base64>`: what goes into `webhook-signature` for one secret.
///
/// `id` should be the provider's own identifier without a `.` (the specification's advice: with
/// a dot in the id, `a.1614265330` + `.` + body and `a` + `.1614265330.` + body could be read
/// two ways); [`verify`] refuses such ids.
pub fn sign(secret: &Secret, id: &str, timestamp: UnixSeconds, body: &[u8]) -> String {
    format!("{V1},{}", STANDARD.encode(tag(secret, id, timestamp, body)))
}

/// The three header values of one signed attempt, as the provider sends them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
}

impl SignedHeaders {
    /// `(name, value)` pairs, ready for an HTTP client's `.header(name, value)`.
    pub fn pairs(&self) -> [(&'static str, &str); 3] {
        [
            (HEADER_ID, &self.id),
            (HEADER_TIMESTAMP, &self.timestamp),
            (HEADER_SIGNATURE, &self.signature),
        ]
    }

    /// The same values as [`verify`]'s input (tests and the demo check what they sent).
    pub fn as_headers(&self) -> Headers<'_> {
        Headers {
            id: Some(&self.id),
            timestamp: Some(&self.timestamp),
            signature: Some(&self.signature),
        }
    }
}

/// One of an endpoint's secrets on the provider side, and until when it may still sign.
#[derive(Debug, Clone)]
struct SigningKey {
    secret: Secret,
    /// `None` for the current secret; a rotated-out secret signs until this deadline.
    valid_until: Option<UnixSeconds>,
}

/// The provider's side of rotation: every secret of one endpoint that is currently valid.
///
/// Rotating makes the new secret current and keeps the old one signing until a grace deadline,
/// so a consumer can swap its configuration at any moment inside that window without a single
/// delivery failing. After the deadline only the new secret signs, and a consumer still holding
/// only the old one starts refusing deliveries, which is the point of rotating (a leaked secret
/// stops working). Production stores these per endpoint, encrypted; this holds them in memory.
#[derive(Debug, Clone)]
pub struct Signer {
    keys: Vec<SigningKey>,
}

impl Signer {
    /// A signer with one current secret.
    pub fn new(current: Secret) -> Self {
        Self {
            keys: vec![SigningKey {
                secret: current,
                valid_until: None,
            }],
        }
    }

    /// Makes `new` the current secret; the previous current one keeps signing until
    /// `grace_until` (unix seconds). Secrets already retiring keep their own deadlines.
    pub fn rotate(&mut self, new: Secret, grace_until: UnixSeconds) {
        for key in &mut self.keys {
            key.valid_until.get_or_insert(grace_until);
        }
        self.keys.insert(
            0,
            SigningKey {
                secret: new,
                valid_until: None,
            },
        );
    }

    /// Forgets the secrets whose grace period is over at `now`.
    pub fn prune(&mut self, now: UnixSeconds) {
        self.keys.retain(|key| is_valid(key, now));
    }

    /// The secrets that sign at `now`, the current one first.
    pub fn valid_secrets(&self, now: UnixSeconds) -> impl Iterator<Item = &Secret> {
        self.keys
            .iter()
            .filter(move |key| is_valid(key, now))
            .map(|key| &key.secret)
    }

    /// The `webhook-signature` value for one attempt: one `v1` entry per valid secret.
    pub fn signature(&self, id: &str, timestamp: UnixSeconds, body: &[u8]) -> String {
        self.valid_secrets(timestamp)
            .map(|secret| sign(secret, id, timestamp, body))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// All three headers for an attempt made at `now`. Each retry calls this again: the
    /// timestamp is the attempt's, not the event's, or retries later than the consumer's
    /// tolerance would be refused as replays.
    pub fn headers(&self, id: &str, now: UnixSeconds, body: &[u8]) -> SignedHeaders {
        SignedHeaders {
            id: id.to_owned(),
            timestamp: now.to_string(),
            signature: self.signature(id, now, body),
        }
    }
}

fn is_valid(key: &SigningKey, now: UnixSeconds) -> bool {
    key.valid_until.is_none_or(|until| now <= until)
}

/// The three header values as a consumer received them (`None` when absent). Not tied to an
/// HTTP library: build it with [`Headers::from_lookup`] from whatever header map is at hand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Headers<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

impl<'a> Headers<'a> {
    /// Reads the three headers through `get(name)`, for example
    /// `Headers::from_lookup(|name| request.headers().get(name)?.to_str().ok())`.
    pub fn from_lookup(get: impl Fn(&str) -> Option<&'a str>) -> Self {
        Self {
            id: get(HEADER_ID),
            timestamp: get(HEADER_TIMESTAMP),
            signature: get(HEADER_SIGNATURE),
        }
    }
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The event id, the consumer's idempotency key.
    pub id: String,
    /// When the provider made this attempt.
    pub timestamp: UnixSeconds,
    /// Which of the consumer's secrets matched (its index in the slice given to [`verify`]).
    /// During a rotation this tells the consumer when the old secret has stopped being needed.
    pub secret_index: usize,
}

/// Why a delivery was refused. A consumer answers all of them with 401 and the same sentence;
/// the variant is for its log and its tests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A required header is absent (its name is given).
    #[error("missing header `{0}`")]
    MissingHeader(&'static str),
    /// `webhook-timestamp` is not a non-negative integer of seconds.
    #[error("`{HEADER_TIMESTAMP}` is not unix seconds")]
    BadTimestamp,
    /// The attempt is older than the tolerance: a replay, or a clock far behind.
    #[error("the timestamp is {age_secs} s old, more than the tolerance")]
    TooOld { age_secs: u64 },
    /// The attempt claims to be from the future by more than the tolerance.
    #[error("the timestamp is {ahead_secs} s ahead, more than the tolerance")]
    TooNew { ahead_secs: u64 },
    /// A header is present but not in the specified shape.
    #[error("malformed: {0}")]
    Malformed(&'static str),
    /// The header is well-formed, but no `v1` entry matches any of the consumer's secrets.
    #[error("no signature matches")]
    NoMatchingSignature,
}

/// Checks one Standard Webhooks delivery against the consumer's secrets.
///
/// In order, cheapest first: the three headers are present; the timestamp parses and lies
/// within `tolerance` of `now` in either direction (the boundary itself is accepted); the id
/// is non-empty and has no `.`; the signature header lists at least one `version,value` entry.
/// Only then is the HMAC computed, once per secret, and compared in constant time with every
/// `v1` entry. Any match of any entry with any secret accepts; entries of other versions and
/// `v1` values that are not base64 are skipped (they cannot match, and one garbled entry must
/// not hide a good one beside it).
pub fn verify(
    secrets: &[Secret],
    headers: &Headers<'_>,
    body: &[u8],
    now: UnixSeconds,
    tolerance: Duration,
) -> Result<Verified, VerifyError> {
    let id = headers.id.ok_or(VerifyError::MissingHeader(HEADER_ID))?;
    let timestamp = headers
        .timestamp
        .ok_or(VerifyError::MissingHeader(HEADER_TIMESTAMP))?;
    let signature = headers
        .signature
        .ok_or(VerifyError::MissingHeader(HEADER_SIGNATURE))?;

    let timestamp: UnixSeconds = timestamp
        .trim()
        .parse()
        .map_err(|_| VerifyError::BadTimestamp)?;
    let tolerance = tolerance.as_secs();
    if now.saturating_sub(timestamp) > tolerance {
        return Err(VerifyError::TooOld {
            age_secs: now - timestamp,
        });
    }
    if timestamp.saturating_sub(now) > tolerance {
        return Err(VerifyError::TooNew {
            ahead_secs: timestamp - now,
        });
    }

    if id.is_empty() || id.contains('.') {
        return Err(VerifyError::Malformed("the id is empty or contains a `.`"));
    }
    let entries = parse_entries(signature)?;
    let candidates: Vec<Vec<u8>> = entries
        .iter()
        .filter(|(version, _)| *version == V1)
        .filter_map(|(_, value)| STANDARD.decode(value).ok())
        .collect();

    for (secret_index, secret) in secrets.iter().enumerate() {
        let expected = tag(secret, id, timestamp, body);
        // Every candidate is compared even after a match would be found: the loop's duration
        // then depends on how many entries there are, which the sender chose, not on the secret.
        let matched = candidates
            .iter()
            .fold(subtle::Choice::from(0), |seen, candidate| {
                seen | expected.as_slice().ct_eq(candidate)
            });
        if bool::from(matched) {
            return Ok(Verified {
                id: id.to_owned(),
                timestamp,
                secret_index,
            });
        }
    }
    Err(VerifyError::NoMatchingSignature)
}

/// Splits `v1,abc v1a,def` into `(version, value)` pairs.
fn parse_entries(header: &str) -> Result<Vec<(&str, &str)>, VerifyError> {
    let entries = header
        .split_ascii_whitespace()
        .map(|entry| {
            entry
                .split_once(',')
                .ok_or(VerifyError::Malformed("a signature entry has no `,`"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if entries.is_empty() {
        return Err(VerifyError::Malformed("the signature header is empty"));
    }
    Ok(entries)
}

/// GitHub's `X-Hub-Signature-256` value for `body`: `sha256=` and the lowercase hex HMAC.
/// GitHub's secret is any string the repository owner typed, hence bytes, not a [`Secret`].
pub fn github_sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = hmac_with(secret);
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let mut out = String::with_capacity(GITHUB_PREFIX.len() + 2 * tag.len());
    out.push_str(GITHUB_PREFIX);
    for byte in tag {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// Checks GitHub's header against the raw body. There is no timestamp to check: GitHub's
/// scheme cannot tell a replay from a delivery (its `X-GitHub-Delivery` id, remembered, is the
/// only defence).
pub fn github_verify(secret: &[u8], header: Option<&str>, body: &[u8]) -> Result<(), VerifyError> {
    let header = header.ok_or(VerifyError::MissingHeader(GITHUB_HEADER))?;
    let hex = header
        .trim()
        .strip_prefix(GITHUB_PREFIX)
        .ok_or(VerifyError::Malformed(
            "the value does not start with `sha256=`",
        ))?;
    let claimed = decode_hex(hex).ok_or(VerifyError::Malformed("the signature is not hex"))?;
    let mut mac = hmac_with(secret);
    mac.update(body);
    // `verify_slice` compares in constant time (it is `hmac`'s own `subtle` comparison).
    mac.verify_slice(&claimed)
        .map_err(|_| VerifyError::NoMatchingSignature)
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}
