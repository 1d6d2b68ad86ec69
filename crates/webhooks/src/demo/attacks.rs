//! Section: what an attacker can send a webhook consumer, and why each is refused. Every row is
//! a real request to a running consumer; the status is its answer, the reason is
//! [`signature::verify`] run on the same bytes (the consumer logs it but tells the sender only
//! one fixed sentence), and "processed" is read from the consumer's log afterwards.

use std::time::Duration;

use serde::Serialize;
use support::clock::{Clock as _, SystemClock};
use support::narrate::Narrator;
use support::report::{Table, Unit};

use super::Context;
use crate::consumer::{self, Consumer};
use crate::signature::{self, Headers, Secret, SignedHeaders, Signer};

/// One delivery sent, and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttackRow {
    pub delivery: String,
    /// Whether it is an attack (the genuine ones are the baseline).
    pub hostile: bool,
    pub status: u16,
    /// How many times the consumer processed this delivery's id by the end.
    pub processed: usize,
    /// Why the signature check accepted or refused it.
    pub reason: String,
}

/// What the section measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attacks {
    pub tolerance_s: u64,
    pub rows: Vec<AttackRow>,
}

impl Attacks {
    /// The hostile deliveries that got a 2xx and were processed: the goal is none.
    pub fn accepted_attacks(&self) -> Vec<&AttackRow> {
        self.rows
            .iter()
            .filter(|r| r.hostile && (200..300).contains(&r.status) && r.processed > 0)
            .collect()
    }

    pub fn hostile(&self) -> usize {
        self.rows.iter().filter(|r| r.hostile).count()
    }
}

/// A delivery as it goes on the wire.
struct Delivery {
    label: &'static str,
    hostile: bool,
    headers: SignedHeaders,
    body: String,
    /// Whose log entry answers "processed": a replay counts against the original's id.
    id: String,
    /// A replay of an id processed already: "processed" should stay at one.
    replay: bool,
}

pub async fn run(n: &mut Narrator, ctx: &Context) -> anyhow::Result<Attacks> {
    let tolerance = ctx.config.tolerance;
    n.section("Attacks on the consumer");
    n.say(&format!(
        "The consumer's secret was just rotated: the old one's grace period is over, so it holds \
         only the new one. It refuses a timestamp more than {} s from its clock. Each delivery \
         below is sent to it over HTTP.",
        tolerance.as_secs()
    ));
    let (old, new) = (Secret::generate(), Secret::generate());
    let (state, log) = Consumer::new(vec![new.clone()], tolerance).start();
    let server = support::server::spawn(|l| consumer::run(l, state))?;
    let url = server.url(consumer::PATH);
    let now = SystemClock.now();
    let provider = Signer::new(new.clone());
    let mut rotating = Signer::new(old.clone());
    rotating.rotate(new.clone(), now + 60);
    let attacker = Signer::new(Secret::generate());
    let leaked_old = Signer::new(old);

    let body = |n: u32| format!(r#"{{"type":"order.paid","order":"ord_demo_{n}","amount":10}}"#);
    let genuine = provider.headers("msg_genuine", now, body(1).as_bytes());
    let captured_long_ago = now - tolerance.as_secs() - 60;
    let deliveries = vec![
        Delivery {
            label: "genuine, signed with the current secret",
            hostile: false,
            headers: genuine.clone(),
            body: body(1),
            id: "msg_genuine".to_owned(),
            replay: false,
        },
        Delivery {
            label: "during a rotation's grace period (signed with old and new)",
            hostile: false,
            headers: rotating.headers("msg_rotating", now, body(2).as_bytes()),
            body: body(2),
            id: "msg_rotating".to_owned(),
            replay: false,
        },
        Delivery {
            label: "forged: signed with the attacker's own secret",
            hostile: true,
            headers: attacker.headers("msg_forged", now, body(3).as_bytes()),
            body: body(3),
            id: "msg_forged".to_owned(),
            replay: false,
        },
        Delivery {
            label: "genuine headers, body altered after signing (amount 10 → 1000)",
            hostile: true,
            headers: provider.headers("msg_altered", now, body(4).as_bytes()),
            body: body(4).replace("\"amount\":10", "\"amount\":1000"),
            id: "msg_altered".to_owned(),
            replay: false,
        },
        Delivery {
            label: "the genuine delivery replayed within the tolerance",
            hostile: true,
            headers: genuine,
            body: body(1),
            id: "msg_genuine".to_owned(),
            replay: true,
        },
        Delivery {
            label: "a delivery captured and replayed after the tolerance",
            hostile: true,
            headers: provider.headers("msg_captured", captured_long_ago, body(5).as_bytes()),
            body: body(5),
            id: "msg_captured".to_owned(),
            replay: false,
        },
        Delivery {
            label: "signed with the old secret after the grace period",
            hostile: true,
            headers: leaked_old.headers("msg_old_secret", now, body(6).as_bytes()),
            body: body(6),
            id: "msg_old_secret".to_owned(),
            replay: false,
        },
    ];

    let http = reqwest::Client::new();
    let mut statuses = Vec::with_capacity(deliveries.len());
    for d in &deliveries {
        let mut request = http.post(&url).body(d.body.clone());
        for (name, value) in d.headers.pairs() {
            request = request.header(name, value);
        }
        statuses.push(request.send().await?.status().as_u16());
    }
    // The worker processes in arrival order: once this marker is processed, anything accepted
    // before it has been too.
    let marker = provider.headers("msg_marker", now, b"{}");
    let mut request = http.post(&url).body("{}");
    for (name, value) in marker.pairs() {
        request = request.header(name, value);
    }
    request.send().await?;
    let accepted: std::collections::HashSet<&str> = deliveries
        .iter()
        .zip(&statuses)
        .filter(|(_, s)| (200..300).contains(*s))
        .map(|(d, _)| d.id.as_str())
        .collect();
    let processed = log
        .wait_for(accepted.len() + 1, Duration::from_secs(5))
        .await;
    server.stop().await;

    let rows = deliveries
        .iter()
        .zip(statuses)
        .map(|(d, status)| {
            let times = processed.iter().filter(|p| p.id == d.id).count();
            let reason = match signature::verify(
                std::slice::from_ref(&new),
                &Headers {
                    id: Some(&d.headers.id),
                    timestamp: Some(&d.headers.timestamp),
                    signature: Some(&d.headers.signature),
                },
                d.body.as_bytes(),
                SystemClock.now(),
                tolerance,
            ) {
                Err(error) => error.to_string(),
                Ok(_) if d.replay => {
                    "verified, but the id was seen: acknowledged, not processed again".to_owned()
                }
                Ok(_) => "verified".to_owned(),
            };
            AttackRow {
                delivery: d.label.to_owned(),
                hostile: d.hostile,
                status,
                processed: if d.replay {
                    times.saturating_sub(1)
                } else {
                    times
                },
                reason,
            }
        })
        .collect();
    let figures = Attacks {
        tolerance_s: tolerance.as_secs(),
        rows,
    };
    let mut table = Table::new("delivery")
        .column("status", Unit::Count)
        .column("processed", Unit::Count)
        .column("why", Unit::Text);
    for r in &figures.rows {
        table.row(
            r.delivery.clone(),
            [
                u32::from(r.status).into(),
                r.processed.into(),
                r.reason.clone().into(),
            ],
        );
    }
    n.table(table);
    n.say(
        "\"processed\" counts how often the consumer processed the delivery's id because of this \
         delivery; for the replay, processing beyond the original's one time.",
    );
    n.figures(&figures)?;
    Ok(figures)
}
