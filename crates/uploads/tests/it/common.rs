//! Fixtures: a server per backend over its own database and its own temporary storage directory,
//! and hand-built multipart bodies (so a test controls every byte, including the broken ones).

use std::time::Duration;

use support::clock::ManualClock;
use support::server::RunningServer;
use support::testkit::{TestBackend, every_backend};
use uploads::config::S3Config;
use uploads::inspect::{Allowlist, Limits};
use uploads::metadata::{self, Backend, Db, Status};
use uploads::object_store::{LocalS3, ObjectStore};
use uploads::presigned::Direct;
use uploads::storage::StorageDir;
use uploads::{Shared, http};

pub const OWNER: &str = "alice";
pub const BOUNDARY: &str = "----uploads-test-boundary-7MA4YWxkTrZu0gW";

/// A running server over one backend's fresh database and a fresh storage directory.
pub struct Fixture {
    pub backend: Backend,
    pub server: RunningServer,
    pub shared: Shared,
    pub client: reqwest::Client,
    pub direct: Direct,
    pub clock: ManualClock,
    /// The storage server, stopped with the fixture.
    pub _s3: LocalS3,
    // Dropped last: the directory and database outlive the server that uses them.
    _dir: tempfile::TempDir,
    _database: TestBackend,
}

/// Limits small enough that "too large" is cheap to send.
pub fn test_limits() -> Limits {
    Limits {
        max_bytes: 256 * 1024,
        ..Limits::default()
    }
}

pub async fn fixtures(label: &str) -> anyhow::Result<Vec<Fixture>> {
    let mut out = Vec::new();
    for database in every_backend(label).await? {
        let db = metadata::open(&database.target, 4).await?;
        let dir = tempfile::tempdir()?;
        let shared = Shared {
            db,
            dir: StorageDir::create(dir.path().join("store"))?,
            limits: test_limits(),
            allow: Allowlist::default(),
        };
        let (access, secret) = uploads::config::random_credentials();
        let s3 = LocalS3::start(&dir.path().join("objects"), &access, &secret).await?;
        let store = ObjectStore::new(
            s3.endpoint.clone(),
            &S3Config {
                endpoint: Some(s3.endpoint.clone()),
                bucket: "uploads".to_owned(),
                region: "us-east-1".to_owned(),
                access_key: access,
                secret_key: uploads::config::Secret::new(secret),
            },
        )?;
        store.ensure_bucket().await?;
        let clock = ManualClock::starting_now();
        let direct = Direct {
            store,
            ttl: Duration::from_secs(300),
            deadline: Duration::from_secs(3600),
            clock: std::sync::Arc::new(clock.clone()),
        };
        let state = http::AppState::new(shared.clone(), Some(direct.clone()));
        let server = support::server::spawn(|l| http::run(l, state))?;
        out.push(Fixture {
            backend: database.backend(),
            server,
            shared,
            client: client()?,
            direct,
            clock,
            _s3: s3,
            _dir: dir,
            _database: database,
        });
    }
    Ok(out)
}

pub fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?)
}

impl Fixture {
    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    pub fn db(&self) -> &Db {
        &self.shared.db
    }

    /// POSTs a multipart body (as built by [`multipart`]) with a known length.
    pub async fn post_multipart(&self, body: Vec<u8>) -> anyhow::Result<reqwest::Response> {
        Ok(self
            .client
            .post(self.url(uploads::through_backend::PATH))
            .header("x-owner", OWNER)
            .header("content-type", content_type())
            .body(body)
            .send()
            .await?)
    }

    /// The same, but chunked (no `Content-Length`), so only the streaming check can stop it.
    pub async fn post_multipart_chunked(
        &self,
        body: Vec<u8>,
        chunk: usize,
    ) -> anyhow::Result<reqwest::Response> {
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            body.chunks(chunk).map(|c| Ok(c.to_vec())).collect();
        Ok(self
            .client
            .post(self.url(uploads::through_backend::PATH))
            .header("x-owner", OWNER)
            .header("content-type", content_type())
            .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                chunks,
            )))
            .send()
            .await?)
    }

    /// Nothing left behind: no file in the storage directory (finished or partial) and no row.
    pub async fn assert_nothing_left(&self, case: &str) -> anyhow::Result<()> {
        let files = self.shared.dir.list()?;
        anyhow::ensure!(
            files.is_empty(),
            "{case} ({:?}): files left: {files:?}",
            self.backend
        );
        let rows = metadata::all(self.db()).await?;
        anyhow::ensure!(
            rows.is_empty(),
            "{case} ({:?}): rows left: {rows:?}",
            self.backend
        );
        Ok(())
    }

    /// The manual clock's current time.
    pub fn clock_now(&self) -> u64 {
        use support::clock::Clock as _;
        self.clock.now()
    }

    pub async fn ready_rows(&self) -> anyhow::Result<i64> {
        Ok(metadata::count(self.db(), Status::Ready).await?)
    }
}

pub fn content_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

/// A complete one-part body: `file` with `filename` and `content_type`.
pub fn multipart(filename: &str, content_type: &str, bytes: &[u8]) -> Vec<u8> {
    let mut body = multipart_head(filename, content_type);
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// The part's headers, up to where the file's bytes start.
pub fn multipart_head(filename: &str, content_type: &str) -> Vec<u8> {
    format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
         Content-Type: {content_type}\r\n\r\n"
    )
    .into_bytes()
}

/// A one-part body with a hand-written `Content-Disposition` value.
pub fn multipart_with_disposition(disposition: &str, content_type: &str, bytes: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\nContent-Type: {content_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// The problem body of a refusal, checked to be problem+json with the response's status.
pub async fn problem(res: reqwest::Response) -> anyhow::Result<support::Problem> {
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    anyhow::ensure!(
        ct == support::problem::PROBLEM_JSON,
        "a {status} came as {ct:?}"
    );
    let p: support::Problem = res.json().await?;
    anyhow::ensure!(p.status == status, "body says {}", p.status);
    Ok(p)
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    uploads::storage::hex(&sha2::Sha256::digest(bytes))
}
