//! The user store: seeded demo users in memory, passwords hashed with argon2id.
//!
//! Not the lesson (a real service keeps users in a database), but the two rules around it are:
//! hash with a memory-hard function (argon2id), and do it on a blocking thread, because one hash
//! at production cost takes tens of milliseconds of CPU and would stall every request sharing the
//! async worker.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use anyhow::Context as _;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::config::HashCost;
use crate::error::AuthError;

/// The users every instance starts with: (username, password).
pub const DEMO_USERS: [(&str, &str); 2] = [
    ("alice", "correct horse battery staple"),
    ("bob", "hunter2 is not a password"),
];

/// A user as the rest of the crate sees it: no password hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct User {
    pub id: String,
    pub username: String,
}

#[derive(Debug, Clone)]
struct Record {
    user: User,
    /// PHC string: `$argon2id$v=19$m=...,t=...,p=...$salt$hash`. The parameters travel with the
    /// hash, so raising the cost later still verifies old hashes.
    phc: String,
}

/// Users by name. Cloning shares the same store (two instances in the demo each get their own).
#[derive(Debug, Clone)]
pub struct UserStore {
    users: Arc<RwLock<HashMap<String, Record>>>,
    cost: HashCost,
    /// A hash of nothing, verified when the username is unknown so that "no such user" takes as
    /// long as "wrong password" and the response time does not reveal which names exist.
    dummy_phc: String,
}

impl UserStore {
    /// Hashes the demo users (on a blocking thread) and returns the store.
    pub async fn seeded(cost: HashCost) -> anyhow::Result<Self> {
        let (records, dummy_phc) = tokio::task::spawn_blocking(move || {
            let records = DEMO_USERS
                .iter()
                .enumerate()
                .map(|(i, (name, password))| {
                    let user = User {
                        id: format!("u{}", i + 1),
                        username: (*name).to_owned(),
                    };
                    Ok((
                        (*name).to_owned(),
                        Record {
                            user,
                            phc: hash(cost, password)?,
                        },
                    ))
                })
                .collect::<anyhow::Result<HashMap<_, _>>>()?;
            anyhow::Ok((records, hash(cost, "")?))
        })
        .await
        .context("the hashing thread panicked")??;
        Ok(Self {
            users: Arc::new(RwLock::new(records)),
            cost,
            dummy_phc,
        })
    }

    /// Checks a username and password; the argon2id verification runs on a blocking thread.
    pub async fn verify(&self, username: &str, password: &str) -> Result<User, AuthError> {
        let found = self.read()?.get(username).cloned();
        let phc = found
            .as_ref()
            .map_or(self.dummy_phc.clone(), |r| r.phc.clone());
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || verify(&phc, &password))
            .await
            .context("the hashing thread panicked")??;
        match found {
            Some(record) if ok => Ok(record.user),
            _ => Err(AuthError::BadCredentials),
        }
    }

    /// Replaces a user's password after checking the old one. Revoking what the old password
    /// issued (sessions, tokens) is the caller's job: see `app::change_password`.
    pub async fn change_password(
        &self,
        username: &str,
        old: &str,
        new: &str,
    ) -> Result<User, AuthError> {
        let user = self.verify(username, old).await?;
        let (cost, new) = (self.cost, new.to_owned());
        let phc = tokio::task::spawn_blocking(move || hash(cost, &new))
            .await
            .context("the hashing thread panicked")??;
        let mut users = self.users.write().map_err(|_| poisoned())?;
        if let Some(record) = users.get_mut(username) {
            record.phc = phc;
        }
        Ok(user)
    }

    fn read(&self) -> Result<std::sync::RwLockReadGuard<'_, HashMap<String, Record>>, AuthError> {
        self.users.read().map_err(|_| poisoned())
    }
}

fn poisoned() -> AuthError {
    AuthError::Unexpected(anyhow::anyhow!("user store lock poisoned"))
}

fn hasher(cost: HashCost) -> anyhow::Result<Argon2<'static>> {
    let params = Params::new(cost.memory_kib, cost.iterations, cost.lanes, None)
        .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// argon2id with a fresh random salt from the OS; blocking (call it from `spawn_blocking`).
fn hash(cost: HashCost, password: &str) -> anyhow::Result<String> {
    let phc = hasher(cost)?
        .hash_password(password.as_bytes())
        .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))?;
    Ok(phc.to_string())
}

/// Blocking. The parameters come from the PHC string, not from the configured cost.
fn verify(phc: &str, password: &str) -> anyhow::Result<bool> {
    let parsed = PasswordHash::new(phc).map_err(|e| anyhow::anyhow!("bad stored hash: {e}"))?;
    Ok(Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}
