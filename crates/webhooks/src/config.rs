//! The crate's one typed configuration, built once and passed down; nothing reads the
//! environment after that.

use std::time::Duration;

/// How deliveries are signed, checked, retried and given up on.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// How far a `webhook-timestamp` may be from the consumer's clock before the delivery is
    /// refused as a replay (the Standard Webhooks reference libraries use five minutes).
    pub tolerance: Duration,
    /// The wait before each retry after a failed attempt (attempt 1 is immediate). The
    /// specification's suggested schedule is the production default; the demo and the tests
    /// scale it down.
    pub retry_schedule: Vec<Duration>,
    /// Up to this fraction of each wait is added at random, so endpoints that failed together do
    /// not all retry in the same instant.
    pub jitter: f64,
    /// An endpoint whose deliveries fail this many times in a row is disabled, and its owner told.
    pub disable_after: u32,
    /// The per-attempt HTTP timeout: a consumer that holds the request longer has failed it.
    pub attempt_timeout: Duration,
    /// Allow endpoint URLs on loopback (tests and the demo, whose consumer runs on 127.0.0.1).
    /// Private and link-local targets stay refused even then.
    pub allow_loopback: bool,
}

impl Default for Config {
    /// The production defaults.
    fn default() -> Self {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        Self {
            tolerance: minutes(5),
            // Standard Webhooks' suggested schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
            retry_schedule: vec![
                Duration::from_secs(5),
                minutes(5),
                minutes(30),
                minutes(120),
                minutes(300),
                minutes(600),
                minutes(600),
            ],
            jitter: 0.2,
            disable_after: 8,
            attempt_timeout: Duration::from_secs(15),
            allow_loopback: false,
        }
    }
}

impl Config {
    /// The same shape on a compressed clock (milliseconds for minutes), loopback allowed: what the
    /// demo and the tests run, so a whole retry schedule plays out in about a second.
    pub fn compressed() -> Self {
        let ms = Duration::from_millis;
        Self {
            retry_schedule: vec![ms(5), ms(20), ms(50), ms(100), ms(200), ms(400), ms(400)],
            attempt_timeout: ms(500),
            allow_loopback: true,
            ..Self::default()
        }
    }
}
