//! "Who carries the bytes": the same file through the backend and straight to storage, beside a
//! raw `fsync`ed write of the same size on the same disk, the ceiling for any path that stores
//! to it.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde::Serialize;
use sha2::{Digest as _, Sha256};
use support::narrate::Narrator;
use support::report::{Chart, Goal, Table, Unit};
use tokio::io::AsyncReadExt as _;

use super::Context;
use super::clients::{self, BOUNDARY};
use crate::presigned::{Announce, PresignedPut};
use crate::through_backend;

/// At most this many bytes may reach the backend on the direct path: the announcement's JSON.
pub const DIRECT_BACKEND_BYTES_GOAL: f64 = 1024.0;

/// One size's measurements.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SizeRun {
    pub bytes: u64,
    pub disk: PathRun,
    pub backend: PathRun,
    pub direct: PathRun,
}

/// One path at one size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct PathRun {
    pub seconds: f64,
    /// Bytes the client sent to the backend (bodies only).
    pub to_backend: u64,
    /// Bytes the client sent to the storage server.
    pub to_storage: u64,
    /// The backend process's CPU time during the upload (`None` off Linux; for the raw write,
    /// the demo's own write).
    pub backend_cpu_seconds: Option<f64>,
    /// How far the backend's peak resident set rose above where it started.
    pub backend_rss_growth: Option<u64>,
}

impl PathRun {
    pub fn mb_per_s(&self, bytes: u64) -> f64 {
        bytes as f64 / 1e6 / self.seconds.max(1e-9)
    }
}

/// The section's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Throughput {
    pub sizes: Vec<SizeRun>,
}

impl Throughput {
    pub fn largest(&self) -> Option<&SizeRun> {
        self.sizes.iter().max_by_key(|s| s.bytes)
    }
}

/// The sizes a run uses (decimal megabytes, like disk vendors and network links).
pub fn sizes(quick: bool) -> Vec<u64> {
    if quick {
        vec![1_000_000, 20_000_000]
    } else {
        vec![1_000_000, 100_000_000, 1_000_000_000]
    }
}

pub fn label(bytes: u64) -> String {
    if bytes >= 1_000_000_000 {
        format!("{} GB", bytes / 1_000_000_000)
    } else {
        format!("{} MB", bytes / 1_000_000)
    }
}

/// A PDF header and `len - 9` bytes of varied (not compressible-looking) filler, written in
/// 1 MiB blocks.
pub async fn make_source(path: &Path, len: u64) -> anyhow::Result<()> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        use std::io::Write as _;
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
        let header = b"%PDF-1.7\n";
        out.write_all(header)?;
        let mut block = vec![0u8; 1 << 20];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut left = len.saturating_sub(header.len() as u64);
        while left > 0 {
            for b in block.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            let n = left.min(block.len() as u64) as usize;
            out.write_all(&block[..n])?;
            left -= n as u64;
        }
        out.flush()?;
        Ok(())
    })
    .await?
}

/// The ceiling: `len` bytes written in 1 MiB blocks and fsynced, timed.
async fn raw_disk_write(path: &Path, len: u64) -> anyhow::Result<PathRun> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<PathRun> {
        use std::io::Write as _;
        let block = vec![0xA5u8; 1 << 20];
        let started = Instant::now();
        let mut file = std::fs::File::create(&path)?;
        let mut left = len;
        while left > 0 {
            let n = left.min(block.len() as u64) as usize;
            file.write_all(&block[..n])?;
            left -= n as u64;
        }
        file.sync_all()?;
        let seconds = started.elapsed().as_secs_f64();
        drop(file);
        std::fs::remove_file(&path)?;
        Ok(PathRun {
            seconds,
            ..PathRun::default()
        })
    })
    .await?
}

