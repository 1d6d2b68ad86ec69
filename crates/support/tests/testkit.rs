//! The test kit keeps its promises: skip or fail on a missing service, isolate, clean up.

use diesel::{Connection, PgConnection, RunQueryDsl, sql_query};
use support::testkit::{TestDatabase, TestKeys, TestSqlite, require, require_with, unique_name};
use support::{Service, Services, Settings};

/// A closed port on loopback: bind, note the port, let it go.
fn closed_url(scheme: &str) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(1);
    format!("{scheme}://127.0.0.1:{port}")
}

/// Without BF_REQUIRE_SERVICES a missing service makes the test skip (None) ...
#[tokio::test]
async fn a_missing_service_skips_the_test_when_not_required() {
    let settings = Settings {
        redis_url: closed_url("redis"),
        require_services: false,
        ..Settings::default()
    };
    assert_eq!(require_with(&settings, Service::Redis).await, None);
}

/// ... and with it, the same absence fails the test.
#[tokio::test]
#[should_panic(expected = "BF_REQUIRE_SERVICES=1 requires it")]
async fn a_missing_service_fails_the_test_when_required() {
    let settings = Settings {
        redis_url: closed_url("redis"),
        require_services: true,
        ..Settings::default()
    };
    let _ = require_with(&settings, Service::Redis).await;
}

/// The probe tells a reachable service from an unreachable one, quickly, for all three at once.
#[tokio::test]
async fn the_probe_reports_each_service_and_names_how_to_add_a_missing_one() {
    let settings = Settings {
        database_url: closed_url("postgres"),
        redis_url: closed_url("redis"),
        amqp_url: closed_url("amqp"),
        mariadb_url: closed_url("mysql"),
        require_services: false,
    };
    let services = Services::probe(&settings).await;
    assert!(services.up().is_empty());
    let line = services
        .missing_line(Service::RabbitMq, "the RabbitMQ rows are skipped")
        .unwrap_or_default();
    assert!(line.contains("docker compose up -d rabbitmq"), "{line}");
}

/// Each test database is new, usable, and gone after the test.
#[tokio::test]
async fn a_test_database_is_usable_while_held_and_dropped_afterwards() -> anyhow::Result<()> {
    let Some(admin_url) = require(Service::Postgres).await else {
        return Ok(());
    };
    let db = TestDatabase::create(&admin_url, "kit")?;
    let name = db.name().to_owned();
    let mut conn = PgConnection::establish(&db.url)?;
    sql_query("CREATE TABLE t (id int)").execute(&mut conn)?;
    drop(conn);
    drop(db);

    let mut admin = PgConnection::establish(&admin_url)?;
    let left = sql_query(format!(
        "SELECT 1 FROM pg_database WHERE datname = '{name}'"
    ))
    .execute(&mut admin)?;
    assert_eq!(left, 0, "database {name} was not dropped");
    Ok(())
}

/// Keys under a test prefix are deleted when the prefix is dropped; others are untouched.
#[tokio::test]
async fn test_keys_are_deleted_when_the_prefix_is_dropped() -> anyhow::Result<()> {
    let Some(url) = require(Service::Redis).await else {
        return Ok(());
    };
    let client = redis::Client::open(url.as_str())?;
    let mut conn = client.get_connection()?;
    let keys = TestKeys::new(&url, "kit");
    let outsider = unique_name("outsider");
    redis::cmd("SET")
        .arg(keys.key("a"))
        .arg(1)
        .exec(&mut conn)?;
    redis::cmd("SET").arg(&outsider).arg(1).exec(&mut conn)?;
    let inside = keys.key("a");
    drop(keys);

    let exists: (bool, bool) = (
        redis::cmd("EXISTS").arg(&inside).query(&mut conn)?,
        redis::cmd("EXISTS").arg(&outsider).query(&mut conn)?,
    );
    redis::cmd("DEL").arg(&outsider).exec(&mut conn)?;
    assert_eq!(exists, (false, true));
    Ok(())
}

/// A test SQLite file disappears with its WAL companions.
#[test]
fn a_test_sqlite_file_is_removed_on_drop() -> anyhow::Result<()> {
    let db = TestSqlite::new("kit");
    let path = db.path.clone();
    std::fs::write(&path, b"x")?;
    std::fs::write(format!("{path}-wal"), b"x")?;
    drop(db);
    assert!(!std::path::Path::new(&path).exists());
    assert!(!std::path::Path::new(&format!("{path}-wal")).exists());
    Ok(())
}

/// Names are unique per call and safe as identifiers everywhere.
#[test]
fn unique_names_differ_and_are_identifier_safe() {
    let a = unique_name("My Queue!");
    let b = unique_name("My Queue!");
    assert_ne!(a, b);
    assert!(a.starts_with("bf_my_queue__"), "{a}");
    assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
}

/// A server spawned on port 0 answers on the base URL it reports.
#[actix_web::test]
async fn a_spawned_server_answers_on_its_base_url() -> anyhow::Result<()> {
    use actix_web::{App, HttpResponse, HttpServer, web};
    let server = support::server::spawn(|listener| {
        Ok(
            HttpServer::new(|| App::new().route("/", web::get().to(HttpResponse::Ok)))
                .workers(1)
                .listen(listener)?
                .run(),
        )
    })?;
    let status = reqwest::get(server.url("/")).await?.status();
    server.stop().await;
    assert_eq!(status, 200);
    Ok(())
}
