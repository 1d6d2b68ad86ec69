//! Alternative 4: API keys, for service-to-service calls.
//!
//! A key is a long random secret a service sends in `X-API-Key` on every request. The rules
//! that make it safe, each visible below:
//! - **Shown once.** [`ApiKeys::create`] returns the key; only its SHA-256 digest is stored, so
//!   a leaked table (or backup, or log of it) holds nothing that authenticates. A fast hash is
//!   right for 256 random bits (see `secrets`); argon2 here would only slow every request.
//! - **Identifiable by a prefix.** `bfk_<id>_<secret>`: the `bfk_` marks it for secret scanners
//!   (GitHub's push protection looks for exactly such prefixes), and the public `id` finds the
//!   row without scanning every digest, and names the key in lists, logs and revocations.
//! - **Scoped.** A key carries a subset of its owner's permissions, chosen at creation, and is
//!   cut down at every request to what the owner may still do. It can never manage keys.
//! - **Revocable, with last-used time.** A revoked key is refused on the next request; the
//!   last-used time tells an operator which keys are dead weight before revoking them.
//!
//! Production keeps the rows in the database and batches the last-used writes.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use actix_web::HttpRequest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use support::clock::{SharedClock, UnixSeconds};

use crate::accounts::Accounts;
use crate::credentials;
use crate::error::{API_KEY_HEADER, AuthError, Refusal};
use crate::principal::{AccountId, Mechanism, Principal};
use crate::rbac::{Permission, Permissions};
use crate::secrets;

/// Every key starts with this.
pub const KEY_PREFIX: &str = "bfk_";

/// What is stored per key: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredKey {
    /// The public part of the key, `bfk_<id>_...`.
    pub id: String,
    pub owner: AccountId,
    pub name: String,
    pub scopes: Permissions,
    /// SHA-256 of the whole key.
    #[serde(skip)]
    pub digest: [u8; 32],
    pub created_at: UnixSeconds,
    pub last_used_at: Option<UnixSeconds>,
    pub revoked_at: Option<UnixSeconds>,
}

/// A key as its owner sees it in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: UnixSeconds,
    pub last_used_at: Option<UnixSeconds>,
    pub revoked_at: Option<UnixSeconds>,
}

/// `POST /api-keys`'s body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewKey {
    pub name: String,
    pub scopes: Vec<String>,
}

/// `POST /api-keys`'s answer: the only time the key is ever shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreatedKey {
    pub key: String,
    #[serde(flatten)]
    pub info: KeyInfo,
}

