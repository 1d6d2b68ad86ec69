//! The mechanism table: for each way in, what travels with every request, what the server
//! keeps, what one authenticated request costs over loopback HTTP, how revocation works, and
//! what a forged cross-site request gets, all measured in this run.

use std::time::Duration;

use actix_web::http::header::CONTENT_TYPE;
use serde::Serialize;
use support::measure::{Measurement, Plan, measure};
use support::narrate::Narrator;
use support::report::{Cell, Chart, Table, Unit};

use super::revocation::Revocation;
use super::{Bench, Credential, login, status_of};
use crate::principal::Mechanism;

pub const TITLE: &str = "The four mechanisms side by side (loopback HTTP)";

/// One mechanism's row.
#[derive(Debug, Clone, Serialize)]
pub struct MechanismRow {
    pub mechanism: Mechanism,
    /// Bytes of the header line(s) the credential adds to every request.
    pub credential_bytes: usize,
    /// `GET /<prefix>/documents/1`, authenticated, on the OWASP-cost instance.
    pub request: Measurement,
    /// Records the server holds for this mechanism after the demo's logins.
    pub server_records: usize,
    /// Status of a forged cross-site form `POST` carrying only what a browser attaches by itself.
    pub forged_post_status: u16,
    /// Whether the session cookie came back `HttpOnly` (unreadable by script); `None` for the
    /// mechanisms without a cookie.
    pub http_only: Option<bool>,
}

