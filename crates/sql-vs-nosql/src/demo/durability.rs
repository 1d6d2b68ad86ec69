//! "Durability": what each server here is configured to keep, and what waiting for the disk
//! costs a commit on PostgreSQL (`synchronous_commit` on against off, a session setting).
//!
//! The settings are read, never changed. Every sentence comes from the figures: "Redis here
//! keeps nothing on disk" is only said when its `appendonly` is `no` and its `save` is empty.

use std::time::Duration;

use serde::Serialize;
use support::measure::{Measurement, Plan};
use support::narrate::Narrator;
use support::report::{Chart, Table, Unit, format_number};

use crate::config::Targets;
use crate::durability::{self, CommitLatency, MariaDbSettings, PostgresSettings, RedisSettings};

pub const TITLE: &str = "Durability: what a commit waits for";

const ON: &str = "PostgreSQL, synchronous_commit = on";
const OFF: &str = "PostgreSQL, synchronous_commit = off";

/// What the section read and measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DurabilityFigures {
    pub postgres: Option<PostgresSettings>,
    pub mariadb: Option<MariaDbSettings>,
    pub redis: Option<RedisSettings>,
    pub commits: Option<CommitLatency>,
    /// MariaDB commits of the same insert, as the server is configured.
    pub mariadb_commit: Option<Measurement>,
    pub left_out: Vec<String>,
}

/// Reads the settings, measures the commits, prints two tables and the derived paragraph.
pub async fn run(
    n: &mut Narrator,
    targets: &Targets,
    quick: bool,
) -> anyhow::Result<DurabilityFigures> {
    n.section(TITLE);
    // Each commit with the disk flush takes milliseconds; a few hundred give stable percentiles
    // (a tenth under --quick, a few hundred milliseconds in all).
    let plan = Plan::iterations(300)
        .warmup(10)
        .budget(Duration::from_secs(3))
        .scaled_for(quick);
    let mut f = DurabilityFigures {
        postgres: None,
        mariadb: None,
        redis: None,
        commits: None,
        mariadb_commit: None,
        left_out: Vec::new(),
    };
    match &targets.postgres {
        Some(url) => {
            f.postgres = Some(durability::postgres_settings(url).await?);
            f.commits = Some(durability::commit_latency(url, plan).await?);
        }
        None => f
            .left_out
            .push("PostgreSQL unreachable: its settings and commit timings are left out".into()),
    }
    match &targets.mariadb {
        Some(url) => {
            f.mariadb = Some(durability::mariadb_settings(url).await?);
            f.mariadb_commit = Some(durability::mariadb_commit_latency(url, plan).await?);
        }
        None => f
            .left_out
            .push("MariaDB unreachable: its flush settings are left out".into()),
    }
    match &targets.redis {
        Some(url) => f.redis = Some(durability::redis_settings(url).await?),
        None => f
            .left_out
            .push("Redis unreachable: its persistence settings are left out".into()),
    }
    for line in &f.left_out {
        n.say(line);
    }

    let mut settings = Table::new("server")
        .column("setting", Unit::Text)
        .column("value", Unit::Text);
    if let Some(pg) = &f.postgres {
        settings.row("PostgreSQL", ["fsync".into(), pg.fsync.clone().into()]);
        settings.row(
            "PostgreSQL",
            [
                "synchronous_commit (default)".into(),
                pg.synchronous_commit.clone().into(),
            ],
        );
        settings.row(
            "PostgreSQL",
            [
                "wal_writer_delay".into(),
                format!("{} ms", pg.wal_writer_delay_ms).into(),
            ],
        );
    }
    if let Some(m) = &f.mariadb {
        settings.row(
            "MariaDB",
            [
                "innodb_flush_log_at_trx_commit".into(),
                m.innodb_flush_log_at_trx_commit.to_string().into(),
            ],
        );
        let binlog = if m.log_bin {
            m.sync_binlog.to_string()
        } else {
            format!("{} (binary log off)", m.sync_binlog)
        };
        settings.row("MariaDB", ["sync_binlog".into(), binlog.into()]);
    }
    if let Some(r) = &f.redis {
        settings.row("Redis", ["appendonly".into(), r.appendonly.clone().into()]);
        settings.row(
            "Redis",
            ["appendfsync".into(), r.appendfsync.clone().into()],
        );
        settings.row("Redis", ["save".into(), format!("'{}'", r.save).into()]);
    }
    if !settings.rows.is_empty() {
        n.table(settings);
    }

    if f.commits.is_some() || f.mariadb_commit.is_some() {
        // Percentiles only: the two PostgreSQL rows were measured interleaved, so a throughput
        // column would divide each row's count by the time both took together.
        let mut latency = Table::new("one-row insert per commit")
            .column("p50", Unit::Micros)
            .column("p99", Unit::Micros)
            .column("commits", Unit::Count)
            .ratio_against("p50", OFF)
            .chart(
                Chart::bars()
                    .log()
                    .of(&["p50", "p99"])
                    .titled("A one-row commit, waiting for the disk or not"),
            );
        let mut row = |label: String, m: &Measurement| {
            latency.row(label, [m.p50_us().into(), m.p99_us().into(), m.ok.into()]);
        };
        if let Some(c) = &f.commits {
            row(ON.to_owned(), &c.synchronous_on);
            row(OFF.to_owned(), &c.synchronous_off);
        }
        if let (Some(m), Some(s)) = (&f.mariadb_commit, &f.mariadb) {
            row(
                format!(
                    "MariaDB, innodb_flush_log_at_trx_commit = {}",
                    s.innodb_flush_log_at_trx_commit
                ),
                m,
            );
        }
        n.table(latency);
    }
    n.say(&paragraph(&f));
    n.figures(&f)?;
    Ok(f)
}