/// Runs `upload` while watching the backend process: CPU and peak resident set.
async fn watched<F, Fut>(ctx: &Context, upload: F) -> anyhow::Result<PathRun>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<(u64, u64)>>,
{
    let reset = ctx.backend.reset_peak();
    let rss_before = ctx.backend.rss_bytes();
    let cpu_before = ctx.backend.cpu_seconds();
    let started = Instant::now();
    let (to_backend, to_storage) = upload().await?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu = ctx
        .backend
        .cpu_seconds()
        .zip(cpu_before)
        .map(|(a, b)| a - b);
    let growth = if reset {
        ctx.backend
            .peak_bytes()
            .zip(rss_before)
            .map(|(peak, before)| peak.saturating_sub(before))
    } else {
        None
    };
    Ok(PathRun {
        seconds,
        to_backend,
        to_storage,
        backend_cpu_seconds: cpu,
        backend_rss_growth: growth,
    })
}

/// The multipart upload, streamed from the file with a `Content-Length`, as a browser sends it.
pub async fn upload_through_backend(
    ctx: &Context,
    source: &Path,
    len: u64,
) -> anyhow::Result<(u64, u64)> {
    let (head, tail) = clients::multipart_frame("measured.pdf", "application/pdf");
    let total = head.len() as u64 + len + tail.len() as u64;
    let sent = Arc::new(AtomicU64::new(0));
    let body =
        clients::counted_file_body(clients::open(source).await?, head, tail, Arc::clone(&sent));
    let res = ctx
        .client
        .post(ctx.backend.url(through_backend::PATH))
        .header("x-owner", super::OWNER)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .header("content-length", total)
        .body(body)
        .send()
        .await?;
    anyhow::ensure!(
        res.status() == 201,
        "through the backend: {} {}",
        res.status(),
        res.text().await?
    );
    Ok((sent.load(Ordering::Relaxed), 0))
}

/// The direct upload: hash the file (the client's cost), announce, PUT to storage, confirm.
pub async fn upload_direct(ctx: &Context, source: &Path, len: u64) -> anyhow::Result<(u64, u64)> {
    let mut file = clients::open(source).await?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let announce = serde_json::to_vec(&Announce {
        filename: "measured.pdf".to_owned(),
        content_type: "application/pdf".to_owned(),
        size: len,
        sha256: Some(crate::storage::hex(&hasher.finalize())),
    })?;
    let to_backend = announce.len() as u64;
    let res = ctx
        .client
        .post(ctx.backend.url(crate::presigned::PUT_PATH))
        .header("x-owner", super::OWNER)
        .header("content-type", "application/json")
        .body(announce)
        .send()
        .await?;
    anyhow::ensure!(res.status() == 201, "announce: {}", res.status());
    let signed: PresignedPut = res.json().await?;
    let sent = Arc::new(AtomicU64::new(0));
    let body = clients::counted_file_body(
        clients::open(source).await?,
        Vec::new(),
        Vec::new(),
        Arc::clone(&sent),
    );
    let mut put = ctx.client.put(&signed.url).body(body);
    for (k, v) in &signed.headers {
        put = put.header(k, v);
    }
    let res = put.send().await?;
    anyhow::ensure!(
        res.status().is_success(),
        "PUT to storage: {} {}",
        res.status(),
        res.text().await?
    );
    let res = ctx
        .client
        .post(ctx.backend.url(&signed.confirm))
        .header("x-owner", super::OWNER)
        .send()
        .await?;
    anyhow::ensure!(
        res.status() == 200,
        "confirm: {} {}",
        res.status(),
        res.text().await?
    );
    // The confirm has no body.
    Ok((to_backend, sent.load(Ordering::Relaxed)))
}

