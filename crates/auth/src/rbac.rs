//! Role-based access control: roles map to permissions, and a route asks for one permission.
//!
//! The lesson in one sentence: *authentication* says who is calling (a 401 when it cannot), and
//! *authorization* says what they may do (a 403 when they may not). Every mechanism in this crate
//! ends in the same [`Permissions`] value, so the check below is one function for all of them.
//!
//! Permissions are bits, roles are constant sets of bits, and [`authorize`] is a single `AND`:
//! the check a request pays costs nanoseconds (the demo measures it), which is why it can run on
//! every request without a cache. What needs data, not just a role, stays beside it as an
//! ownership rule ("an author may edit only their own document", in `documents`), because no
//! role table can say which row belongs to whom.
//!
//! Production systems grow this into groups, per-tenant roles or a policy engine (OPA, Cedar,
//! Zanzibar-style relation tuples); the shape stays: resolve the caller's permissions once per
//! request, then ask a pure question per route.

use serde::{Deserialize, Serialize};

/// What a route can ask for. Each is one bit of [`Permissions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Permission {
    /// `GET /documents`, `GET /documents/{id}`.
    ReadDocuments,
    /// `POST /documents`.
    CreateDocuments,
    /// `PUT /documents/{id}` on a document the caller owns.
    EditOwnDocuments,
    /// `PUT /documents/{id}` on anyone's document.
    EditAnyDocument,
    /// `DELETE /documents/{id}`.
    DeleteDocuments,
    /// Create, list and revoke one's own API keys. Never granted to an API key itself: a leaked
    /// key must not be able to mint more keys.
    ManageOwnKeys,
    /// `GET /admin/accounts`, disabling an account.
    ManageAccounts,
}

impl Permission {
    /// Every permission, in bit order.
    pub const ALL: [Permission; 7] = [
        Permission::ReadDocuments,
        Permission::CreateDocuments,
        Permission::EditOwnDocuments,
        Permission::EditAnyDocument,
        Permission::DeleteDocuments,
        Permission::ManageOwnKeys,
        Permission::ManageAccounts,
    ];

    const fn bit(self) -> u16 {
        1 << self as u16
    }

    /// The name an API key's scope uses (`documents:read`, ...).
    pub fn scope(self) -> &'static str {
        match self {
            Permission::ReadDocuments => "documents:read",
            Permission::CreateDocuments => "documents:create",
            Permission::EditOwnDocuments => "documents:edit-own",
            Permission::EditAnyDocument => "documents:edit-any",
            Permission::DeleteDocuments => "documents:delete",
            Permission::ManageOwnKeys => "keys:manage",
            Permission::ManageAccounts => "accounts:manage",
        }
    }

    /// The permission a scope names; `None` for an unknown scope.
    pub fn from_scope(scope: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.scope() == scope)
    }
}

/// A set of permissions: one bit each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Permissions(u16);

impl Permissions {
    pub const NONE: Permissions = Permissions(0);

    /// The set holding exactly `list`.
    pub const fn of(list: &[Permission]) -> Permissions {
        let mut bits = 0;
        let mut i = 0;
        while i < list.len() {
            bits |= list[i].bit();
            i += 1;
        }
        Permissions(bits)
    }

    pub const fn contains(self, permission: Permission) -> bool {
        self.0 & permission.bit() != 0
    }

    /// What both sets allow: an API key's scopes cut down to what its owner may still do.
    pub const fn intersect(self, other: Permissions) -> Permissions {
        Permissions(self.0 & other.0)
    }

    pub const fn union(self, other: Permissions) -> Permissions {
        Permissions(self.0 | other.0)
    }

    pub const fn without(self, permission: Permission) -> Permissions {
        Permissions(self.0 & !permission.bit())
    }

    /// The permissions in the set, in bit order.
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .into_iter()
            .filter(move |p| self.contains(*p))
    }
}

/// The three roles, from least to most trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Reader,
    Author,
    Admin,
}

const READER: Permissions =
    Permissions::of(&[Permission::ReadDocuments, Permission::ManageOwnKeys]);
const AUTHOR: Permissions = Permissions::of(&[
    Permission::ReadDocuments,
    Permission::ManageOwnKeys,
    Permission::CreateDocuments,
    Permission::EditOwnDocuments,
]);
const ADMIN: Permissions = Permissions::of(&Permission::ALL);

impl Role {
    pub const ALL: [Role; 3] = [Role::Reader, Role::Author, Role::Admin];

    /// The role → permission table. A `match`, so a new role cannot be added without deciding
    /// what it may do.
    pub const fn permissions(self) -> Permissions {
        match self {
            Role::Reader => READER,
            Role::Author => AUTHOR,
            Role::Admin => ADMIN,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Author => "author",
            Role::Admin => "admin",
        }
    }
}

/// The authorization check: may a caller holding `granted` do what needs `needed`?
///
/// `Err` carries the missing permission, so the 403 can name it (the caller is known, so saying
/// what they lack leaks nothing they could not learn from their own role).
pub const fn authorize(granted: Permissions, needed: Permission) -> Result<(), Permission> {
    if granted.contains(needed) {
        Ok(())
    } else {
        Err(needed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_holds_the_one_below_it() {
        for p in Role::Reader.permissions().iter() {
            assert!(Role::Author.permissions().contains(p), "{p:?}");
        }
        for p in Role::Author.permissions().iter() {
            assert!(Role::Admin.permissions().contains(p), "{p:?}");
        }
    }

    #[test]
    fn every_scope_name_maps_back_to_its_permission() {
        for p in Permission::ALL {
            assert_eq!(Permission::from_scope(p.scope()), Some(p));
        }
        assert_eq!(Permission::from_scope("documents:*"), None);
    }

    #[test]
    fn a_reader_may_read_but_not_create() {
        assert_eq!(
            authorize(Role::Reader.permissions(), Permission::ReadDocuments),
            Ok(())
        );
        assert_eq!(
            authorize(Role::Reader.permissions(), Permission::CreateDocuments),
            Err(Permission::CreateDocuments)
        );
    }
}
