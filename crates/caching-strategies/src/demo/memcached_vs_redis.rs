//! Memcached versus Redis: what differs in practice, asked of the two servers this run used.
//!
//! Each row is measured where the servers can be asked: Memcached's `stats` and
//! `stats settings` (threads, memory limit, item size limit, eviction and its LRU crawler), a
//! real `set` over the item size limit, a real restart, a real `subscribe`; Redis's `CONFIG GET`
//! and `INFO` (I/O threads, persistence, replication, eviction policy), a real `SET` of a value
//! Memcached refuses. What no command shows (which data types each has, what the strategies
//! lose) is stated with its reason, and the table says which is which.
//!
//! `stats settings` and `subscribe` go over a plain TCP connection: the client this crate uses
//! has no call for them, and Memcached's text protocol is a line per request.

use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use support::narrate::Narrator;
use support::report::{Table, Unit};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

use super::Bench;
use crate::memcached_server::MemcachedServer;
use crate::tiers::memcached::MemcachedTier;

/// How long one raw exchange may take.
const RAW_TIMEOUT: Duration = Duration::from_secs(2);
/// Keys written before the restart.
const RESTART_KEYS: u64 = 100;
/// How far past the item size limit the refused value is (the limit counts the item's header
/// and key too, so a value exactly at the limit is refused as well).
const OVER_LIMIT_BY: usize = 1;
/// A value well under the limit, stored to show the limit is the cause of the refusal.
const UNDER_LIMIT: usize = 512 * 1024;

/// What this run's Memcached said about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemcachedFacts {
    pub version: String,
    /// `stats` `threads`: worker threads serving connections.
    pub threads: u64,
    /// `stats` `limit_maxbytes`: memory for items.
    pub limit_maxbytes: u64,
    /// `stats settings` `item_size_max`.
    pub item_size_max: u64,
    /// A `set` of `item_size_max + 1` bytes: refused (`true`) or stored.
    pub over_limit_refused: bool,
    /// A `set` of half a megabyte: stored.
    pub under_limit_stored: bool,
    /// `stats settings` `evictions`: `on` means a full slab class evicts its least recently used item.
    pub evictions_on: bool,
    /// `stats settings` `lru_crawler` and `lru_segmented`.
    pub lru_crawler: bool,
    pub lru_segmented: bool,
    /// Keys found again after a restart, of the `keys_before_restart` written before it.
    pub keys_before_restart: u64,
    pub keys_after_restart: u64,
    /// The server's first reply line to `subscribe` (it has no such command).
    pub subscribe_reply: String,
}

/// What this run's Redis said about itself (`None` where a command was refused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RedisFacts {
    pub version: String,
    /// `CONFIG GET io-threads`: threads for socket I/O; commands run on one main thread.
    pub io_threads: Option<u64>,
    /// `INFO persistence` `aof_enabled`, and `CONFIG GET save` (empty: no snapshots).
    pub aof_enabled: Option<bool>,
    pub save: Option<String>,
    /// `INFO replication` `role` and `connected_slaves`.
    pub role: Option<String>,
    pub connected_replicas: Option<u64>,
    /// `CONFIG GET maxmemory-policy`.
    pub maxmemory_policy: Option<String>,
    /// A `SET` of the value Memcached refused: its length, read back with `STRLEN`.
    pub over_memcached_limit_stored: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemcachedVsRedisFigures {
    pub memcached: MemcachedFacts,
    /// `None` without Redis.
    pub redis: Option<RedisFacts>,
}

/// `None` when this run has no Memcached (the demo has said so once already).
pub async fn run(n: &mut Narrator, b: &Bench) -> anyhow::Result<Option<MemcachedVsRedisFigures>> {
    if b.memcached.is_none() {
        return Ok(None);
    }
    n.section("Memcached versus Redis");
    n.say(if b.redis.is_some() {
        "Both are shared caches one round trip away, and the speed tables above ran the same \
         strategies over each, unchanged. What differs is asked of the two servers this run \
         used; rows marked \"stated\" are facts no command shows."
    } else {
        "Redis is not part of this run, so only Memcached is asked; its column says what it \
         measured, and rows marked \"stated\" are facts no command shows."
    });
    let memcached = memcached_facts(b).await?;
    let redis = match &b.redis {
        Some(pool) => Some(redis_facts(pool, b, memcached.item_size_max).await?),
        None => None,
    };
    let figures = MemcachedVsRedisFigures { memcached, redis };
    n.table(table(&figures));
    n.say(
        "What that means for the strategies: cache-aside, read-through and write-through ran over \
         Memcached unchanged in the speed tables, but a two-tier cache cannot use it as its shared \
         layer, because the invalidation broadcast needs pub/sub (another channel would do: Redis, \
         a broker, or a version check on every local read). The versioned fill holds with add and \
         cas, in a loop that retries when another writer lands first, where Redis runs one script. \
         A restart empties Memcached, so it can never serve a value from before the restart, and \
         every key is a miss after it: plan for the cold store load. Several Memcached servers \
         are a client-side shard, not replicas: losing one loses its share of the keys.",
    );
    n.figures(&figures)?;
    Ok(Some(figures))
}

