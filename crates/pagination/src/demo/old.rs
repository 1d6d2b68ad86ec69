//! The demo: cost by depth, the price of a total count, and consistency under change, measured
//! through the HTTP API on PostgreSQL (or SQLite when PostgreSQL is not reachable).

use std::collections::HashSet;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use diesel::prelude::*;
use diesel::sql_types::Text;
use support::demo::DemoArgs;
use support::measure::{Plan, measure, measure_sync};
use support::narrate::Narrator;
use support::report::{Cell, Table, Unit, format_number};
use support::{Service, Services, Settings};

use crate::config::Config;
use crate::consistency::{Writer, walk};
use crate::cursor::{self, CursorCodec, Direction, Position};
use crate::db::{self, AnyConnection, Backend, Db, Target};
use crate::http::{AppState, CURSOR_PATH, OFFSET_PATH, run};
use crate::offset;
use crate::post::Post;
use crate::schema::pagination_posts::dsl as p;
use crate::seed::{self, Seeded};

/// Rows per page everywhere in the demo.
const LIMIT: u32 = 20;
/// Rows in the table the consistency section pages through while a writer changes it.
const CHURN_ROWS: i64 = 2_000;
/// The writer's pace: one write (alternately an insert and a delete) per tick.
const WRITE_EVERY: Duration = Duration::from_millis(3);

/// Opens the data set `name` on PostgreSQL when `postgres`, else on its SQLite file.
async fn open_dataset(config: &Config, postgres: bool, name: &str) -> anyhow::Result<Db> {
    let chosen = if postgres {
        Target::Postgres(config.settings.database_url.clone())
    } else {
        Target::Sqlite(db::sqlite_file(name))
    };
    db::open(&db::dataset(chosen, name).await?, config.pool_size).await
}

/// The position of the last row of the page before `page` (what a client holding that page's
/// `next` link would send), read directly, untimed.
async fn cursor_before_page(db: &Db, page: i64) -> anyhow::Result<Option<Position>> {
    if page <= 1 {
        return Ok(None);
    }
    let skip = (page - 1) * i64::from(LIMIT) - 1;
    let post = db
        .interact(move |c| {
            p::pagination_posts
                .order((p::created_at.desc(), p::id.desc()))
                .offset(skip)
                .limit(1)
                .select(Post::as_select())
                .first(c)
        })
        .await?;
    Ok(Some((&post).into()))
}

#[derive(QueryableByName)]
struct PlanRow {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    plan: String,
}

/// Rows the deepest plan node produced or filtered away, from `EXPLAIN (ANALYZE, FORMAT JSON)`:
/// what the database had to touch to answer. PostgreSQL only.
fn rows_touched(conn: &mut AnyConnection, sql: &str) -> QueryResult<Option<f64>> {
    let AnyConnection::Postgresql(pg) = conn else {
        return Ok(None);
    };
    let rows: Vec<PlanRow> =
        diesel::sql_query(format!("EXPLAIN (ANALYZE, FORMAT JSON) {sql}")).load(pg)?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let json: serde_json::Value = serde_json::from_str(&row.plan).unwrap_or_default();
    fn walk(node: &serde_json::Value) -> f64 {
        let num = |key: &str| {
            node.get(key)
                .and_then(serde_json::Value::as_f64)
                .unwrap_or(0.0)
        };
        let own =
            (num("Actual Rows") + num("Rows Removed by Filter")) * num("Actual Loops").max(1.0);
        let children = node
            .get("Plans")
            .and_then(serde_json::Value::as_array)
            .map_or(0.0, |plans| plans.iter().map(walk).fold(0.0, f64::max));
        own.max(children)
    }
    Ok(json.get(0).and_then(|v| v.get("Plan")).map(walk))
}

/// The SQL diesel sends for each scheme, spelled out for EXPLAIN (same shape as `fetch`).
fn explain_sql(offset: i64, at: Option<Position>) -> (String, String) {
    let order = "ORDER BY created_at DESC, id DESC";
    let offset_sql = format!(
        "SELECT * FROM pagination_posts {order} LIMIT {} OFFSET {offset}",
        LIMIT + 1
    );
    let cursor_sql = match at {
        None => format!("SELECT * FROM pagination_posts {order} LIMIT {}", LIMIT + 1),
        Some(at) => {
            let ts = at.created_at.format("%Y-%m-%d %H:%M:%S%.f");
            format!(
                "SELECT * FROM pagination_posts WHERE created_at <= '{ts}' \
                 AND (created_at < '{ts}' OR id < {}) {order} LIMIT {}",
                at.id,
                LIMIT + 1
            )
        }
    };
    (offset_sql, cursor_sql)
}

