//! "A dropped connection": the same upload cut halfway, then finished, once as a plain multipart
//! upload (which can only start again) and once through tus (which continues from the offset the
//! server reports).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest as _, Sha256};
use support::narrate::Narrator;
use support::report::{Chart, Table, Unit};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use super::clients::{self, BOUNDARY};
use super::{Context, OWNER};
use crate::metadata::{self, Via};
use crate::tus;

/// The section's figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Resume {
    pub bytes: u64,
    /// Bytes of the file written before each cut.
    pub cut_after: u64,
    /// The offset the tus server reported after the cut.
    pub tus_offset: u64,
    /// File bytes the client sent in all, both attempts, each way.
    pub tus_sent: u64,
    pub restart_sent: u64,
    /// Whether the finished tus upload's SHA-256 (computed by the server) equals the source's.
    pub tus_sha256_matches: bool,
    /// Partial files left on the backend after the cut multipart upload.
    pub partial_files_after_cut: usize,
}

impl Resume {
    /// File bytes sent more than once.
    pub fn tus_resent(&self) -> u64 {
        self.tus_sent.saturating_sub(self.bytes)
    }

    pub fn restart_resent(&self) -> u64 {
        self.restart_sent.saturating_sub(self.bytes)
    }
}

pub fn size(quick: bool) -> u64 {
    if quick { 20_000_000 } else { 100_000_000 }
}

async fn head_offset(ctx: &Context, url: &str) -> anyhow::Result<u64> {
    let res = ctx
        .client
        .head(url)
        .header("x-owner", OWNER)
        .header("tus-resumable", "1.0.0")
        .send()
        .await?;
    anyhow::ensure!(res.status() == 200, "HEAD: {}", res.status());
    Ok(res
        .headers()
        .get(tus::UPLOAD_OFFSET)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

pub async fn run(n: &mut Narrator, ctx: &Context) -> anyhow::Result<Resume> {
    n.section("A dropped connection");
    let bytes = size(ctx.quick);
    let cut_after = bytes / 2;
    n.say(&format!(
        "A {} upload loses its connection after {} of the file: the client wrote that much to the \
         socket and closed it. The plain multipart upload can only start again; tus asks the \
         server how much it has (HEAD) and sends the rest.",
        super::throughput::label(bytes),
        super::throughput::label(cut_after)
    ));
    let source = ctx.run_dir.join("resume-source.pdf");
    super::throughput::make_source(&source, bytes).await?;
    let mut hasher = Sha256::new();
    {
        let mut f = clients::open(&source).await?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let k = f.read(&mut buf).await?;
            if k == 0 {
                break;
            }
            hasher.update(&buf[..k]);
        }
    }
    let source_sha = crate::storage::hex(&hasher.finalize());

    // Plain multipart: cut, then the whole file again.
    let (prefix, tail) = clients::multipart_frame("resume.pdf", "application/pdf");
    let total = prefix.len() as u64 + bytes + tail.len() as u64;
    let mut head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nx-owner: {OWNER}\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {total}\r\n\r\n",
        crate::through_backend::PATH,
        ctx.backend.addr
    )
    .into_bytes();
    head.extend_from_slice(&prefix);
    let cut = clients::cut_request(
        ctx.backend.addr,
        &head,
        &mut clients::open(&source).await?,
        cut_after,
    )
    .await?;
    // The backend notices the end of the stream and removes its partial file; wait for that
    // (bounded) before counting what it left.
    let partial_dir = ctx.child_dir.join("backend").join("partial");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut partial_files_after_cut = count(&partial_dir)?;
    while partial_files_after_cut > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        partial_files_after_cut = count(&partial_dir)?;
    }
    super::throughput::upload_through_backend(ctx, &source, bytes).await?;
    let restart_sent = cut + bytes;

    // tus: create, cut, HEAD, continue.
    let res = ctx
        .client
        .post(ctx.backend.url(tus::PATH))
        .header("x-owner", OWNER)
        .header("tus-resumable", "1.0.0")
        .header(tus::UPLOAD_LENGTH, bytes)
        .header(
            tus::UPLOAD_METADATA,
            "filename cmVzdW1lLnBkZg==,filetype YXBwbGljYXRpb24vcGRm",
        )
        .send()
        .await?;
    anyhow::ensure!(res.status() == 201, "tus create: {}", res.status());
    let location = res
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let url = ctx.backend.url(&location);
    let head = format!(
        "PATCH {location} HTTP/1.1\r\nHost: {}\r\nx-owner: {OWNER}\r\nTus-Resumable: 1.0.0\r\n\
         Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: {bytes}\r\n\r\n",
        ctx.backend.addr
    );
    let first = clients::cut_request(
        ctx.backend.addr,
        head.as_bytes(),
        &mut clients::open(&source).await?,
        cut_after,
    )
    .await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut offset = head_offset(ctx, &url).await?;
    while offset < first && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
        offset = head_offset(ctx, &url).await?;
    }
    let mut file = clients::open(&source).await?;
    file.seek(std::io::SeekFrom::Start(offset)).await?;
    let sent = Arc::new(AtomicU64::new(0));
    let res = ctx
        .client
        .patch(&url)
        .header("x-owner", OWNER)
        .header("tus-resumable", "1.0.0")
        .header("content-type", tus::OFFSET_OCTET_STREAM)
        .header(tus::UPLOAD_OFFSET, offset)
        .header("content-length", bytes - offset)
        .body(clients::counted_file_body(
            file,
            Vec::new(),
            Vec::new(),
            Arc::clone(&sent),
        ))
        .send()
        .await?;
    anyhow::ensure!(res.status() == 204, "tus resume: {}", res.status());
    let tus_sent = first + sent.load(Ordering::Relaxed);
    let row = metadata::all(&ctx.db)
        .await?
        .into_iter()
        .rfind(|r| r.via == Via::Tus.as_str());
    let tus_sha256_matches = row.and_then(|r| r.sha256).as_deref() == Some(source_sha.as_str());
    tokio::fs::remove_file(&source).await?;

    let figures = Resume {
        bytes,
        cut_after,
        tus_offset: offset,
        tus_sent,
        restart_sent,
        tus_sha256_matches,
        partial_files_after_cut,
    };
    let mut table = Table::new("after the cut")
        .column("file bytes sent", Unit::Bytes)
        .column("sent twice", Unit::Bytes)
        .column("of the file", Unit::Percent)
        .ratio_against("sent twice", "start again (multipart)")
        .chart(
            Chart::bars()
                .of(&["file bytes sent", "sent twice"])
                .titled("A dropped connection: bytes sent, and sent twice"),
        );
    table.row(
        "start again (multipart)",
        [
            (restart_sent as f64).into(),
            (figures.restart_resent() as f64).into(),
            (100.0 * figures.restart_resent() as f64 / bytes as f64).into(),
        ],
    );
    table.row(
        "resume (tus)",
        [
            (tus_sent as f64).into(),
            (figures.tus_resent() as f64).into(),
            (100.0 * figures.tus_resent() as f64 / bytes as f64).into(),
        ],
    );
    n.table(table);
    n.figures(&figures)?;
    Ok(figures)
}

fn count(dir: &std::path::Path) -> anyhow::Result<usize> {
    Ok(std::fs::read_dir(dir)?.count())
}
