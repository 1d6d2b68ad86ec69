//! `just bench mini-blog`: a load generator (wrk) against the release build, bounded in time,
//! on four read endpoints, and the application's layers priced against a minimal handler.
//!
//! The goal it judges: `GET /api/articles?limit=20` should reach at least half the requests per
//! second of a **minimal handler** that runs the same SQL as one statement on the same pool and
//! writes the same JSON, measured in the same run with the same wrk settings. The application
//! pays for its layers (extractors, the token check, seven small queries instead of one, the
//! view assembly); this makes the price visible instead of arguing about it.
//!
//! Register and login are never part of these numbers: argon2id would dominate them (the demo
//! measures logins on their own).

use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context as _;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
use serde::Serialize;
use support::demo::DemoArgs;
use support::narrate::Narrator;
use support::report::{Cell, Goal, Table, Unit, format_ratio};
use support::{Service, Settings};

use crate::config::Config;
use crate::db::AnyConnection;
use crate::error::Error;
use crate::model::{ArticleListItem, MultipleArticlesResponse, Profile, timestamp};
use crate::seed::{self, Size};
use crate::state::{AppState, CacheChoice, QueueChoice};

/// The minimal handler should reach at least this fraction of the application's throughput.
pub const LAYERS_TARGET: f64 = 0.5;

/// The load: wrk threads, open connections, seconds per endpoint.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Load {
    pub threads: u32,
    pub connections: u32,
    pub seconds: u32,
    /// Server worker threads (the machine has two cores, shared with wrk).
    pub server_workers: usize,
    /// Database connections in the one pool both handlers use.
    pub pool_size: usize,
}

/// One endpoint under load.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub label: String,
    pub path: String,
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Non-2xx answers and socket errors wrk counted.
    pub errors: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Bench {
    pub backend: &'static str,
    pub cache: &'static str,
    pub load: Load,
    pub command: String,
    pub runs: Vec<Run>,
    pub layers: Option<Goal>,
}

/// One row as the minimal handler's single statement returns it.
#[derive(Debug, diesel::QueryableByName)]
struct BaselineRow {
    #[diesel(sql_type = Text)]
    slug: String,
    #[diesel(sql_type = Text)]
    title: String,
    #[diesel(sql_type = Text)]
    description: String,
    #[diesel(sql_type = Timestamp)]
    created_at: chrono::NaiveDateTime,
    #[diesel(sql_type = Timestamp)]
    updated_at: chrono::NaiveDateTime,
    #[diesel(sql_type = Text)]
    username: String,
    #[diesel(sql_type = Nullable<Text>)]
    bio: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    image: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    tags: Option<String>,
    #[diesel(sql_type = BigInt)]
    favorites: i64,
    #[diesel(sql_type = BigInt)]
    total: i64,
}

/// The first page of `GET /api/articles?limit=20`, anonymous, as one statement: the same rows,
/// tags, counts and total the application gathers in seven queries.
fn baseline_sql(conn: &AnyConnection) -> &'static str {
    match conn {
        AnyConnection::Postgresql(_) => {
            "SELECT a.slug, a.title, a.description, a.created_at, a.updated_at, \
                    u.username, u.bio, u.image, \
                    (SELECT string_agg(t.tag, ',' ORDER BY t.tag) FROM blog_article_tags t \
                      WHERE t.article_id = a.id) AS tags, \
                    (SELECT count(*) FROM blog_favorites f WHERE f.article_id = a.id) AS favorites, \
                    (SELECT count(*) FROM blog_articles) AS total \
               FROM blog_articles a JOIN blog_users u ON u.id = a.author_id \
              ORDER BY a.created_at DESC, a.id DESC LIMIT 20"
        }
        AnyConnection::Sqlite(_) => {
            "SELECT a.slug, a.title, a.description, a.created_at, a.updated_at, \
                    u.username, u.bio, u.image, \
                    (SELECT group_concat(tag, ',') FROM (SELECT t.tag FROM blog_article_tags t \
                      WHERE t.article_id = a.id ORDER BY t.tag)) AS tags, \
                    (SELECT count(*) FROM blog_favorites f WHERE f.article_id = a.id) AS favorites, \
                    (SELECT count(*) FROM blog_articles) AS total \
               FROM blog_articles a JOIN blog_users u ON u.id = a.author_id \
              ORDER BY a.created_at DESC, a.id DESC LIMIT 20"
        }
    }
}

