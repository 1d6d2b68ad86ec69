//! A token bucket per client: why `429 Too Many Requests` comes with `Retry-After`.
//!
//! Each token has a bucket of `burst` tokens that refills at `per_second`. A write takes one token;
//! an empty bucket answers 429 and says, in whole seconds, when the next token will be there, so a
//! well-behaved client waits exactly that long instead of hammering. The clock is a parameter so
//! the arithmetic can be tested without waiting. One instance's memory only: behind a load
//! balancer each instance would count separately, and production keeps buckets in Redis.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Burst size and refill rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub burst: u32,
    pub per_second: f64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Buckets by client key.
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `key` at time `now`. `Err(seconds)` says when to retry.
    pub fn take(&self, key: &str, now: Instant) -> Result<(), u64> {
        let Ok(mut buckets) = self.buckets.lock() else {
            // A poisoned limiter fails open: refusing all writes would be worse than not limiting.
            return Ok(());
        };
        let burst = f64::from(self.limit.burst);
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.limit.per_second).min(burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait = (1.0 - bucket.tokens) / self.limit.per_second.max(f64::MIN_POSITIVE);
        // Retry-After is whole seconds; round up so the client never comes back too early.
        Err(wait.ceil().max(1.0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_burst_is_allowed_then_refused_until_the_bucket_refills() {
        let limiter = RateLimiter::new(RateLimit {
            burst: 2,
            per_second: 0.5,
        });
        let t0 = Instant::now();
        assert_eq!(limiter.take("a", t0), Ok(()));
        assert_eq!(limiter.take("a", t0), Ok(()));
        assert_eq!(limiter.take("a", t0), Err(2));
        // Another client has its own bucket.
        assert_eq!(limiter.take("b", t0), Ok(()));
        // Two seconds later one token is back.
        assert_eq!(limiter.take("a", t0 + Duration::from_secs(2)), Ok(()));
        assert!(limiter.take("a", t0 + Duration::from_secs(2)).is_err());
    }
}
