//! Measuring: the only place a demo's numbers come from.
//!
//! A [`Plan`] says how much to run (a count, a time budget, or both: whichever ends first), how
//! much to run first without recording (warm-up: connection pools fill, caches load, the CPU
//! clocks up), and how many operations to keep in flight at once. [`measure`] runs an async
//! operation under a plan; [`measure_sync`] runs a synchronous one that may take well under a
//! microsecond, timing it in batches so the clock's own cost does not swamp the result.
//!
//! Latencies go into an HDR histogram (3 significant digits) in picoseconds, so a 40 ns moka hit
//! and a 40 ms aggregation land in the same structure without losing precision.

use std::future::Future;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use hdrhistogram::Histogram;

/// How much to run, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Operations run first and not recorded (also stopped by `budget`).
    pub warmup: u64,
    /// Recorded operations, at most.
    pub iterations: u64,
    /// Recording stops when this much time has passed, even if `iterations` is not reached.
    pub budget: Duration,
    /// Operations in flight at once (1 = one after another).
    pub concurrency: usize,
}

impl Plan {
    /// `iterations` operations one after another, a tenth of that as warm-up, at most 10 s.
    pub fn iterations(iterations: u64) -> Self {
        Self {
            warmup: (iterations / 10).max(1),
            iterations,
            budget: Duration::from_secs(10),
            concurrency: 1,
        }
    }

    /// Keep `concurrency` operations in flight.
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// Stop recording after `budget`, whatever the count.
    pub fn budget(mut self, budget: Duration) -> Self {
        self.budget = budget;
        self
    }

    /// Run `warmup` unrecorded operations first.
    pub fn warmup(mut self, warmup: u64) -> Self {
        self.warmup = warmup;
        self
    }

    /// A tenth of the iterations (at least one) and a tenth of the budget, for `--quick` runs.
    pub fn scaled_for(self, quick: bool) -> Self {
        if !quick {
            return self;
        }
        Self {
            warmup: (self.warmup / 10).max(1),
            iterations: (self.iterations / 10).max(1),
            budget: self.budget / 10,
            concurrency: self.concurrency,
        }
    }
}

/// Whether one operation succeeded. Failed operations are counted, not timed.
pub trait Outcome {
    fn succeeded(&self) -> bool;
}

impl Outcome for () {
    fn succeeded(&self) -> bool {
        true
    }
}

impl Outcome for bool {
    fn succeeded(&self) -> bool {
        *self
    }
}

impl<T, E> Outcome for Result<T, E> {
    fn succeeded(&self) -> bool {
        self.is_ok()
    }
}

/// What a plan measured. Durations are wall-clock per operation.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Measurement {
    /// Operations that succeeded and were timed.
    pub ok: u64,
    /// Operations that failed.
    pub errors: u64,
    /// Wall time of the recorded phase.
    #[serde(with = "micros")]
    pub elapsed: Duration,
    #[serde(with = "micros")]
    pub mean: Duration,
    #[serde(with = "micros")]
    pub p50: Duration,
    #[serde(with = "micros")]
    pub p90: Duration,
    #[serde(with = "micros")]
    pub p99: Duration,
    #[serde(with = "micros")]
    pub max: Duration,
    /// Successful operations per second over the recorded phase.
    pub throughput: f64,
}

impl Measurement {
    /// One operation whose every figure is `d`: what a test of text derived from figures builds
    /// (a closing paragraph, a goal) without running anything.
    pub fn flat(d: Duration) -> Self {
        Self {
            ok: 1,
            errors: 0,
            elapsed: d,
            mean: d,
            p50: d,
            p90: d,
            p99: d,
            max: d,
            throughput: 1.0,
        }
    }

    fn from_histogram(hist: &Histogram<u64>, errors: u64, elapsed: Duration) -> Self {
        let at = |q: f64| picos(hist.value_at_quantile(q));
        let ok = hist.len();
        let secs = elapsed.as_secs_f64();
        Self {
            ok,
            errors,
            elapsed,
            mean: Duration::from_secs_f64(hist.mean() / 1e12),
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: picos(hist.max()),
            throughput: if secs > 0.0 { ok as f64 / secs } else { 0.0 },
        }
    }

    /// Median in microseconds, the unit most tables print.
    pub fn p50_us(&self) -> f64 {
        self.p50.as_secs_f64() * 1e6
    }

    /// 99th percentile in microseconds.
    pub fn p99_us(&self) -> f64 {
        self.p99.as_secs_f64() * 1e6
    }

    /// Median in nanoseconds, for operations far below a microsecond.
    pub fn p50_ns(&self) -> f64 {
        self.p50.as_secs_f64() * 1e9
    }
}

