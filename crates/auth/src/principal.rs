//! Who is calling: what every mechanism produces, and the mechanisms themselves.
//!
//! Five ways in, one way out. Basic, the session cookie, the JWT, the API key (and OAuth2, which
//! ends in a session) each turn a request into a [`Principal`]; the routes see only that. This
//! is what keeps the authorization rules identical whichever door the caller came through, and
//! why the RBAC matrix in the demo has the same shape on every row.

use serde::Serialize;

use crate::rbac::{Permission, Permissions, Role};

/// An account's id.
pub type AccountId = u64;

/// How a request proved who it is. Each mechanism is mounted under its own prefix, so the same
/// routes can be reached through each of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mechanism {
    /// `Authorization: Basic base64(user:password)` on every request (RFC 7617).
    Basic,
    /// A session cookie set at login, plus a CSRF token on state-changing requests.
    Session,
    /// `Authorization: Bearer <JWT>` (RFC 6750), a short-lived signed token.
    Jwt,
    /// `X-API-Key: <key>`, for services.
    ApiKey,
}

impl Mechanism {
    pub const ALL: [Mechanism; 4] = [
        Mechanism::Basic,
        Mechanism::Session,
        Mechanism::Jwt,
        Mechanism::ApiKey,
    ];

    /// The route prefix it is mounted under.
    pub fn prefix(self) -> &'static str {
        match self {
            Mechanism::Basic => "/basic",
            Mechanism::Session => "/session",
            Mechanism::Jwt => "/jwt",
            Mechanism::ApiKey => "/apikey",
        }
    }

    /// The row label every table uses.
    pub fn label(self) -> &'static str {
        match self {
            Mechanism::Basic => "HTTP Basic",
            Mechanism::Session => "session cookie",
            Mechanism::Jwt => "JWT bearer",
            Mechanism::ApiKey => "API key",
        }
    }
}

/// The authenticated caller, as every route sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    pub account: AccountId,
    pub username: String,
    pub role: Role,
    pub mechanism: Mechanism,
    /// What this request may do: the role's permissions, cut down to an API key's scopes.
    pub permissions: Permissions,
}

impl Principal {
    /// A principal with everything its role grants.
    pub fn new(account: AccountId, username: &str, role: Role, mechanism: Mechanism) -> Self {
        Self {
            account,
            username: username.to_owned(),
            role,
            mechanism,
            permissions: role.permissions(),
        }
    }

    pub fn can(&self, permission: Permission) -> bool {
        self.permissions.contains(permission)
    }
}
