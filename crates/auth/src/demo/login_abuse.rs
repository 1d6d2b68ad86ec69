//! Login abuse: the throttle kicking in (per account, then per address), and the time an
//! unknown username takes beside a wrong password.
//!
//! The throttle runs on the instance whose clock the demo moves, so "try again in 900 s" is
//! checked by moving the clock 900 s. The timing runs on the OWASP-cost instance with its
//! throttle opened wide (otherwise the sixth attempt would be a cheap 429 and the comparison
//! would measure the throttle).

use std::time::Duration;

use serde::Serialize;
use support::measure::{Measurement, Plan, measure_interleaved};
use support::narrate::Narrator;
use support::report::{Chart, Table, Unit};

use super::{Bench, Node};

pub const TITLE: &str = "Login abuse: throttling, and no user enumeration by timing";
const UNKNOWN: &str = "unknown username";
const WRONG: &str = "known username, wrong password";

/// One attempt of the sequence.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub label: String,
    pub status: u16,
    pub retry_after_secs: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoginAbuse {
    /// Failures allowed per account within the window.
    pub per_account: usize,
    pub per_address: usize,
    pub window_secs: u64,
    /// Wrong passwords for one account, then the right one, then the right one after the wait.
    pub account_sequence: Vec<Attempt>,
    /// The attempt number (1-based) at which spraying one password over many usernames from
    /// one address was first answered 429; `None` if it never was.
    pub spray_throttled_at: Option<usize>,
    pub unknown_user: Measurement,
    pub wrong_password: Measurement,
}

impl LoginAbuse {
    /// Unknown-user median over wrong-password median: 1.0 means indistinguishable.
    pub fn timing_ratio(&self) -> f64 {
        self.unknown_user.p50.as_secs_f64() / self.wrong_password.p50.as_secs_f64().max(1e-9)
    }

    /// The first attempt answered 429 in the per-account sequence (1-based).
    pub fn throttled_at(&self) -> Option<usize> {
        self.account_sequence
            .iter()
            .position(|a| a.status == 429)
            .map(|i| i + 1)
    }

    /// Whether the right password, tried after waiting out `Retry-After`, got in.
    pub fn let_in_after_wait(&self) -> bool {
        self.account_sequence
            .last()
            .is_some_and(|a| a.status == 200)
    }
}

async fn attempt(
    bench: &Bench<'_>,
    node: &Node,
    username: &str,
    password: &str,
) -> anyhow::Result<(u16, Option<u64>)> {
    let resp = bench
        .http
        .post(node.server.url("/jwt/token"))
        .json(&serde_json::json!({ "username": username, "password": password }))
        .send()
        .await?;
    let retry = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    Ok((resp.status().as_u16(), retry))
}

pub async fn section(n: &mut Narrator, bench: &Bench<'_>) -> anyhow::Result<LoginAbuse> {
    let node = &bench.manual;
    let throttle = node.state.config.throttle.clone();
    let victim = "arthur";
    let right = super::password_of(victim)?;

    let mut sequence = Vec::new();
    for i in 1..=throttle.per_account + 1 {
        let (status, retry_after_secs) = attempt(bench, node, victim, "guess").await?;
        sequence.push(Attempt {
            label: format!("wrong password #{i}"),
            status,
            retry_after_secs,
        });
    }
    let (status, retry_after_secs) = attempt(bench, node, victim, right).await?;
    sequence.push(Attempt {
        label: "right password, at once".into(),
        status,
        retry_after_secs,
    });
    let wait = retry_after_secs.unwrap_or(throttle.window.as_secs());
    bench.clock.advance(Duration::from_secs(wait));
    let (status, retry_after_secs) = attempt(bench, node, victim, right).await?;
    sequence.push(Attempt {
        label: format!("right password, {wait} s later"),
        status,
        retry_after_secs,
    });

    // Spraying: one password over many usernames, from one address.
    let mut spray_throttled_at = None;
    for i in 1..=throttle.per_address + 1 {
        let (status, _) = attempt(bench, node, &format!("user{i}"), "Summer2026!").await?;
        if status == 429 {
            spray_throttled_at = Some(i);
            break;
        }
    }
    // Open the address again for whatever runs after.
    bench.clock.advance(throttle.window);

    let owasp = &bench.owasp;
    let plan = Plan::iterations(bench.args.pick(30, 8))
        .warmup(1)
        .budget(Duration::from_secs(bench.args.pick(4, 1)));
    // Interleaved, so a burst of load on the machine lands on both sides, not on one.
    let (unknown_user, wrong_password) = measure_interleaved(
        plan,
        |i| async move {
            matches!(
                attempt(bench, owasp, &format!("nobody-{i}"), "guess").await,
                Ok((401, _))
            )
        },
        |_| async move { matches!(attempt(bench, owasp, victim, "guess").await, Ok((401, _))) },
    )
    .await;
    anyhow::ensure!(
        unknown_user.ok > 0 && wrong_password.ok > 0,
        "no failed login was answered 401"
    );

    let figures = LoginAbuse {
        per_account: throttle.per_account,
        per_address: throttle.per_address,
        window_secs: throttle.window.as_secs(),
        account_sequence: sequence,
        spray_throttled_at,
        unknown_user,
        wrong_password,
    };
    let mut table = Table::new("POST /jwt/token as arthur")
        .column("status", Unit::Count)
        .column("Retry-After", Unit::Seconds);
    for a in &figures.account_sequence {
        table.row(
            a.label.clone(),
            [
                f64::from(a.status).into(),
                a.retry_after_secs
                    .map_or(support::report::Cell::Empty, |s| (s as f64).into()),
            ],
        );
    }
    n.say(&format!(
        "The throttle allows {} failures per account and {} per address within {} s.",
        figures.per_account, figures.per_address, figures.window_secs
    ));
    n.table(table);
    n.say(&match figures.spray_throttled_at {
        Some(at) => format!("Spraying one password over many usernames from one address: attempt {at} was answered 429."),
        None => format!("Spraying one password over {} usernames was never throttled.", figures.per_address + 1),
    });
    let mut timing = Table::latency("failed login (OWASP cost)")
        .ratio_against("p50", WRONG)
        .chart(
            Chart::bars()
                .of(&["p50", "p99"])
                .titled("A failed login costs the same, known user or not"),
        );
    timing.row_measured(UNKNOWN, &figures.unknown_user, []);
    timing.row_measured(WRONG, &figures.wrong_password, []);
    n.table(timing);
    n.figures(&figures)?;
    Ok(figures)
}
