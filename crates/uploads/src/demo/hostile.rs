//! "Hostile input": every row is a request an attacker (or a broken client) sends, with the
//! status it got, why, and a check that it left nothing behind: no new file on the backend's
//! disk (finished or partial), no new object in the bucket, no new `ready` row. Runs against an
//! in-process server whose clock the demo controls (for the expired URL) and whose size limit
//! is 1 MiB (so "too large" costs 2 MiB, not 2 GiB).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use support::clock::Clock as _;
use support::narrate::Narrator;
use support::report::{Table, Unit};

use super::clients::BOUNDARY;
use super::{Lab, OWNER};
use crate::inspect::samples;
use crate::metadata::{self, Status};
use crate::presigned::{Announce, PresignedPost, PresignedPut};

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub case: String,
    pub path: &'static str,
    pub status: u16,
    pub reason: String,
    /// Whether the input was accepted (stored safely) rather than refused.
    pub accepted: bool,
    /// The check: what is new on disk, in the bucket and among ready rows.
    pub left: String,
    /// Refused with nothing left, or accepted with exactly its one file under a generated key
    /// and nothing outside the storage directory.
    pub clean: bool,
}

/// The section's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hostile {
    pub rows: Vec<Row>,
}

impl Hostile {
    pub fn refused(&self) -> usize {
        self.rows.iter().filter(|r| !r.accepted).count()
    }

    pub fn unclean(&self) -> Vec<&Row> {
        self.rows.iter().filter(|r| !r.clean).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    files: BTreeSet<PathBuf>,
    objects: BTreeSet<String>,
    ready: i64,
    around: BTreeSet<PathBuf>,
}

async fn snapshot(lab: &Lab) -> anyhow::Result<Snapshot> {
    let around = match lab.shared.dir.root().parent() {
        Some(p) => std::fs::read_dir(p)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?,
        None => BTreeSet::new(),
    };
    Ok(Snapshot {
        files: lab.shared.dir.list()?.into_iter().collect(),
        objects: lab.direct.store.keys().await?.into_iter().collect(),
        ready: metadata::count(&lab.shared.db, Status::Ready).await?,
        around,
    })
}

/// Judges a row from the state before and after it.
fn judge(before: &Snapshot, after: &Snapshot, accepted: bool) -> (String, bool) {
    let new_files: Vec<&PathBuf> = after.files.difference(&before.files).collect();
    let new_objects = after.objects.difference(&before.objects).count();
    let new_ready = after.ready - before.ready;
    let outside = after.around != before.around;
    if accepted {
        let safe = new_files.len() == 1
            && new_files.iter().all(|f| {
                let s = f.to_string_lossy();
                s.starts_with("files/") && s.len() == "files/".len() + 32
            })
            && !outside;
        let left = match new_files.first() {
            Some(f) if safe => format!("stored as {}; nothing outside the root", f.display()),
            _ => format!("files {new_files:?}, outside the root changed: {outside}"),
        };
        (left, safe)
    } else {
        let clean = new_files.is_empty() && new_objects == 0 && new_ready == 0 && !outside;
        let left = if clean {
            "nothing: no file, no object, no ready row".to_owned()
        } else {
            format!(
                "{} file(s), {new_objects} object(s), {new_ready} ready row(s)",
                new_files.len()
            )
        };
        (left, clean)
    }
}

fn multipart(disposition: &str, content_type: &str, bytes: &[u8], close: bool) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\nContent-Type: {content_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    if close {
        body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    }
    body
}

fn named(name: &str) -> String {
    format!("form-data; name=\"file\"; filename=\"{name}\"")
}

/// What came back: the status and a short reason (the problem's detail, or S3's error code).
async fn outcome(res: reqwest::Response) -> anyhow::Result<(u16, String, bool)> {
    let status = res.status().as_u16();
    let text = res.text().await?;
    let reason = if let Ok(p) = serde_json::from_str::<support::Problem>(&text) {
        p.detail.unwrap_or(p.title)
    } else if let Some(code) = text
        .split("<Code>")
        .nth(1)
        .and_then(|s| s.split("</Code>").next())
    {
        format!("storage: {code}")
    } else if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
        v.get("name").and_then(|n| n.as_str()).map_or_else(
            || "stored".to_owned(),
            |n| format!("stored, shown as {n:?}"),
        )
    } else {
        text.chars().take(80).collect()
    };
    Ok((status, reason, (200..300).contains(&status)))
}

