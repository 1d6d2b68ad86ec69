//! Typed configuration, built once in `main` (or a test) and passed down.

use support::Settings;

use crate::page::Limits;

/// Optional `PAGINATION_CURSOR_KEY`: the HMAC key for cursors. Unset, each process draws a random
/// key, so cursors do not survive a restart; production sets one shared by every instance.
pub const CURSOR_KEY_VAR: &str = "PAGINATION_CURSOR_KEY";

/// Everything this crate is configured with.
#[derive(Debug, Clone)]
pub struct Config {
    pub settings: Settings,
    pub cursor_key: Vec<u8>,
    pub limits: Limits,
    /// Database connections per pool (one per core is plenty for this workload).
    pub pool_size: usize,
}

impl Config {
    /// Reads the cursor key from the environment, or draws a random one.
    pub fn from_settings(settings: Settings) -> Self {
        let cursor_key = std::env::var(CURSOR_KEY_VAR)
            .ok()
            .filter(|k| !k.is_empty())
            .map_or_else(|| rand::random::<[u8; 32]>().to_vec(), String::into_bytes);
        Self {
            settings,
            cursor_key,
            limits: Limits::default(),
            pool_size: 4,
        }
    }
}
