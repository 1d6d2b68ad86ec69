//! The clients the demo (and the tests) drive the paths with: a streaming multipart upload from
//! a file, a presigned PUT from a file, and a tus `PATCH` that is cut off mid-body. Each counts
//! the bytes it sent to each address, which is how "bytes through the backend" is measured.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use futures_util::StreamExt as _;
use tokio::io::AsyncWriteExt as _;

/// The boundary the demo's multipart bodies use.
pub const BOUNDARY: &str = "----uploads-demo-boundary-a8f1c2";

/// A request body streamed from a file (never read whole), counting the bytes it yields.
pub fn counted_file_body(
    file: tokio::fs::File,
    prefix: Vec<u8>,
    suffix: Vec<u8>,
    counter: Arc<AtomicU64>,
) -> reqwest::Body {
    let head =
        futures_util::stream::once(
            async move { Ok::<_, std::io::Error>(bytes::Bytes::from(prefix)) },
        );
    let tail =
        futures_util::stream::once(
            async move { Ok::<_, std::io::Error>(bytes::Bytes::from(suffix)) },
        );
    let middle = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024);
    let stream = head.chain(middle).chain(tail).map(move |chunk| {
        if let Ok(c) = &chunk {
            counter.fetch_add(c.len() as u64, Ordering::Relaxed);
        }
        chunk
    });
    reqwest::Body::wrap_stream(stream)
}

/// The multipart framing around a file part named `file`.
pub fn multipart_frame(filename: &str, content_type: &str) -> (Vec<u8>, Vec<u8>) {
    let head = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
         Content-Type: {content_type}\r\n\r\n"
    );
    (
        head.into_bytes(),
        format!("\r\n--{BOUNDARY}--\r\n").into_bytes(),
    )
}

/// Opens `path` for a streamed body.
pub async fn open(path: &Path) -> anyhow::Result<tokio::fs::File> {
    tokio::fs::File::open(path)
        .await
        .with_context(|| format!("Failed to open {}", path.display()))
}

/// Sends a `PATCH` of `body` at `offset` over a raw connection, writes only the first `send`
/// bytes, then closes the socket: a connection lost mid-upload, exactly as the server sees one
/// (the bytes before the cut arrived, the rest never will). Returns the bytes written.
pub async fn interrupted_patch(
    addr: std::net::SocketAddr,
    path: &str,
    owner: &str,
    offset: u64,
    body: &[u8],
    send: usize,
) -> anyhow::Result<u64> {
    let head = format!(
        "PATCH {path} HTTP/1.1\r\nHost: {addr}\r\nx-owner: {owner}\r\nTus-Resumable: 1.0.0\r\n\
         Content-Type: application/offset+octet-stream\r\nUpload-Offset: {offset}\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    let part = &body[..send.min(body.len())];
    cut_request(
        addr,
        head.as_bytes(),
        &mut std::io::Cursor::new(part),
        part.len() as u64,
    )
    .await
}

/// Writes `head`, then `send` bytes read from `body`, then closes the connection.
pub async fn cut_request(
    addr: std::net::SocketAddr,
    head: &[u8],
    body: &mut (impl tokio::io::AsyncRead + Unpin),
    send: u64,
) -> anyhow::Result<u64> {
    let mut socket = tokio::net::TcpStream::connect(addr).await?;
    socket.write_all(head).await?;
    let mut limited = tokio::io::AsyncReadExt::take(body, send);
    let written = tokio::io::copy(&mut limited, &mut socket).await?;
    socket.flush().await?;
    // Closing our side: the server reads what was sent, then the end of the stream.
    socket.shutdown().await?;
    Ok(written)
}
