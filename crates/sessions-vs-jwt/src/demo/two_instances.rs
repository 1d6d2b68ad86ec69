//! Two instances behind a load balancer: which mechanisms survive a second server?
//!
//! Measured twice. First the client plays the balancer itself: it logs in on A, then sends
//! `GET /me` to A, B, A, B… (round robin), or always to A (sticky). Then a real nginx does it
//! ([`crate::nginx`], rendered from the compose file's `deploy/nginx.conf`), in front of two fresh
//! instances: round robin, then `ip_hash` (sticky), then `ip_hash` again after the instance the
//! client was pinned to is killed, when nginx moves the client to the survivor (failover) and
//! whatever lived only in the dead instance's memory is gone. Without nginx the second half is
//! left out, and the demo says so in one line.

use anyhow::Context as _;
use serde::Serialize;
use support::narrate::Narrator;
use support::report::{Cell, Chart, Table, Unit};

use super::{Bench, Credential, Mechanism, Node, PerMechanism, alice, login, login_at, status_of};
use crate::nginx::{self, Nginx, NginxError, Routing};

pub const TITLE: &str = "Two instances behind a load balancer";

/// The routing columns of the table, by exact title (the chart names them too).
pub const CLIENT_ALTERNATES: &str = "client A/B";
pub const CLIENT_STICKS: &str = "client A only";
pub const NGINX_ROUND_ROBIN: &str = "nginx round robin";
pub const NGINX_STICKY: &str = "nginx ip_hash";
pub const NGINX_FAILOVER: &str = "ip_hash, pinned killed";

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

    /// No request succeeded.
    pub fn none(self) -> bool {
        self.succeeded == 0
    }
}

/// The same requests through a real nginx.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThroughNginx {
    /// `nginx/1.22.1`, when `nginx -v` could be read.
    pub version: Option<String>,
    /// nginx's default: each request to the next instance.
    pub round_robin: PerMechanism<Successes>,
    /// `ip_hash`: every request of this one client to the same instance.
    pub sticky: PerMechanism<Successes>,
    /// `ip_hash` again, with the same credentials, after the instance the client was pinned to
    /// (the one holding its memory session) was killed.
    pub after_pinned_killed: PerMechanism<Successes>,
}

/// What this section measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TwoInstances {
    /// The client alternates between A and B, per mechanism.
    pub round_robin: PerMechanism<Successes>,
    /// The client sends every request to A.
    pub sticky: PerMechanism<Successes>,
    /// Through nginx; `None` when nginx was not available.
    pub nginx: Option<ThroughNginx>,
    /// Why nginx was left out, when it was.
    pub nginx_missing: Option<String>,
}

/// Sends `requests` `GET {prefix}/me` with `credential`, the i-th to `url(i)`.
async fn count(
    bench: &Bench<'_>,
    requests: u64,
    mechanism: Mechanism,
    credential: &Credential,
    url: impl Fn(u64, &str) -> String,
) -> anyhow::Result<Successes> {
    let path = format!("{}/me", mechanism.prefix());
    let mut succeeded = 0u64;
    for i in 0..requests {
        if status_of(&bench.http, url(i, &path), credential).await? == 200 {
            succeeded += 1;
        }
    }
    Ok(Successes {
        requests,
        succeeded,
    })
}

pub async fn section(n: &mut Narrator, bench: &Bench<'_>) -> anyhow::Result<TwoInstances> {
    let requests = bench.args.pick(200u64, 20);
    let (round_robin, sticky) = by_hand(bench, requests).await?;
    let (nginx, nginx_missing) = match through_nginx(bench, requests).await {
        Ok(figures) => (Some(figures), None),
        Err(err) => match err.downcast_ref::<NginxError>() {
            Some(NginxError::Absent { reason }) => {
                anyhow::ensure!(
                    !bench.config.settings.require_services,
                    "{}=1 and {err}",
                    support::config::REQUIRE_SERVICES_VAR
                );
                (None, Some(reason.clone()))
            }
            _ => return Err(err),
        },
    };
    let figures = TwoInstances {
        round_robin,
        sticky,
        nginx,
        nginx_missing,
    };

    n.say("Two instances of the same service share the user store, Redis and the HS256 secret; each has its own memory. First the client plays the load balancer: it logs in on A, then sends GET /me alternately to A and B, or always to A.");
    if let Some(reason) = &figures.nginx_missing {
        n.left_out(format!(
            "nginx not found ({reason}): the columns measured through a real nginx are left out. Add it with `{}`.",
            nginx::INSTALL
        ));
    } else {
        n.say("Then a real nginx does the routing, in front of two fresh instances, with the configuration docker compose uses (crates/sessions-vs-jwt/deploy/nginx.conf, rendered for loopback ports): the client logs in through nginx and sends every request through it, with round robin, then with ip_hash (sticky: one client address, one instance), then with ip_hash again after the instance it was pinned to is killed.");
    }
    n.table(table(&figures));
    n.say("The same topology for containers: `docker compose --profile sessions-vs-jwt up -d` serves it on port 8088 (round robin by default; uncommenting `ip_hash` in deploy/nginx.conf makes it sticky).");
    n.figures(&figures)?;
    Ok(figures)
}

