//! Local accounts: username, role, argon2id hash, and the external identities linked to them.
//!
//! Not the lesson (a real service keeps these rows in its database), but the rules around them
//! are: the hash never leaves this module, a login with a correct password upgrades a hash made
//! under older parameters, and an identity from an OAuth2 provider is linked by the provider's
//! `(iss, sub)` pair, never by email address (an email can be reassigned, or unverified at the
//! provider, and linking by it hands an existing account to whoever controls that address).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde::Serialize;

use crate::error::{AuthError, Refusal};
use crate::passwords::Passwords;
use crate::principal::{AccountId, Mechanism};
use crate::rbac::Role;

/// The accounts every instance starts with: username, password, role. Two authors, so the
/// ownership rule has someone else's document to refuse.
pub const DEMO_ACCOUNTS: [(&str, &str, Role); 4] = [
    ("rita", "reader's long passphrase", Role::Reader),
    ("arthur", "author's long passphrase", Role::Author),
    ("olga", "other author's passphrase", Role::Author),
    ("ada", "admin's long passphrase", Role::Admin),
];

/// An account as the rest of the crate sees it: no hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    pub id: AccountId,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
}

#[derive(Debug, Clone)]
struct Record {
    account: Account,
    /// `None` for an account created by an OAuth2 login: it has no local password.
    phc: Option<String>,
}

#[derive(Debug, Default)]
struct Table {
    by_id: BTreeMap<AccountId, Record>,
    by_name: HashMap<String, AccountId>,
    /// `(issuer, subject)` of an external identity → the local account it logs in as.
    external: HashMap<(String, String), AccountId>,
    next_id: AccountId,
}

/// The accounts. Cloning shares the same table.
#[derive(Debug, Clone)]
pub struct Accounts {
    table: Arc<RwLock<Table>>,
    passwords: Passwords,
}

impl Accounts {
    /// An empty table hashing at `passwords`' cost.
    pub fn new(passwords: Passwords) -> Self {
        Self {
            table: Arc::default(),
            passwords,
        }
    }

    /// A table holding [`DEMO_ACCOUNTS`].
    pub async fn seeded(passwords: Passwords) -> anyhow::Result<Self> {
        let accounts = Self::new(passwords);
        for (username, password, role) in DEMO_ACCOUNTS {
            accounts
                .create(username, password, role)
                .await
                .map_err(|e| anyhow::anyhow!("seeding {username}: {e}"))?;
        }
        Ok(accounts)
    }

    pub fn passwords(&self) -> &Passwords {
        &self.passwords
    }

    /// A new account with a password. 422 if the username is taken or empty.
    pub async fn create(
        &self,
        username: &str,
        password: &str,
        role: Role,
    ) -> Result<Account, AuthError> {
        let username = normalise(username);
        if username.is_empty() {
            return Err(invalid_username("must not be empty"));
        }
        let phc = self.passwords.hash(password).await?;
        self.insert(&username, Some(phc), role)
    }

    fn insert(
        &self,
        username: &str,
        phc: Option<String>,
        role: Role,
    ) -> Result<Account, AuthError> {
        let mut table = self.write()?;
        if table.by_name.contains_key(username) {
            return Err(invalid_username("is taken"));
        }
        table.next_id += 1;
        let account = Account {
            id: table.next_id,
            username: username.to_owned(),
            role,
            disabled: false,
        };
        table.by_name.insert(username.to_owned(), account.id);
        table.by_id.insert(
            account.id,
            Record {
                account: account.clone(),
                phc,
            },
        );
        Ok(account)
    }

    /// Checks a username and password for `mechanism`. An unknown username, a wrong password
    /// and a disabled account cost one argon2 verification each and get the same 401. A correct password whose
    /// hash was made with older parameters is rehashed before this returns.
    pub async fn check_password(
        &self,
        mechanism: Mechanism,
        username: &str,
        password: &str,
    ) -> Result<Account, AuthError> {
        let username = normalise(username);
        let found = {
            let table = self.read()?;
            table
                .by_name
                .get(&username)
                .and_then(|id| table.by_id.get(id))
                .cloned()
        };
        let verdict = self
            .passwords
            .verify(found.as_ref().and_then(|r| r.phc.as_deref()), password)
            .await?;
        let refused = |refusal| AuthError::Refused { mechanism, refusal };
        let record = match found {
            Some(record) if verdict.matches => record,
            _ => return Err(refused(Refusal::BadPassword)),
        };
        // A disabled account gets the same answer as a wrong password: saying "disabled" only
        // when the password is right would tell a guesser that it is.
        if record.account.disabled {
            return Err(refused(Refusal::BadPassword));
        }
        if verdict.needs_rehash {
            let phc = self.passwords.hash(password).await?;
            if let Some(stored) = self.write()?.by_id.get_mut(&record.account.id) {
                stored.phc = Some(phc);
            }
        }
        Ok(record.account)
    }