fn picos(value: u64) -> Duration {
    Duration::from_nanos(value / 1000) + Duration::from_secs_f64((value % 1000) as f64 / 1e12)
}

/// The largest latency recorded exactly: 10,000 s in picoseconds. Longer ones saturate.
const HIGHEST_PICOS: u64 = 10_000 * 1_000_000_000_000;

fn new_histogram() -> Histogram<u64> {
    // Constant, valid bounds (1 ps to 10,000 s, 3 significant digits) cannot fail to construct.
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, HIGHEST_PICOS, 3).expect("constant histogram bounds are valid")
}

fn record(hist: &mut Histogram<u64>, elapsed: Duration) {
    let value = u64::try_from(elapsed.as_nanos().saturating_mul(1000)).unwrap_or(u64::MAX);
    hist.saturating_record(value.max(1));
}

/// Runs `op` under `plan` and measures each call's latency.
///
/// Concurrency comes from keeping `plan.concurrency` futures in flight inside this task, not from
/// spawning: the operation may then borrow from the caller, and the numbers measure the system
/// under test (a server, a pool, a broker) rather than the scheduler.
pub async fn measure<F, Fut>(plan: Plan, op: F) -> Measurement
where
    F: Fn(u64) -> Fut,
    Fut: Future,
    Fut::Output: Outcome,
{
    let timed = |i: u64| {
        let fut = op(i);
        async move {
            let started = Instant::now();
            let outcome = fut.await;
            (started.elapsed(), outcome.succeeded())
        }
    };

    // Warm-up: same concurrency, nothing recorded, bounded by the same budget as the real run.
    let warmup_deadline = Instant::now() + plan.budget;
    run_window(
        plan.warmup,
        plan.concurrency,
        Some(warmup_deadline),
        &timed,
        |_, _| {},
    )
    .await;

    let mut hist = new_histogram();
    let mut errors = 0;
    let started = Instant::now();
    let deadline = started + plan.budget;
    run_window(
        plan.iterations,
        plan.concurrency,
        Some(deadline),
        &timed,
        |elapsed, ok| {
            if ok {
                record(&mut hist, elapsed);
            } else {
                errors += 1;
            }
        },
    )
    .await;
    Measurement::from_histogram(&hist, errors, started.elapsed())
}

/// Keeps up to `concurrency` calls in flight until `count` have started or the deadline passes.
async fn run_window<T, Fut>(
    count: u64,
    concurrency: usize,
    deadline: Option<Instant>,
    timed: &T,
    mut on_done: impl FnMut(Duration, bool),
) where
    T: Fn(u64) -> Fut,
    Fut: Future<Output = (Duration, bool)>,
{
    let mut in_flight = FuturesUnordered::new();
    let mut started = 0u64;
    let past_deadline = || deadline.is_some_and(|d| Instant::now() >= d);
    while started < count && in_flight.len() < concurrency {
        in_flight.push(timed(started));
        started += 1;
    }
    while let Some((elapsed, ok)) = in_flight.next().await {
        on_done(elapsed, ok);
        if started < count && !past_deadline() {
            in_flight.push(timed(started));
            started += 1;
        }
    }
}

/// Measures two async operations in alternation, `a` then `b`, then `b` then `a`, one call at a
/// time, under one `plan` (its iteration count and budget are per operation; concurrency is
/// ignored).
///
/// For a comparison whose claim is "these two cost the same" (an unknown username against a
/// wrong password, say): measured one after the other, a burst of load on a shared machine lands
/// on one of them and becomes a difference; interleaved, it lands on both. Alternating the order
/// also cancels any advantage of going first or second.
pub async fn measure_interleaved<A, FutA, B, FutB>(
    plan: Plan,
    a: A,
    b: B,
) -> (Measurement, Measurement)
where
    A: Fn(u64) -> FutA,
    FutA: Future,
    FutA::Output: Outcome,
    B: Fn(u64) -> FutB,
    FutB: Future,
    FutB::Output: Outcome,
{
    for i in 0..plan.warmup {
        let _ = a(i).await;
        let _ = b(i).await;
    }
    let (mut hist_a, mut hist_b) = (new_histogram(), new_histogram());
    let (mut errors_a, mut errors_b) = (0, 0);
    let started = Instant::now();
    let mut i = 0;
    while i < plan.iterations && started.elapsed() < plan.budget {
        for first in [i % 2 == 0, i % 2 != 0] {
            let begun = Instant::now();
            let ok = if first {
                a(i).await.succeeded()
            } else {
                b(i).await.succeeded()
            };
            let elapsed = begun.elapsed();
            let (hist, errors) = if first {
                (&mut hist_a, &mut errors_a)
            } else {
                (&mut hist_b, &mut errors_b)
            };
            if ok {
                record(hist, elapsed);
            } else {
                *errors += 1;
            }
        }
        i += 1;
    }
    let elapsed = started.elapsed();
    (
        Measurement::from_histogram(&hist_a, errors_a, elapsed),
        Measurement::from_histogram(&hist_b, errors_b, elapsed),
    )
}

