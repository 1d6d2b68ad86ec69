//! The object store the direct path talks to: a real S3-compatible server on loopback
//! ([`LocalS3`], `s3s-fs` over a directory), and the backend's own small client for it
//! ([`ObjectStore`]: HEAD, a ranged GET, DELETE, LIST, create-bucket).
//!
//! Every request, the backend's own included, is a SigV4-presigned URL made by `rusty-s3`
//! (sans-IO: it builds URLs, `reqwest` sends them), so the server checks real signatures and a
//! wrong key, an expired URL or a changed signed header is refused the way AWS refuses it.
//!
//! **Why a local server and not a mock.** The lessons of the direct path happen *at the storage
//! server*: it, not the backend, refuses an expired URL, a body over a POST policy's
//! `content-length-range`, or a body whose SHA-256 differs from the signed one. A mock would
//! only assert what we told it. Production points [`ObjectStore`] at S3, R2, GCS's S3 API or
//! MinIO by configuration (`UPLOADS_S3_ENDPOINT`); nothing else changes.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use rusty_s3::{Bucket, Credentials, S3Action as _, UrlStyle};
use tokio::sync::oneshot;
use tracing::instrument::WithSubscriber as _;

use crate::config::S3Config;

/// How long the backend's own signed requests (HEAD, GET, DELETE, LIST) are valid: they are
/// sent at once.
const INTERNAL_TTL: Duration = Duration::from_secs(60);

/// An S3-compatible server (`s3s-fs`) on `127.0.0.1:<free port>` over a directory, with one
/// access key. Stops when dropped or on [`LocalS3::stop`].
#[derive(Debug)]
pub struct LocalS3 {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: url::Url,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl LocalS3 {
    /// Starts the server on a free loopback port, storing objects under `root`.
    pub async fn start(root: &Path, access_key: &str, secret_key: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(root)
            .with_context(|| format!("Failed to create {}", root.display()))?;
        let fs = s3s_fs::FileSystem::new(root)
            .map_err(|e| anyhow::anyhow!("Failed to open the object directory: {e:?}"))?;
        let service = {
            let mut b = s3s::service::S3ServiceBuilder::new(fs);
            b.set_auth(s3s::auth::SimpleAuth::from_single(
                access_key,
                secret_key.to_owned(),
            ));
            b.build()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("Failed to bind the object store's port")?;
        let addr = listener.local_addr()?;
        let endpoint = url::Url::parse(&format!("http://{addr}"))?;
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let http =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            let graceful = hyper_util::server::graceful::GracefulShutdown::new();
            loop {
                let socket = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((socket, _)) => socket,
                        Err(e) => {
                            tracing::warn!(error = %e, "object store: accept failed");
                            continue;
                        }
                    },
                    _ = &mut stop_rx => break,
                };
                let conn =
                    http.serve_connection(hyper_util::rt::TokioIo::new(socket), service.clone());
                let conn = graceful.watch(conn.into_owned());
                // The storage server's own log is silenced: every refusal it makes (expired,
                // bad signature, too large) is the point of a demo row or a test, and its
                // client reports it; logged again here it would read as a failure.
                tokio::spawn(
                    async move {
                        let _ = conn.await;
                    }
                    .with_subscriber(tracing::subscriber::NoSubscriber::default()),
                );
            }
            // In-flight requests get a moment to finish; a stuck one does not hold up a test.
            let _ = tokio::time::timeout(Duration::from_secs(2), graceful.shutdown()).await;
        });
        Ok(Self {
            addr,
            endpoint,
            stop: Some(stop_tx),
            task: Some(task),
        })
    }

    /// Stops accepting and waits for the server task.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for LocalS3 {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// What a HEAD found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: u64,
    pub content_type: Option<String>,
    /// Base64 SHA-256, when the object was stored with one (storage verified it on upload).
    pub sha256_base64: Option<String>,
}

/// The backend's client for one bucket.
#[derive(Debug, Clone)]
pub struct ObjectStore {
    pub bucket: Bucket,
    pub credentials: Credentials,
    http: reqwest::Client,
}

