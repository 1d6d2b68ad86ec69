//! `cargo demo sessions-vs-jwt`: the three mechanisms, measured side by side.
//!
//! 1. what each request carries (bytes) and what the server does to trust it (µs);
//! 2. revocation: after logout and after a password change, how long each mechanism still
//!    accepts the old credential, found by trying it while a manual clock moves forward;
//! 3. two instances behind a round-robin client: the success rate of `/me` per mechanism;
//! 4. the classic comparison table, with a measured column beside each claim.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use reqwest::header::COOKIE;
use support::demo::DemoArgs;
use support::measure::{Plan, measure, measure_sync};
use support::narrate::Narrator;
use support::report::{Table, Unit};
use support::{Service, Settings};

use crate::app::{self, AppState, Parts, PasswordChange};
use crate::clock::{Clock, ManualClock, SharedClock, SystemClock};
use crate::config::{Config, HashCost};
use crate::jwt::{AccessClaims, Keyring, Verifier};
use crate::jwt_auth::TokenPair;
use crate::session::Credentials;
use crate::users::{DEMO_USERS, UserStore};

const TOPIC: &str = "sessions-vs-jwt";
const MEMORY: &str = "memory session";
const REDIS: &str = "Redis session";
const PLAIN_JWT: &str = "JWT (verify only)";
const CHECKED_JWT: &str = "JWT + denylist";
const BARE_GET: &str = "bare Redis GET";
const HS256_VERIFY: &str = "HS256 verify";
const EDDSA_VERIFY: &str = "EdDSA verify";

/// One running instance and what a client needs to talk to it.
struct Node {
    server: support::server::RunningServer,
    state: AppState,
}

/// A client's credential for one mechanism.
#[derive(Clone)]
enum Credential {
    Cookie(String, String),
    Bearer(String),
}

impl Credential {
    /// The request header line the client sends for it, as bytes on the wire (HTTP/1.1).
    fn header_line(&self) -> String {
        match self {
            Credential::Cookie(name, value) => format!("Cookie: {name}={value}\r\n"),
            Credential::Bearer(token) => format!("Authorization: Bearer {token}\r\n"),
        }
    }

    fn apply(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Credential::Cookie(name, value) => req.header(COOKIE, format!("{name}={value}")),
            Credential::Bearer(token) => req.bearer_auth(token),
        }
    }
}

pub async fn demo(settings: &Settings, args: &DemoArgs) -> anyhow::Result<support::Report> {
    let mut n = Narrator::new(
        TOPIC,
        "Sessions vs JWT: where login state lives, what it costs, how fast it can be revoked",
        args,
    );
    let services = n
        .probe(
            settings,
            &[(
                Service::Redis,
                "the Redis-session and JWT-denylist rows are left out (tokens keep their refresh state in memory)",
            )],
        )
        .await?;
    let redis_up = services.is_up(Service::Redis);
    let pool = redis_up
        .then(|| app::redis_pool(&settings.redis_url))
        .transpose()?;
    // Every key of this run lives under its own prefix and is deleted at the end.
    let namespace = format!(
        "{}demo:{}:",
        app::KEY_NAMESPACE,
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );

    let mut config = Config::new(settings.clone()).for_localhost();
    if args.quick {
        config = config.with_cheap_hashing();
    }
    let users = UserStore::seeded(config.hash_cost).await?;
    let system: SharedClock = Arc::new(SystemClock);
    let http = reqwest::Client::new();

    let a = start(&config, system.clone(), &users, pool.clone(), &namespace)?;
    let creds = login_all(&http, &a).await?;
    let result = async {
        per_request(&mut n, args, &http, &a, &creds, pool.as_ref(), &config).await?;
        revocation(&mut n, &http, &config, pool.as_ref(), &namespace).await?;
        two_instances(
            &mut n,
            args,
            &http,
            &a,
            &config,
            &users,
            pool.as_ref(),
            &namespace,
        )
        .await?;
        classic_table(&mut n);
        goals(&mut n, redis_up);
        closing(&mut n, redis_up);
        anyhow::Ok(())
    }
    .await;
    a.server.stop().await;
    if let Some(pool) = &pool {
        cleanup(pool, &namespace).await;
    }
    result?;
    n.finish(args.json.as_deref())
}

