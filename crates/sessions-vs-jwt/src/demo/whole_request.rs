//! Per request, part 4: the whole `GET /me` over loopback HTTP, so the authentication step is
//! seen at its real scale beside parsing, routing and the socket.

use std::time::Duration;

use support::measure::{Measurement, Plan, measure};
use support::narrate::Narrator;
use support::report::{Chart, Table, format_number};

use super::authentication_cost::AuthenticationCost;
use super::{Bench, Mechanism, PerMechanism, status_of};

/// `GET {prefix}/me` per mechanism, with A's credentials.
pub type WholeRequest = PerMechanism<Measurement>;

/// Above this share of the whole request, the authentication step is not "a small part" of it.
pub const SMALL_PART: f64 = 0.5;

pub async fn section(
    n: &mut Narrator,
    bench: &Bench<'_>,
    cost: &AuthenticationCost,
) -> anyhow::Result<WholeRequest> {
    let args = bench.args;
    let plan = Plan::iterations(args.pick(2_000, 100)).budget(Duration::from_secs(args.pick(3, 1)));
    let figures = PerMechanism::measure(bench.creds.redis.is_some(), |mechanism| async move {
        let credential = bench
            .creds
            .for_mechanism(mechanism)
            .ok_or_else(|| anyhow::anyhow!("no credential for {}", mechanism.label()))?;
        let url = bench.a.server.url(&format!("{}/me", mechanism.prefix()));
        Ok(measure(plan, |_| async {
            matches!(
                status_of(&bench.http, url.clone(), credential).await,
                Ok(200)
            )
        })
        .await)
    })
    .await?;

    let mut table = Table::latency("GET /me")
        .ratio_against("p50", Mechanism::MemorySession.label())
        .chart(
            Chart::bars()
                .of(&["p50", "p99"])
                .titled("A whole GET /me over loopback HTTP"),
        );
    for (mechanism, m) in figures.iter() {
        table.row_measured(mechanism.label(), m, []);
    }
    n.say(&lesson(&figures, cost));
    n.table(table);
    n.figures(&figures)?;
    Ok(figures)
}

/// How large the authentication step (timed in-process) is beside the whole request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AuthShare {
    /// At most [`SMALL_PART`] of every mechanism's median request.
    Small,
    /// More than [`SMALL_PART`] of this mechanism's request (the largest share): `auth / whole`.
    Most(Mechanism, f64),
    /// The in-process median came out above the whole request's (`auth`, `whole`, µs). The
    /// two are timed separately, under whatever else the machine was doing at the time, so a
    /// loaded run can produce this; it says the two cannot be compared, not that HTTP is free.
    Exceeds(Mechanism, f64, f64),
}

/// Compares each mechanism's in-process authentication median with its whole-request median.
pub fn auth_share(whole: &WholeRequest, cost: &AuthenticationCost) -> AuthShare {
    let shares: Vec<(Mechanism, f64, f64)> = whole
        .iter()
        .filter_map(|(m, w)| Some((m, cost.for_mechanism(m)?.p50_us(), w.p50_us())))
        .collect();
    let largest = shares
        .iter()
        .copied()
        .max_by(|a, b| (a.1 / a.2).total_cmp(&(b.1 / b.2)));
    match largest {
        Some((m, auth, whole)) if auth > whole => AuthShare::Exceeds(m, auth, whole),
        Some((m, auth, whole)) if auth / whole > SMALL_PART => AuthShare::Most(m, auth / whole),
        _ => AuthShare::Small,
    }
}

fn lesson(whole: &WholeRequest, cost: &AuthenticationCost) -> String {
    let us = |v: f64| format!("{} µs", format_number(v));
    match auth_share(whole, cost) {
        AuthShare::Small => {
            "The whole request over loopback HTTP: the authentication step is a small part of it."
                .to_owned()
        }
        AuthShare::Most(m, share) => format!(
            "The whole request over loopback HTTP: for the {} the authentication step is most of it ({} % of the median).",
            m.label(),
            format_number(share * 100.0)
        ),
        AuthShare::Exceeds(m, auth, whole) => format!(
            "The whole request over loopback HTTP. (For the {} the in-process median above, {}, came out larger than the whole request's, {}: the two were timed under different load, so this run cannot say what share of a request authentication is.)",
            m.label(),
            us(auth),
            us(whole)
        ),
    }
}
