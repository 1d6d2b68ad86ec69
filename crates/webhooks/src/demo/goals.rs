//! Performance goals: the two targets the lesson sets itself, and whether this run met them.

use serde::Serialize;
use support::narrate::Narrator;
use support::report::{Goal, Table, Unit, format_ratio};

use super::methods::{Method, Methods};

/// Webhook notice latency at the median, on loopback with the consumer up (ms).
pub const WEBHOOK_P50_TARGET_MS: f64 = 5.0;
/// Short polling at an interval that reaches the webhooks' p99 should need at least this many
/// times their requests.
pub const REQUEST_RATIO_TARGET: f64 = 100.0;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Goals {
    /// Webhooks' p50 notice latency; met below the target. `None` when nothing was delivered.
    pub webhook_p50_ms: Option<Goal>,
    /// Requests of the slowest short-polling interval that matched the webhooks' p99, over the
    /// webhooks' requests; met at or above the target. When no interval matched, the fastest
    /// one's ratio: a lower bound, since matching would take a shorter interval still.
    pub requests_vs_short_poll: Option<Goal>,
    /// The interval that ratio is taken at.
    pub short_poll_interval_ms: Option<u64>,
    /// Whether that interval reached the webhooks' p99 (false: the ratio is a lower bound).
    pub short_poll_matched: bool,
}

pub fn section(n: &mut Narrator, methods: &Methods) -> anyhow::Result<Goals> {
    n.section("Performance goals");
    let webhooks = methods.row(Method::Webhooks);
    let matched = methods.short_poll_matching_webhooks();
    let compared = matched.or_else(|| methods.short_polls().last().copied());
    let goals = Goals {
        webhook_p50_ms: webhooks
            .and_then(|w| w.p50_ms)
            .map(|p50| Goal::below(p50, WEBHOOK_P50_TARGET_MS)),
        requests_vs_short_poll: match (compared, webhooks) {
            (Some(poll), Some(hooks)) if hooks.requests > 0 => {
                #[allow(clippy::cast_precision_loss)]
                let ratio = poll.requests as f64 / hooks.requests as f64;
                Some(Goal::at_least(ratio, REQUEST_RATIO_TARGET))
            }
            _ => None,
        },
        short_poll_interval_ms: compared.and_then(|m| m.interval_ms),
        short_poll_matched: matched.is_some(),
    };
    let mut table = Table::new("goal")
        .column("target", Unit::Text)
        .column("measured", Unit::Text)
        .column("met", Unit::Text);
    let (measured, met) = goals
        .webhook_p50_ms
        .map_or(("nothing delivered".to_owned(), "no"), |g| {
            (format!("{:.2} ms", g.measured), g.verdict())
        });
    table.row(
        "webhook notice latency (p50)",
        [
            format!("< {WEBHOOK_P50_TARGET_MS} ms").into(),
            measured.into(),
            met.into(),
        ],
    );
    let (measured, met) = match (goals.requests_vs_short_poll, goals.short_poll_interval_ms) {
        (Some(g), Some(ms)) if goals.short_poll_matched => (
            format!("{} (short polling every {ms} ms)", format_ratio(g.measured)),
            g.verdict(),
        ),
        (Some(g), Some(ms)) => (
            format!(
                "at least {} (even every {ms} ms, short polling's p99 was later)",
                format_ratio(g.measured)
            ),
            g.verdict(),
        ),
        _ => ("no webhook or short-polling figures".to_owned(), "no"),
    };
    table.row(
        "short-polling requests at the webhooks' p99, over webhooks'",
        [
            format!("≥ {REQUEST_RATIO_TARGET}×").into(),
            measured.into(),
            met.into(),
        ],
    );
    n.table(table);
    n.figures(&goals)?;
    Ok(goals)
}