async fn memcached_facts(b: &Bench) -> anyhow::Result<MemcachedFacts> {
    // A server of its own, started like the speed section's, so the restart below costs that
    // one nothing.
    let mut own = MemcachedServer::start().await?;
    let tier = connect(b, &own).await?;
    let stats = tier.stats().await?;
    let stat = |name: &str| stats.get(name).and_then(|v| v.parse::<u64>().ok());
    let settings = raw(&own.address(), "stats settings").await?;
    let setting = |name: &str| {
        settings.iter().find_map(|line| {
            let mut parts = line.split_whitespace();
            (parts.next() == Some("STAT") && parts.next() == Some(name))
                .then(|| parts.next().unwrap_or("").to_owned())
        })
    };
    let item_size_max = setting("item_size_max")
        .and_then(|v| v.parse::<u64>().ok())
        .context("memcached did not report item_size_max")?;
    let over = vec![b'x'; usize::try_from(item_size_max)? + OVER_LIMIT_BY];
    let over_limit_refused = tier
        .raw_set(&tier.memcached_key("big"), &over, 60)
        .await
        .is_err();
    let under_limit_stored = tier
        .raw_set(&tier.memcached_key("half"), &vec![b'x'; UNDER_LIMIT], 60)
        .await
        .is_ok();

    for i in 0..RESTART_KEYS {
        tier.raw_set(&tier.memcached_key(&format!("kept:{i}")), b"1", 600)
            .await?;
    }
    let keys_before_restart = count(&tier).await?;
    own.restart().await?;
    let tier = connect(b, &own).await?;
    let keys_after_restart = count(&tier).await?;

    let subscribe = raw(&own.address(), "subscribe invalidate").await?;
    Ok(MemcachedFacts {
        version: tier.version().await?.trim().to_owned(),
        threads: stat("threads").unwrap_or(0),
        limit_maxbytes: stat("limit_maxbytes").unwrap_or(0),
        item_size_max,
        over_limit_refused,
        under_limit_stored,
        evictions_on: setting("evictions").as_deref() == Some("on"),
        lru_crawler: setting("lru_crawler").as_deref() == Some("yes"),
        lru_segmented: setting("lru_segmented").as_deref() == Some("yes"),
        keys_before_restart,
        keys_after_restart,
        subscribe_reply: subscribe.first().cloned().unwrap_or_default(),
    })
}

async fn connect(b: &Bench, server: &MemcachedServer) -> anyhow::Result<MemcachedTier> {
    Ok(MemcachedTier::connect(
        &server.address(),
        b.redis_prefix("differences"),
        2,
        b.config.memcached_timeout,
    )
    .await?)
}

/// How many of the restart keys the server holds.
async fn count(tier: &MemcachedTier) -> anyhow::Result<u64> {
    let mut found = 0;
    for i in 0..RESTART_KEYS {
        if tier
            .raw_get(&tier.memcached_key(&format!("kept:{i}")))
            .await?
            .is_some()
        {
            found += 1;
        }
    }
    Ok(found)
}

/// One text-protocol request; the reply's lines up to `END` or an error line.
async fn raw(address: &str, request: &str) -> anyhow::Result<Vec<String>> {
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(address).await?;
        let (read, mut write) = stream.into_split();
        write.write_all(format!("{request}\r\n").as_bytes()).await?;
        let mut lines = BufReader::new(read).lines();
        let mut out = Vec::new();
        while let Some(line) = lines.next_line().await? {
            let done = line == "END" || line.ends_with("ERROR") || line.contains("ERROR ");
            out.push(line);
            if done {
                break;
            }
        }
        Ok::<_, anyhow::Error>(out)
    };
    tokio::time::timeout(RAW_TIMEOUT, exchange)
        .await
        .with_context(|| format!("memcached did not answer `{request}` within {RAW_TIMEOUT:?}"))?
}

