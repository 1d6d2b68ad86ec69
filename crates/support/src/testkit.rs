//! The test kit: what every integration test in the workspace needs around its claim.
//!
//! - [`require`]: a test that needs a real service calls it first. Service reachable: it gets the
//!   URL. Unreachable: the test prints one line saying why it is skipped and returns, so
//!   `cargo test` passes on a bare machine. With `BF_REQUIRE_SERVICES=1` (CI), it fails instead.
//! - [`unique_name`]: queue names, key prefixes, database names that no other test will use, so
//!   tests run in parallel and a rerun starts clean.
//! - [`assert_routing`]: the claim every server makes about requests no route takes (405 with
//!   `Allow`, problem+json 404), checked against a running server in one call.
//! - `TestDatabase`, `TestSqlite` (feature `database`) and `TestKeys` (feature `redis`): data that is
//!   created for one test and removed when it is dropped.
//! - [`present`] and [`find_program`]: the same skip-or-fail rule for an installed program or
//!   package (Memcached, nginx, Celery, Chromium) that a test starts itself.

use std::io::Write;

use crate::Settings;
use crate::services::{self, Service, Status};

/// Returns the service's URL when it answers. Otherwise prints why the calling test is skipped and
/// returns `None`, or panics when `BF_REQUIRE_SERVICES=1`.
///
/// ```text
/// let Some(url) = require(Service::Redis).await else { return Ok(()) };
/// ```
pub async fn require(service: Service) -> Option<String> {
    #[allow(clippy::expect_used)]
    let settings = Settings::from_env().expect("the service variables must be valid in tests");
    require_with(&settings, service).await
}

/// [`require`] with explicit settings.
pub async fn require_with(settings: &Settings, service: Service) -> Option<String> {
    let url = service.url(settings).to_owned();
    match services::probe(service, &url).await {
        Status::Up => Some(url),
        Status::Down(why) => {
            let test = std::thread::current()
                .name()
                .unwrap_or("this test")
                .to_owned();
            let reason = format!(
                "{service} unreachable at {} ({why})",
                services::redact(&url)
            );
            assert!(
                !settings.require_services,
                "{test}: {reason}, and BF_REQUIRE_SERVICES=1 requires it"
            );
            // Written to the real stderr, not through the test harness's capture, so the reason
            // is visible in a plain `cargo test` run.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: {reason}; start it with `docker compose up -d {}`",
                service.compose_name()
            );
            None
        }
    }
}

pub use crate::names::unique_name;

/// The same skip-or-fail rule as [`require`], for a prerequisite that is not one of the probed
/// services: an installed program (Memcached, nginx, Chromium), a package (Celery, BullMQ). The
/// caller says what is missing, with how to install it; `None` means everything is there.
/// Returns `true` when the test should go on; otherwise prints the reason and returns `false`, or
/// panics when `BF_REQUIRE_SERVICES=1`.
///
/// ```text
/// if !present(missing_memcached()) { return Ok(()) }
/// ```
pub fn present(missing: Option<String>) -> bool {
    let Some(reason) = missing else {
        return true;
    };
    let test = std::thread::current()
        .name()
        .unwrap_or("this test")
        .to_owned();
    #[allow(clippy::expect_used)]
    let settings = Settings::from_env().expect("the service variables must be valid in tests");
    assert!(
        !settings.require_services,
        "{test}: {reason}, and {}=1 requires it",
        crate::config::REQUIRE_SERVICES_VAR
    );
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason}");
    false
}

/// Where `program` is on `PATH`, or why it is not: the reason [`present`] prints.
pub fn find_program(program: &str, install_hint: &str) -> Result<std::path::PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| format!("`{program}` is not installed ({install_hint})"))
}