/// The minimal handler: one statement on the application's pool, the same JSON.
async fn baseline(state: web::Data<AppState>) -> Result<HttpResponse, Error> {
    use diesel::RunQueryDsl as _;
    let rows: Vec<BaselineRow> = state
        .db
        .interact(|c| diesel::sql_query(baseline_sql(c)).load(c))
        .await?;
    let total = rows.first().map_or(0, |r| r.total);
    let articles = rows
        .into_iter()
        .map(|r| ArticleListItem {
            slug: r.slug,
            title: r.title,
            description: r.description,
            tag_list: r
                .tags
                .map(|t| t.split(',').map(str::to_owned).collect())
                .unwrap_or_default(),
            created_at: timestamp(r.created_at),
            updated_at: timestamp(r.updated_at),
            favorited: false,
            favorites_count: r.favorites,
            author: Profile {
                username: r.username,
                bio: r.bio,
                image: r.image,
                following: false,
            },
        })
        .collect();
    Ok(HttpResponse::Ok().json(MultipleArticlesResponse {
        articles,
        articles_count: total,
    }))
}

/// Parses wrk's `--latency` output: requests/s, p50 and p99 in ms, errors.
pub fn parse_wrk(output: &str) -> Option<(f64, f64, f64, u64)> {
    let rps = output
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))?
        .trim()
        .parse()
        .ok()?;
    let percentile = |p: &str| {
        output.lines().find_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix(p)?.trim();
            duration_ms(rest)
        })
    };
    let errors = output
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            if let Some(rest) = l.strip_prefix("Non-2xx or 3xx responses:") {
                return rest.trim().parse::<u64>().ok();
            }
            let rest = l.strip_prefix("Socket errors:")?;
            Some(
                rest.split(',')
                    .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                    .sum(),
            )
        })
        .sum();
    Some((rps, percentile("50%")?, percentile("99%")?, errors))
}

/// `1.23ms`, `456.78us`, `1.02s` → milliseconds.
fn duration_ms(text: &str) -> Option<f64> {
    let text = text.trim();
    for (suffix, scale) in [("us", 0.001), ("ms", 1.0), ("s", 1000.0), ("m", 60_000.0)] {
        if let Some(number) = text.strip_suffix(suffix) {
            return number.trim().parse::<f64>().ok().map(|n| n * scale);
        }
    }
    None
}

