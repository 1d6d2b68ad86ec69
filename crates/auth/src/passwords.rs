//! Passwords: argon2id hashing, verification that takes as long for an unknown user as for a
//! wrong password, and rehashing when the parameters change.
//!
//! Three rules, each with its reason:
//! - **A memory-hard, deliberately slow hash** (argon2id, at the OWASP baseline of 19 MiB, two
//!   passes, one lane): a stolen hash table must cost an attacker that much per guess. The
//!   price is paid by the server too, on every password check; the demo measures it, which is
//!   the whole lesson of HTTP Basic (a password check on *every* request).
//! - **On a blocking thread** (`spawn_blocking`): one verification is tens of milliseconds of
//!   CPU and would stall every request sharing the async worker.
//! - **An unknown username still costs one verification** (against a dummy hash made with the
//!   same parameters), so response time does not tell an attacker which usernames exist.
//!   [`Passwords::verifications`] counts them, so a test can prove it without timing anything.
//!
//! The parameters travel inside each PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`),
//! so raising the cost later still verifies old hashes; [`Passwords::needs_rehash`] says when a
//! stored hash is weaker than today's setting, and a successful login replaces it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::Serialize;

/// argon2id's cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PasswordCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub lanes: u32,
}

impl PasswordCost {
    /// The OWASP Password Storage Cheat Sheet's baseline for argon2id: m = 19 MiB, t = 2, p = 1.
    pub const OWASP: PasswordCost = PasswordCost {
        memory_kib: 19 * 1024,
        iterations: 2,
        lanes: 1,
    };

    /// Far below any safe setting, for tests and for the demo parts that do not measure hashing.
    pub const CHEAP: PasswordCost = PasswordCost {
        memory_kib: 64,
        iterations: 1,
        lanes: 1,
    };

    fn hasher(self) -> anyhow::Result<Argon2<'static>> {
        let params = Params::new(self.memory_kib, self.iterations, self.lanes, None)
            .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// Hashes with a fresh random salt. Blocking: call it from `spawn_blocking`.
pub fn hash_blocking(cost: PasswordCost, password: &str) -> anyhow::Result<String> {
    let phc = cost
        .hasher()?
        .hash_password(password.as_bytes())
        .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))?;
    Ok(phc.to_string())
}

/// Checks `password` against a PHC string. Blocking. The parameters come from the string, not
/// from the configuration, so hashes made under an older setting still verify.
pub fn verify_blocking(phc: &str, password: &str) -> anyhow::Result<bool> {
    let parsed = PasswordHash::new(phc).map_err(|e| anyhow::anyhow!("bad stored hash: {e}"))?;
    Ok(Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

/// The cost a PHC string was made with; `None` if it is not argon2id or cannot be read.
pub fn cost_of(phc: &str) -> Option<PasswordCost> {
    let parsed = PasswordHash::new(phc).ok()?;
    if parsed.algorithm.as_str() != "argon2id" {
        return None;
    }
    let params = Params::try_from(&parsed).ok()?;
    Some(PasswordCost {
        memory_kib: params.m_cost(),
        iterations: params.t_cost(),
        lanes: params.p_cost(),
    })
}

/// The outcome of a password check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub matches: bool,
    /// The stored hash was made with other parameters than today's: rehash it now that the
    /// plain password is at hand (the only moment it ever is).
    pub needs_rehash: bool,
}

/// Hashing and verification at one configured cost. Cloning shares the counter.
#[derive(Debug, Clone)]
pub struct Passwords {
    cost: PasswordCost,
    /// A hash of a random string at today's cost, verified when the username is unknown.
    dummy: Arc<str>,
    verifications: Arc<AtomicU64>,
}

impl Passwords {
    pub async fn new(cost: PasswordCost) -> anyhow::Result<Self> {
        let mut filler = [0u8; 16];
        aws_lc_rs::rand::fill(&mut filler).map_err(|_| anyhow::anyhow!("no system randomness"))?;
        let filler = format!("{filler:?}");
        let dummy = blocking(move || hash_blocking(cost, &filler)).await?;
        Ok(Self {
            cost,
            dummy: dummy.into(),
            verifications: Arc::new(AtomicU64::new(0)),
        })
    }

    pub fn cost(&self) -> PasswordCost {
        self.cost
    }

    /// Hashes at today's cost, on a blocking thread.
    pub async fn hash(&self, password: &str) -> anyhow::Result<String> {
        let (cost, password) = (self.cost, password.to_owned());
        blocking(move || hash_blocking(cost, &password)).await
    }

    /// Verifies `password` against `stored`, or against the dummy hash when there is no stored
    /// hash (unknown user, or an account that only logs in through OAuth2): the same work
    /// either way.
    pub async fn verify(&self, stored: Option<&str>, password: &str) -> anyhow::Result<Verdict> {
        let known = stored.is_some();
        let phc: Arc<str> = stored.map_or_else(|| self.dummy.clone(), Arc::from);
        let password = password.to_owned();
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let matches = blocking(move || verify_blocking(&phc, &password)).await?;
        let matches = matches && known;
        Ok(Verdict {
            matches,
            needs_rehash: matches && stored.is_some_and(|phc| self.needs_rehash(phc)),
        })
    }

    /// Whether `phc` was made with other parameters (or another algorithm) than today's.
    pub fn needs_rehash(&self, phc: &str) -> bool {
        cost_of(phc) != Some(self.cost)
    }

    /// argon2 verifications run so far (unknown users included).
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .context("the hashing thread panicked")?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_carries_its_own_parameters() -> anyhow::Result<()> {
        let phc = hash_blocking(PasswordCost::CHEAP, "pw")?;
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
        assert_eq!(cost_of(&phc), Some(PasswordCost::CHEAP));
        assert!(verify_blocking(&phc, "pw")?);
        assert!(!verify_blocking(&phc, "PW")?);
        Ok(())
    }
}