fn start(
    config: &Config,
    clock: SharedClock,
    users: &UserStore,
    redis: Option<deadpool_redis::Pool>,
    namespace: &str,
) -> anyhow::Result<Node> {
    let state = AppState::new(Parts {
        config: config.clone(),
        clock,
        users: users.clone(),
        redis,
        namespace: namespace.to_owned(),
        keys: None,
    })?;
    let for_server = state.clone();
    let server = support::server::spawn(move |l| app::run(l, for_server))?;
    Ok(Node { server, state })
}

fn alice() -> Credentials {
    Credentials {
        username: DEMO_USERS[0].0.to_owned(),
        password: DEMO_USERS[0].1.to_owned(),
    }
}

/// Logs in under `prefix` (`/memory`, `/redis`) and returns the session cookie.
async fn session_login(
    http: &reqwest::Client,
    node: &Node,
    prefix: &str,
    who: &Credentials,
) -> anyhow::Result<Credential> {
    let resp = http
        .post(node.server.url(&format!("{prefix}/login")))
        .json(who)
        .send()
        .await?;
    anyhow::ensure!(
        resp.status() == 200,
        "{prefix}/login answered {}",
        resp.status()
    );
    let raw = resp
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .context("no Set-Cookie")?;
    let (name, value) = raw
        .split(';')
        .next()
        .and_then(|p| p.split_once('='))
        .context("unreadable Set-Cookie")?;
    Ok(Credential::Cookie(name.to_owned(), value.to_owned()))
}

async fn jwt_login(
    http: &reqwest::Client,
    node: &Node,
    who: &Credentials,
) -> anyhow::Result<TokenPair> {
    let resp = http
        .post(node.server.url("/jwt/login"))
        .json(who)
        .send()
        .await?;
    anyhow::ensure!(
        resp.status() == 200,
        "/jwt/login answered {}",
        resp.status()
    );
    Ok(resp.json().await?)
}

async fn status_of(
    http: &reqwest::Client,
    url: String,
    credential: &Credential,
) -> anyhow::Result<u16> {
    Ok(credential
        .apply(http.get(url))
        .send()
        .await?
        .status()
        .as_u16())
}

struct Creds {
    memory: Credential,
    redis: Option<Credential>,
    jwt: Credential,
}

async fn login_all(http: &reqwest::Client, a: &Node) -> anyhow::Result<Creds> {
    let memory = session_login(http, a, "/memory", &alice()).await?;
    let redis = match a.state.redis {
        Some(_) => Some(session_login(http, a, "/redis", &alice()).await?),
        None => None,
    };
    let pair = jwt_login(http, a, &alice()).await?;
    Ok(Creds {
        memory,
        redis,
        jwt: Credential::Bearer(pair.access_token),
    })
}