async fn post_backend(
    lab: &Lab,
    body: Vec<u8>,
    chunked: bool,
) -> anyhow::Result<reqwest::Response> {
    let req = lab
        .client
        .post(lab.server.url(crate::through_backend::PATH))
        .header("x-owner", OWNER)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        );
    let req = if chunked {
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            body.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
        req.body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
    } else {
        req.body(body)
    };
    Ok(req.send().await?)
}

async fn announce<T: serde::de::DeserializeOwned>(
    lab: &Lab,
    path: &str,
    a: &Announce,
) -> anyhow::Result<T> {
    let res = lab
        .client
        .post(lab.server.url(path))
        .header("x-owner", OWNER)
        .json(a)
        .send()
        .await?;
    anyhow::ensure!(res.status() == 201, "announce: {}", res.status());
    Ok(res.json().await?)
}

fn claims(name: &str, ct: &str, bytes: &[u8]) -> Announce {
    use sha2::Digest as _;
    Announce {
        filename: name.to_owned(),
        content_type: ct.to_owned(),
        size: bytes.len() as u64,
        sha256: Some(crate::storage::hex(&sha2::Sha256::digest(bytes))),
    }
}

async fn put(
    lab: &Lab,
    signed: &PresignedPut,
    bytes: Vec<u8>,
) -> anyhow::Result<reqwest::Response> {
    let mut req = lab.client.put(&signed.url).body(bytes);
    for (k, v) in signed
        .headers
        .iter()
        .filter(|(k, _)| *k != "content-length")
    {
        req = req.header(k, v);
    }
    Ok(req.send().await?)
}

