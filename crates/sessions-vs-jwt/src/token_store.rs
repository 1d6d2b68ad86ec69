//! The state a "stateless" token needs after all: refresh-token families, the `jti` denylist and
//! each user's credential generation.
//!
//! - **Refresh rotation.** A refresh token is `{family}.{secret}`. The family remembers only the
//!   hash of its *current* secret. Using it swaps in a new secret (atomically: a Lua script in
//!   Redis, a mutex in memory). Presenting an old secret means two parties hold tokens of this
//!   family (the legitimate client and a thief), and the server cannot tell which is which, so
//!   it revokes the whole family: both must log in again (OAuth 2.0 Security BCP §4.14.2).
//! - **Denylist.** Logout stores the access token's `jti` until the token's own `exp`; after that
//!   the token dies anyway, so the list stays as small as the number of logouts per TTL.
//! - **Generation.** A password change bumps the user's generation; tokens and families minted
//!   under an older generation are refused.
//!
//! Checking the denylist and the generation is one `MGET`: one round trip per request, the same
//! cost as a Redis session lookup. That is the honest trade: a JWT you can revoke instantly is a
//! session with extra steps.
//!
//! With Redis unreachable the same logic runs on in-process maps, which is correct for one
//! instance only.

use std::collections::HashMap;
use std::sync::Mutex;

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use deadpool_redis::Pool;
use redis::AsyncCommands;
use support::clock::UnixSeconds;

use crate::error::AuthError;
use crate::users::User;

/// Key prefix of a refresh-token family (a hash: `cur`, `uid`, `name`, `gen`, `exp`).
pub const FAMILY_KEY: &str = "jwt:family:";
/// Key prefix of a denylisted `jti`.
pub const DENY_KEY: &str = "jwt:deny:";
/// Key prefix of a user's credential generation.
pub const GENERATION_KEY: &str = "jwt:gen:";

/// Compare-and-swap of a family's current secret hash, in one atomic step.
/// Returns `{"ok", uid, name, gen, exp}`, `{"missing"}` or `{"reused"}` (and then the family is gone).
const ROTATE_SCRIPT: &str = r"
local cur = redis.call('HGET', KEYS[1], 'cur')
if not cur then return {'missing'} end
if cur ~= ARGV[1] then
  redis.call('DEL', KEYS[1])
  return {'reused'}
end
redis.call('HSET', KEYS[1], 'cur', ARGV[2])
local f = redis.call('HMGET', KEYS[1], 'uid', 'name', 'gen', 'exp')
return {'ok', f[1], f[2], f[3], f[4]}
";

/// A refresh token as issued: the family id and the secret, joined by a dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub family: String,
    pub secret: String,
}

impl RefreshToken {
    fn generate(family: String) -> Self {
        Self {
            family,
            secret: random_token(),
        }
    }

    pub fn encode(&self) -> String {
        format!("{}.{}", self.family, self.secret)
    }

    pub fn parse(token: &str) -> Option<Self> {
        let (family, secret) = token.split_once('.')?;
        (!family.is_empty() && !secret.is_empty()).then(|| Self {
            family: family.to_owned(),
            secret: secret.to_owned(),
        })
    }
}

/// 256 random bits, base64url.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes[..]);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Only a hash of the secret is stored: a leaked Redis dump does not hand out live tokens.
/// (A plain SHA-256 suffices: the secret has 256 random bits, nothing to brute-force.)
fn hash_secret(secret: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// What a successful rotation returns.
#[derive(Debug, Clone)]
pub struct Rotated {
    pub user: User,
    pub generation: u64,
    pub token: RefreshToken,
}

#[derive(Debug, Clone)]
struct Family {
    cur: String,
    user: User,
    generation: u64,
    exp: UnixSeconds,
}

#[derive(Debug, Default)]
pub struct MemoryTokens {
    families: HashMap<String, Family>,
    denied: HashMap<String, UnixSeconds>,
    generations: HashMap<String, u64>,
}

/// Where token state lives.
pub enum TokenStore {
    Redis { pool: Pool, namespace: String },
    Memory(Mutex<MemoryTokens>),
}

impl std::fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TokenStore::Redis { .. } => "TokenStore::Redis",
            TokenStore::Memory(_) => "TokenStore::Memory",
        })
    }
}