#[allow(clippy::too_many_lines)]
async fn per_request(
    n: &mut Narrator,
    args: &DemoArgs,
    http: &reqwest::Client,
    a: &Node,
    creds: &Creds,
    pool: Option<&deadpool_redis::Pool>,
    config: &Config,
) -> anyhow::Result<()> {
    n.section("Per request: what the client sends, and what the server does with it");

    // Logging in is the expensive part of every mechanism: argon2id, on a blocking thread.
    let cost = if config.hash_cost == HashCost::OWASP {
        "OWASP cost: 19 MiB, 2 passes"
    } else {
        "cheap test cost"
    };
    let logins = measure(Plan::iterations(args.pick(20, 4)).warmup(1), |_| async {
        let resp = http
            .post(a.server.url("/memory/login"))
            .json(&alice())
            .send()
            .await;
        resp.map(|r| r.status() == 200).unwrap_or(false)
    })
    .await;
    let mut login = Table::latency("step");
    login.row_measured(
        format!("POST /memory/login (argon2id, {cost})"),
        &logins,
        [],
    );
    n.say("A login verifies the password once with argon2id. That is deliberately slow, and it happens once per login, not per request; everything below is the per-request price.");
    n.table(login);

    // An EdDSA token with the same claims, to compare sizes and verification cost.
    let ed_keys = Keyring::eddsa(a.state.clock.clone())?;
    let hs_token = match &creds.jwt {
        Credential::Bearer(t) => t.clone(),
        Credential::Cookie(..) => String::new(),
    };
    let claims: AccessClaims = a
        .state
        .jwt
        .verify(&hs_token)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let ed_token = ed_keys.sign(&claims)?;
    let ed_verifier = Verifier::new(
        ed_keys.algorithm(),
        &config.jwt.issuer,
        Some(&config.jwt.audience),
        config.jwt.leeway,
        a.state.clock.clone(),
    );

    let mut bytes = Table::new("credential")
        .column("sent as", Unit::Text)
        .column("bytes per request", Unit::Bytes)
        .ratio_against("bytes per request", MEMORY);
    let mut rows: Vec<(&str, &Credential)> = vec![(MEMORY, &creds.memory)];
    if let Some(redis) = &creds.redis {
        rows.push((REDIS, redis));
    }
    rows.push(("JWT HS256", &creds.jwt));
    let ed_credential = Credential::Bearer(ed_token.clone());
    rows.push(("JWT EdDSA", &ed_credential));
    for (label, credential) in rows {
        let sent_as = match credential {
            Credential::Cookie(..) => "Cookie header",
            Credential::Bearer(_) => "Authorization: Bearer",
        };
        bytes.row(
            label,
            [sent_as.into(), credential.header_line().len().into()],
        );
    }
    n.say("Bytes on the wire for the credential alone (the header line, HTTP/1.1). A session cookie is an opaque id; a JWT carries its claims and a signature, on every request.");
    n.table(bytes);

    // Server-side cost of trusting one request, without HTTP around it.
    let sync_plan =
        Plan::iterations(args.pick(200_000, 20_000)).budget(Duration::from_secs(args.pick(3, 1)));
    let async_plan =
        Plan::iterations(args.pick(10_000, 500)).budget(Duration::from_secs(args.pick(3, 1)));
    let baseline = if pool.is_some() && a.state.redis.is_some() {
        BARE_GET
    } else {
        MEMORY
    };
    let mut work = Table::latency("authentication step").ratio_against("p50", baseline);

    let memory_id = match &creds.memory {
        Credential::Cookie(_, id) => id.clone(),
        Credential::Bearer(_) => String::new(),
    };
    let memory_sessions = a.state.memory.clone();
    let now = a.state.clock.now();
    let m = measure_sync(sync_plan, || {
        let record = memory_sessions.store.get(std::hint::black_box(&memory_id));
        matches!(record, Ok(Some(r)) if matches!(memory_sessions.policy.check(&r, now), crate::session::Verdict::Valid { .. }))
    });
    work.row_measured(MEMORY, &m, []);
    let hs = measure_sync(sync_plan, || {
        a.state.jwt.verify(std::hint::black_box(&hs_token)).is_ok()
    });
    work.row_measured(HS256_VERIFY, &hs, []);
    let ed = measure_sync(sync_plan, || {
        ed_verifier
            .verify::<AccessClaims>(std::hint::black_box(&ed_token), &ed_keys)
            .is_ok()
    });
    work.row_measured(EDDSA_VERIFY, &ed, []);

    if let (Some(pool), Some(redis), Some(Credential::Cookie(_, redis_id))) =
        (pool, &a.state.redis, &creds.redis)
    {
        // The bare round trip, same pool, same value size as a session record.
        let key = redis.store.session_key(redis_id);
        let bare = measure(async_plan, |_| async {
            let Ok(mut conn) = pool.get().await else {
                return false;
            };
            let value: redis::RedisResult<Option<String>> =
                redis::cmd("GET").arg(&key).query_async(&mut conn).await;
            matches!(value, Ok(Some(_)))
        })
        .await;
        work.row_measured(BARE_GET, &bare, []);
        let lookup = measure(async_plan, |_| async {
            redis.authenticate(redis_id).await.is_ok()
        })
        .await;
        work.row_measured(REDIS, &lookup, []);
        let deny = measure(async_plan, |_| async {
            a.state
                .jwt
                .store
                .is_revoked(&claims.jti, &claims.sub, claims.r#gen)
                .await
                .is_ok()
        })
        .await;
        work.row_measured("denylist check (MGET)", &deny, []);
        let checked = measure(async_plan, |_| async {
            a.state.jwt.verify_and_check(&hs_token).await.is_ok()
        })
        .await;
        work.row_measured(CHECKED_JWT, &checked, []);
    }
    n.say("Server work to trust one request, timed in-process (no HTTP): a hash-map lookup, a signature check, or a Redis round trip. The ratio column compares each median with the baseline row.");
    n.table(work);

    // The same, end to end through HTTP, so the differences are seen at their real scale.
    let http_plan =
        Plan::iterations(args.pick(2_000, 100)).budget(Duration::from_secs(args.pick(3, 1)));
    let mut full = Table::latency("GET /me").ratio_against("p50", MEMORY);
    let mut routes: Vec<(&str, &str, &Credential)> = vec![(MEMORY, "/memory/me", &creds.memory)];
    if let Some(redis) = &creds.redis {
        routes.push((REDIS, "/redis/me", redis));
    }
    routes.push((PLAIN_JWT, "/jwt-plain/me", &creds.jwt));
    if pool.is_some() {
        routes.push((CHECKED_JWT, "/jwt/me", &creds.jwt));
    }
    for (label, path, credential) in routes {
        let url = a.server.url(path);
        let m = measure(http_plan, |_| async {
            matches!(status_of(http, url.clone(), credential).await, Ok(200))
        })
        .await;
        full.row_measured(label, &m, []);
    }
    n.say("The whole request over loopback HTTP: the authentication step is a small part of it.");
    n.table(full);
    Ok(())
}

/// Probes `url` with `credential` at +0 s, +step, ... up to `horizon`, advancing `clock`;
/// returns the first offset at which the credential was refused (`None`: never, within horizon).
async fn refused_after(
    http: &reqwest::Client,
    clock: &ManualClock,
    url: String,
    credential: &Credential,
    step: Duration,
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
        clock.advance(step);
    }
}