/// Checks a running server's answers to requests that no route takes: `wrong_method` on
/// `known_path` is a 405 whose `Allow` is `allow`, and `unknown_path` is a 404; both
/// `application/problem+json` with their status in the body.
pub async fn assert_routing(
    base_url: &str,
    known_path: &str,
    wrong_method: reqwest::Method,
    allow: &str,
    unknown_path: &str,
) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let wrong = client
        .request(wrong_method.clone(), format!("{base_url}{known_path}"))
        .send()
        .await?;
    anyhow::ensure!(
        wrong.status() == 405,
        "{wrong_method} {known_path}: expected 405, got {}",
        wrong.status()
    );
    let got_allow = wrong
        .headers()
        .get(reqwest::header::ALLOW)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    anyhow::ensure!(
        got_allow == allow,
        "{known_path}: Allow is {got_allow:?}, expected {allow:?}"
    );
    expect_problem(wrong, 405).await?;

    let missing = client
        .get(format!("{base_url}{unknown_path}"))
        .send()
        .await?;
    anyhow::ensure!(
        missing.status() == 404,
        "GET {unknown_path}: expected 404, got {}",
        missing.status()
    );
    expect_problem(missing, 404).await
}

async fn expect_problem(response: reqwest::Response, status: u16) -> anyhow::Result<()> {
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    anyhow::ensure!(
        content_type == crate::problem::PROBLEM_JSON,
        "a {status} came as {content_type:?}, not problem+json"
    );
    let body: crate::Problem = response.json().await?;
    anyhow::ensure!(body.status == status, "the body says {}", body.status);
    Ok(())
}

#[cfg(feature = "database")]
pub use database::{TestBackend, TestDatabase, TestSqlite, every_backend};

#[cfg(feature = "database")]
mod database {
    use std::io::Write as _;

    use anyhow::Context as _;

    use crate::Settings;
    use crate::services::{self, Service, Status};

    use super::require;
    use diesel::{Connection, PgConnection, RunQueryDsl};

    use super::unique_name;

    /// A PostgreSQL database created for one test and dropped (with its connections) afterwards.
    #[derive(Debug)]
    pub struct TestDatabase {
        /// URL of the new database: hand it to the code under test.
        pub url: String,
        name: String,
        admin_url: String,
    }

    impl TestDatabase {
        /// Creates `bf_<label>_<random>` on the server of `admin_url` (any database there that
        /// the user can connect to). Synchronous: it takes a few milliseconds on a local server.
        pub fn create(admin_url: &str, label: &str) -> anyhow::Result<Self> {
            let name = unique_name(label);
            let mut conn = PgConnection::establish(admin_url)
                .with_context(|| format!("Failed to connect to {admin_url}"))?;
            diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
                .execute(&mut conn)
                .with_context(|| format!("Failed to create database {name}"))?;
            let mut url = url::Url::parse(admin_url).context("Failed to parse DATABASE_URL")?;
            url.set_path(&format!("/{name}"));
            Ok(Self {
                url: url.to_string(),
                name,
                admin_url: admin_url.to_owned(),
            })
        }

        /// [`TestDatabase::create`] on a blocking thread, for async tests: connecting and
        /// `CREATE DATABASE` are synchronous and must not stall the runtime.
        pub async fn create_async(admin_url: &str, label: &str) -> anyhow::Result<Self> {
            let (admin_url, label) = (admin_url.to_owned(), label.to_owned());
            tokio::task::spawn_blocking(move || Self::create(&admin_url, &label)).await?
        }

        /// The database's name.
        pub fn name(&self) -> &str {
            &self.name
        }
    }

    /// One database for one test on one backend; dropping it removes the database or file.
    #[derive(Debug)]
    pub struct TestBackend {
        pub target: crate::db::Target,
        _guard: Guard,
    }

    #[derive(Debug)]
    #[allow(dead_code)] // held for its Drop
    enum Guard {
        Postgres(TestDatabase),
        Sqlite(TestSqlite),
    }

    impl TestBackend {
        pub fn backend(&self) -> crate::db::Backend {
            self.target.backend()
        }
    }

