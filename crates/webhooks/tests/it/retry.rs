//! The retry schedule: bounded jitter, growing waits, and an end.

use std::time::Duration;

use proptest::prelude::*;
use rand::SeedableRng as _;
use rand::rngs::StdRng;
use webhooks::config::Config;
use webhooks::retry::{describe, human, max_attempts, next_attempt};

fn schedule() -> impl Strategy<Value = Vec<Duration>> {
    prop::collection::vec((0u64..100_000_000).prop_map(Duration::from_millis), 0..12)
}

proptest! {
    #[test]
    fn every_wait_lies_between_its_base_and_base_times_one_plus_jitter(
        schedule in schedule(),
        jitter in 0.0f64..=1.0,
        seed: u64,
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        for (i, base) in schedule.iter().enumerate() {
            let attempt = u32::try_from(i + 1).unwrap();
            let wait = next_attempt(attempt, &schedule, jitter, &mut rng).unwrap();
            prop_assert!(wait >= *base, "{wait:?} < {base:?}");
            prop_assert!(wait <= base.mul_f64(1.0 + jitter), "{wait:?} > {base:?} × (1 + {jitter})");
        }
    }

    #[test]
    fn there_is_no_wait_past_the_end_of_the_schedule_or_before_the_first_attempt(
        schedule in schedule(),
        past in 1u32..1_000,
        seed: u64,
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let last = u32::try_from(schedule.len()).unwrap();
        prop_assert_eq!(next_attempt(last + past, &schedule, 0.2, &mut rng), None);
        prop_assert_eq!(next_attempt(0, &schedule, 0.2, &mut rng), None);
    }

    #[test]
    fn a_jitter_outside_zero_to_one_is_clamped_so_a_wait_never_shrinks_or_more_than_doubles(
        schedule in schedule(),
        jitter in prop_oneof![Just(f64::NAN), -10.0f64..0.0, 1.0f64..10.0, Just(f64::INFINITY)],
        seed: u64,
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        for (i, base) in schedule.iter().enumerate() {
            let wait = next_attempt(u32::try_from(i + 1).unwrap(), &schedule, jitter, &mut rng).unwrap();
            prop_assert!(wait >= *base && wait <= *base * 2, "{wait:?} for {base:?}");
        }
    }

    #[test]
    fn without_jitter_a_monotone_schedule_gives_monotone_waits(
        mut schedule in schedule(),
        seed: u64,
    ) {
        schedule.sort();
        let mut rng = StdRng::seed_from_u64(seed);
        let waits: Vec<Duration> = (1..=u32::try_from(schedule.len()).unwrap())
            .map(|n| next_attempt(n, &schedule, 0.0, &mut rng).unwrap())
            .collect();
        prop_assert_eq!(&waits, &schedule);
        prop_assert!(waits.windows(2).all(|w| w[0] <= w[1]));
    }
}

#[test]
fn the_production_and_compressed_schedules_never_shorten_and_allow_eight_attempts() {
    for config in [Config::default(), Config::compressed()] {
        let s = &config.retry_schedule;
        assert!(s.windows(2).all(|w| w[0] <= w[1]), "{s:?}");
        assert_eq!(max_attempts(s), 8);
    }
}

#[test]
fn the_schedule_reads_as_a_sentence_with_its_total() {
    let config = Config::default();
    assert_eq!(
        describe(&config.retry_schedule, config.jitter),
        "attempt 1 at once, then after 5s, 5m, 30m, 2h, 5h, 10h, 10h (each up to 20% later); \
         gives up after 8 attempts, at least 1d 3h 35m 5s after the first"
    );
    assert_eq!(human(Duration::from_millis(20)), "20ms");
    assert_eq!(human(Duration::from_millis(1_500)), "1s 500ms");
    assert_eq!(describe(&[], 0.2), "one attempt, never retried");
}
