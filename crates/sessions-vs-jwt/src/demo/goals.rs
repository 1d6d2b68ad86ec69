//! Performance goals: two targets this crate sets itself, and whether this run met them.

use serde::Serialize;
use support::narrate::Narrator;
use support::report::{Goal, Table, Unit};

use super::authentication_cost::AuthenticationCost;

pub const TITLE: &str = "Performance goals";
/// HS256 verification should cost no more than this at the median (µs): cheap enough that a
/// verify-only JWT is "no lookup, almost no work".
pub const HS256_TARGET_US: f64 = 5.0;
/// A Redis session lookup should cost at most this many bare `GET`s (median over median): the
/// store adds JSON and a timeout check to the round trip, and little else.
pub const REDIS_RATIO_TARGET: f64 = 1.3;

/// What this section found.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Goals {
    /// HS256 verification p50, µs; met when below the target.
    pub hs256_verify_us: Goal,
    /// Redis session p50 over bare `GET` p50; met at or under the target. `None` without Redis.
    pub redis_over_bare_get: Option<Goal>,
}

pub fn section(n: &mut Narrator, cost: &AuthenticationCost) -> anyhow::Result<Goals> {
    let hs = cost.hs256_verify.p50_us();
    let figures = Goals {
        hs256_verify_us: Goal::below(hs, HS256_TARGET_US),
        redis_over_bare_get: cost.redis.as_ref().map(|r| {
            let ratio = r.session.p50_us() / r.bare_get.p50_us();
            Goal::at_most(ratio, REDIS_RATIO_TARGET)
        }),
    };
    let mut table = Table::new("goal")
        .column("target", Unit::Text)
        .column("measured", Unit::Text)
        .column("met", Unit::Text);
    let g = figures.hs256_verify_us;
    table.row(
        "HS256 access-token verification (p50)",
        [
            format!("< {} µs", g.target).into(),
            format!("{:.2} µs", g.measured).into(),
            g.verdict().into(),
        ],
    );
    if let Some(g) = figures.redis_over_bare_get {
        table.row(
            "Redis session lookup vs bare GET (p50 ratio)",
            [
                format!("≤ {}×", g.target).into(),
                format!("{:.2}×", g.measured).into(),
                g.verdict().into(),
            ],
        );
    }
    n.table(table);
    n.figures(&figures)?;
    Ok(figures)
}