/// Measures every size, prints the table and the goals, returns the figures.
pub async fn run(n: &mut Narrator, ctx: &Context) -> anyhow::Result<Throughput> {
    n.section("Who carries the bytes");
    n.say(
        "Each file is uploaded through the backend (multipart, streamed to its disk, checked and \
         hashed on the way) and straight to the storage server (the backend signs a PUT and \
         checks the object afterwards). The backend is a separate process, so its CPU time and \
         resident set are its own; the raw row is one fsynced write of the same size to the same \
         disk, the ceiling for anything that stores there.",
    );
    let mut sizes = Vec::new();
    for bytes in self::sizes(ctx.quick) {
        let source = ctx.run_dir.join(format!("source-{bytes}.pdf"));
        make_source(&source, bytes).await?;
        let disk = raw_disk_write(&ctx.run_dir.join("raw-write"), bytes).await?;
        let backend = watched(ctx, || upload_through_backend(ctx, &source, bytes)).await?;
        let direct = watched(ctx, || upload_direct(ctx, &source, bytes)).await?;
        tokio::fs::remove_file(&source).await?;
        sizes.push(SizeRun {
            bytes,
            disk,
            backend,
            direct,
        });
    }
    let mut table = Table::new("upload")
        .column("to backend", Unit::Bytes)
        .column("to storage", Unit::Bytes)
        .column("backend CPU", Unit::Millis)
        .column("backend RSS growth", Unit::Bytes)
        .column("wall", Unit::Seconds)
        .column("MB/s", Unit::Count)
        .column("of raw disk", Unit::Percent)
        // A log axis: the direct path sends the backend a few hundred bytes, the other path megabytes.
        .chart(
            Chart::bars()
                .log()
                .of(&["to backend", "to storage", "backend RSS growth", "MB/s"])
                .titled("Who carries the bytes"),
        );
    for s in &sizes {
        let disk_mbps = s.disk.mb_per_s(s.bytes);
        for (name, run) in [
            ("raw disk write + fsync", &s.disk),
            ("through the backend", &s.backend),
            ("direct to storage", &s.direct),
        ] {
            let raw = name.starts_with("raw");
            table.row(
                format!("{} {name}", label(s.bytes)),
                [
                    if raw {
                        support::report::Cell::Empty
                    } else {
                        (run.to_backend as f64).into()
                    },
                    if raw {
                        support::report::Cell::Empty
                    } else {
                        (run.to_storage as f64).into()
                    },
                    run.backend_cpu_seconds
                        .map_or(support::report::Cell::Empty, |c| (c * 1e3).into()),
                    run.backend_rss_growth
                        .map_or(support::report::Cell::Empty, |g| (g as f64).into()),
                    run.seconds.into(),
                    run.mb_per_s(s.bytes).into(),
                    (100.0 * run.mb_per_s(s.bytes) / disk_mbps).into(),
                ],
            );
        }
    }
    n.table(table);
    if let Some(l) = sizes.iter().max_by_key(|s| s.bytes) {
        let mut goals = Table::new(format!("goal ({})", label(l.bytes)))
            .column("measured", Unit::Count)
            .column("target", Unit::Count)
            .column("met", Unit::Text);
        let share = l.backend.mb_per_s(l.bytes) / l.disk.mb_per_s(l.bytes);
        let g = Goal::at_least(share, 0.5);
        goals.row(
            "backend MB/s ÷ raw disk MB/s",
            [g.measured.into(), g.target.into(), g.verdict().into()],
        );
        if let Some(growth) = l.backend.backend_rss_growth {
            let g = Goal::at_most(growth as f64 / (1 << 20) as f64, 64.0);
            goals.row(
                "backend RSS growth (MiB)",
                [g.measured.into(), g.target.into(), g.verdict().into()],
            );
        }
        // The direct path sends the backend only its JSON claims (name, type, size, hash) and
        // an empty confirm: a few hundred bytes, whatever the file's size.
        let g = Goal::at_most(l.direct.to_backend as f64, DIRECT_BACKEND_BYTES_GOAL);
        goals.row(
            "bytes sent to the backend, direct path",
            [g.measured.into(), g.target.into(), g.verdict().into()],
        );
        n.table(goals);
    }
    let figures = Throughput { sizes };
    n.figures(&figures)?;
    Ok(figures)
}