/// Runs a synchronous `op` under `plan` (concurrency is ignored) and measures its latency.
///
/// Each sample times a batch of calls and records the batch time divided by the batch size, so an
/// operation of a few nanoseconds is not drowned by the ~20 ns it costs to read the clock. The
/// batch size is picked during warm-up so one batch lasts about two microseconds; the percentiles
/// are therefore percentiles of batch means, which is what a sub-microsecond figure can honestly be.
/// Wrap inputs and results in [`std::hint::black_box`] so the optimiser cannot delete the work.
pub fn measure_sync<F, O>(plan: Plan, mut op: F) -> Measurement
where
    F: FnMut() -> O,
    O: Outcome,
{
    // Warm-up doubles as calibration; like the real run it stops at the budget.
    let calibration_start = Instant::now();
    let mut calibration_calls = 0u64;
    while calibration_calls < plan.warmup.max(1) && calibration_start.elapsed() < plan.budget {
        let _ = std::hint::black_box(op());
        calibration_calls += 1;
    }
    let per_call = calibration_start.elapsed() / u32::try_from(calibration_calls).unwrap_or(1);
    let batch = if per_call.is_zero() {
        1000
    } else {
        (Duration::from_micros(2).as_nanos() / per_call.as_nanos().max(1)).clamp(1, 1000) as u64
    };

    let mut hist = new_histogram();
    let mut errors = 0;
    let started = Instant::now();
    let mut done = 0u64;
    while done < plan.iterations && started.elapsed() < plan.budget {
        let size = batch.min(plan.iterations - done);
        let batch_start = Instant::now();
        let mut failed = 0;
        for _ in 0..size {
            if !std::hint::black_box(op()).succeeded() {
                failed += 1;
            }
        }
        let each = batch_start.elapsed() / u32::try_from(size).unwrap_or(u32::MAX);
        for _ in 0..(size - failed) {
            record(&mut hist, each);
        }
        errors += failed;
        done += size;
    }
    Measurement::from_histogram(&hist, errors, started.elapsed())
}

/// Serialises a duration as fractional microseconds, the unit a chart wants.
mod micros {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1e6)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let us = f64::deserialize(d)?;
        Ok(Duration::from_secs_f64(us.max(0.0) / 1e6))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn every_planned_operation_runs_once_plus_warmup() {
        let calls = AtomicU64::new(0);
        let m = measure(Plan::iterations(50).warmup(5), |_| async {
            calls.fetch_add(1, Ordering::Relaxed);
        })
        .await;
        assert_eq!(m.ok, 50);
        assert_eq!(calls.load(Ordering::Relaxed), 55);
    }

    #[tokio::test]
    async fn concurrency_keeps_that_many_operations_in_flight() {
        let in_flight = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        measure(Plan::iterations(40).warmup(0).concurrency(4), |_| async {
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            tokio::task::yield_now().await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
        })
        .await;
        assert_eq!(peak.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn failures_are_counted_and_not_timed() {
        let m = measure(Plan::iterations(10).warmup(0), |i| async move {
            if i % 2 == 0 { Ok(()) } else { Err("odd") }
        })
        .await;
        assert_eq!((m.ok, m.errors), (5, 5));
    }

    #[tokio::test]
    async fn percentiles_reflect_real_waiting() {
        let m = measure(Plan::iterations(5).warmup(0), |_| {
            tokio::time::sleep(Duration::from_millis(2))
        })
        .await;
        assert!(m.p50 >= Duration::from_millis(2), "{m:?}");
        assert!(m.p50 <= m.p99 && m.p99 <= m.max);
    }

    #[test]
    fn sub_microsecond_operations_are_measured_in_batches() {
        let m = measure_sync(Plan::iterations(10_000), || {
            std::hint::black_box(1u64 + 1) == 2
        });
        assert_eq!(m.ok, 10_000);
        assert!(m.p50 < Duration::from_micros(1), "{m:?}");
    }

    #[test]
    fn the_budget_stops_a_long_run() {
        let plan = Plan::iterations(u64::MAX).budget(Duration::from_millis(20));
        let m = measure_sync(plan, || std::thread::sleep(Duration::from_micros(50)));
        assert!(m.elapsed < Duration::from_millis(200), "{m:?}");
    }
}
