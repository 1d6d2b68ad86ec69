//! `sql-vs-nosql forget`: the data sets the demo keeps between runs can be removed from every
//! engine, and nothing but them is.

use redis::AsyncCommands as _;
use sql_vs_nosql::engines;
use sql_vs_nosql::relational;
use sql_vs_nosql::store::Engine;
use support::testkit::{require, unique_name};
use support::{Service, Settings};

#[tokio::test]
async fn forget_removes_the_data_sets_under_its_prefix_on_every_engine_and_nothing_else()
-> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    // Two prefixes of this test's own: one to forget, one that must survive the forgetting.
    let gone = format!("{}_", unique_name("forget"));
    let kept = format!("{}_", unique_name("keep"));

    let mut servers = Vec::new();
    for (service, engine) in [
        (Service::Postgres, Engine::Postgres),
        (Service::MariaDb, Engine::MariaDb),
    ] {
        if let Some(url) = require(service).await {
            for prefix in [&gone, &kept] {
                relational::ensure_database(engine, &url, &format!("{prefix}small")).await?;
            }
            servers.push((engine, url));
        }
    }
    let redis = match require(Service::Redis).await {
        Some(url) => {
            let url = engines::data_set_database(&url)?;
            let mut conn = redis::Client::open(url.as_str())?
                .get_multiplexed_async_connection()
                .await?;
            for prefix in [&gone, &kept] {
                for key in ["posts:1", "user:1", "seeded"] {
                    let () = conn.set(format!("{prefix}small:{key}"), 1).await?;
                }
            }
            Some(conn)
        }
        None => None,
    };
    let parent = tempfile::tempdir()?;
    let data_dir = parent.path().join("sql-vs-nosql");
    std::fs::create_dir_all(&data_dir)?;
    std::fs::write(data_dir.join(format!("{gone}small.sqlite3")), [0u8; 4_096])?;

    let redis_up = redis.is_some();
    let forgotten = engines::forget(&settings, &data_dir, &gone).await?;

    for (engine, url) in &servers {
        assert!(
            relational::databases_named(*engine, url, &gone)
                .await?
                .is_empty(),
            "{engine:?} still has the forgotten data set"
        );
        assert_eq!(
            relational::databases_named(*engine, url, &kept)
                .await?
                .len(),
            1,
            "{engine:?} lost a data set under another prefix"
        );
        relational::drop_database(*engine, url, &format!("{kept}small")).await?;
    }
    if let Some(mut conn) = redis {
        let left: Vec<String> = conn.keys(format!("{gone}*")).await?;
        assert!(left.is_empty(), "Redis kept {left:?}");
        let other: Vec<String> = conn.keys(format!("{kept}*")).await?;
        assert_eq!(other.len(), 3, "Redis lost keys under another prefix");
        let _: u64 = conn.del(other).await?;
    }
    assert!(!data_dir.exists(), "the data directory is still there");
    assert_eq!(
        forgotten.removed.len(),
        servers.len() + usize::from(redis_up) + 1,
        "one line per database, one for the keys, one for the directory: {:?}",
        forgotten.removed
    );

    let again = engines::forget(&settings, &data_dir, &gone).await?;
    assert!(
        again.removed.is_empty(),
        "a second forget found {:?}",
        again.removed
    );
    Ok(())
}