async fn redis_facts(
    pool: &deadpool_redis::Pool,
    b: &Bench,
    memcached_limit: u64,
) -> anyhow::Result<RedisFacts> {
    let mut conn = pool.get().await.context("a Redis connection")?;
    let info = |section: &'static str| redis::cmd("INFO").arg(section).clone();
    let field = |text: &str, name: &str| {
        text.lines().find_map(|l| {
            l.strip_prefix(&format!("{name}:"))
                .map(|v| v.trim().to_owned())
        })
    };
    let server: String = info("server").query_async(&mut conn).await?;
    let persistence: String = info("persistence").query_async(&mut conn).await?;
    let replication: String = info("replication").query_async(&mut conn).await?;
    // CONFIG can be renamed or refused on managed Redis: a refusal is "unknown", not a failure.
    let mut config = async |name: &str| -> Option<String> {
        let pair: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg(name)
            .query_async(&mut conn)
            .await
            .ok()?;
        pair.get(1).cloned()
    };
    let io_threads = config("io-threads").await.and_then(|v| v.parse().ok());
    let save = config("save").await;
    let maxmemory_policy = config("maxmemory-policy").await;
    let key = format!("{}big", b.redis_prefix("differences"));
    let value = vec![b'x'; usize::try_from(memcached_limit)? + OVER_LIMIT_BY];
    let stored: Option<u64> = async {
        let mut conn = pool.get().await.ok()?;
        redis::cmd("SET")
            .arg(&key)
            .arg(&value)
            .arg("EX")
            .arg(60)
            .query_async::<()>(&mut conn)
            .await
            .ok()?;
        let len: u64 = redis::cmd("STRLEN")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .ok()?;
        let _: Result<(), _> = redis::cmd("DEL").arg(&key).query_async(&mut conn).await;
        Some(len)
    }
    .await;
    Ok(RedisFacts {
        version: field(&server, "redis_version").unwrap_or_default(),
        io_threads,
        aof_enabled: field(&persistence, "aof_enabled").map(|v| v == "1"),
        save,
        role: field(&replication, "role"),
        connected_replicas: field(&replication, "connected_slaves").and_then(|v| v.parse().ok()),
        maxmemory_policy,
        over_memcached_limit_stored: stored,
    })
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn table(f: &MemcachedVsRedisFigures) -> Table {
    let (m, r) = (&f.memcached, f.redis.as_ref());
    let redis =
        |text: &dyn Fn(&RedisFacts) -> String| r.map_or_else(|| "– (no Redis)".to_owned(), text);
    let unknown = |v: Option<String>| v.unwrap_or_else(|| "unknown".to_owned());
    let mut table = Table::new("what")
        .column("Memcached", Unit::Text)
        .column("Redis", Unit::Text)
        .column("how known", Unit::Text);
    let mut row = |label: &str, memcached: String, redis: String, how: &str| {
        table.row(
            label,
            [memcached.into(), redis.into(), how.to_owned().into()],
        );
    };
    row(
        "version",
        m.version.clone(),
        redis(&|r| r.version.clone()),
        "measured",
    );
    row(
        "data types",
        "byte strings (incr/decr on numbers)".to_owned(),
        "strings, hashes, lists, sets, sorted sets, streams".to_owned(),
        "stated",
    );
    let over = m.item_size_max + OVER_LIMIT_BY as u64;
    row(
        "largest value",
        format!(
            "{over} B {} (item_size_max {}); {} KiB {}",
            stored(!m.over_limit_refused),
            mib(m.item_size_max),
            UNDER_LIMIT / 1024,
            stored(m.under_limit_stored),
        ),
        redis(&|r| {
            format!(
                "{over} B {}",
                stored(r.over_memcached_limit_stored.is_some())
            )
        }),
        "measured: a real set",
    );
    row(
        "persistence",
        format!(
            "none: {} of {} keys after a restart",
            m.keys_after_restart, m.keys_before_restart
        ),
        redis(&|r| {
            let aof = match r.aof_enabled {
                Some(true) => "AOF on",
                Some(false) => "AOF off",
                None => "AOF unknown",
            };
            let save = match r.save.as_deref() {
                Some("") => "no RDB snapshots".to_owned(),
                Some(rules) => format!("RDB save {rules}"),
                None => "RDB unknown".to_owned(),
            };
            format!("optional: {aof}, {save}")
        }),
        "measured",
    );
    row(
        "replication",
        "none".to_owned(),
        redis(&|r| {
            format!(
                "optional: role {}, {} replicas",
                unknown(r.role.clone()),
                unknown(r.connected_replicas.map(|n| n.to_string()))
            )
        }),
        "Redis measured; Memcached stated",
    );
    row(
        "eviction when full",
        format!(
            "LRU per slab class (evictions {}, segmented {}, crawler {}), {}",
            on_off(m.evictions_on),
            on_off(m.lru_segmented),
            on_off(m.lru_crawler),
            mib(m.limit_maxbytes)
        ),
        redis(&|r| format!("maxmemory-policy {}", unknown(r.maxmemory_policy.clone()))),
        "measured",
    );
    row(
        "threads",
        format!("{} worker threads", m.threads),
        redis(&|r| {
            format!(
                "1 command thread, io-threads {}",
                unknown(r.io_threads.map(|n| n.to_string()))
            )
        }),
        "measured",
    );
    row(
        "pub/sub",
        format!("none: `subscribe` got {}", m.subscribe_reply),
        "SUBSCRIBE / PUBLISH".to_owned(),
        "measured (Memcached)",
    );
    row(
        "for the strategies",
        "all but two-tier; versioned fills: add/cas loop".to_owned(),
        "all; versioned fills: one Lua script".to_owned(),
        "stated (src/tiers/)",
    );
    table
}

fn stored(yes: bool) -> &'static str {
    if yes { "stored" } else { "refused" }
}

fn on_off(yes: bool) -> &'static str {
    if yes { "on" } else { "off" }
}
