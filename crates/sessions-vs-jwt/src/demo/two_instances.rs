//! Two instances behind a round-robin load balancer: which mechanisms survive a second server?
//! A client logs in through the balancer (it lands on A), then sends `GET /me` to A, B, A, B…
//! (round robin), or always to A (sticky).

use serde::Serialize;
use support::narrate::Narrator;
use support::report::{Table, Unit};

use super::{Bench, Credential, Mechanism, PerMechanism, alice, login, status_of};

pub const TITLE: &str = "Two instances behind a round-robin load balancer";

/// How many of a run of requests were answered 200.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Successes {
    pub requests: u64,
    pub succeeded: u64,
}

impl Successes {
    /// Succeeded, in percent of requests (0 for no requests).
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    pub fn percent(self) -> f64 {
        match self.requests {
            0 => 0.0,
            requests => self.succeeded as f64 * 100.0 / requests as f64,
        }
    }

    /// Every request succeeded.
    pub fn all(self) -> bool {
        self.requests > 0 && self.succeeded == self.requests
    }
}

/// What this section measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TwoInstances {
    /// Round robin between A and B, per mechanism.
    pub round_robin: PerMechanism<Successes>,
    /// A memory session, every request to A.
    pub memory_sticky: Successes,
}

pub async fn section(n: &mut Narrator, bench: &Bench<'_>) -> anyhow::Result<TwoInstances> {
    // B shares A's clock, users, Redis and namespace (one deployment); its memory is its own.
    let b = bench.start(bench.a.state.clock.clone(), &bench.namespace)?;
    let requests = bench.args.pick(200u64, 20);
    let a = &bench.a;
    let http = &bench.http;
    let result = async {
        let count = |mechanism: Mechanism, sticky: bool, credential: Credential| {
            let b = &b;
            async move {
                let mut succeeded = 0u64;
                for i in 0..requests {
                    let node = if sticky || i % 2 == 0 { a } else { b };
                    let url = node.server.url(&format!("{}/me", mechanism.prefix()));
                    if status_of(http, url, &credential).await? == 200 {
                        succeeded += 1;
                    }
                }
                anyhow::Ok(Successes {
                    requests,
                    succeeded,
                })
            }
        };
        let memory = login(http, a, Mechanism::MemorySession, &alice()).await?;
        let memory_sticky = count(Mechanism::MemorySession, true, memory.clone()).await?;
        // The credentials are fresh logins through A, as a client behind the balancer gets them.
        let jwt = login(http, a, Mechanism::PlainJwt, &alice()).await?;
        let round_robin = PerMechanism::measure(bench.redis_up(), |mechanism| {
            let (memory, jwt) = (memory.clone(), jwt.clone());
            let count = &count;
            async move {
                let credential = match mechanism {
                    Mechanism::MemorySession => memory,
                    Mechanism::RedisSession => login(http, a, mechanism, &alice()).await?,
                    Mechanism::PlainJwt | Mechanism::CheckedJwt => jwt,
                };
                count(mechanism, false, credential).await
            }
        })
        .await?;
        anyhow::Ok(TwoInstances {
            round_robin,
            memory_sticky,
        })
    }
    .await;
    b.server.stop().await;
    let figures = result?;

    let mut table = Table::new("mechanism, routing")
        .column("requests", Unit::Count)
        .column("succeeded", Unit::Count)
        .column("success", Unit::Percent);
    let mut row = |label: String, s: Successes| {
        table.row(
            label,
            [s.requests.into(), s.succeeded.into(), s.percent().into()],
        );
    };
    for (mechanism, s) in figures.round_robin.iter() {
        row(format!("{}, round robin", mechanism.label()), *s);
        if mechanism == Mechanism::MemorySession {
            row(
                format!("{}, sticky", mechanism.label()),
                figures.memory_sticky,
            );
        }
    }
    n.say("Two instances of the same service share the user store, Redis and the HS256 secret; each has its own memory. The client sends GET /me alternately to A and B (round robin), or always to A (sticky).");
    n.table(table);
    n.say("The same topology for containers: the nginx upstream in crates/sessions-vs-jwt/deploy/nginx.conf, started with `docker compose --profile sessions-vs-jwt up -d` on port 8088 (round robin by default; `ip_hash` in that file makes it sticky).");
    n.figures(&figures)?;
    Ok(figures)
}
