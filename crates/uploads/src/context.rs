//! What every path's handlers share: the metadata database, the backend's storage directory,
//! the limits and the allowlist. Built once by the caller (main, the demo, a test).

use crate::inspect::{Allowlist, Limits};
use crate::metadata::Db;
use crate::storage::StorageDir;

#[derive(Debug, Clone)]
pub struct Shared {
    pub db: Db,
    pub dir: StorageDir,
    pub limits: Limits,
    pub allow: Allowlist,
}