impl From<&StoredKey> for KeyInfo {
    fn from(k: &StoredKey) -> Self {
        Self {
            id: k.id.clone(),
            name: k.name.clone(),
            scopes: k.scopes.iter().map(|p| p.scope().to_owned()).collect(),
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// The key table. Cloning shares it.
#[derive(Debug, Clone)]
pub struct ApiKeys {
    clock: SharedClock,
    keys: Arc<RwLock<BTreeMap<String, StoredKey>>>,
}

impl ApiKeys {
    pub fn new(clock: SharedClock) -> Self {
        Self {
            clock,
            keys: Arc::default(),
        }
    }

    /// Creates a key for `owner` with `request.scopes`, each of which the owner must hold and
    /// none of which may be key management. 422 otherwise.
    pub fn create(&self, owner: &Principal, request: &NewKey) -> Result<CreatedKey, AuthError> {
        let invalid = |message: String| AuthError::Invalid {
            field: "scopes",
            message,
        };
        let name = request.name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(AuthError::Invalid {
                field: "name",
                message: "a key needs a name of 1 to 100 characters".into(),
            });
        }
        if request.scopes.is_empty() {
            return Err(invalid("a key needs at least one scope".into()));
        }
        let mut scopes = Permissions::NONE;
        for scope in &request.scopes {
            let permission = Permission::from_scope(scope)
                .ok_or_else(|| invalid(format!("unknown scope `{scope}`")))?;
            if permission == Permission::ManageOwnKeys {
                return Err(invalid("a key cannot manage keys".into()));
            }
            if !owner.can(permission) {
                return Err(invalid(format!("you do not hold `{scope}` yourself")));
            }
            scopes = Permissions::of(&[permission]).union(scopes);
        }
        let mut id_bytes = [0u8; 9];
        aws_lc_rs::rand::fill(&mut id_bytes)
            .map_err(|_| anyhow::anyhow!("no system randomness"))?;
        let id = URL_SAFE_NO_PAD.encode(id_bytes).replace(['-', '_'], "x");
        let key = format!("{KEY_PREFIX}{id}_{}", secrets::random_token()?);
        let stored = StoredKey {
            id: id.clone(),
            owner: owner.account,
            name: name.to_owned(),
            scopes,
            digest: secrets::digest(&key),
            created_at: self.clock.now(),
            last_used_at: None,
            revoked_at: None,
        };
        let info = KeyInfo::from(&stored);
        self.write()?.insert(id, stored);
        Ok(CreatedKey { key, info })
    }

    /// `owner`'s keys, revoked ones included.
    pub fn list(&self, owner: AccountId) -> Result<Vec<KeyInfo>, AuthError> {
        Ok(self
            .read()?
            .values()
            .filter(|k| k.owner == owner)
            .map(KeyInfo::from)
            .collect())
    }

    /// Revokes one of `owner`'s keys (404 for someone else's: their existence is not ours to
    /// confirm). Idempotent.
    pub fn revoke(&self, owner: AccountId, id: &str) -> Result<KeyInfo, AuthError> {
        let now = self.clock.now();
        let mut keys = self.write()?;
        let key = keys
            .get_mut(id)
            .filter(|k| k.owner == owner)
            .ok_or(AuthError::NotFound("API key"))?;
        key.revoked_at.get_or_insert(now);
        Ok(KeyInfo::from(&*key))
    }

    /// Every stored row, as the database would hold them.
    pub fn stored(&self) -> Result<Vec<StoredKey>, AuthError> {
        Ok(self.read()?.values().cloned().collect())
    }

    /// Authenticates one request by its `X-API-Key`.
    pub fn authenticate(
        &self,
        req: &HttpRequest,
        accounts: &Accounts,
    ) -> Result<Principal, AuthError> {
        let refused = AuthError::Refused {
            mechanism: Mechanism::ApiKey,
            refusal: Refusal::BadApiKey,
        };
        let key = credentials::header(req, API_KEY_HEADER, Mechanism::ApiKey)?
            .ok_or(AuthError::MissingCredentials(Mechanism::ApiKey))?;
        let id = key
            .strip_prefix(KEY_PREFIX)
            .and_then(|rest| rest.split_once('_'))
            .map(|(id, _)| id)
            .ok_or(AuthError::Malformed {
                mechanism: Mechanism::ApiKey,
                reason: "an API key looks like bfk_<id>_<secret>",
            })?;
        let digest = secrets::digest(key);
        let stored = {
            let mut keys = self.write()?;
            let Some(stored) = keys.get_mut(id) else {
                return Err(refused);
            };
            if !secrets::same(&stored.digest, &digest) || stored.revoked_at.is_some() {
                return Err(refused);
            }
            stored.last_used_at = Some(self.clock.now());
            stored.clone()
        };
        let owner = accounts.get(stored.owner)?.ok_or(refused)?;
        if owner.disabled {
            return Err(AuthError::Refused {
                mechanism: Mechanism::ApiKey,
                refusal: Refusal::AccountDisabled,
            });
        }
        let mut principal =
            Principal::new(owner.id, &owner.username, owner.role, Mechanism::ApiKey);
        principal.permissions = owner
            .role
            .permissions()
            .intersect(stored.scopes)
            .without(Permission::ManageOwnKeys);
        Ok(principal)
    }

    fn read(&self) -> Result<RwLockReadGuard<'_, BTreeMap<String, StoredKey>>, AuthError> {
        self.keys.read().map_err(|_| poisoned())
    }

    fn write(&self) -> Result<RwLockWriteGuard<'_, BTreeMap<String, StoredKey>>, AuthError> {
        self.keys.write().map_err(|_| poisoned())
    }
}

fn poisoned() -> AuthError {
    AuthError::Unexpected(anyhow::anyhow!("API key table lock poisoned"))
}
