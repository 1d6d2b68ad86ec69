//! What the server does to trust one request, timed in-process (no HTTP, no network): the
//! argon2id verification HTTP Basic pays on every request, beside a session lookup, a JWT
//! verification, an API key's digest and lookup, and the RBAC check every mechanism ends in.
//!
//! The argon2id row uses a hash stored at the OWASP baseline (19 MiB, t = 2, p = 1), the cost a
//! real service should configure; the other rows are what the other mechanisms do instead.

use std::time::Duration;

use actix_web::HttpMessage as _;
use actix_web::cookie::Cookie;
use actix_web::test::TestRequest;
use anyhow::Context as _;
use serde::Serialize;
use support::measure::{Measurement, Plan, measure_sync};
use support::narrate::Narrator;
use support::report::{Chart, Table};

use super::{Bench, password_of};
use crate::api_keys::NewKey;
use crate::error::API_KEY_HEADER;
use crate::guard;
use crate::passwords::{self, PasswordCost};
use crate::principal::{Mechanism, Principal};
use crate::rbac::{self, Permission};

pub const TITLE: &str = "What the server does to trust one request (in-process)";
pub const ARGON2: &str = "argon2id verify (HTTP Basic, every request)";
pub const SESSION: &str = "session lookup (cookie)";
pub const JWT: &str = "JWT verify (HS256, iss/aud/exp)";
pub const API_KEY: &str = "API key (SHA-256 + lookup)";
pub const AUTHORIZE: &str = "RBAC check (role → permission)";
pub const GUARD: &str = "Can<P> extractor (principal + RBAC)";

/// What this section measured.
#[derive(Debug, Clone, Serialize)]
pub struct PerRequestCost {
    /// The cost the stored hash was made with.
    pub argon2_cost: PasswordCost,
    pub argon2: Measurement,
    pub session: Measurement,
    pub jwt: Measurement,
    pub api_key: Measurement,
    /// `rbac::authorize` alone.
    pub authorize: Measurement,
    /// What a handler pays: read the principal the middleware left, clone it, authorize.
    pub guard: Measurement,
}

impl PerRequestCost {
    /// argon2id's median over the slower of the session lookup and the JWT verification: the
    /// smaller of the two ratios, so the goal holds against both.
    pub fn argon2_over_token(&self) -> f64 {
        let cheaper = self.session.p50.max(self.jwt.p50).as_secs_f64();
        self.argon2.p50.as_secs_f64() / cheaper.max(1e-9)
    }
}

pub async fn section(n: &mut Narrator, bench: &Bench<'_>) -> anyhow::Result<PerRequestCost> {
    let args = bench.args;
    let state = &bench.owasp.state;
    let fast = Plan::iterations(args.pick(100_000, 10_000))
        .budget(Duration::from_secs(args.pick(2, 1) as u64));
    // Each argon2id verification is tens of milliseconds: a handful is a fair median.
    let slow = Plan::iterations(args.pick(40, 6))
        .warmup(1)
        .budget(Duration::from_secs(args.pick(4, 1) as u64));

    let arthur = state.accounts.find("arthur")?.context("arthur is seeded")?;
    let password = password_of("arthur")?;
    let phc = state
        .accounts
        .stored_hash("arthur")?
        .context("arthur has a password")?;
    let argon2_cost = passwords::cost_of(&phc).context("the stored hash is argon2id")?;
    let argon2 = measure_sync(slow, || {
        passwords::verify_blocking(std::hint::black_box(&phc), password)
    });

    let session = state.sessions.create(arthur.id)?;
    let with_cookie = TestRequest::get()
        .cookie(Cookie::new(
            state.sessions.cookie_name().to_owned(),
            session.id.clone(),
        ))
        .to_http_request();
    let session = measure_sync(fast, || {
        state.sessions.authenticate(&with_cookie, &state.accounts)
    });

    let token = state.jwt.issue(&arthur)?.access_token;
    let with_token = TestRequest::get()
        .insert_header(("authorization", format!("Bearer {token}")))
        .to_http_request();
    let jwt = measure_sync(fast, || state.jwt.authenticate(&with_token));

    let owner = Principal::new(arthur.id, &arthur.username, arthur.role, Mechanism::Jwt);
    let key = state.api_keys.create(
        &owner,
        &NewKey {
            name: "per-request cost".into(),
            scopes: vec![Permission::ReadDocuments.scope().into()],
        },
    )?;
    let with_key = TestRequest::get()
        .insert_header((API_KEY_HEADER, key.key.clone()))
        .to_http_request();
    let api_key = measure_sync(fast, || {
        state.api_keys.authenticate(&with_key, &state.accounts)
    });

    let granted = arthur.role.permissions();
    let authorize = measure_sync(fast, || {
        rbac::authorize(
            std::hint::black_box(granted),
            std::hint::black_box(Permission::EditOwnDocuments),
        )
    });
    let authenticated = TestRequest::get().to_http_request();
    authenticated.extensions_mut().insert(owner);
    let guard = measure_sync(fast, || {
        guard::authorize(&authenticated, Permission::EditOwnDocuments)
    });

    let figures = PerRequestCost {
        argon2_cost,
        argon2,
        session,
        jwt,
        api_key,
        authorize,
        guard,
    };
    let mut table = Table::latency("step")
        .ratio_against("p50", SESSION)
        // A log axis: from a tenth of a microsecond (RBAC) to tens of milliseconds (argon2id).
        .chart(
            Chart::bars()
                .log()
                .of(&["p50", "p99"])
                .titled("What trusting one request costs, in-process"),
        );
    table.row_measured(ARGON2, &figures.argon2, []);
    table.row_measured(SESSION, &figures.session, []);
    table.row_measured(JWT, &figures.jwt, []);
    table.row_measured(API_KEY, &figures.api_key, []);
    table.row_measured(GUARD, &figures.guard, []);
    n.say(&format!(
        "argon2id at m = {} KiB, t = {}, p = {} (the OWASP baseline) against what the other mechanisms do per request.",
        argon2_cost.memory_kib, argon2_cost.iterations, argon2_cost.lanes
    ));
    n.table(table);
    // Below the table's resolution (it prints microseconds), so said in nanoseconds instead.
    n.say(&format!(
        "The {AUTHORIZE} alone, one bit test, took {} ns; the Can<P> row adds reading the \
         principal the middleware left in the request.",
        support::report::format_number(figures.authorize.p50_ns())
    ));
    n.figures(&figures)?;
    Ok(figures)
}