/// Runs the benchmark; `--quick` loads for one second per endpoint on the small data set.
pub async fn run(settings: &Settings, args: &DemoArgs) -> anyhow::Result<support::Report> {
    let mut n = Narrator::new("mini-blog-bench", "mini-blog under load", args);
    n.probe(
        settings,
        &[
            (Service::Postgres, "loading embedded SQLite instead"),
            (
                Service::Redis,
                "caching the top list in this process only (moka)",
            ),
        ],
    )
    .await?;
    let wrk = support::testkit::find_program("wrk", "apt-get install -y wrk")
        .map_err(|why| anyhow::anyhow!("{why}: the benchmark needs a load generator"))?;
    let load = Load {
        threads: 1,
        connections: 32,
        seconds: if args.quick { 1 } else { 8 },
        server_workers: 2,
        pool_size: 16,
    };
    let target = crate::serve::target(settings, crate::seed::data_set(args.quick)).await?;
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let config = Config {
        pool_size: load.pool_size,
        cache_namespace: format!("mini-blog-bench-{run_id}"),
        queue_name: format!("mini-blog-bench-{run_id}"),
        ..Config::default()
    };
    let db = crate::db::open(&target, config.pool_size).await?;
    let state = AppState::build(
        settings,
        config,
        db,
        CacheChoice::Auto,
        QueueChoice::InProcess,
    )
    .await?;
    n.section("The data set");
    let size = args.pick(Size::FULL, Size::QUICK);
    let hash = state.passwords.hash(seed::PASSWORD).await?;
    let seeded = seed::ensure(&state.db, size, hash, !args.silent).await?;
    n.say(&format!(
        "{} users, {} articles, {} favourites in {} ({}).",
        seeded.users,
        seeded.articles,
        seeded.favorites,
        state.db.backend().name(),
        if seeded.seeded_now {
            "seeded now"
        } else {
            "reused"
        }
    ));

    let app = {
        let state = state.clone();
        support::server::spawn(move |l| crate::http::run(l, state, load.server_workers))?
    };
    let minimal = {
        let data = web::Data::from(state.clone());
        let listener = TcpListener::bind("127.0.0.1:0")?;
        support::server::spawn_on(listener, move |listener| {
            Ok(HttpServer::new(move || {
                App::new()
                    .app_data(data.clone())
                    .route("/minimal/articles", web::get().to(baseline))
            })
            .workers(load.server_workers)
            .listen(listener)?
            .run())
        })?
    };
    // Warm both (and the top-list cache) so the first second of load is not a cold start.
    let client = reqwest::Client::new();
    for url in [
        app.url("/api/articles/top"),
        app.url("/api/articles?limit=20"),
        minimal.url("/minimal/articles"),
    ] {
        let response = client.get(&url).send().await?;
        anyhow::ensure!(
            response.status().is_success(),
            "{url}: {}",
            response.status()
        );
    }

    n.section("Requests per second");
    let endpoints = [
        (
            "GET /api/articles?limit=20",
            app.url("/api/articles?limit=20"),
        ),
        (
            "minimal handler, same SQL as one statement",
            minimal.url("/minimal/articles"),
        ),
        (
            "GET /api/articles/:slug",
            app.url("/api/articles/article-1"),
        ),
        (
            "GET /api/articles/top (cached)",
            app.url("/api/articles/top"),
        ),
        ("GET /api/tags", app.url("/api/tags")),
    ];
    let command = format!(
        "wrk -t{} -c{} -d{}s --latency <url>",
        load.threads, load.connections, load.seconds
    );
    let mut runs = Vec::new();
    for (label, url) in endpoints {
        let output = tokio::task::spawn_blocking({
            let (wrk, url) = (wrk.clone(), url.clone());
            move || {
                Command::new(wrk)
                    .args([
                        format!("-t{}", load.threads),
                        format!("-c{}", load.connections),
                        format!("-d{}s", load.seconds),
                        "--latency".to_owned(),
                        "--timeout".to_owned(),
                        "10s".to_owned(),
                        url,
                    ])
                    .output()
            }
        })
        .await??;
        let text = String::from_utf8_lossy(&output.stdout);
        let (rps, p50, p99, errors) =
            parse_wrk(&text).with_context(|| format!("could not read wrk's output: {text}"))?;
        runs.push(Run {
            label: label.to_owned(),
            path: url
                .trim_start_matches(&app.base_url)
                .trim_start_matches(&minimal.base_url)
                .to_owned(),
            requests_per_second: rps,
            p50_ms: p50,
            p99_ms: p99,
            errors,
        });
        // Let the two cores settle between runs.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let mut table = Table::new("endpoint")
        .column("throughput", Unit::PerSecond)
        .column("p50", Unit::Millis)
        .column("p99", Unit::Millis)
        .column("errors", Unit::Count);
    for r in &runs {
        table.row(
            r.label.clone(),
            [
                Cell::Number(r.requests_per_second),
                Cell::Number(r.p50_ms),
                Cell::Number(r.p99_ms),
                Cell::Number(r.errors as f64),
            ],
        );
    }
    n.table(table);
    let rps = |label: &str| {
        runs.iter()
            .find(|r| r.label == label)
            .map(|r| r.requests_per_second)
    };
    let layers = match (
        rps("GET /api/articles?limit=20"),
        rps("minimal handler, same SQL as one statement"),
    ) {
        (Some(app_rps), Some(minimal_rps)) if minimal_rps > 0.0 => {
            Some(Goal::at_least(app_rps / minimal_rps, LAYERS_TARGET))
        }
        _ => None,
    };
    n.section("Performance goals");
    let mut goals = Table::new("goal")
        .column("target", Unit::Text)
        .column("measured", Unit::Text)
        .column("met", Unit::Text);
    if let Some(goal) = layers {
        goals.row(
            "GET /api/articles?limit=20 vs the minimal handler (requests/s)",
            [
                format!("≥ {}", format_ratio(LAYERS_TARGET)).into(),
                format_ratio(goal.measured).into(),
                goal.verdict().into(),
            ],
        );
    }
    n.table(goals);
    n.say(&format!(
        "Load: `{command}`, {} server workers, one pool of {} database connections shared by both \
         handlers, on {} with the top list in {}. wrk and the server share this machine's cores, so \
         the absolute figures are this machine's; the ratio is the point.",
        load.server_workers,
        load.pool_size,
        state.db.backend().name(),
        state.top.description,
    ));
    let bench = Bench {
        backend: state.db.backend().name(),
        cache: state.top.description,
        load,
        command,
        runs,
        layers,
    };
    n.figures(&bench)?;
    app.stop().await;
    minimal.stop().await;
    state.notifier.shutdown(true).await;
    n.finish(args.json.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK: &str = "Running 1s test @ http://127.0.0.1:1/api/tags
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.20ms  300.00us   5.00ms   90.00%
  Latency Distribution
     50%    1.10ms
     75%    1.30ms
     90%    1.50ms
     99%    2.50s
  25000 requests in 1.00s, 10.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  25000.50
Transfer/sec:     10.00MB
";

    #[test]
    fn wrk_output_is_read_into_requests_per_second_percentiles_and_errors() {
        let (rps, p50, p99, errors) = parse_wrk(WRK).unwrap_or_default();
        assert!((rps - 25_000.5).abs() < 1e-9);
        assert!((p50 - 1.1).abs() < 1e-9);
        assert!((p99 - 2_500.0).abs() < 1e-9);
        assert_eq!(errors, 7);
    }
}
