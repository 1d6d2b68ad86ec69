//! Per request, part 3: the server's work to trust one request, timed in-process (no HTTP): a
//! hash-map lookup, a signature check, or a Redis round trip. With Redis, a bare `GET` of a
//! session-sized value on the same pool is the baseline the Redis rows are read against, so
//! "a session lookup costs a round trip" is a measured claim, not a guess.

use std::time::Duration;

use serde::Serialize;
use support::measure::{Measurement, Plan, measure, measure_sync};
use support::narrate::Narrator;
use support::report::{Chart, Table};

use super::{Bench, Mechanism};
use crate::jwt::AccessClaims;
use crate::session::Verdict;

const HS256_VERIFY: &str = "HS256 verify";
const EDDSA_VERIFY: &str = "EdDSA verify";
const BARE_GET: &str = "bare Redis GET";
const DENYLIST: &str = "denylist check (MGET)";

/// The Redis rows, measured only when Redis answered.
#[derive(Debug, Clone, Serialize)]
pub struct RedisCost {
    /// `GET` of the session's key, nothing else: the round trip.
    pub bare_get: Measurement,
    /// `Sessions::authenticate`: the `GET`, the JSON and the timeout check.
    pub session: Measurement,
    /// The token store's `MGET` of the `jti` denylist entry and the user's generation.
    pub denylist: Measurement,
    /// `verify_and_check`: the HS256 verification and the denylist check.
    pub checked_jwt: Measurement,
}

/// What this part measured.
#[derive(Debug, Clone, Serialize)]
pub struct AuthenticationCost {
    /// The memory store's lookup and the timeout check.
    pub memory: Measurement,
    pub hs256_verify: Measurement,
    pub eddsa_verify: Measurement,
    pub redis: Option<RedisCost>,
}

impl AuthenticationCost {
    /// What it costs `mechanism`'s `/me` to trust a request.
    pub fn for_mechanism(&self, mechanism: Mechanism) -> Option<&Measurement> {
        match mechanism {
            Mechanism::MemorySession => Some(&self.memory),
            Mechanism::RedisSession => self.redis.as_ref().map(|r| &r.session),
            Mechanism::PlainJwt => Some(&self.hs256_verify),
            Mechanism::CheckedJwt => self.redis.as_ref().map(|r| &r.checked_jwt),
        }
    }
}

pub async fn section(n: &mut Narrator, bench: &Bench<'_>) -> anyhow::Result<AuthenticationCost> {
    let args = bench.args;
    let sync_plan =
        Plan::iterations(args.pick(200_000, 20_000)).budget(Duration::from_secs(args.pick(3, 1)));
    let async_plan =
        Plan::iterations(args.pick(10_000, 500)).budget(Duration::from_secs(args.pick(3, 1)));
    let state = &bench.a.state;
    let tokens = &bench.tokens;

    let memory_id = &bench.creds.memory_id;
    let now = state.clock.now();
    let memory = measure_sync(sync_plan, || {
        let record = state.memory.store.get(std::hint::black_box(memory_id));
        matches!(record, Ok(Some(r)) if matches!(state.memory.policy.check(&r, now), Verdict::Valid { .. }))
    });
    let hs256_verify = measure_sync(sync_plan, || {
        state
            .jwt
            .verify(std::hint::black_box(&tokens.hs256))
            .is_ok()
    });
    let eddsa_verify = measure_sync(sync_plan, || {
        tokens
            .eddsa_verifier
            .verify::<AccessClaims>(std::hint::black_box(&tokens.eddsa), &tokens.eddsa_keys)
            .is_ok()
    });

    let redis = match (&bench.pool, &state.redis, &bench.creds.redis_id) {
        (Some(pool), Some(redis), Some(redis_id)) => {
            // The bare round trip: same pool, same key, so the same value size as a session.
            let key = redis.store.session_key(redis_id);
            let bare_get = measure(async_plan, |_| async {
                let Ok(mut conn) = pool.get().await else {
                    return false;
                };
                let value: redis::RedisResult<Option<String>> =
                    redis::cmd("GET").arg(&key).query_async(&mut conn).await;
                matches!(value, Ok(Some(_)))
            })
            .await;
            let session = measure(async_plan, |_| async {
                redis.authenticate(redis_id).await.is_ok()
            })
            .await;
            let claims = &tokens.claims;
            let denylist = measure(async_plan, |_| async {
                state
                    .jwt
                    .store
                    .is_revoked(&claims.jti, &claims.sub, claims.r#gen)
                    .await
                    .is_ok()
            })
            .await;
            let checked_jwt = measure(async_plan, |_| async {
                state.jwt.verify_and_check(&tokens.hs256).await.is_ok()
            })
            .await;
            Some(RedisCost {
                bare_get,
                session,
                denylist,
                checked_jwt,
            })
        }
        _ => None,
    };
    let figures = AuthenticationCost {
        memory,
        hs256_verify,
        eddsa_verify,
        redis,
    };

    let baseline = match figures.redis {
        Some(_) => BARE_GET,
        None => Mechanism::MemorySession.label(),
    };
    // A log axis: the checks differ by three orders of magnitude (a hash-map lookup against a
    // network round trip).
    let mut table = Table::latency("authentication step")
        .ratio_against("p50", baseline)
        .chart(
            Chart::bars()
                .log()
                .of(&["p50", "p99"])
                .titled("Server work to trust one request"),
        );
    table.row_measured(Mechanism::MemorySession.label(), &figures.memory, []);
    table.row_measured(HS256_VERIFY, &figures.hs256_verify, []);
    table.row_measured(EDDSA_VERIFY, &figures.eddsa_verify, []);
    if let Some(redis) = &figures.redis {
        table.row_measured(BARE_GET, &redis.bare_get, []);
        table.row_measured(Mechanism::RedisSession.label(), &redis.session, []);
        table.row_measured(DENYLIST, &redis.denylist, []);
        table.row_measured(Mechanism::CheckedJwt.label(), &redis.checked_jwt, []);
    }
    n.say("Server work to trust one request, timed in-process (no HTTP): a hash-map lookup, a signature check, or a Redis round trip. The ratio column compares each median with the baseline row.");
    n.table(table);
    n.figures(&figures)?;
    Ok(figures)
}