/// The client as the balancer: fresh logins on A, then A/B alternation and A only.
async fn by_hand(
    bench: &Bench<'_>,
    requests: u64,
) -> anyhow::Result<(PerMechanism<Successes>, PerMechanism<Successes>)> {
    // B shares A's clock, users, Redis and namespace (one deployment); its memory is its own.
    let b = bench.start(bench.a.state.clock.clone(), &bench.namespace)?;
    let a = &bench.a;
    let result = async {
        let creds = PerMechanism::measure(bench.redis_up(), |mechanism| async move {
            login(&bench.http, a, mechanism, &alice()).await
        })
        .await?;
        let run = |sticky: bool| {
            let (creds, b) = (&creds, &b);
            PerMechanism::measure(bench.redis_up(), move |mechanism| async move {
                let credential = creds.get(mechanism).context("no credential")?;
                count(bench, requests, mechanism, credential, |i, path| {
                    let node = if sticky || i % 2 == 0 { a } else { b };
                    node.server.url(path)
                })
                .await
            })
        };
        let round_robin = run(false).await?;
        let sticky = run(true).await?;
        anyhow::Ok((round_robin, sticky))
    }
    .await;
    b.server.stop().await;
    result
}

/// The same through nginx, in front of two fresh instances (one of them is killed on the way).
async fn through_nginx(bench: &Bench<'_>, requests: u64) -> anyhow::Result<ThroughNginx> {
    // Before starting any instance: absent is the common case on a bare machine.
    nginx::locate()?;
    let start = || bench.start(bench.a.state.clock.clone(), &bench.namespace);
    let mut nodes = vec![start()?];
    let result = async {
        nodes.push(start()?);
        let upstreams = [nodes[0].server.addr, nodes[1].server.addr];
        let measure = |lb: &Nginx, creds: &PerMechanism<Credential>| {
            let base = lb.base_url();
            let creds = creds.clone();
            async move {
                PerMechanism::measure(bench.redis_up(), |mechanism| {
                    let (base, creds) = (base.clone(), &creds);
                    async move {
                        let credential = creds.get(mechanism).context("no credential")?;
                        count(bench, requests, mechanism, credential, |_, path| {
                            format!("{base}{path}")
                        })
                        .await
                    }
                })
                .await
            }
        };
        let logins = |lb: &Nginx| {
            let base = lb.base_url();
            async move {
                PerMechanism::measure(bench.redis_up(), |mechanism| {
                    let base = base.clone();
                    async move { login_at(&bench.http, &base, mechanism, &alice()).await }
                })
                .await
            }
        };

        let lb = Nginx::start(Routing::RoundRobin, upstreams).await?;
        let version = lb.version().map(str::to_owned);
        let round_robin = measure(&lb, &logins(&lb).await?).await?;
        drop(lb);

        let lb = Nginx::start(Routing::Sticky, upstreams).await?;
        let creds = logins(&lb).await?;
        let sticky = measure(&lb, &creds).await?;
        // The pinned instance is the one that knows the memory session nginx's login created.
        let pinned = pinned(bench, &nodes, &creds.memory).await?;
        nodes.remove(pinned).server.kill().await;
        let after_pinned_killed = measure(&lb, &creds).await?;
        anyhow::Ok(ThroughNginx {
            version,
            round_robin,
            sticky,
            after_pinned_killed,
        })
    }
    .await;
    for node in nodes {
        node.server.stop().await;
    }
    result
}

/// Which of `nodes` holds the memory session `credential` names, asked directly (not through
/// nginx).
async fn pinned(
    bench: &Bench<'_>,
    nodes: &[Node],
    credential: &Credential,
) -> anyhow::Result<usize> {
    let path = format!("{}/me", Mechanism::MemorySession.prefix());
    for (i, node) in nodes.iter().enumerate() {
        if status_of(&bench.http, node.server.url(&path), credential).await? == 200 {
            return Ok(i);
        }
    }
    anyhow::bail!("neither instance behind nginx knows the memory session it handed out")
}

/// One row per mechanism, one success column per routing; the nginx ones only when it ran.
fn table(f: &TwoInstances) -> Table {
    let mut titles = vec![CLIENT_ALTERNATES, CLIENT_STICKS];
    if f.nginx.is_some() {
        titles.extend([NGINX_ROUND_ROBIN, NGINX_STICKY, NGINX_FAILOVER]);
    }
    let mut table = Table::new("mechanism, routing")
        .column("requests", Unit::Count)
        .chart(
            Chart::bars()
                .of(&titles)
                .titled("GET /me answered 200, per mechanism and routing"),
        );
    for title in &titles {
        table = table.column(*title, Unit::Percent);
    }
    for (mechanism, rr) in f.round_robin.iter() {
        let pct = |s: Option<&Successes>| -> Cell { s.map(|s| s.percent()).into() };
        let mut cells: Vec<Cell> = vec![rr.requests.into(), rr.percent().into()];
        cells.push(pct(f.sticky.get(mechanism)));
        if let Some(x) = &f.nginx {
            cells.push(pct(x.round_robin.get(mechanism)));
            cells.push(pct(x.sticky.get(mechanism)));
            cells.push(pct(x.after_pinned_killed.get(mechanism)));
        }
        table.row(mechanism.label(), cells);
    }
    table
}
