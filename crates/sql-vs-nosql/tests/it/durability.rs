//! Durability: the claims that hold without a clock. What a commit costs with and without the
//! disk flush is measured by the demo; here, what the settings *mean* is checked (a session
//! setting stays in its session; a commit that did not wait for the disk is still visible at
//! once), and the settings the demo reports are checked against a second way of reading them.

use mysql_async::prelude::Queryable;
use sql_vs_nosql::durability;
use support::Plan;
use support::Service;
use support::testkit::require;

#[tokio::test]
async fn a_row_committed_with_synchronous_commit_off_is_visible_to_another_session_at_once()
-> anyhow::Result<()> {
    let Some(url) = require(Service::Postgres).await else {
        return Ok(());
    };
    assert!(durability::unsynced_commit_is_visible(&url).await?);
    Ok(())
}

#[tokio::test]
async fn synchronous_commit_off_is_a_session_setting_that_leaves_other_sessions_at_the_server_default()
-> anyhow::Result<()> {
    let Some(url) = require(Service::Postgres).await else {
        return Ok(());
    };
    let default = durability::postgres_settings(&url)
        .await?
        .synchronous_commit;
    let (changed, other) = durability::synchronous_commit_per_session(&url).await?;
    assert_eq!(changed, "off");
    assert_eq!(other, default);
    Ok(())
}

#[tokio::test]
async fn postgres_reports_its_fsync_and_synchronous_commit_settings() -> anyhow::Result<()> {
    let Some(url) = require(Service::Postgres).await else {
        return Ok(());
    };
    let s = durability::postgres_settings(&url).await?;
    assert!(["on", "off"].contains(&s.fsync.as_str()), "{s:?}");
    assert!(
        ["on", "off", "local", "remote_write", "remote_apply"]
            .contains(&s.synchronous_commit.as_str()),
        "{s:?}"
    );
    assert!(s.wal_writer_delay_ms > 0, "{s:?}");
    Ok(())
}

#[tokio::test]
async fn mariadb_reports_the_redo_log_flush_setting_that_show_variables_shows() -> anyhow::Result<()>
{
    let Some(url) = require(Service::MariaDb).await else {
        return Ok(());
    };
    let s = durability::mariadb_settings(&url).await?;
    let mut conn = mysql_async::Conn::new(mysql_async::Opts::from_url(&url)?).await?;
    let shown: Option<(String, String)> = conn
        .query_first("SHOW VARIABLES LIKE 'innodb_flush_log_at_trx_commit'")
        .await?;
    conn.disconnect().await?;
    let shown = shown.ok_or_else(|| anyhow::anyhow!("no such variable"))?;
    assert_eq!(shown.1, s.innodb_flush_log_at_trx_commit.to_string());
    assert!(s.innodb_flush_log_at_trx_commit <= 2, "{s:?}");
    Ok(())
}

#[tokio::test]
async fn redis_reports_the_append_only_setting_that_info_persistence_shows() -> anyhow::Result<()> {
    let Some(url) = require(Service::Redis).await else {
        return Ok(());
    };
    let s = durability::redis_settings(&url).await?;
    let client = redis::Client::open(url.as_str())?;
    let mut con = client.get_multiplexed_async_connection().await?;
    let info: String = redis::cmd("INFO")
        .arg("persistence")
        .query_async(&mut con)
        .await?;
    let aof_enabled = info
        .lines()
        .find_map(|l| l.strip_prefix("aof_enabled:"))
        .map(str::trim);
    let expected = if s.appendonly == "yes" { "1" } else { "0" };
    assert_eq!(aof_enabled, Some(expected), "{s:?} / {info}");
    assert!(
        ["always", "everysec", "no"].contains(&s.appendfsync.as_str()),
        "{s:?}"
    );
    Ok(())
}

#[tokio::test]
async fn every_measured_commit_succeeds_with_synchronous_commit_on_and_off() -> anyhow::Result<()> {
    let Some(url) = require(Service::Postgres).await else {
        return Ok(());
    };
    // Counts only: how long they took is the demo's business, not a test's.
    let c = durability::commit_latency(&url, Plan::iterations(5).warmup(1)).await?;
    assert_eq!((c.synchronous_on.ok, c.synchronous_on.errors), (5, 0));
    assert_eq!((c.synchronous_off.ok, c.synchronous_off.errors), (5, 0));
    Ok(())
}