impl TokenStore {
    pub fn redis(pool: Pool, namespace: &str) -> Self {
        Self::Redis {
            pool,
            namespace: namespace.to_owned(),
        }
    }

    pub fn memory() -> Self {
        Self::Memory(Mutex::default())
    }

    pub fn is_redis(&self) -> bool {
        matches!(self, Self::Redis { .. })
    }

    /// The user's current credential generation (0 until the first password change).
    pub async fn generation(&self, user_id: &str) -> Result<u64, AuthError> {
        match self {
            Self::Redis { pool, namespace } => {
                let mut conn = pool.get().await?;
                let generation: Option<u64> = conn
                    .get(format!("{namespace}{GENERATION_KEY}{user_id}"))
                    .await?;
                Ok(generation.unwrap_or(0))
            }
            Self::Memory(m) => Ok(lock(m)?.generations.get(user_id).copied().unwrap_or(0)),
        }
    }

    /// Starts a refresh-token family for a fresh login; returns its first token.
    pub async fn create_family(
        &self,
        user: &User,
        generation: u64,
        exp: UnixSeconds,
        ttl_secs: u64,
    ) -> Result<RefreshToken, AuthError> {
        let token = RefreshToken::generate(random_token());
        let cur = hash_secret(&token.secret);
        match self {
            Self::Redis { pool, namespace } => {
                let key = format!("{namespace}{FAMILY_KEY}{}", token.family);
                let mut conn = pool.get().await?;
                redis::pipe()
                    .hset_multiple(
                        &key,
                        &[
                            ("cur", cur),
                            ("uid", user.id.clone()),
                            ("name", user.username.clone()),
                            ("gen", generation.to_string()),
                            ("exp", exp.to_string()),
                        ],
                    )
                    .ignore()
                    .expire(&key, i64::try_from(ttl_secs).unwrap_or(i64::MAX).max(1))
                    .ignore()
                    .query_async::<()>(&mut conn)
                    .await?;
            }
            Self::Memory(m) => {
                let family = Family {
                    cur,
                    user: user.clone(),
                    generation,
                    exp,
                };
                lock(m)?.families.insert(token.family.clone(), family);
            }
        }
        Ok(token)
    }

    /// Exchanges a refresh token for the next one in its family. A token that was already
    /// exchanged revokes the family; an expired family or an outdated generation is refused.
    pub async fn rotate(&self, presented: &str, now: UnixSeconds) -> Result<Rotated, AuthError> {
        let presented =
            RefreshToken::parse(presented).ok_or(AuthError::RefreshRejected { reused: false })?;
        let next = RefreshToken::generate(presented.family.clone());
        let (user, generation, exp) = match self {
            Self::Redis { pool, namespace } => {
                let key = format!("{namespace}{FAMILY_KEY}{}", presented.family);
                let mut conn = pool.get().await?;
                let reply: Vec<String> = redis::Script::new(ROTATE_SCRIPT)
                    .key(&key)
                    .arg(hash_secret(&presented.secret))
                    .arg(hash_secret(&next.secret))
                    .invoke_async(&mut conn)
                    .await?;
                match reply.as_slice() {
                    [status, uid, name, generation, exp] if status == "ok" => (
                        User {
                            id: uid.clone(),
                            username: name.clone(),
                        },
                        generation.parse().context("family generation")?,
                        exp.parse().context("family expiry")?,
                    ),
                    [status] if status == "reused" => {
                        return Err(AuthError::RefreshRejected { reused: true });
                    }
                    _ => return Err(AuthError::RefreshRejected { reused: false }),
                }
            }
            Self::Memory(m) => {
                let mut tokens = lock(m)?;
                let Some(family) = tokens.families.get_mut(&presented.family) else {
                    return Err(AuthError::RefreshRejected { reused: false });
                };
                if family.cur != hash_secret(&presented.secret) {
                    tokens.families.remove(&presented.family);
                    return Err(AuthError::RefreshRejected { reused: true });
                }
                family.cur = hash_secret(&next.secret);
                (family.user.clone(), family.generation, family.exp)
            }
        };
        // The family's own lifetime is absolute (rotation never extends it), and a password
        // change since its login kills it.
        if now >= exp || generation < self.generation(&user.id).await? {
            self.revoke_family(&presented.family).await?;
            return Err(AuthError::RefreshRejected { reused: false });
        }
        Ok(Rotated {
            user,
            generation,
            token: next,
        })
    }