impl ObjectStore {
    /// A path-style client (`http://host/bucket/key`: a loopback address has no subdomains).
    pub fn new(endpoint: url::Url, config: &S3Config) -> anyhow::Result<Self> {
        let bucket = Bucket::new(
            endpoint,
            UrlStyle::Path,
            config.bucket.clone(),
            config.region.clone(),
        )
        .context("Failed to describe the bucket")?;
        Self::with_bucket(
            bucket,
            Credentials::new(
                config.access_key.clone(),
                config.secret_key.expose().to_owned(),
            ),
        )
    }

    /// A client for any bucket description (virtual-hosted style for the AWS examples).
    pub fn with_bucket(bucket: Bucket, credentials: Credentials) -> anyhow::Result<Self> {
        Ok(Self {
            bucket,
            credentials,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
        })
    }

    /// Creates the bucket unless it exists.
    pub async fn ensure_bucket(&self) -> anyhow::Result<()> {
        let action = self.bucket.create_bucket(&self.credentials);
        let res = self
            .http
            .put(action.sign(INTERNAL_TTL))
            .body(action.body())
            .send()
            .await?;
        let status = res.status();
        if status.is_success() {
            return Ok(());
        }
        let text = res.text().await.unwrap_or_default();
        anyhow::ensure!(
            text.contains("BucketAlreadyOwnedByYou") || text.contains("BucketAlreadyExists"),
            "create bucket: {status} {text}"
        );
        Ok(())
    }

    /// HEAD: `None` when there is no such object.
    pub async fn head(&self, key: &str) -> anyhow::Result<Option<ObjectInfo>> {
        let url = self
            .bucket
            .head_object(Some(&self.credentials), key)
            .sign(INTERNAL_TTL);
        let res = self.http.head(url).send().await?;
        if res.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        anyhow::ensure!(res.status().is_success(), "HEAD {key}: {}", res.status());
        let header = |name: &str| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Ok(Some(ObjectInfo {
            size: header("content-length")
                .and_then(|v| v.parse().ok())
                .context("HEAD without a Content-Length")?,
            content_type: header("content-type"),
            sha256_base64: header("x-amz-checksum-sha256"),
        }))
    }

    /// The first `n` bytes (a ranged GET: the magic number without moving the whole object).
    pub async fn first_bytes(&self, key: &str, n: usize) -> anyhow::Result<Vec<u8>> {
        let url = self
            .bucket
            .get_object(Some(&self.credentials), key)
            .sign(INTERNAL_TTL);
        let res = self
            .http
            .get(url)
            .header("range", format!("bytes=0-{}", n.saturating_sub(1)))
            .send()
            .await?;
        anyhow::ensure!(res.status().is_success(), "GET {key}: {}", res.status());
        let body = res.bytes().await?;
        // A server that ignores Range sends everything: keep only the prefix.
        Ok(body[..body.len().min(n)].to_vec())
    }

    /// DELETE (idempotent: deleting a missing object succeeds, as on S3).
    pub async fn delete(&self, key: &str) -> anyhow::Result<()> {
        let url = rusty_s3::actions::DeleteObject::new(&self.bucket, Some(&self.credentials), key)
            .sign(INTERNAL_TTL);
        let res = self.http.delete(url).send().await?;
        anyhow::ensure!(
            res.status().is_success() || res.status() == reqwest::StatusCode::NOT_FOUND,
            "DELETE {key}: {}",
            res.status()
        );
        Ok(())
    }

    /// Every key in the bucket (the "nothing left behind" checks; one page is enough here).
    pub async fn keys(&self) -> anyhow::Result<Vec<String>> {
        let url = self
            .bucket
            .list_objects_v2(Some(&self.credentials))
            .sign(INTERNAL_TTL);
        let res = self.http.get(url).send().await?;
        anyhow::ensure!(res.status().is_success(), "LIST: {}", res.status());
        let text = res.text().await?;
        let parsed = rusty_s3::actions::ListObjectsV2::parse_response(&text)
            .map_err(|e| anyhow::anyhow!("LIST response: {e}"))?;
        Ok(parsed.contents.into_iter().map(|c| c.key).collect())
    }
}
