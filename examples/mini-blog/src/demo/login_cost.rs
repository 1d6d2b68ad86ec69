//! "What a login costs": registering and logging in (argon2id at the OWASP baseline, on a
//! blocking thread) against a read that only checks the token (one HMAC).

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;
use support::narrate::Narrator;
use support::report::{Cell, Chart, Table, Unit};

use super::{Context, median_us};

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LoginCost {
    pub register_us: f64,
    pub login_us: f64,
    /// `GET /api/user` with a token.
    pub authenticated_read_us: f64,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
}

impl LoginCost {
    pub fn login_over_read(&self) -> f64 {
        if self.authenticated_read_us > 0.0 {
            self.login_us / self.authenticated_read_us
        } else {
            0.0
        }
    }
}

async fn timed(request: reqwest::RequestBuilder) -> anyhow::Result<(Duration, serde_json::Value)> {
    let started = Instant::now();
    let response = request.send().await?;
    let status = response.status();
    let body: serde_json::Value = response.json().await?;
    anyhow::ensure!(status.is_success(), "{status}: {body}");
    Ok((started.elapsed(), body))
}

pub async fn run(n: &mut Narrator, ctx: &Context) -> anyhow::Result<LoginCost> {
    n.section("What a login costs");
    let (hashes, reads) = if ctx.quick { (3, 100) } else { (15, 1_000) };
    let run = uuid::Uuid::new_v4().simple().to_string()[..6].to_owned();
    let mut registers = Vec::new();
    let mut email = String::new();
    for i in 0..hashes {
        let name = format!("cost{run}{i}");
        email = format!("{name}@example.com");
        let user =
            json!({"user": {"username": name, "email": email, "password": "a long passphrase"}});
        let (took, _) = timed(ctx.client.post(ctx.url("/api/users")).json(&user)).await?;
        registers.push(took);
    }
    let mut logins = Vec::new();
    let mut token = String::new();
    for _ in 0..hashes {
        let login = json!({"user": {"email": email, "password": "a long passphrase"}});
        let (took, body) = timed(ctx.client.post(ctx.url("/api/users/login")).json(&login)).await?;
        token = body["user"]["token"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        logins.push(took);
    }
    let mut authenticated = Vec::new();
    for _ in 0..reads {
        let request = ctx
            .client
            .get(ctx.url("/api/user"))
            .header("Authorization", format!("Token {token}"));
        authenticated.push(timed(request).await?.0);
    }
    let cost = ctx.state.passwords.cost();
    let figures = LoginCost {
        register_us: median_us(&mut registers),
        login_us: median_us(&mut logins),
        authenticated_read_us: median_us(&mut authenticated),
        argon2_memory_kib: cost.memory_kib,
        argon2_iterations: cost.iterations,
    };
    let mut table = Table::new("request")
        .column("p50", Unit::Micros)
        .column("requests", Unit::Count)
        .ratio_against("p50", "GET /api/user (token check)")
        .chart(
            Chart::bars()
                .log()
                .of(&["p50"])
                .titled("What a login costs against a token check"),
        );
    table.row(
        "POST /api/users (hash)",
        [
            Cell::Number(figures.register_us),
            Cell::Number(registers.len() as f64),
        ],
    );
    table.row(
        "POST /api/users/login (verify)",
        [
            Cell::Number(figures.login_us),
            Cell::Number(logins.len() as f64),
        ],
    );
    table.row(
        "GET /api/user (token check)",
        [
            Cell::Number(figures.authenticated_read_us),
            Cell::Number(authenticated.len() as f64),
        ],
    );
    n.table(table);
    n.say(&format!(
        "argon2id at m = {} KiB, t = {}: slow on purpose, so a stolen hash is slow to guess. The \
         token then spares every later request that cost. These are measured apart from every \
         read benchmark, which would otherwise be about hashing.",
        figures.argon2_memory_kib, figures.argon2_iterations
    ));
    n.figures(&figures)?;
    Ok(figures)
}
