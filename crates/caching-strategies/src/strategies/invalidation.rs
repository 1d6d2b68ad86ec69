//! Invalidate on update versus update on write: what a writer does to the cached copy after it
//! wrote the store. Cache-aside takes either (see [`CacheAside`](crate::strategies::cache_aside::CacheAside)).
//!
//! - **Invalidate** (delete the key): the next reader reloads from the store. Simple and
//!   self-healing; costs one extra miss per write, and a slow reader that loaded *before* the
//!   write can still put the old value back after the delete (the cache-aside race, fixed with
//!   tombstones and versions in [`CacheAside::versioned`](crate::strategies::cache_aside::CacheAside::versioned)).
//! - **Update** (put the new value): no extra miss, but the writer must build exactly what a
//!   reader would have cached, and two concurrent writers can put their values in the opposite
//!   order to the one the store applied them in (fixed the same way: never go backwards in
//!   version).
//!
//! Write-through ([`WriteThrough`](crate::strategies::write_through::WriteThrough)) is update-on-write made
//! the cache layer's contract rather than a step each handler remembers.

use std::fmt;

/// What a writer does to the cached copy after the store accepted the write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnWrite {
    /// Delete the key; the next reader reloads.
    Invalidate,
    /// Put the new value.
    Update,
}

impl fmt::Display for OnWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Invalidate => "invalidate",
            Self::Update => "update",
        })
    }
}
