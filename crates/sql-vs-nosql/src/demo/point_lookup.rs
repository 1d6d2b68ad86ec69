//! "A point lookup against the bare protocol": is the data model a tax on the simplest read?
//!
//! Two goals, each measured against a baseline in the same run, interleaved so a burst of load
//! on the shared machine lands on both sides: reading a user (a hash, `HGETALL`) within 1.3× of
//! a bare Redis `GET` of a string; reading a user through diesel (pool checkout, query builder,
//! row mapping) within 1.5× of a bare prepared primary-key `SELECT` on a dedicated
//! tokio-postgres connection.

use serde::Serialize;
use support::measure::{Measurement, Plan, measure_interleaved};
use support::narrate::Narrator;
use support::report::{Chart, Goal, Table, format_ratio};

use crate::store::SocialStore;

/// The Redis goal: the user hash read within this many times a bare `GET`.
pub const REDIS_GOAL: f64 = 1.3;
/// The PostgreSQL goal: diesel's lookup within this many times a bare prepared `SELECT`.
pub const POSTGRES_GOAL: f64 = 1.5;

/// One comparison: the store's lookup beside its baseline.
#[derive(Debug, Clone, Serialize)]
pub struct Lookup {
    pub store: Measurement,
    pub bare: Measurement,
    pub goal: Goal,
}

/// What the section measured (`None` where the server was not connected).
#[derive(Debug, Clone, Serialize)]
pub struct PointLookups {
    pub redis: Option<Lookup>,
    pub postgres: Option<Lookup>,
}

fn ratio(a: &Measurement, b: &Measurement) -> f64 {
    a.p50.as_secs_f64() / b.p50.as_secs_f64().max(1e-12)
}

pub async fn run(
    n: &mut Narrator,
    redis: Option<(&dyn SocialStore, &str)>,
    postgres: Option<(&dyn SocialStore, &str)>,
    users: i64,
    plan: Plan,
) -> anyhow::Result<PointLookups> {
    n.section("A point lookup against the bare protocol");
    let user = |i: u64| 1 + ((i as i64).wrapping_mul(7_919)).rem_euclid(users);

    let redis = match redis {
        None => None,
        Some((store, url)) => {
            let client = redis::Client::open(url)?;
            let mut conn = redis::aio::ConnectionManager::new(client).await?;
            let key = support::names::unique_name("svn_bare_get");
            // A value the size of a user hash's fields, so the two reads move similar bytes.
            let _: () = redis::cmd("SET")
                .arg(&key)
                .arg("user42|User 42|Lyon")
                .arg("EX")
                .arg(600)
                .query_async(&mut conn)
                .await?;
            let (store_m, bare_m) = measure_interleaved(
                plan,
                |i| async move { store.user(user(i)).await.map(drop) },
                |_| {
                    let (mut conn, key) = (conn.clone(), key.clone());
                    async move {
                        redis::cmd("GET")
                            .arg(&key)
                            .query_async::<Option<String>>(&mut conn)
                            .await
                            .map(drop)
                    }
                },
            )
            .await;
            let _: () = redis::cmd("DEL").arg(&key).query_async(&mut conn).await?;
            let goal = Goal::at_most(ratio(&store_m, &bare_m), REDIS_GOAL);
            Some(Lookup {
                store: store_m,
                bare: bare_m,
                goal,
            })
        }
    };

    let postgres = match postgres {
        None => None,
        Some((store, url)) => {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
            let driver = tokio::spawn(connection);
            let statement = client
                .prepare("SELECT id, handle, name, city FROM users WHERE id = $1")
                .await?;
            let (client, statement) = (&client, &statement);
            let (store_m, bare_m) = measure_interleaved(
                plan,
                |i| async move { store.user(user(i)).await.map(drop) },
                |i| async move { client.query_opt(statement, &[&user(i)]).await.map(drop) },
            )
            .await;
            driver.abort();
            let goal = Goal::at_most(ratio(&store_m, &bare_m), POSTGRES_GOAL);
            Some(Lookup {
                store: store_m,
                bare: bare_m,
                goal,
            })
        }
    };

    let mut table = Table::latency("read one user by id").chart(
        Chart::bars()
            .of(&["p50", "p99"])
            .titled("A point lookup: the store against the bare protocol"),
    );
    if let Some(r) = &redis {
        table.row_measured("Redis: HGETALL user:{id} (the store)", &r.store, []);
        table.row_measured("Redis: bare GET of a string", &r.bare, []);
    }
    if let Some(p) = &postgres {
        table.row_measured("PostgreSQL: diesel, pooled (the store)", &p.store, []);
        table.row_measured("PostgreSQL: bare prepared SELECT", &p.bare, []);
    }
    n.table(table);
    let mut said = Vec::new();
    for (name, lookup, baseline) in [
        ("Redis", &redis, "a bare GET"),
        ("PostgreSQL", &postgres, "a bare prepared SELECT"),
    ] {
        if let Some(l) = lookup {
            said.push(format!(
                "On {name} the store's lookup took {} {baseline} (goal ≤ {}: {}).",
                format_ratio(l.goal.measured),
                format_ratio(l.goal.target),
                if l.goal.met { "met" } else { "missed" }
            ));
        }
    }
    if said.is_empty() {
        said.push("Neither Redis nor PostgreSQL is connected: nothing to compare.".to_owned());
    }
    n.say(&said.join(" "));
    let figures = PointLookups { redis, postgres };
    n.figures(&figures)?;
    Ok(figures)
}
