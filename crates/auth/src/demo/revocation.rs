//! Revocation: an admin disables an account; how long does each mechanism still let it in?
//!
//! Measured on the instance whose clock the demo moves by hand, so "the token still works
//! four minutes later" is a probe at +240 s, not a four-minute wait. Every mechanism that looks
//! the account up on each request refuses at once; the JWT, which looks nothing up, is accepted
//! until its `exp`.

use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;
use support::narrate::Narrator;
use support::report::{Chart, Table, Unit};

use super::{Bench, Credential, login, status_of};
use crate::principal::Mechanism;
use crate::rbac::Role;

pub const TITLE: &str = "Revocation: an admin disables an account";
/// How far the clock moves between two probes of a still-accepted credential.
const STEP: Duration = Duration::from_secs(30);
/// Probes give up after this long (well past any lifetime configured here).
const HORIZON: Duration = Duration::from_secs(3600);

/// One mechanism's answer.
#[derive(Debug, Clone, Serialize)]
pub struct Revoked {
    pub mechanism: Mechanism,
    /// Status of the first request after the account was disabled.
    pub status_right_after: u16,
    /// Seconds (on the demo's clock) the credential was still accepted; `None` if it still
    /// was at the horizon.
    pub accepted_for_secs: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Revocation {
    pub rows: Vec<Revoked>,
    /// The configured access-token lifetime, for the sentence that explains the JWT row.
    pub jwt_lifetime_secs: u64,
}

impl Revocation {
    pub fn get(&self, mechanism: Mechanism) -> Option<&Revoked> {
        self.rows.iter().find(|r| r.mechanism == mechanism)
    }
}

pub async fn section(n: &mut Narrator, bench: &Bench<'_>) -> anyhow::Result<Revocation> {
    let node = &bench.manual;
    let http = &bench.http;
    let victim = "olga";
    let account = node
        .state
        .accounts
        .find(victim)?
        .context("olga is seeded")?;
    let mut creds = Vec::new();
    for mechanism in Mechanism::ALL {
        creds.push((mechanism, login(http, node, mechanism, victim).await?));
    }
    let admin = login(http, node, Mechanism::Jwt, super::account_with(Role::Admin)).await?;
    let disable = http
        .patch(
            node.server
                .url(&format!("/jwt/admin/accounts/{}", account.id)),
        )
        .json(&serde_json::json!({ "disabled": true }));
    let answer = admin.apply(disable, true).send().await?.status();
    anyhow::ensure!(answer == 200, "disabling the account answered {answer}");

    let probe = |mechanism: Mechanism, credential: &Credential| {
        let url = node
            .server
            .url(&format!("{}/documents", mechanism.prefix()));
        let credential = credential.clone();
        async move { status_of(http, reqwest::Method::GET, url, Some(&credential), None).await }
    };
    let start = node.state.clock.now();
    let mut rows = Vec::new();
    for (mechanism, credential) in &creds {
        rows.push(Revoked {
            mechanism: *mechanism,
            status_right_after: probe(*mechanism, credential).await?,
            accepted_for_secs: None,
        });
    }
    // Move time forward until every credential is refused (or the horizon is reached).
    loop {
        let elapsed = node.state.clock.now() - start;
        for (row, (mechanism, credential)) in rows.iter_mut().zip(&creds) {
            if row.accepted_for_secs.is_none() && probe(*mechanism, credential).await? != 200 {
                row.accepted_for_secs = Some(elapsed);
            }
        }
        if rows.iter().all(|r| r.accepted_for_secs.is_some()) || elapsed >= HORIZON.as_secs() {
            break;
        }
        bench.clock.advance(STEP);
    }
    // Give the account back, for the sections after this one.
    node.state.accounts.set_disabled(account.id, false)?;

    let figures = Revocation {
        rows,
        jwt_lifetime_secs: node.state.jwt.lifetime_secs(),
    };
    let mut table = Table::new("mechanism")
        .column("first request after disabling", Unit::Count)
        .column("still accepted for", Unit::Seconds)
        .column("why", Unit::Text)
        .chart(
            Chart::bars()
                .of(&["still accepted for"])
                .titled("How long a disabled account is still let in"),
        );
    for row in &figures.rows {
        let why = match row.mechanism {
            Mechanism::Jwt => "nothing is looked up: the token is valid until exp",
            Mechanism::Basic => "the password check reads the account",
            Mechanism::Session => "the session lookup reads the account",
            Mechanism::ApiKey => "the key lookup reads its owner",
        };
        table.row(
            row.mechanism.label(),
            [
                f64::from(row.status_right_after).into(),
                row.accepted_for_secs
                    .map_or(support::report::Cell::Empty, |s| (s as f64).into()),
                why.into(),
            ],
        );
    }
    n.say(&format!(
        "{victim} logs in through all four doors, then an admin disables the account \
         (PATCH /jwt/admin/accounts/{}). The demo's clock then moves {} s at a time until each \
         credential is refused.",
        account.id,
        STEP.as_secs()
    ));
    n.table(table);
    n.figures(&figures)?;
    Ok(figures)
}