impl MechanismRow {
    /// A forged request got past authentication when it was neither 401 nor 403.
    pub fn forged_post_authenticated(&self) -> bool {
        !matches!(self.forged_post_status, 401 | 403)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct MechanismTable {
    pub rows: Vec<MechanismRow>,
}

impl MechanismTable {
    pub fn get(&self, mechanism: Mechanism) -> Option<&MechanismRow> {
        self.rows.iter().find(|r| r.mechanism == mechanism)
    }
}

pub async fn section(
    n: &mut Narrator,
    bench: &Bench<'_>,
    revocation: &Revocation,
) -> anyhow::Result<MechanismTable> {
    let args = bench.args;
    let http = &bench.http;
    let node = &bench.owasp;
    let fast = Plan::iterations(args.pick(2_000, 200)).budget(Duration::from_secs(args.pick(2, 1)));
    let slow = Plan::iterations(args.pick(30, 5))
        .warmup(1)
        .budget(Duration::from_secs(args.pick(3, 1)));
    let mut rows = Vec::new();
    for mechanism in Mechanism::ALL {
        let credential = login(http, node, mechanism, "arthur").await?;
        let plan = if mechanism == Mechanism::Basic {
            slow
        } else {
            fast
        };
        let url = node
            .server
            .url(&format!("{}/documents/1", mechanism.prefix()));
        let request = measure(plan, |_| {
            let (url, credential) = (url.clone(), credential.clone());
            async move {
                matches!(
                    status_of(http, reqwest::Method::GET, url, Some(&credential), None).await,
                    Ok(200)
                )
            }
        })
        .await;
        let server_records = match mechanism {
            Mechanism::Basic | Mechanism::Jwt => 0,
            Mechanism::Session => node.state.sessions.len(),
            Mechanism::ApiKey => node.state.api_keys.stored()?.len(),
        };
        let http_only = match mechanism {
            Mechanism::Session => Some(session_cookie_is_http_only(bench).await?),
            _ => None,
        };
        rows.push(MechanismRow {
            mechanism,
            credential_bytes: credential.header_lines().len(),
            request,
            server_records,
            forged_post_status: forged_post(bench, mechanism).await?,
            http_only,
        });
    }
    let figures = MechanismTable { rows };

    let mut table = Table::new("mechanism")
        .column("sent per request", Unit::Bytes)
        .column("server keeps", Unit::Text)
        .column("GET p50", Unit::Micros)
        .column("GET p99", Unit::Micros)
        .column("revoked after", Unit::Text)
        .column("forged cross-site POST", Unit::Text)
        .column("script can read it", Unit::Text)
        .column("fits", Unit::Text)
        .ratio_against("GET p50", Mechanism::Session.label())
        // A log axis: an argon2id verify per request is three decades above the other checks.
        .chart(
            Chart::bars()
                .log()
                .of(&["GET p50", "GET p99", "sent per request"])
                .titled("Four mechanisms: one authenticated GET, and what it sends"),
        );
    for row in &figures.rows {
        let keeps = match row.mechanism {
            Mechanism::Basic => "the password hash (nothing per login)".to_owned(),
            Mechanism::Session => format!("{} session record(s)", row.server_records),
            Mechanism::Jwt => "nothing (a signing key)".to_owned(),
            Mechanism::ApiKey => format!("{} key digest(s)", row.server_records),
        };
        let revoked = match revocation
            .get(row.mechanism)
            .and_then(|r| r.accepted_for_secs)
        {
            Some(0) => "the next request".to_owned(),
            Some(secs) => format!("{secs} s (at exp)"),
            None => "not within the horizon".to_owned(),
        };
        let forged = format!(
            "{} ({})",
            row.forged_post_status,
            if row.forged_post_authenticated() {
                "authenticated"
            } else {
                "refused"
            }
        );
        let readable = match (row.mechanism, row.http_only) {
            (Mechanism::Session, Some(true)) => "no (HttpOnly cookie)",
            (Mechanism::Session, _) => "yes (cookie not HttpOnly)",
            (Mechanism::Basic, _) => "no (browser's credential cache)",
            (Mechanism::Jwt, _) => "yes, wherever the app stores it",
            (Mechanism::ApiKey, _) => "not in a browser at all",
        };
        let fits = match row.mechanism {
            Mechanism::Basic => "scripts, internal tools, over TLS",
            Mechanism::Session => "browser apps served by the same site",
            Mechanism::Jwt => "SPAs, mobile apps, many servers",
            Mechanism::ApiKey => "service-to-service",
        };
        table.row(
            row.mechanism.label(),
            [
                (row.credential_bytes as f64).into(),
                keeps.into(),
                Cell::Number(row.request.p50_us()),
                Cell::Number(row.request.p99_us()),
                revoked.into(),
                forged.into(),
                readable.into(),
                fits.into(),
            ],
        );
    }
    n.say(
        "Each row logs arthur in and times GET /<prefix>/documents/1 on the instance that hashes at \
         the OWASP cost. The forged POST is what another site's form makes a browser send: the \
         cookie or the cached Basic credentials ride along by themselves, a bearer token or an \
         API key never does, and a form cannot add the session's X-CSRF-Token header.",
    );
    n.table(table);
    n.figures(&figures)?;
    Ok(figures)
}

/// A cross-site form post to `/<prefix>/documents` with only what a browser attaches by itself.
async fn forged_post(bench: &Bench<'_>, mechanism: Mechanism) -> anyhow::Result<u16> {
    let node = &bench.manual;
    let url = node
        .server
        .url(&format!("{}/documents", mechanism.prefix()));
    let mut req = bench
        .http
        .post(url)
        .header("origin", "https://evil.example")
        .header(CONTENT_TYPE.as_str(), "application/x-www-form-urlencoded")
        .body("title=forged");
    // Arthur's credential on the cheap instance, where a forged request costs no argon2 hash.
    let own = login(&bench.http, node, mechanism, "arthur").await?;
    req = match own {
        // The browser resends cached Basic credentials and cookies; it attaches nothing else.
        Credential::Basic(_) | Credential::Cookie { .. } => own.apply(req, false),
        Credential::Bearer(_) | Credential::ApiKey(_) => req,
    };
    Ok(req.send().await?.status().as_u16())
}

/// Whether `/session/login`'s cookie is `HttpOnly`.
async fn session_cookie_is_http_only(bench: &Bench<'_>) -> anyhow::Result<bool> {
    let node = &bench.manual;
    let resp = bench
        .http
        .post(node.server.url("/session/login"))
        .json(
            &serde_json::json!({ "username": "arthur", "password": super::password_of("arthur")? }),
        )
        .send()
        .await?;
    Ok(resp
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|c| {
            c.split(';')
                .any(|a| a.trim().eq_ignore_ascii_case("httponly"))
        }))
}