    /// Forgets a family (logout).
    pub async fn revoke_family(&self, family: &str) -> Result<(), AuthError> {
        match self {
            Self::Redis { pool, namespace } => {
                let mut conn = pool.get().await?;
                let _: () = conn.del(format!("{namespace}{FAMILY_KEY}{family}")).await?;
            }
            Self::Memory(m) => {
                lock(m)?.families.remove(family);
            }
        }
        Ok(())
    }

    /// Puts a `jti` on the denylist until `exp` (plus leeway: a verifier with a slow clock
    /// would otherwise accept the token for a moment after the entry vanished).
    pub async fn deny(
        &self,
        jti: &str,
        exp: UnixSeconds,
        now: UnixSeconds,
    ) -> Result<(), AuthError> {
        match self {
            Self::Redis { pool, namespace } => {
                let mut conn = pool.get().await?;
                let ttl = exp.saturating_sub(now).max(1);
                let _: () = conn
                    .set_ex(format!("{namespace}{DENY_KEY}{jti}"), 1u8, ttl)
                    .await?;
            }
            Self::Memory(m) => {
                let mut tokens = lock(m)?;
                tokens.denied.retain(|_, until| *until > now);
                tokens.denied.insert(jti.to_owned(), exp);
            }
        }
        Ok(())
    }

    /// Whether a token is still good: not denylisted, and minted under the user's current
    /// generation. One `MGET`, one round trip.
    pub async fn is_revoked(
        &self,
        jti: &str,
        user_id: &str,
        generation: u64,
    ) -> Result<bool, AuthError> {
        match self {
            Self::Redis { pool, namespace } => {
                let mut conn = pool.get().await?;
                let (denied, current): (Option<u8>, Option<u64>) = redis::cmd("MGET")
                    .arg(format!("{namespace}{DENY_KEY}{jti}"))
                    .arg(format!("{namespace}{GENERATION_KEY}{user_id}"))
                    .query_async(&mut conn)
                    .await?;
                Ok(denied.is_some() || generation < current.unwrap_or(0))
            }
            Self::Memory(m) => {
                let tokens = lock(m)?;
                let current = tokens.generations.get(user_id).copied().unwrap_or(0);
                Ok(tokens.denied.contains_key(jti) || generation < current)
            }
        }
    }

    /// A password change: every token and family minted before now stops working.
    pub async fn bump_generation(&self, user_id: &str) -> Result<u64, AuthError> {
        match self {
            Self::Redis { pool, namespace } => {
                let mut conn = pool.get().await?;
                Ok(conn
                    .incr(format!("{namespace}{GENERATION_KEY}{user_id}"), 1u64)
                    .await?)
            }
            Self::Memory(m) => {
                let mut tokens = lock(m)?;
                let generation = tokens.generations.entry(user_id.to_owned()).or_insert(0);
                *generation += 1;
                Ok(*generation)
            }
        }
    }
}

fn lock(m: &Mutex<MemoryTokens>) -> Result<std::sync::MutexGuard<'_, MemoryTokens>, AuthError> {
    m.lock()
        .map_err(|_| AuthError::Unexpected(anyhow::anyhow!("token map lock poisoned")))
}