fn duration(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 1_000.0 {
        format!("{} ms", format_number(us / 1_000.0))
    } else {
        format!("{} µs", format_number(us))
    }
}

/// What the figures show, one sentence per server.
pub fn paragraph(f: &DurabilityFigures) -> String {
    let mut sentences = vec![postgres(f), mariadb(f), redis(f)];
    sentences.retain(|s| !s.is_empty());
    sentences.join(" ")
}

fn postgres(f: &DurabilityFigures) -> String {
    let Some(pg) = &f.postgres else {
        return String::new();
    };
    if pg.fsync != "on" {
        return format!(
            "fsync is {} on this PostgreSQL: no commit here is durable, whatever \
             synchronous_commit says, and a power cut can corrupt the database.",
            pg.fsync
        );
    }
    let Some(c) = &f.commits else {
        return String::new();
    };
    let head = format!(
        "A PostgreSQL commit that waited for its WAL flush ({}) took {} at the median, against \
         {} with synchronous_commit off",
        pg.wal_sync_method,
        duration(c.synchronous_on.p50),
        duration(c.synchronous_off.p50)
    );
    let verdict = if c.p50_ratio >= 2.0 {
        format!(
            ": not waiting was {}× faster, for the risk of losing up to about {} ms of commits (three \
             wal_writer_delay) in a crash; never corruption, and other sessions see each commit \
             at once.",
            format_number(c.p50_ratio),
            3 * pg.wal_writer_delay_ms
        )
    } else {
        format!(
            ": only {}× apart, so this disk's flush is cheap (or a write cache answers it) and \
             waiting for it costs little here.",
            format_number(c.p50_ratio)
        )
    };
    let default = if pg.synchronous_commit == "on" {
        String::new()
    } else {
        format!(
            " Note the server's own default is synchronous_commit = {}.",
            pg.synchronous_commit
        )
    };
    format!("{head}{verdict}{default}")
}

fn mariadb(f: &DurabilityFigures) -> String {
    let Some(m) = &f.mariadb else {
        return String::new();
    };
    let flush = match m.innodb_flush_log_at_trx_commit {
        1 => "MariaDB flushes its redo log at every commit (innodb_flush_log_at_trx_commit = 1)"
            .to_owned(),
        2 => "MariaDB writes its redo log at commit but flushes it about once a second \
              (innodb_flush_log_at_trx_commit = 2): an operating-system crash can lose about a \
              second of commits"
            .to_owned(),
        other => format!(
            "MariaDB neither writes nor flushes its redo log at commit \
             (innodb_flush_log_at_trx_commit = {other}): even a server crash can lose about a \
             second of commits"
        ),
    };
    let timing = f
        .mariadb_commit
        .as_ref()
        .map(|t| format!(", {} per commit at the median", duration(t.p50)))
        .unwrap_or_default();
    let binlog = if m.log_bin {
        format!("; its binary log is synced every {} commits", m.sync_binlog)
    } else {
        "; its binary log is off".to_owned()
    };
    format!("{flush}{timing}{binlog}.")
}

