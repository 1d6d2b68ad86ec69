//! The classic comparison (where state lives, stateless or not, how it scales, typical use),
//! with a measured column beside each claim, every number taken from the sections' figures.

use serde::Serialize;
use support::narrate::Narrator;
use support::report::{Table, Unit};

use super::authentication_cost::AuthenticationCost;
use super::bytes_on_the_wire::CredentialBytes;
use super::revocation::Revocation;
use super::two_instances::TwoInstances;
use super::{Mechanism, PerMechanism};

pub const TITLE: &str = "The classic comparison, with a measured column beside each claim";

/// The claims the usual table makes, per mechanism: not measured, but stated once, here.
struct Claims {
    state_lives_in: &'static str,
    stateless: &'static str,
    typical_use: &'static str,
}

fn claims(mechanism: Mechanism) -> Claims {
    let (state_lives_in, stateless, typical_use) = match mechanism {
        Mechanism::MemorySession => (
            "server memory",
            "no",
            "traditional web app on one server (or sticky LB)",
        ),
        Mechanism::RedisSession => ("Redis (shared)", "no", "traditional web apps at scale"),
        Mechanism::PlainJwt => (
            "the token (client)",
            "yes",
            "service-to-service, short-lived API access",
        ),
        Mechanism::CheckedJwt => (
            "token + Redis denylist",
            "no (one lookup)",
            "SPAs and mobile apps that need logout",
        ),
    };
    Claims {
        state_lives_in,
        stateless,
        typical_use,
    }
}

/// One row's measured columns.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Measured {
    pub round_robin_success_percent: f64,
    pub refused_after_logout_secs: Option<u64>,
    pub credential_bytes: Option<usize>,
    pub auth_work_p50_us: Option<f64>,
}

/// The measured columns, per mechanism.
pub type ClassicTable = PerMechanism<Measured>;

pub fn section(
    n: &mut Narrator,
    bytes: &CredentialBytes,
    cost: &AuthenticationCost,
    revocation: &Revocation,
    routing: &TwoInstances,
) -> anyhow::Result<ClassicTable> {
    let measured = |mechanism: Mechanism, success: &super::two_instances::Successes| Measured {
        round_robin_success_percent: success.percent(),
        refused_after_logout_secs: revocation
            .refused
            .get(mechanism)
            .and_then(|r| r.after_logout),
        credential_bytes: bytes.for_mechanism(mechanism),
        auth_work_p50_us: cost.for_mechanism(mechanism).map(|m| m.p50_us()),
    };
    let figures = ClassicTable {
        memory: measured(Mechanism::MemorySession, &routing.round_robin.memory),
        redis: routing
            .round_robin
            .redis
            .as_ref()
            .map(|s| measured(Mechanism::RedisSession, s)),
        plain_jwt: measured(Mechanism::PlainJwt, &routing.round_robin.plain_jwt),
        checked_jwt: routing
            .round_robin
            .checked_jwt
            .as_ref()
            .map(|s| measured(Mechanism::CheckedJwt, s)),
    };

    let mut table = Table::new("mechanism")
        .column("state lives in", Unit::Text)
        .column("stateless?", Unit::Text)
        .column("round-robin /me success", Unit::Percent)
        .column("refused after logout from", Unit::Seconds)
        .column("credential size", Unit::Bytes)
        .column("auth work p50", Unit::Micros)
        .column("typical use", Unit::Text);
    for (mechanism, m) in figures.iter() {
        let claims = claims(mechanism);
        table.row(
            mechanism.label(),
            [
                claims.state_lives_in.into(),
                claims.stateless.into(),
                m.round_robin_success_percent.into(),
                m.refused_after_logout_secs.into(),
                m.credential_bytes.into(),
                m.auth_work_p50_us.into(),
                claims.typical_use.into(),
            ],
        );
    }
    n.say("Where state is stored, whether the server keeps any, how it scales, and where each is typically used: the usual table, except that every number in it was measured above in this run.");
    n.table(table);
    n.figures(&figures)?;
    Ok(figures)
}
