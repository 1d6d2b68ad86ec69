//! Performance goals: two targets this crate sets itself, and whether this run met them.

use serde::Serialize;
use support::narrate::Narrator;
use support::report::{Goal, Table, Unit};

use super::per_request_cost::PerRequestCost;

pub const TITLE: &str = "Performance goals";
/// The authorization check a handler pays (principal + role → permission) should stay under
/// this at the median (ns): cheap enough to run on every request without a cache.
pub const AUTHORIZE_TARGET_NS: f64 = 1_000.0;
/// Verifying an argon2id password per request should cost at least this many session or JWT
/// checks: the lesson of HTTP Basic, made visible.
pub const ARGON2_RATIO_TARGET: f64 = 1_000.0;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Goals {
    /// `Can<P>` median, ns; met below the target.
    pub authorize_ns: Goal,
    /// argon2id median over the slower of session lookup and JWT verification; met at or above.
    pub argon2_over_token: Goal,
}

pub fn section(n: &mut Narrator, cost: &PerRequestCost) -> anyhow::Result<Goals> {
    let authorize = cost.guard.p50_ns();
    let ratio = cost.argon2_over_token();
    let figures = Goals {
        authorize_ns: Goal::below(authorize, AUTHORIZE_TARGET_NS),
        argon2_over_token: Goal::at_least(ratio, ARGON2_RATIO_TARGET),
    };
    let mut table = Table::new("goal")
        .column("target", Unit::Text)
        .column("measured", Unit::Text)
        .column("met", Unit::Text);
    let g = figures.authorize_ns;
    table.row(
        "authorization check per request (p50)",
        [
            format!("< {} ns", g.target).into(),
            format!("{:.0} ns", g.measured).into(),
            g.verdict().into(),
        ],
    );
    let g = figures.argon2_over_token;
    table.row(
        "argon2id per request vs session/JWT check (p50 ratio)",
        [
            format!("≥ {}×", g.target).into(),
            format!("{:.0}×", g.measured).into(),
            g.verdict().into(),
        ],
    );
    n.table(table);
    n.figures(&figures)?;
    Ok(figures)
}
