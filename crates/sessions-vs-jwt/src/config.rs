//! Typed configuration, built once (in `main`, the demo or a test) and passed down.

use std::time::Duration;

use support::Settings;

/// Everything the service needs to know. No field is read from a global.
#[derive(Debug, Clone)]
pub struct Config {
    /// Service URLs (Redis) and whether a missing service is an error.
    pub settings: Settings,
    /// Cookie attributes and timeouts for the two session mechanisms.
    pub cookies: CookieConfig,
    /// Claims, lifetimes and keys for the JWT mechanism.
    pub jwt: JwtConfig,
    /// argon2id cost parameters for password hashing.
    pub hash_cost: HashCost,
}

impl Config {
    /// Production-like defaults: secure cookies, 15-minute access tokens, OWASP argon2id cost.
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            cookies: CookieConfig::default(),
            jwt: JwtConfig::default(),
            hash_cost: HashCost::default(),
        }
    }

    /// For plain-HTTP localhost (tests, the demo, `serve` without TLS): `Secure` cookies would
    /// never be sent back over `http://`, so they are turned off, and the `__Host-` prefix with them.
    pub fn for_localhost(mut self) -> Self {
        self.cookies.secure = false;
        self
    }

    /// Cheap argon2id parameters: tests and `--quick` log in dozens of times and must not spend
    /// seconds hashing. Never use these for real passwords.
    pub fn with_cheap_hashing(mut self) -> Self {
        self.hash_cost = HashCost::CHEAP;
        self
    }
}

/// Session cookies.
#[derive(Debug, Clone)]
pub struct CookieConfig {
    /// `Secure` attribute and `__Host-` name prefix. On by default; off only for plain-HTTP localhost.
    pub secure: bool,
    /// A session unused for this long is dead (the user walked away from the computer).
    pub idle_timeout: Duration,
    /// A session older than this is dead however active it is (a stolen cookie stops working).
    pub absolute_timeout: Duration,
    /// `last_seen` is written back at most this often, so a typical authenticated request is one
    /// read, not a read and a write. The idle timeout is therefore enforced to within this much.
    pub touch_interval: Duration,
}

impl Default for CookieConfig {
    fn default() -> Self {
        Self {
            secure: true,
            idle_timeout: Duration::from_secs(30 * 60),
            absolute_timeout: Duration::from_secs(12 * 60 * 60),
            touch_interval: Duration::from_secs(60),
        }
    }
}

/// Which signature algorithm the JWT mechanism pins. Also `serve --jwt-alg`'s values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum JwtAlgorithm {
    /// HMAC-SHA256 with a shared secret: fast, but every verifier can also mint tokens.
    #[value(name = "hs256")]
    Hs256,
    /// Ed25519 signatures: verifiers need only the public key from `/.well-known/jwks.json`.
    #[value(name = "eddsa")]
    EdDsa,
}

/// Claims, lifetimes and keys for the JWT mechanism.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    pub algorithm: JwtAlgorithm,
    /// The HS256 secret. Both instances of a deployment must share it (they do in the demo).
    /// Production reads it from a secret store; here `serve` and the demo generate one per run.
    pub hs256_secret: Vec<u8>,
    /// `iss` written into and required from every token.
    pub issuer: String,
    /// `aud` written into and required from every token.
    pub audience: String,
    /// Access token lifetime: the revocation window of a stateless token.
    pub access_ttl: Duration,
    /// Refresh token family lifetime (absolute: rotation does not extend it).
    pub refresh_ttl: Duration,
    /// Clock skew tolerated on `exp`, `nbf` and `iat` between the issuer and a verifier.
    pub leeway: Duration,
}

impl Default for JwtConfig {
    fn default() -> Self {
        let mut secret = vec![0u8; 32];
        rand::fill(&mut secret[..]);
        Self {
            algorithm: JwtAlgorithm::Hs256,
            hs256_secret: secret,
            issuer: "https://auth.example.test".to_owned(),
            audience: "sessions-vs-jwt-api".to_owned(),
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(14 * 24 * 60 * 60),
            leeway: Duration::from_secs(30),
        }
    }
}

/// argon2id cost: memory in KiB, iterations, lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub lanes: u32,
}

impl HashCost {
    /// The OWASP Password Storage Cheat Sheet's argon2id baseline: 19 MiB, 2 iterations, 1 lane.
    pub const OWASP: Self = Self {
        memory_kib: 19 * 1024,
        iterations: 2,
        lanes: 1,
    };
    /// For tests and `--quick` only: about a hundred times cheaper.
    pub const CHEAP: Self = Self {
        memory_kib: 256,
        iterations: 1,
        lanes: 1,
    };
}

impl Default for HashCost {
    fn default() -> Self {
        Self::OWASP
    }
}