#[allow(clippy::too_many_lines)]
async fn revocation(
    n: &mut Narrator,
    http: &reqwest::Client,
    config: &Config,
    pool: Option<&deadpool_redis::Pool>,
    namespace: &str,
) -> anyhow::Result<()> {
    n.section("Revocation: how long is the old credential still accepted?");
    // A separate instance on a manual clock: "accepted 15 minutes later" is found by moving the
    // clock, not by waiting 15 minutes. Its users are separate too (a password gets changed).
    let clock = ManualClock::starting_now();
    let users = UserStore::seeded(config.hash_cost).await?;
    let node = start(
        config,
        Arc::new(clock.clone()),
        &users,
        pool.cloned(),
        &format!("{namespace}revocation:"),
    )?;
    let step = Duration::from_secs(30);
    let horizon = config.jwt.access_ttl + config.jwt.leeway + Duration::from_secs(60);

    let mut table = Table::new("mechanism")
        .column("after logout: refused from", Unit::Seconds)
        .column("after password change: refused from", Unit::Seconds)
        .column("probes", Unit::Count);
    let mut mechanisms: Vec<(&str, &str)> = vec![(MEMORY, "/memory")];
    if pool.is_some() {
        mechanisms.push((REDIS, "/redis"));
    }
    mechanisms.push((PLAIN_JWT, "/jwt-plain"));
    if pool.is_some() {
        mechanisms.push((CHECKED_JWT, "/jwt"));
    }
    let mut transcript = Vec::new();
    for (i, (label, prefix)) in mechanisms.iter().enumerate() {
        // Logout: the client logs out (the server forgets or denylists), an attacker replays.
        let who = alice();
        let (credential, logout_path) = if prefix.starts_with("/jwt") {
            let pair = jwt_login(http, &node, &who).await?;
            (
                Credential::Bearer(pair.access_token),
                "/jwt/logout".to_owned(),
            )
        } else {
            (
                session_login(http, &node, prefix, &who).await?,
                format!("{prefix}/logout"),
            )
        };
        let logout = credential
            .apply(http.post(node.server.url(&logout_path)))
            .send()
            .await?
            .status();
        let (after_logout, p1) = refused_after(
            http,
            &clock,
            node.server.url(&format!("{prefix}/me")),
            &credential,
            step,
            horizon,
        )
        .await?;

        // Password change: a fresh user per mechanism, so each change starts from a known password.
        let (name, password) = DEMO_USERS[1];
        let current = if i == 0 {
            password.to_owned()
        } else {
            format!("{password} #{i}")
        };
        let who = Credentials {
            username: name.to_owned(),
            password: current.clone(),
        };
        let credential = if prefix.starts_with("/jwt") {
            Credential::Bearer(jwt_login(http, &node, &who).await?.access_token)
        } else {
            session_login(http, &node, prefix, &who).await?
        };
        node.state
            .change_password(&PasswordChange {
                username: name.to_owned(),
                old_password: current,
                new_password: format!("{password} #{}", i + 1),
            })
            .await?;
        let (after_change, p2) = refused_after(
            http,
            &clock,
            node.server.url(&format!("{prefix}/me")),
            &credential,
            step,
            horizon,
        )
        .await?;
        transcript.push(format!(
            "{label:<20} logout {logout}, then refused from +{}; password change, then refused from +{}",
            after_logout.map_or("never".to_owned(), |s| format!("{s} s")),
            after_change.map_or("never".to_owned(), |s| format!("{s} s"))
        ));
        table.row(
            *label,
            [after_logout.into(), after_change.into(), (p1 + p2).into()],
        );
    }
    node.server.stop().await;
    n.say(&format!(
        "Each credential is tried again right after logout (or after a password change), then every {} s of a manual clock until it is refused. Access tokens live {} s with {} s of leeway.",
        step.as_secs(),
        config.jwt.access_ttl.as_secs(),
        config.jwt.leeway.as_secs()
    ));
    n.transcript(transcript);
    n.table(table);
    n.say("Sessions die the moment the server forgets them. A JWT verified by signature alone cannot be recalled: it works until exp, whatever happened. The denylist brings revocation back to zero, at the price of a lookup on every request, which makes the 'stateless' token stateful again.");
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn two_instances(
    n: &mut Narrator,
    args: &DemoArgs,
    http: &reqwest::Client,
    a: &Node,
    config: &Config,
    users: &UserStore,
    pool: Option<&deadpool_redis::Pool>,
    namespace: &str,
) -> anyhow::Result<()> {
    n.section("Two instances behind a round-robin load balancer");
    let b = start(
        config,
        a.state.clock.clone(),
        users,
        pool.cloned(),
        namespace,
    )?;
    let requests = args.pick(200u64, 20);
    // The client logs in through the balancer (lands on A), then alternates A, B, A, B...
    let memory = session_login(http, a, "/memory", &alice()).await?;
    let jwt = Credential::Bearer(jwt_login(http, a, &alice()).await?.access_token);
    let mut cases: Vec<(String, &str, Credential, bool)> = vec![
        (
            format!("{MEMORY}, round robin"),
            "/memory/me",
            memory.clone(),
            false,
        ),
        (format!("{MEMORY}, sticky"), "/memory/me", memory, true),
    ];
    if pool.is_some() {
        let redis = session_login(http, a, "/redis", &alice()).await?;
        cases.push((format!("{REDIS}, round robin"), "/redis/me", redis, false));
    }
    cases.push((
        format!("{PLAIN_JWT}, round robin"),
        "/jwt-plain/me",
        jwt.clone(),
        false,
    ));
    if pool.is_some() {
        cases.push((format!("{CHECKED_JWT}, round robin"), "/jwt/me", jwt, false));
    }
    let mut table = Table::new("mechanism, routing")
        .column("requests", Unit::Count)
        .column("succeeded", Unit::Count)
        .column("success", Unit::Percent);
    for (label, path, credential, sticky) in &cases {
        let mut ok = 0u64;
        for i in 0..requests {
            let node = if *sticky || i % 2 == 0 { a } else { &b };
            if status_of(http, node.server.url(path), credential).await? == 200 {
                ok += 1;
            }
        }
        #[allow(clippy::cast_precision_loss)]
        let percent = ok as f64 * 100.0 / requests as f64;
        table.row(label.clone(), [requests.into(), ok.into(), percent.into()]);
    }
    b.server.stop().await;
    n.say("Two instances of the same service share the user store, Redis and the HS256 secret; each has its own memory. The client sends GET /me alternately to A and B (round robin), or always to A (sticky).");
    n.table(table);
    n.say("The same topology for containers: the nginx upstream in crates/sessions-vs-jwt/deploy/nginx.conf, started with `docker compose --profile sessions-vs-jwt up -d` on port 8088 (round robin by default; `ip_hash` in that file makes it sticky).");
    Ok(())
}

fn classic_table(n: &mut Narrator) {
    n.section("The classic comparison, with a measured column beside each claim");
    let report = n.report();
    let find = |title: &str| report.tables().find(|t| t.label == title).cloned();
    let (bytes, work, revoke, scale) = (
        find("credential"),
        find("authentication step"),
        find("mechanism"),
        find("mechanism, routing"),
    );
    let value =
        |t: &Option<Table>, row: &str, col: &str| t.as_ref().and_then(|t| t.value(row, col));

    let mut table = Table::new("mechanism")
        .column("state lives in", Unit::Text)
        .column("stateless?", Unit::Text)
        .column("round-robin /me success", Unit::Percent)
        .column("refused after logout from", Unit::Seconds)
        .column("credential size", Unit::Bytes)
        .column("auth work p50", Unit::Micros)
        .column("typical use", Unit::Text);
    let rows = [
        (
            MEMORY,
            "server memory",
            "no",
            MEMORY,
            "traditional web app on one server (or sticky LB)",
            MEMORY,
        ),
        (
            REDIS,
            "Redis (shared)",
            "no",
            REDIS,
            "traditional web apps at scale",
            REDIS,
        ),
        (
            PLAIN_JWT,
            "the token (client)",
            "yes",
            "JWT HS256",
            "service-to-service, short-lived API access",
            HS256_VERIFY,
        ),
        (
            CHECKED_JWT,
            "token + Redis denylist",
            "no (one lookup)",
            "JWT HS256",
            "SPAs and mobile apps that need logout",
            CHECKED_JWT,
        ),
    ];
    for (label, state, stateless, bytes_row, typical, work_row) in rows {
        let success = value(&scale, &format!("{label}, round robin"), "success");
        if success.is_none() && label != MEMORY && label != PLAIN_JWT {
            continue; // left out without Redis
        }
        table.row(
            label,
            [
                state.into(),
                stateless.into(),
                success.into(),
                value(&revoke, label, "after logout: refused from").into(),
                value(&bytes, bytes_row, "bytes per request").into(),
                value(&work, work_row, "p50").into(),
                typical.into(),
            ],
        );
    }
    n.say("Where state is stored, whether the server keeps any, how it scales, and where each is typically used: the usual table, except that every number in it was measured above in this run.");
    n.table(table);
}

fn goals(n: &mut Narrator, redis_up: bool) {
    n.section("Performance goals");
    let report = n.report();
    let work = report
        .tables()
        .find(|t| t.label == "authentication step")
        .cloned();
    let p50 = |row: &str| work.as_ref().and_then(|t| t.value(row, "p50"));
    let mut table = Table::new("goal")
        .column("target", Unit::Text)
        .column("measured", Unit::Text)
        .column("met", Unit::Text);
    let hs = p50(HS256_VERIFY);
    table.row(
        "HS256 access-token verification (p50)",
        [
            "< 5 µs".into(),
            hs.map(|v| format!("{v:.2} µs")).into(),
            hs.map(|v| if v < 5.0 { "yes" } else { "no" }).into(),
        ],
    );
    if redis_up {
        let ratio = p50(REDIS).zip(p50(BARE_GET)).map(|(s, g)| s / g);
        table.row(
            "Redis session lookup vs bare GET (p50 ratio)",
            [
                "≤ 1.3×".into(),
                ratio.map(|r| format!("{r:.2}×")).into(),
                ratio.map(|r| if r <= 1.3 { "yes" } else { "no" }).into(),
            ],
        );
    }
    n.table(table);
}

fn closing(n: &mut Narrator, redis_up: bool) {
    n.section("What you just saw");
    let report = n.report();
    let get = |title: &str, row: &str, col: &str| {
        report
            .tables()
            .find(|t| t.label == title)
            .and_then(|t| t.value(row, col))
    };
    let fmt = |v: Option<f64>, unit: &str| {
        v.map_or("n/a".to_owned(), |v| {
            format!("{}{unit}", support::report::format_number(v))
        })
    };
    let memory_rr = get(
        "mechanism, routing",
        &format!("{MEMORY}, round robin"),
        "success",
    );
    let plain_revoke = get("mechanism", PLAIN_JWT, "after logout: refused from");
    let hs = get("authentication step", HS256_VERIFY, "p50");
    let mem = get("authentication step", MEMORY, "p50");
    let jwt_bytes = get("credential", "JWT HS256", "bytes per request");
    let cookie_bytes = get("credential", MEMORY, "bytes per request");
    let redis_part = if redis_up {
        format!(
            " A Redis session lookup took {} against {} for a bare GET, and the JWT denylist check {}: the network round trip is the whole cost, and both are revocable at once and work on any instance.",
            fmt(get("authentication step", REDIS, "p50"), " µs"),
            fmt(get("authentication step", BARE_GET, "p50"), " µs"),
            fmt(
                get("authentication step", "denylist check (MGET)", "p50"),
                " µs"
            ),
        )
    } else {
        " (Redis was not reachable: the Redis rows were left out.)".to_owned()
    };
    n.say(&format!(
        "A memory session is the cheapest check ({} p50) but only {} of round-robin requests found it. An HS256 JWT verifies in {} with no lookup and works anywhere, but costs {} on every request against {} for a cookie, and a logged-out token kept working: it was first refused at +{} s.{} Recommendation: for a web app, keep sessions in a shared store (Redis) behind an HttpOnly, SameSite=Lax, __Host- cookie; use short-lived JWTs where a service must verify without calling home, and pair them with rotating refresh tokens and a denylist when logout must mean logout.",
        fmt(mem, " µs"),
        fmt(memory_rr, " %"),
        fmt(hs, " µs"),
        fmt(jwt_bytes, " bytes"),
        fmt(cookie_bytes, " bytes"),
        fmt(plain_revoke, ""),
        redis_part,
    ));
}

async fn cleanup(pool: &deadpool_redis::Pool, namespace: &str) {
    let Ok(mut conn) = pool.get().await else {
        return;
    };
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{namespace}*"))
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: redis::RedisResult<()> = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await;
    }
}
