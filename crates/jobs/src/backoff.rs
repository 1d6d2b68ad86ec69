//! Retries with exponential backoff and jitter, as data.
//!
//! The schedule is a pure function of the policy and the job id: `delay(attempt)` is
//! `base × factor^(attempt-1)`, capped at `max`, then shrunk by up to `jitter` of itself. The
//! jitter spreads retries of many jobs that failed together (the mail service was down for a
//! second) so they do not all come back in the same millisecond. It is drawn from a hash of the
//! job id and the attempt instead of a random generator, so the schedule of a job can be printed
//! before it runs and checked by a test, and every worker computes the same one.
//!
//! Sidekiq's default is `(retry_count ** 4) + 15 + rand(10) * (retry_count + 1)` seconds for 25
//! attempts (about 20 days); Celery's `retry_backoff` / `retry_jitter` and BullMQ's
//! `backoff: { type: 'exponential', delay }` are the same idea with other constants.

use std::time::Duration;

use uuid::Uuid;

/// A retry policy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Delay before the second attempt (before jitter).
    pub base: Duration,
    /// Growth per attempt (2.0 doubles).
    pub factor: f64,
    /// No delay exceeds this (before jitter).
    pub max: Duration,
    /// Fraction of each delay that jitter may remove, 0.0 to 1.0.
    pub jitter: f64,
    /// Attempts in total, the first included; after the last failure the job is dead-lettered.
    pub max_attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(100),
            factor: 2.0,
            max: Duration::from_secs(30),
            jitter: 0.2,
            max_attempts: 5,
        }
    }
}

impl Backoff {
    /// The delay after failed attempt `attempt` (1-based) of job `id`, before attempt + 1.
    pub fn delay(&self, id: Uuid, attempt: u32) -> Duration {
        let exponent = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let raw = self.base.as_secs_f64() * self.factor.powi(exponent);
        let capped = raw.min(self.max.as_secs_f64());
        let jitter = self.jitter.clamp(0.0, 1.0) * unit_hash(id, attempt);
        Duration::from_secs_f64(capped * (1.0 - jitter))
    }

    /// Whether a job that just failed attempt `attempt` gets another one.
    pub fn retries_after(&self, attempt: u32) -> bool {
        attempt < self.max_attempts
    }

    /// The whole schedule of job `id`: the delay before attempt 2, 3, ... `max_attempts`.
    pub fn schedule(&self, id: Uuid) -> Vec<Duration> {
        (1..self.max_attempts).map(|a| self.delay(id, a)).collect()
    }
}

/// A number in [0, 1) from the job id and attempt (SplitMix64 finaliser over their bits).
fn unit_hash(id: Uuid, attempt: u32) -> f64 {
    let (hi, lo) = id.as_u64_pair();
    let mut x = hi ^ lo.rotate_left(17) ^ u64::from(attempt).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    // The top 53 bits make an exactly representable fraction.
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Every delay lies between (1 - jitter) × the capped exponential and the capped exponential.
        #[test]
        fn delays_stay_within_the_jitter_band(hi in any::<u64>(), lo in any::<u64>(), attempt in 1u32..40) {
            let policy = Backoff::default();
            let id = Uuid::from_u64_pair(hi, lo);
            let exact = (policy.base.as_secs_f64() * 2f64.powi(attempt as i32 - 1)).min(policy.max.as_secs_f64());
            let d = policy.delay(id, attempt).as_secs_f64();
            prop_assert!(d <= exact + 1e-9);
            prop_assert!(d >= exact * (1.0 - policy.jitter) - 1e-9);
        }

        /// The schedule is data: the same job always gets the same schedule.
        #[test]
        fn the_schedule_is_a_function_of_the_job_id(hi in any::<u64>(), lo in any::<u64>()) {
            let policy = Backoff::default();
            let id = Uuid::from_u64_pair(hi, lo);
            prop_assert_eq!(policy.schedule(id), policy.schedule(id));
            prop_assert_eq!(policy.schedule(id).len(), policy.max_attempts as usize - 1);
        }
    }

    #[test]
    fn without_jitter_each_delay_doubles_until_the_cap() {
        let policy = Backoff {
            base: Duration::from_millis(100),
            factor: 2.0,
            max: Duration::from_millis(500),
            jitter: 0.0,
            max_attempts: 6,
        };
        let ms: Vec<u128> = policy
            .schedule(Uuid::nil())
            .iter()
            .map(Duration::as_millis)
            .collect();
        assert_eq!(ms, [100, 200, 400, 500, 500]);
    }
}
