//! Per request, part 4: the whole `GET /me` over loopback HTTP, so the authentication step is
//! seen at its real scale beside parsing, routing and the socket.

use std::time::Duration;

use support::measure::{Measurement, Plan, measure};
use support::narrate::Narrator;
use support::report::Table;

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

    let mut table =
        Table::latency("GET /me").ratio_against("p50", Mechanism::MemorySession.label());
    for (mechanism, m) in figures.iter() {
        table.row_measured(mechanism.label(), m, []);
    }
    n.say(&lesson(&figures, cost));
    n.table(table);
    n.figures(&figures)?;
    Ok(figures)
}

/// The mechanism whose authentication step is the largest share of its whole request, if that
/// share is more than [`SMALL_PART`].
pub fn dominated_by_auth(
    whole: &WholeRequest,
    cost: &AuthenticationCost,
) -> Option<(Mechanism, f64)> {
    whole
        .iter()
        .filter_map(|(m, w)| Some((m, cost.for_mechanism(m)?.p50_us() / w.p50_us())))
        .filter(|(_, share)| *share > SMALL_PART)
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

fn lesson(whole: &WholeRequest, cost: &AuthenticationCost) -> String {
    match dominated_by_auth(whole, cost) {
        None => {
            "The whole request over loopback HTTP: the authentication step is a small part of it."
                .to_owned()
        }
        Some((m, share)) => format!(
            "The whole request over loopback HTTP: for the {} the authentication step is most of it ({} % of the median).",
            m.label(),
            support::report::format_number(share * 100.0)
        ),
    }
}