    /// A fresh database on every backend the claim must hold on: an SQLite file always, and
    /// PostgreSQL when it answers (required under `BF_REQUIRE_SERVICES=1`). Without PostgreSQL the
    /// test still runs its SQLite half and prints one line saying which half it left out, rather
    /// than calling the whole test skipped.
    pub async fn every_backend(label: &str) -> anyhow::Result<Vec<TestBackend>> {
        let file = TestSqlite::new(label);
        let mut backends = vec![TestBackend {
            target: crate::db::Target::Sqlite(file.path.clone()),
            _guard: Guard::Sqlite(file),
        }];
        let settings = Settings::from_env()?;
        let url = if settings.require_services {
            require(Service::Postgres).await
        } else {
            match services::probe(Service::Postgres, &settings.database_url).await {
                Status::Up => Some(settings.database_url.clone()),
                Status::Down(why) => {
                    let test = std::thread::current()
                        .name()
                        .unwrap_or("this test")
                        .to_owned();
                    let _ = writeln!(
                        std::io::stderr(),
                        "note: {test}: its PostgreSQL half did not run (unreachable: {why}); the SQLite half did"
                    );
                    None
                }
            }
        };
        if let Some(url) = url {
            let db = TestDatabase::create_async(&url, label).await?;
            backends.push(TestBackend {
                target: crate::db::Target::Postgres(db.url.clone()),
                _guard: Guard::Postgres(db),
            });
        }
        Ok(backends)
    }

    impl Drop for TestDatabase {
        fn drop(&mut self) {
            // WITH (FORCE) ends the pool connections the test left open (PostgreSQL 13+).
            let dropped = PgConnection::establish(&self.admin_url).map(|mut conn| {
                diesel::sql_query(format!(
                    "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                    self.name
                ))
                .execute(&mut conn)
            });
            if !matches!(dropped, Ok(Ok(_))) {
                tracing::warn!(database = %self.name, "failed to drop test database");
            }
        }
    }

    /// An SQLite database file for one test, deleted (with its WAL files) afterwards.
    #[derive(Debug)]
    pub struct TestSqlite {
        /// Path of the file, usable as a diesel SQLite URL.
        pub path: String,
    }

    impl TestSqlite {
        pub fn new(label: &str) -> Self {
            let path = std::env::temp_dir().join(format!("{}.sqlite3", unique_name(label)));
            Self {
                path: path.to_string_lossy().into_owned(),
            }
        }
    }

    impl Drop for TestSqlite {
        fn drop(&mut self) {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", self.path));
            }
        }
    }
}

#[cfg(feature = "redis")]
pub use keys::TestKeys;

#[cfg(feature = "redis")]
mod keys {
    use super::unique_name;

    /// A Redis key prefix for one test; every key under it is deleted when this is dropped.
    #[derive(Debug)]
    pub struct TestKeys {
        /// `bf_<label>_<random>:`, to put in front of every key the test writes.
        pub prefix: String,
        redis_url: String,
    }

    impl TestKeys {
        pub fn new(redis_url: &str, label: &str) -> Self {
            Self {
                prefix: format!("{}:", unique_name(label)),
                redis_url: redis_url.to_owned(),
            }
        }

        /// `prefix` + `key`.
        pub fn key(&self, key: &str) -> String {
            format!("{}{key}", self.prefix)
        }
    }

    impl Drop for TestKeys {
        fn drop(&mut self) {
            let Ok(client) = redis::Client::open(self.redis_url.as_str()) else {
                return;
            };
            let Ok(mut conn) = client.get_connection() else {
                return;
            };
            let pattern = format!("{}*", self.prefix);
            // SCAN, not KEYS: KEYS walks the whole keyspace in one command, and on a server that
            // holds a large data set (a demo's) it blocks every other client for long enough to
            // make their probes time out. SCAN walks it in short steps.
            let mut cursor: u64 = 0;
            loop {
                let step: redis::RedisResult<(u64, Vec<String>)> = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(5_000)
                    .query(&mut conn);
                let Ok((next, keys)) = step else {
                    return;
                };
                if !keys.is_empty() {
                    let _: redis::RedisResult<()> = redis::cmd("DEL").arg(&keys).query(&mut conn);
                }
                if next == 0 {
                    return;
                }
                cursor = next;
            }
        }
    }
}