/// Runs every case, prints the table, returns the rows.
pub async fn run(n: &mut Narrator, lab: &Lab) -> anyhow::Result<Hostile> {
    n.section("Hostile input");
    n.say(&format!(
        "Each request below is refused (or, for the names, accepted under a server-generated key) \
         by a server whose limit is {} bytes. The last column is checked after each request: \
         what is new on the backend's disk, in the bucket, and among ready rows.",
        lab.shared.limits.max_bytes
    ));
    let limit = lab.shared.limits.max_bytes as usize;
    let png = samples::png(64, 64, 512);
    let mut rows = Vec::new();
    macro_rules! row {
        ($case:expr, $path:expr, $run:expr) => {{
            let before = snapshot(lab).await?;
            let (status, reason, accepted) = $run;
            let after = snapshot(lab).await?;
            let (left, clean) = judge(&before, &after, accepted);
            rows.push(Row {
                case: $case.to_owned(),
                path: $path,
                status,
                reason,
                accepted,
                left,
                clean,
            });
        }};
    }

    row!(
        "oversize: twice the limit, chunked",
        "backend",
        outcome(
            post_backend(
                lab,
                multipart(
                    &named("big.pdf"),
                    "application/pdf",
                    &samples::pdf(2 * limit),
                    true
                ),
                true
            )
            .await?
        )
        .await?
    );
    row!(
        "spoofed type: an ELF executable named cat.png, declared image/png",
        "backend",
        outcome(
            post_backend(
                lab,
                multipart(&named("cat.png"), "image/png", &samples::elf(4096), true),
                false
            )
            .await?
        )
        .await?
    );
    row!(
        "double extension: photo.jpg.php",
        "backend",
        outcome(
            post_backend(
                lab,
                multipart(
                    &named("photo.jpg.php"),
                    "image/jpeg",
                    &samples::jpeg(64, 64),
                    true
                ),
                false
            )
            .await?
        )
        .await?
    );
    row!(
        "path traversal: ../../etc/passwd",
        "backend",
        outcome(
            post_backend(
                lab,
                multipart(&named("../../etc/passwd"), "image/png", &png, true),
                false
            )
            .await?
        )
        .await?
    );
    row!(
        "control characters: evil\\x1b[31m\\x07.png (RFC 5987 filename*)",
        "backend",
        outcome(
            post_backend(
                lab,
                multipart(
                    "form-data; name=\"file\"; filename*=UTF-8''evil%1B%5B31m%07.png",
                    "image/png",
                    &png,
                    true
                ),
                false
            )
            .await?
        )
        .await?
    );
    let long = format!(
        "form-data; name=\"file\"; filename*=UTF-8''{}.png",
        "%C3%BC".repeat(150)
    );
    row!(
        "300 bytes of Unicode in the name",
        "backend",
        outcome(post_backend(lab, multipart(&long, "image/png", &png, true), false).await?).await?
    );
    row!(
        "zero bytes",
        "backend",
        outcome(
            post_backend(
                lab,
                multipart(&named("empty.png"), "image/png", b"", true),
                false
            )
            .await?
        )
        .await?
    );
    row!(
        "decompression bomb: a 4 KB PNG declaring 100000×100000",
        "backend",
        outcome(
            post_backend(
                lab,
                multipart(
                    &named("bomb.png"),
                    "image/png",
                    &samples::png(100_000, 100_000, 4096),
                    true
                ),
                false
            )
            .await?
        )
        .await?
    );
    row!(
        "truncated multipart body (no closing boundary)",
        "backend",
        outcome(
            post_backend(
                lab,
                multipart(
                    &named("cut.pdf"),
                    "application/pdf",
                    &samples::pdf(100_000),
                    false
                ),
                false
            )
            .await?
        )
        .await?
    );

    // Direct to storage: signed ten minutes ago for five minutes.
    let now = lab.clock.now();
    lab.clock.set(now.saturating_sub(600));
    let signed: PresignedPut = announce(
        lab,
        crate::presigned::PUT_PATH,
        &claims("late.png", "image/png", &png),
    )
    .await?;
    lab.clock.set(now);
    row!(
        "presigned PUT used after it expired",
        "direct",
        outcome(put(lab, &signed, png.clone()).await?).await?
    );
    let signed: PresignedPut = announce(
        lab,
        crate::presigned::PUT_PATH,
        &claims("small.png", "image/png", &png),
    )
    .await?;
    row!(
        "presigned PUT of a larger file than signed",
        "direct",
        outcome(put(lab, &signed, samples::png(64, 64, 50_000)).await?).await?
    );
    let policy: PresignedPost = announce(
        lab,
        crate::presigned::POLICY_PATH,
        &Announce {
            sha256: None,
            ..claims("form.png", "image/png", &png)
        },
    )
    .await?;
    row!(
        "POST policy: a file over its content-length-range",
        "direct",
        outcome(post_form(lab, &policy, &samples::png(64, 64, 50_000)).await?).await?
    );
    let elf = samples::elf(4096);
    let signed: PresignedPut = announce(
        lab,
        crate::presigned::PUT_PATH,
        &claims("cat.png", "image/png", &elf),
    )
    .await?;
    row!(
        "spoofed type sent straight to storage, then confirmed",
        "direct",
        {
            let stored = put(lab, &signed, elf).await?;
            anyhow::ensure!(
                stored.status().is_success(),
                "storage refused the spoofed PUT"
            );
            outcome(
                lab.client
                    .post(lab.server.url(&signed.confirm))
                    .header("x-owner", OWNER)
                    .send()
                    .await?,
            )
            .await?
        }
    );
    // What the sweep will clean: the pending rows of the refused direct uploads (no objects).
    lab.clock
        .advance(lab.direct.deadline + Duration::from_secs(1));
    crate::presigned::sweep(&lab.shared, &lab.direct).await?;

    let mut table = Table::new("input")
        .column("path", Unit::Text)
        .column("status", Unit::Count)
        .column("reason", Unit::Text)
        .column("left behind", Unit::Text);
    for r in &rows {
        table.row(
            r.case.clone(),
            [
                r.path.into(),
                f64::from(r.status).into(),
                r.reason.clone().into(),
                r.left.clone().into(),
            ],
        );
    }
    n.table(table);
    let figures = Hostile { rows };
    n.figures(&figures)?;
    Ok(figures)
}

async fn post_form(
    lab: &Lab,
    policy: &PresignedPost,
    bytes: &[u8],
) -> anyhow::Result<reqwest::Response> {
    let mut body = Vec::new();
    for (k, v) in &policy.fields {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(&multipart(&named("form.png"), "image/png", bytes, true));
    Ok(lab
        .client
        .post(&policy.url)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await?)
}
