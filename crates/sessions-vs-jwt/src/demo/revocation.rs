//! Revocation: after logout, and after a password change, how long does each mechanism still
//! accept the old credential? Found by trying it while a manual clock moves forward, so "still
//! accepted 15 minutes later" takes milliseconds, not 15 minutes.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use support::clock::{Clock, ManualClock};
use support::narrate::Narrator;
use support::report::{Chart, Table, Unit};

use super::{Bench, Credential, Mechanism, PerMechanism, alice, login, status_of};
use crate::app::PasswordChange;
use crate::session::Credentials;
use crate::users::DEMO_USERS;

pub const TITLE: &str = "Revocation: how long is the old credential still accepted?";
/// How far the manual clock moves between two tries.
const STEP: Duration = Duration::from_secs(30);

/// When one mechanism first refused the old credential, in seconds of the manual clock after
/// the logout or password change; `None`: still accepted when the probing stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub after_logout: Option<u64>,
    pub after_password_change: Option<u64>,
    /// Requests sent to find both.
    pub probes: u64,
}

/// What this section measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Revocation {
    pub step_secs: u64,
    /// Probing stops here: the access token's lifetime, its leeway and a minute more.
    pub horizon_secs: u64,
    pub access_ttl_secs: u64,
    pub leeway_secs: u64,
    pub refused: PerMechanism<Refusal>,
}

/// Tries `credential` at +0 s, +step, … up to `horizon`, advancing `clock`; the first offset at
/// which it was refused (`None`: never, within the horizon) and how many tries that took.
/// Bounded by the horizon, so it always ends.
async fn refused_after(
    http: &reqwest::Client,
    clock: &ManualClock,
    url: String,
    credential: &Credential,
    horizon: Duration,
) -> anyhow::Result<(Option<u64>, u64)> {
    let start = clock.now();
    let mut probes = 0;
    loop {
        let elapsed = clock.now() - start;
        probes += 1;
        if status_of(http, url.clone(), credential).await? != 200 {
            return Ok((Some(elapsed), probes));
        }
        if elapsed >= horizon.as_secs() {
            return Ok((None, probes));
        }
        clock.advance(STEP);
    }
}

pub async fn section(n: &mut Narrator, bench: &Bench<'_>) -> anyhow::Result<Revocation> {
    // A separate instance on a manual clock, in its own namespace, with its own users (a
    // password gets changed), so nothing here disturbs what the other sections measure.
    let clock = ManualClock::starting_now();
    let users = crate::users::UserStore::seeded(bench.config.hash_cost).await?;
    let node = super::start(
        &bench.config,
        Arc::new(clock.clone()),
        &users,
        bench.pool.clone(),
        &bench.namespace("revocation"),
    )?;
    let jwt = &bench.config.jwt;
    let horizon = jwt.access_ttl + jwt.leeway + Duration::from_secs(60);
    let http = &bench.http;

    // Each password change starts from the password the previous one set.
    let mut changes = 0usize;
    let result = PerMechanism::measure(bench.redis_up(), |mechanism| {
        let (clock, node) = (&clock, &node);
        let i = changes;
        changes += 1;
        async move {
            let me = node.server.url(&format!("{}/me", mechanism.prefix()));
            // Logout: the client logs out (the server forgets or denylists), an attacker replays.
            let credential = login(http, node, mechanism, &alice()).await?;
            let logout_path = match mechanism {
                // Both JWT routes log out through the same endpoint.
                Mechanism::PlainJwt | Mechanism::CheckedJwt => "/jwt/logout".to_owned(),
                Mechanism::MemorySession | Mechanism::RedisSession => {
                    format!("{}/logout", mechanism.prefix())
                }
            };
            let logout = credential
                .apply(http.post(node.server.url(&logout_path)))
                .send()
                .await?
                .status();
            let (after_logout, p1) =
                refused_after(http, clock, me.clone(), &credential, horizon).await?;

            // Password change: the second demo user, whose password each change moves on.
            let (name, password) = DEMO_USERS[1];
            let current = match i {
                0 => password.to_owned(),
                i => format!("{password} #{i}"),
            };
            let who = Credentials {
                username: name.to_owned(),
                password: current.clone(),
            };
            let credential = login(http, node, mechanism, &who).await?;
            node.state
                .change_password(&PasswordChange {
                    username: name.to_owned(),
                    old_password: current,
                    new_password: format!("{password} #{}", i + 1),
                })
                .await?;
            let (after_change, p2) = refused_after(http, clock, me, &credential, horizon).await?;
            let shown = |s: Option<u64>| s.map_or("never".to_owned(), |s| format!("{s} s"));
            let line = format!(
                "{:<20} logout {logout}, then refused from +{}; password change, then refused from +{}",
                mechanism.label(),
                shown(after_logout),
                shown(after_change)
            );
            let refusal = Refusal {
                after_logout,
                after_password_change: after_change,
                probes: p1 + p2,
            };
            Ok((refusal, line))
        }
    })
    .await;
    node.server.stop().await;
    let measured = result?;
    let transcript: Vec<String> = measured.iter().map(|(_, (_, line))| line.clone()).collect();
    let figures = Revocation {
        step_secs: STEP.as_secs(),
        horizon_secs: horizon.as_secs(),
        access_ttl_secs: jwt.access_ttl.as_secs(),
        leeway_secs: jwt.leeway.as_secs(),
        refused: measured.map(|(refusal, _)| refusal),
    };

    let mut table = Table::new("mechanism")
        .column("after logout: refused from", Unit::Seconds)
        .column("after password change: refused from", Unit::Seconds)
        .column("probes", Unit::Count)
        .chart(
            Chart::bars()
                .of(&[
                    "after logout: refused from",
                    "after password change: refused from",
                ])
                .titled("Seconds the old credential was still accepted"),
        );
    for (mechanism, r) in figures.refused.iter() {
        table.row(
            mechanism.label(),
            [
                r.after_logout.into(),
                r.after_password_change.into(),
                r.probes.into(),
            ],
        );
    }
    n.say(&format!(
        "Each credential is tried again right after logout (or after a password change), then every {} s of a manual clock until it is refused. Access tokens live {} s with {} s of leeway.",
        figures.step_secs, figures.access_ttl_secs, figures.leeway_secs
    ));
    n.transcript(transcript);
    n.table(table);
    n.say(&lesson(&figures.refused));
    n.figures(&figures)?;
    Ok(figures)
}

/// The paragraph under the table, from the figures: which mechanisms refused at once, and what
/// the verify-only token did.
fn lesson(refused: &PerMechanism<Refusal>) -> String {
    let at_once = |r: &Refusal| r.after_logout == Some(0) && r.after_password_change == Some(0);
    let sessions_at_once = at_once(&refused.memory) && refused.redis.as_ref().is_none_or(at_once);
    let mut text = if sessions_at_once {
        "Sessions die the moment the server forgets them.".to_owned()
    } else {
        "A session outlived its logout or password change in this run, which its server should never allow: look at the table.".to_owned()
    };
    text.push_str(match refused.plain_jwt.after_logout {
        Some(0) => " The JWT verified by signature alone was refused at once this time, which a token without a lookup cannot do: look at the table.",
        _ => " A JWT verified by signature alone cannot be recalled: it works until exp, whatever happened.",
    });
    match &refused.checked_jwt {
        Some(checked) if at_once(checked) => text.push_str(" The denylist brings revocation back to zero, at the price of a lookup on every request, which makes the 'stateless' token stateful again."),
        Some(_) => text.push_str(" The denylist did not refuse the token at once here, although it should: look at the table."),
        None => {}
    }
    text
}
