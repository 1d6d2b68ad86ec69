//! Per request, part 1: what logging in costs. argon2id is deliberately slow, and it is paid
//! once per login, not per request; the parts after this one are the per-request price.

use serde::Serialize;
use support::measure::{Measurement, Plan, measure};
use support::narrate::Narrator;
use support::report::Table;

use super::{Bench, Mechanism, alice};
use crate::config::HashCost;

/// Which argon2id parameters the run hashed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum HashCostUsed {
    /// 19 MiB, 2 passes: the production default.
    Owasp,
    /// 256 KiB, 1 pass: `--quick` and tests only.
    Cheap,
}

impl HashCostUsed {
    fn describe(self) -> &'static str {
        match self {
            HashCostUsed::Owasp => "OWASP cost: 19 MiB, 2 passes",
            HashCostUsed::Cheap => "cheap test cost",
        }
    }
}

/// What this part measured.
#[derive(Debug, Clone, Serialize)]
pub struct LoginCost {
    pub hash_cost: HashCostUsed,
    /// `POST /memory/login`, end to end.
    pub login: Measurement,
}

pub async fn section(n: &mut Narrator, bench: &Bench<'_>) -> anyhow::Result<LoginCost> {
    let hash_cost = if bench.config.hash_cost == HashCost::OWASP {
        HashCostUsed::Owasp
    } else {
        HashCostUsed::Cheap
    };
    let url = bench
        .a
        .server
        .url(&format!("{}/login", Mechanism::MemorySession.prefix()));
    let login = measure(
        Plan::iterations(bench.args.pick(20, 4)).warmup(1),
        |_| async {
            let resp = bench.http.post(&url).json(&alice()).send().await;
            resp.map(|r| r.status() == 200).unwrap_or(false)
        },
    )
    .await;
    let mut table = Table::latency("step");
    table.row_measured(
        format!("POST /memory/login (argon2id, {})", hash_cost.describe()),
        &login,
        [],
    );
    n.say("A login verifies the password once with argon2id. That is deliberately slow, and it happens once per login, not per request; everything below is the per-request price.");
    n.table(table);
    let figures = LoginCost { hash_cost, login };
    n.figures(&figures)?;
    Ok(figures)
}