    pub fn get(&self, id: AccountId) -> Result<Option<Account>, AuthError> {
        Ok(self.read()?.by_id.get(&id).map(|r| r.account.clone()))
    }

    pub fn find(&self, username: &str) -> Result<Option<Account>, AuthError> {
        let table = self.read()?;
        Ok(table
            .by_name
            .get(&normalise(username))
            .and_then(|id| table.by_id.get(id))
            .map(|r| r.account.clone()))
    }

    pub fn list(&self) -> Result<Vec<Account>, AuthError> {
        Ok(self
            .read()?
            .by_id
            .values()
            .map(|r| r.account.clone())
            .collect())
    }

    /// Disables (or re-enables) an account. Every mechanism that looks the account up refuses
    /// it from the next request; a JWT, which does not, keeps working until it expires.
    pub fn set_disabled(&self, id: AccountId, disabled: bool) -> Result<Account, AuthError> {
        let mut table = self.write()?;
        let record = table
            .by_id
            .get_mut(&id)
            .ok_or(AuthError::NotFound("account"))?;
        record.account.disabled = disabled;
        Ok(record.account.clone())
    }

    /// The stored PHC string of `username`'s password (for the tests that check what is kept).
    pub fn stored_hash(&self, username: &str) -> Result<Option<String>, AuthError> {
        let table = self.read()?;
        Ok(table
            .by_name
            .get(&normalise(username))
            .and_then(|id| table.by_id.get(id))
            .and_then(|r| r.phc.clone()))
    }

    /// Replaces `username`'s stored hash with one made elsewhere (an account imported from an
    /// older system, hashed with other parameters).
    pub fn import_hash(&self, username: &str, phc: String) -> Result<(), AuthError> {
        let mut table = self.write()?;
        let id = *table
            .by_name
            .get(&normalise(username))
            .ok_or(AuthError::NotFound("account"))?;
        if let Some(record) = table.by_id.get_mut(&id) {
            record.phc = Some(phc);
        }
        Ok(())
    }

    /// The local account an external identity logs in as: the one linked to `(issuer,
    /// subject)`, or a new reader account linked to it on first login. `preferred` (the
    /// provider's username claim) only names a new account; a taken name gets a suffix.
    pub fn link_external(
        &self,
        issuer: &str,
        subject: &str,
        preferred: &str,
    ) -> Result<Account, AuthError> {
        let key = (issuer.to_owned(), subject.to_owned());
        if let Some(account) = {
            let table = self.read()?;
            table
                .external
                .get(&key)
                .and_then(|id| table.by_id.get(id))
                .map(|r| r.account.clone())
        } {
            return Ok(account);
        }
        let base = match normalise(preferred) {
            name if name.is_empty() => "user".to_owned(),
            name => name,
        };
        let mut name = base.clone();
        let mut n = 1;
        let account = loop {
            match self.insert(&name, None, Role::Reader) {
                Ok(account) => break account,
                Err(AuthError::Invalid { .. }) => {
                    n += 1;
                    name = format!("{base}-{n}");
                }
                Err(other) => return Err(other),
            }
        };
        self.write()?.external.insert(key, account.id);
        Ok(account)
    }

    fn read(&self) -> Result<RwLockReadGuard<'_, Table>, AuthError> {
        self.table.read().map_err(|_| poisoned())
    }

    fn write(&self) -> Result<RwLockWriteGuard<'_, Table>, AuthError> {
        self.table.write().map_err(|_| poisoned())
    }
}

/// Usernames compare case-insensitively and without surrounding spaces, so `Rita` and ` rita`
/// are one account (and one throttle bucket).
pub fn normalise(username: &str) -> String {
    username.trim().to_lowercase()
}

fn invalid_username(message: &str) -> AuthError {
    AuthError::Invalid {
        field: "username",
        message: format!("the username {message}"),
    }
}

fn poisoned() -> AuthError {
    AuthError::Unexpected(anyhow::anyhow!("account table lock poisoned"))
}
