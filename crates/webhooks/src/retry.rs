//! When to try again after a failed delivery: a fixed schedule of growing waits, each stretched
//! by a bounded random amount.
//!
//! Why a schedule and not "retry at once until it works": an endpoint that is down stays down for
//! a while, and hammering it wastes both sides' capacity and can keep it down. Growing waits
//! (Standard Webhooks suggests 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h) cover an outage of about
//! a day in eight attempts. Why jitter: a thousand endpoints behind one load balancer that failed
//! together would otherwise all be retried in the same millisecond, and fail together again. The
//! jitter only ever adds (a wait is within `[base, base × (1 + jitter)]`), so the schedule's
//! figures stay the minimum a consumer can count on.
//!
//! Everything here is pure: the caller passes the random source, so tests pass a seeded one.

use std::time::Duration;

use rand::RngExt as _;

/// The wait after attempt number `failed_attempt` (the first attempt is 1) failed, or `None`
/// when that was the last one the schedule allows: give up. Attempt 0 does not exist and also
/// gets `None`.
///
/// `jitter` is clamped to `[0, 1]` (a NaN counts as 0), so a bad configuration can neither
/// shorten a wait nor more than double it.
pub fn next_attempt(
    failed_attempt: u32,
    schedule: &[Duration],
    jitter: f64,
    rng: &mut impl rand::Rng,
) -> Option<Duration> {
    let index = usize::try_from(failed_attempt.checked_sub(1)?).ok()?;
    let base = *schedule.get(index)?;
    let jitter = if jitter.is_nan() {
        0.0
    } else {
        jitter.clamp(0.0, 1.0)
    };
    // random::<f64>() is in [0, 1): the added part is below base × jitter, never above it.
    let extra = base.mul_f64(jitter * rng.random::<f64>());
    Some(base + extra)
}

/// How many attempts a delivery gets in all: the first, then one per wait.
pub fn max_attempts(schedule: &[Duration]) -> usize {
    schedule.len() + 1
}

/// The schedule in words, for the demo and the logs: `attempt 1 at once, then after 5s, 5m, 30m,
/// 2h, 5h, 10h, 10h (each up to 20% later); gives up after 8 attempts, at least 1d 3h 35m 5s
/// after the first`.
pub fn describe(schedule: &[Duration], jitter: f64) -> String {
    if schedule.is_empty() {
        return "one attempt, never retried".to_owned();
    }
    let waits: Vec<String> = schedule.iter().copied().map(human).collect();
    let total: Duration = schedule.iter().sum();
    let jitter = if jitter.is_nan() {
        0.0
    } else {
        jitter.clamp(0.0, 1.0)
    };
    let spread = if jitter > 0.0 {
        format!(" (each up to {:.0}% later)", jitter * 100.0)
    } else {
        String::new()
    };
    format!(
        "attempt 1 at once, then after {}{spread}; gives up after {} attempts, at least {} after the first",
        waits.join(", "),
        max_attempts(schedule),
        human(total),
    )
}

/// `1d 3h 35m 5s`, `20ms`: the largest units first, zero parts left out.
pub fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        return format!("{}ms", d.as_millis());
    }
    let mut secs = d.as_secs();
    let mut parts = Vec::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            parts.push(format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    let millis = d.subsec_millis();
    if millis > 0 {
        parts.push(format!("{millis}ms"));
    }
    parts.join(" ")
}
