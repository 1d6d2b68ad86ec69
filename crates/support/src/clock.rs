//! Time, injected: every expiry decision in this crate asks a [`Clock`], never the system.
//!
//! Sessions expire (idle and absolute timeouts), tokens expire (`exp`), become valid (`nbf`),
//! signing keys retire, authorization codes go stale and login throttles open again. Tests and
//! demos drive a [`ManualClock`] forward instead of sleeping, so "the token is still accepted 14
//! minutes later" is checked in microseconds and never flakes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch: the unit JWT claims (`exp`, `nbf`, `iat`) use, so every other
/// expiry uses it too and mechanisms are compared on the same scale.
pub type UnixSeconds = u64;

/// Where "now" comes from.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> UnixSeconds;
}

/// The real clock, for `serve` and for the parts of the demo that measure speed.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixSeconds {
        // A system clock before 1970 is a broken machine; treat it as the epoch, never panic.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// A clock that moves only when told to. Cloning shares the same time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock stopped at `now`.
    pub fn at(now: UnixSeconds) -> Self {
        Self(Arc::new(AtomicU64::new(now)))
    }

    /// A clock stopped at the current system time.
    pub fn starting_now() -> Self {
        Self::at(SystemClock.now())
    }

    /// Moves time forward.
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_secs(), Ordering::SeqCst);
    }

    /// Jumps to an absolute time (forwards or backwards: a test may want a clock set in 2011).
    pub fn set(&self, now: UnixSeconds) {
        self.0.store(now, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixSeconds {
        self.0.load(Ordering::SeqCst)
    }
}

/// The shared handle every component holds.
pub type SharedClock = Arc<dyn Clock>;
