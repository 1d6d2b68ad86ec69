//! Login throttling: too many failures for one account, or from one address, and logins are
//! refused with 429 and `Retry-After` until the oldest failure leaves the window.
//!
//! Two keys because there are two attacks. Guessing one account's password (online brute
//! force) is stopped per account; trying one common password against many accounts (password
//! spraying) is stopped per client address. The check runs *before* the password is verified,
//! so a throttled attacker also stops costing the server an argon2 hash per attempt.
//!
//! A correct login clears its account's failures (not the address's: a sprayer who knows one
//! password must not reset their budget with it). The per-account lock is also a lever an
//! attacker can pull to lock a victim out; that is why it is a short sliding window and not a
//! permanent lock, and why production adds a CAPTCHA or step-up check instead of refusing
//! outright.
//!
//! The failure log is in this process (a sliding log of timestamps, at most `limit` per key);
//! with several instances it belongs in Redis (`INCR` + `EXPIRE`, or a sorted set per key).
//! The client address is the TCP peer; behind a proxy it would come from `Forwarded`, trusted
//! only from that proxy.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use support::clock::{SharedClock, UnixSeconds};

use crate::accounts::normalise;
use crate::config::ThrottleConfig;
use crate::error::AuthError;

/// Keys kept before old ones are swept out.
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Account(String),
    Address(IpAddr),
}

/// The failure log. Cloning shares it.
#[derive(Debug, Clone)]
pub struct Throttle {
    config: ThrottleConfig,
    clock: SharedClock,
    failures: Arc<Mutex<HashMap<Key, VecDeque<UnixSeconds>>>>,
}

impl Throttle {
    pub fn new(config: ThrottleConfig, clock: SharedClock) -> Self {
        Self {
            config,
            clock,
            failures: Arc::default(),
        }
    }

    /// 429 if `username` or `address` has used up its failures in the window.
    pub fn check(&self, username: &str, address: Option<IpAddr>) -> Result<(), AuthError> {
        let now = self.clock.now();
        let mut failures = self.lock()?;
        let mut wait = 0;
        for (key, limit) in self.keys(username, address) {
            if let Some(log) = failures.get_mut(&key) {
                self.forget_old(log, now);
                if log.len() >= limit {
                    let oldest = log.front().copied().unwrap_or(now);
                    wait = wait.max(oldest + self.config.window.as_secs() - now);
                }
            }
        }
        match wait {
            0 => Ok(()),
            secs => Err(AuthError::Throttled {
                retry_after_secs: secs,
            }),
        }
    }

    /// Counts a failed login against both keys.
    pub fn failed(&self, username: &str, address: Option<IpAddr>) -> Result<(), AuthError> {
        let now = self.clock.now();
        let mut failures = self.lock()?;
        // Random usernames would otherwise grow the map without bound: past a size, forget
        // every key whose failures have all left the window.
        if failures.len() >= MAX_KEYS {
            failures.retain(|_, log| {
                self.forget_old(log, now);
                !log.is_empty()
            });
        }
        for (key, limit) in self.keys(username, address) {
            let log = failures.entry(key).or_default();
            self.forget_old(log, now);
            log.push_back(now);
            // Only the newest `limit` matter; an attacker cannot grow the log without bound.
            while log.len() > limit {
                log.pop_front();
            }
        }
        Ok(())
    }

    /// A correct login: the account's failures are forgiven.
    pub fn succeeded(&self, username: &str) -> Result<(), AuthError> {
        self.lock()?.remove(&Key::Account(normalise(username)));
        Ok(())
    }

    fn keys(&self, username: &str, address: Option<IpAddr>) -> Vec<(Key, usize)> {
        let mut keys = vec![(Key::Account(normalise(username)), self.config.per_account)];
        if let Some(address) = address {
            keys.push((Key::Address(address), self.config.per_address));
        }
        keys
    }

    fn forget_old(&self, log: &mut VecDeque<UnixSeconds>, now: UnixSeconds) {
        let window = self.config.window.as_secs();
        while log.front().is_some_and(|t| t + window <= now) {
            log.pop_front();
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, HashMap<Key, VecDeque<UnixSeconds>>>, AuthError> {
        self.failures
            .lock()
            .map_err(|_| AuthError::Unexpected(anyhow::anyhow!("throttle lock poisoned")))
    }
}