/// Runs the demo and returns what it measured.
pub async fn demo(settings: &Settings, args: &DemoArgs) -> anyhow::Result<support::Report> {
    let config = Config::from_settings(settings.clone());
    let mut n = Narrator::new("pagination", "Offset versus cursor pagination", args);
    let services = Services::probe_only(settings, &[Service::Postgres]).await;
    let postgres = services.is_up(Service::Postgres);
    if settings.require_services && !postgres {
        anyhow::bail!("PostgreSQL is required (BF_REQUIRE_SERVICES=1) but unreachable");
    }
    n.services(
        &services,
        &[(
            Service::Postgres,
            "running on embedded SQLite, without EXPLAIN ANALYZE row counts",
        )],
    );

    // ── The table ────────────────────────────────────────────────────────────────────────────
    let rows: i64 = args.pick(1_000_000, 50_000);
    n.section("The table");
    let db = open_dataset(&config, postgres, &rows.to_string()).await?;
    let started = std::time::Instant::now();
    let seeded = seed::ensure(&db, rows, !args.silent).await?;
    n.say(&match seeded {
        Seeded::Reused(r) => format!(
            "{} table `pagination_posts` with {r} rows already seeded: reused.",
            db.backend().name()
        ),
        Seeded::Filled(r) => format!(
            "Seeded {r} rows into {} in {:.1} s, generated inside the database in chunks \
             (generate_series / a recursive CTE), index built once at the end.",
            db.backend().name(),
            started.elapsed().as_secs_f64()
        ),
    });
    let state = AppState {
        db: db.clone(),
        codec: CursorCodec::new(&config.cursor_key),
        limits: config.limits,
    };
    let server = support::server::spawn(|l| run(l, state.clone()))?;
    let client = reqwest::Client::new();

    // ── Cost by depth ────────────────────────────────────────────────────────────────────────
    n.section("Cost by depth");
    n.say(&format!(
        "One page of {LIMIT} rows at increasing depth, fetched through the HTTP API. \
         Offset asks for `?page=N`; cursor sends the `after=` cursor a client holding page N-1 \
         would have. `query p50` times the same diesel query alone on its blocking thread; \
         `rows touched` is what EXPLAIN ANALYZE of that query reports (PostgreSQL)."
    ));
    let last_page = (rows + i64::from(LIMIT) - 1) / i64::from(LIMIT);
    let mut depths: Vec<(String, i64)> = [1, 100, 1_000, 10_000]
        .into_iter()
        .filter(|&d| d < last_page)
        .map(|d| (format!("page {d}"), d))
        .collect();
    depths.push((format!("last (page {last_page})"), last_page));
    // Many iterations so cheap pages get a stable median; the budget caps the deep offset pages
    // (each of which reads up to the whole table) at a couple of seconds.
    let plan = Plan::iterations(1_000)
        .warmup(20)
        .budget(Duration::from_secs(2))
        .scaled_for(args.quick);
    let mut depth_table = Table::new("scheme @ depth")
        .column("p50", Unit::Micros)
        .column("p99", Unit::Micros)
        .column("query p50", Unit::Micros)
        .column("rows touched", Unit::Count)
        .ratio_against("p50", "cursor @ page 1");
    let mut versus_table = Table::new("depth")
        .column("HTTP p50 offset ÷ cursor", Unit::Ratio)
        .column("query p50 offset ÷ cursor", Unit::Ratio);
    let mut offset_rows = Vec::new();
    let mut cursor_rows = Vec::new();
    for (label, page) in &depths {
        let page = *page;
        let at = cursor_before_page(&db, page).await?;
        let offset_url = server.url(&format!("{OFFSET_PATH}?page={page}&limit={LIMIT}"));
        let cursor_url = match at {
            None => server.url(&format!("{CURSOR_PATH}?limit={LIMIT}")),
            Some(pos) => server.url(&format!(
                "{CURSOR_PATH}?limit={LIMIT}&after={}",
                state.codec.encode(pos)
            )),
        };
        let fetch = |url: String| {
            let client = &client;
            async move {
                let res = client.get(&url).send().await?;
                let ok = res.status().is_success();
                res.bytes().await?;
                anyhow::ensure!(ok, "status");
                anyhow::Ok(())
            }
        };
        let off = measure(plan, |_| fetch(offset_url.clone())).await;
        let cur = measure(plan, |_| fetch(cursor_url.clone())).await;
        anyhow::ensure!(
            off.errors == 0 && cur.errors == 0,
            "requests failed while measuring {label}"
        );
        // The query alone, on the blocking thread, without HTTP and JSON around it.
        let skip = (page - 1) * i64::from(LIMIT);
        let from = at.map(|pos| (Direction::After, pos));
        let (off_q, cur_q) = db
            .interact(move |c| {
                let off = measure_sync(plan, || offset::fetch(c, skip, LIMIT));
                let cur = measure_sync(plan, || cursor::fetch(c, from, LIMIT));
                Ok((off, cur))
            })
            .await?;
        anyhow::ensure!(
            off_q.errors == 0 && cur_q.errors == 0,
            "queries failed while measuring {label}"
        );
        versus_table.row(
            label.clone(),
            [
                (off.p50_us() / cur.p50_us()).into(),
                (off_q.p50_us() / cur_q.p50_us()).into(),
            ],
        );
        let (offset_sql, cursor_sql) = explain_sql(skip, at);
        let (off_touched, cur_touched) = db
            .interact(move |c| Ok((rows_touched(c, &offset_sql)?, rows_touched(c, &cursor_sql)?)))
            .await?;
        offset_rows.push((
            format!("offset @ {label}"),
            off.p50_us(),
            off.p99_us(),
            off_q.p50_us(),
            off_touched,
        ));
        cursor_rows.push((
            format!("cursor @ {label}"),
            cur.p50_us(),
            cur.p99_us(),
            cur_q.p50_us(),
            cur_touched,
        ));
    }
    for (label, p50, p99, query, touched) in cursor_rows.into_iter().chain(offset_rows) {
        depth_table.row(
            label,
            [p50.into(), p99.into(), query.into(), Cell::from(touched)],
        );
    }
    n.table(depth_table.clone());
    n.say(
        "The same depths, offset divided by cursor: through HTTP (where parsing, JSON and the \
         network add a fixed cost to both) and for the query alone.",
    );
    n.table(versus_table.clone());

    // ── The price of a total ─────────────────────────────────────────────────────────────────
    n.section("The price of a total count");
    n.say(
        "`count=true` adds `total` to the page. It is a full count of the table on every \
         request, which is why it is off by default.",
    );
    let mut count_table = Table::new("request")
        .column("p50", Unit::Micros)
        .column("p99", Unit::Micros)
        .ratio_against("p50", "page 1");
    for (label, url) in [
        ("page 1", format!("{CURSOR_PATH}?limit={LIMIT}")),
        (
            "page 1 + total",
            format!("{CURSOR_PATH}?limit={LIMIT}&count=true"),
        ),
    ] {
        let url = server.url(&url);
        let m = measure(plan, |_| {
            let (client, url) = (&client, &url);
            async move { client.get(url).send().await?.error_for_status().map(drop) }
        })
        .await;
        count_table.row(label, [m.p50_us().into(), m.p99_us().into()]);
    }
    n.table(count_table.clone());

    // ── Consistency under change ─────────────────────────────────────────────────────────────
    n.section("Consistency under change");
    let churn_db = open_dataset(&config, postgres, "churn").await?;
    seed::ensure(&churn_db, CHURN_ROWS, false).await?;
    let churn_state = AppState {
        db: churn_db.clone(),
        codec: state.codec.clone(),
        limits: config.limits,
    };
    let churn_server = support::server::spawn(|l| run(l, churn_state.clone()))?;
    n.say(&format!(
        "A reader pages through a {}-row feed, {LIMIT} at a time, following only \
         `next` links, while a writer alternately inserts a new post and deletes the newest \
         original one, one write every {} ms.",
        format_number(CHURN_ROWS as f64),
        WRITE_EVERY.as_millis()
    ));
    let mut churn_table = Table::new("scheme")
        .column("pages", Unit::Count)
        .column("writes during the walk", Unit::Count)
        .column("rows seen twice", Unit::Count)
        .column("rows never seen", Unit::Count);
    for (scheme, path) in [("offset", OFFSET_PATH), ("cursor", CURSOR_PATH)] {
        let ids: Vec<i64> = churn_db
            .interact(|c| p::pagination_posts.select(p::id).load(c))
            .await?;
        let seeded: HashSet<i64> = ids.iter().copied().collect();
        let seeded_max = ids.iter().copied().max().unwrap_or(0);
        let writer = Writer::new(churn_db.clone(), seeded_max);
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let writing = tokio::spawn(async move {
            let mut writer = writer;
            let mut tick = tokio::time::interval(WRITE_EVERY);
            let mut i = 0u64;
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tick.tick() => {
                        if i.is_multiple_of(2) {
                            writer.insert(1).await?;
                        } else {
                            writer.delete(1).await?;
                        }
                        i += 1;
                    }
                }
            }
            anyhow::Ok(writer)
        });
        let url = churn_server.url(&format!("{path}?limit={LIMIT}"));
        let seen = walk(&client, &url, 10_000, async || Ok(())).await;
        let _ = stop.send(());
        let writer = writing.await.context("the writer task failed")??;
        let seen = seen?;
        let stable = writer.stable(&seeded);
        churn_table.row(
            scheme,
            [
                seen.pages.into(),
                (writer.inserted.len() + writer.deleted.len()).into(),
                seen.seen_twice().into(),
                seen.never_seen(&stable).into(),
            ],
        );
    }
    n.table(churn_table.clone());
    churn_server.stop().await;
    server.stop().await;

    // ── What you just saw ────────────────────────────────────────────────────────────────────
    n.section("What you just saw");
    let last = format!("last (page {last_page})");
    let get = |t: &Table, row: &str, col: &str| t.value(row, col).unwrap_or(f64::NAN);
    let off_last = get(&depth_table, &format!("offset @ {last}"), "p50");
    let cur_last = get(&depth_table, &format!("cursor @ {last}"), "p50");
    let cur_first = get(&depth_table, "cursor @ page 1", "p50");
    let off_first = get(&depth_table, "offset @ page 1", "p50");
    let total_ratio =
        get(&count_table, "page 1 + total", "p50") / get(&count_table, "page 1", "p50");
    let query_ratio = get(&versus_table, &last, "query p50 offset ÷ cursor");
    let us = |v: f64| format!("{} µs", format_number(v));
    n.say(&format!(
        "On {} with {} rows, the first page costs about the same either way (offset {}, cursor \
         {} median through HTTP). At the last page offset needs {}, {:.0}× the cursor's {}, \
         because it walks every row it skips; for the query alone the gap is {}. The cursor's \
         last page costs {:.2}× its first. Asking for a total made the first page {:.1}× slower. \
         While the table changed, offset served {} rows twice and never served {} rows that were \
         there all along; the cursor: {} and {}. Recommendation: offset is fine for small tables \
         and for page numbers a human jumps between (admin lists, a few pages of search \
         results). For feeds, large or changing tables, infinite scroll, syncs and exports, use a \
         signed keyset cursor, and leave totals off (or serve a cached estimate).",
        db.backend().name(),
        format_number(rows as f64),
        us(off_first),
        us(cur_first),
        us(off_last),
        off_last / cur_last,
        us(cur_last),
        support::report::format_ratio(query_ratio),
        cur_last / cur_first,
        total_ratio,
        get(&churn_table, "offset", "rows seen twice"),
        get(&churn_table, "offset", "rows never seen"),
        get(&churn_table, "cursor", "rows seen twice"),
        get(&churn_table, "cursor", "rows never seen"),
    ));
    if db.backend() == Backend::Sqlite {
        n.say("(SQLite has no EXPLAIN ANALYZE, so `rows touched` is empty on this run.)");
    }
    n.finish(args.json.as_deref())
}

/// `serve`: seed (or reuse) the table and keep the server up until Ctrl-C.
pub async fn serve(settings: &Settings, args: &DemoArgs, port: u16) -> anyhow::Result<()> {
    let config = Config::from_settings(settings.clone());
    let services = Services::probe_only(settings, &[Service::Postgres]).await;
    let postgres = services.is_up(Service::Postgres);
    if settings.require_services && !postgres {
        return Err(anyhow!("PostgreSQL is required but unreachable"));
    }
    let rows: i64 = args.pick(1_000_000, 50_000);
    let db = open_dataset(&config, postgres, &rows.to_string()).await?;
    seed::ensure(&db, rows, true).await?;
    let state = AppState {
        db,
        codec: CursorCodec::new(&config.cursor_key),
        limits: config.limits,
    };
    let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
    tracing::info!("try: curl -i 'http://127.0.0.1:{port}{CURSOR_PATH}?limit=3'");
    run(listener, state)?.await?;
    Ok(())
}
