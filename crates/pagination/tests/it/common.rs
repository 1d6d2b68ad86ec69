//! Fixtures: one server per backend, each over its own throwaway database.

use pagination::cursor::CursorCodec;
use pagination::http::AppState;
use pagination::page::Page;
use pagination::{Backend, Db, Limits, db, run, seed};
use support::server::RunningServer;
use support::testkit::{TestBackend, every_backend};

/// A fixed key, so a test can sign cursors the server accepts (and forge ones it must not).
pub const KEY: &[u8] = b"pagination test key, 32 bytes!!!";

/// A running server over one backend's fresh database.
pub struct Fixture {
    pub backend: Backend,
    pub server: RunningServer,
    pub db: Db,
    pub client: reqwest::Client,
    // Declared last so it is dropped last: the database outlives the pool that uses it.
    _database: TestBackend,
}

impl Fixture {
    /// The absolute URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    /// GET an absolute URL.
    pub async fn get(&self, url: &str) -> anyhow::Result<reqwest::Response> {
        Ok(self.client.get(url).send().await?)
    }

    /// GET a page and its `Link` header.
    pub async fn page(&self, url: &str) -> anyhow::Result<(Page, String)> {
        let res = self.get(url).await?;
        anyhow::ensure!(res.status().is_success(), "{url}: {}", res.status());
        let link = res
            .headers()
            .get(reqwest::header::LINK)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Ok((res.json().await?, link))
    }

    /// Fills the table with `rows` generated posts.
    pub async fn seed(&self, rows: i64) -> anyhow::Result<()> {
        seed::ensure(&self.db, rows, false).await?;
        Ok(())
    }

    /// Every id, newest first: the order both schemes must serve.
    pub async fn ids_newest_first(&self) -> anyhow::Result<Vec<i64>> {
        use diesel::prelude::*;
        use pagination::schema::pagination_posts::dsl as p;
        Ok(self
            .db
            .interact(|c| {
                p::pagination_posts
                    .order((p::created_at.desc(), p::id.desc()))
                    .select(p::id)
                    .load(c)
            })
            .await?)
    }
}

fn start(db: Db) -> anyhow::Result<RunningServer> {
    let state = AppState {
        db,
        codec: CursorCodec::new(KEY),
        limits: Limits::default(),
    };
    Ok(support::server::spawn(|l| run(l, state))?)
}

/// One fixture per backend: SQLite always, and PostgreSQL when reachable (required under
/// BF_REQUIRE_SERVICES=1), each over a database of its own, created without blocking the runtime.
pub async fn fixtures(label: &str) -> anyhow::Result<Vec<Fixture>> {
    let mut out = Vec::new();
    for database in every_backend(label).await? {
        let db = db::open(&database.target, 4).await?;
        out.push(Fixture {
            backend: database.backend(),
            server: start(db.clone())?,
            db,
            // A deadline on every request: a stuck server fails the test instead of hanging it.
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .build()?,
            _database: database,
        });
    }
    Ok(out)
}