fn redis(f: &DurabilityFigures) -> String {
    let Some(r) = &f.redis else {
        return String::new();
    };
    if !r.keeps_anything() {
        format!(
            "Redis here keeps nothing on disk: appendonly {}, save '{}'. A restart empties it, \
             so it can only hold what can be rebuilt (a cache, a session store you accept to lose).",
            r.appendonly, r.save
        )
    } else if r.appendonly == "yes" {
        format!(
            "Redis appends every write to its append-only file and fsyncs it {} \
             (appendfsync {}).",
            match r.appendfsync.as_str() {
                "always" => "at every write",
                "everysec" => "once a second, so a crash can lose about a second",
                _ => "when the operating system decides",
            },
            r.appendfsync
        )
    } else {
        format!(
            "Redis only snapshots, on the schedule save '{}': a crash loses every write since \
             the last snapshot.",
            r.save
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected() -> DurabilityFigures {
        DurabilityFigures {
            postgres: Some(PostgresSettings {
                fsync: "on".into(),
                synchronous_commit: "on".into(),
                wal_sync_method: "fdatasync".into(),
                wal_writer_delay_ms: 200,
            }),
            mariadb: Some(MariaDbSettings {
                innodb_flush_log_at_trx_commit: 1,
                sync_binlog: 0,
                log_bin: false,
            }),
            redis: Some(RedisSettings {
                appendonly: "no".into(),
                appendfsync: "everysec".into(),
                save: String::new(),
            }),
            commits: Some(CommitLatency {
                synchronous_on: Measurement::flat(Duration::from_micros(3_700)),
                synchronous_off: Measurement::flat(Duration::from_micros(120)),
                p50_ratio: 3_700.0 / 120.0,
            }),
            mariadb_commit: Some(Measurement::flat(Duration::from_micros(3_900))),
            left_out: vec![],
        }
    }

    #[test]
    fn the_expected_figures_give_the_lesson() {
        let p = paragraph(&expected());
        assert!(
            p.contains("took 3.70 ms at the median, against 120 µs"),
            "{p}"
        );
        assert!(p.contains("30.8× faster"), "{p}");
        assert!(p.contains("about 600 ms of commits"), "{p}");
        assert!(p.contains("flushes its redo log at every commit"), "{p}");
        assert!(p.contains("binary log is off"), "{p}");
        assert!(
            p.contains("Redis here keeps nothing on disk: appendonly no, save ''"),
            "{p}"
        );
    }

    #[test]
    fn contrary_figures_change_every_claim_they_touch() {
        let mut f = expected();
        if let Some(c) = &mut f.commits {
            c.synchronous_off = Measurement::flat(Duration::from_micros(3_000));
            c.p50_ratio = 3_700.0 / 3_000.0;
        }
        if let Some(m) = &mut f.mariadb {
            m.innodb_flush_log_at_trx_commit = 2;
            m.log_bin = true;
            m.sync_binlog = 1;
        }
        if let Some(r) = &mut f.redis {
            r.appendonly = "yes".into();
        }
        let p = paragraph(&f);
        assert!(p.contains("only 1.23× apart"), "{p}");
        assert!(p.contains("flushes it about once a second"), "{p}");
        assert!(p.contains("synced every 1 commits"), "{p}");
        assert!(p.contains("appends every write"), "{p}");

        if let Some(pg) = &mut f.postgres {
            pg.fsync = "off".into();
        }
        if let Some(r) = &mut f.redis {
            r.appendonly = "no".into();
            r.save = "3600 1".into();
        }
        let p = paragraph(&f);
        assert!(p.contains("fsync is off on this PostgreSQL"), "{p}");
        assert!(
            p.contains("only snapshots, on the schedule save '3600 1'"),
            "{p}"
        );
    }

    #[test]
    fn servers_left_out_leave_their_sentences_out() {
        let f = DurabilityFigures {
            postgres: None,
            mariadb: None,
            redis: None,
            commits: None,
            mariadb_commit: None,
            left_out: vec!["all unreachable".into()],
        };
        assert_eq!(paragraph(&f), "");
    }
}
