//! Bodies: size limits, parse errors, raw bytes, and arbitrary input that must never be a 500.

use std::time::Duration;

use http_basics::negotiate::MERGE_PATCH;
use proptest::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::{start, writer};

/// Sends raw bytes and returns the status line of the answer.
async fn raw_exchange(addr: std::net::SocketAddr, request: &[u8]) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(request).await?;
    let mut buf = vec![0u8; 1024];
    // A guard against a hang, not a performance assertion: the server must answer at all.
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await??;
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

/// A client announces 100 MB and sends none of it: the server answers 413 from the header alone.
/// If it tried to read the body first, it would wait forever and this test would time out.
#[actix_web::test]
async fn a_declared_oversized_body_is_refused_before_it_is_read() -> anyhow::Result<()> {
    let (server, _) = start(Default::default())?;
    let head = format!(
        "POST /notes HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\n\r\n",
        writer()
    );
    let status = raw_exchange(server.addr, head.as_bytes()).await?;
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    Ok(())
}

/// A chunked body has no declared length; it is refused as soon as it crosses the limit.
#[actix_web::test]
async fn a_chunked_body_over_the_limit_is_413() -> anyhow::Result<()> {
    let (server, _) = start(Default::default())?;
    let mut request = format!(
        "POST /notes HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        writer()
    )
    .into_bytes();
    for _ in 0..5 {
        request.extend_from_slice(format!("1000\r\n{}\r\n", "x".repeat(4096)).as_bytes());
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let status = raw_exchange(server.addr, &request).await?;
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    Ok(())
}

/// Malformed JSON is 400; JSON of the wrong shape is 422 and names the exact field.
#[actix_web::test]
async fn malformed_json_is_400_and_misshapen_json_is_422_naming_the_field() -> anyhow::Result<()> {
    let (server, client) = start(Default::default())?;
    let post = |body: &'static str| {
        client
            .post(server.url("/notes"))
            .bearer_auth(writer())
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let malformed = post(r#"{"title": "x""#).await?;
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        malformed.headers()["content-type"],
        "application/problem+json"
    );

    let misshapen = post(r#"{"title": "x", "tags": ["ok", 7]}"#).await?;
    assert_eq!(misshapen.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = misshapen.json().await?;
    assert_eq!(problem["errors"][0]["field"], "tags[1]");

    let unknown = post(r#"{"title": "x", "colour": "red"}"#).await?;
    assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
    Ok(())
}

/// Raw bytes (not UTF-8, not JSON) are stored and returned exactly, with their media type.
#[actix_web::test]
async fn a_raw_bytes_attachment_round_trips_with_its_media_type() -> anyhow::Result<()> {
    let (server, client) = start(Default::default())?;
    let created = client
        .post(server.url("/notes"))
        .bearer_auth(writer())
        .json(&json!({ "title": "with a file" }))
        .send()
        .await?;
    let location = created.headers()["location"].to_str()?.to_owned();
    let bytes: Vec<u8> = (0..=255u8).cycle().take(3000).collect();

    let put = client
        .put(server.url(&format!("{location}/attachment")))
        .bearer_auth(writer())
        .header("content-type", "image/x-test")
        .body(bytes.clone())
        .send()
        .await?;
    assert_eq!(put.status(), StatusCode::CREATED);
    let got = client
        .get(server.url(&format!("{location}/attachment")))
        .send()
        .await?;
    assert_eq!(got.headers()["content-type"], "image/x-test");
    assert_eq!(got.bytes().await?.to_vec(), bytes);

    let too_big = client
        .put(server.url(&format!("{location}/attachment")))
        .bearer_auth(writer())
        .body(vec![0u8; 300 * 1024])
        .send()
        .await?;
    assert_eq!(too_big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    Ok(())
}

fn content_types() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![
        Just(Some("application/json")),
        Just(Some("application/x-www-form-urlencoded")),
        Just(Some(MERGE_PATCH)),
        Just(Some("text/plain")),
        Just(None),
    ]
}

fn bodies() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        "\\PC{0,200}".prop_map(String::into_bytes),
        proptest::arbitrary::any::<(String, Vec<String>, bool)>().prop_map(
            |(title, tags, archived)| {
                serde_json::to_vec(&json!({ "title": title, "tags": tags, "archived": archived }))
                    .unwrap_or_default()
            }
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Whatever bytes arrive with whatever media type, the answer is a precise client status
    /// (or success), never a 500, and every error is problem+json.
    #[test]
    fn arbitrary_bodies_never_get_a_500(
        content_type in content_types(),
        body in bodies(),
        patch in any::<bool>(),
    ) {
        let runtime = tokio::runtime::Runtime::new()?;
        let outcome: anyhow::Result<(u16, String)> = runtime.block_on(async {
            let (server, client) = start(Default::default())?;
            client.post(server.url("/notes")).bearer_auth(writer())
                .json(&json!({ "title": "target" })).send().await?;
            let mut request = if patch {
                client.patch(server.url("/notes/1"))
            } else {
                client.post(server.url("/notes"))
            };
            request = request.bearer_auth(writer()).body(body.clone());
            if let Some(ct) = content_type {
                request = request.header("content-type", ct);
            }
            let res = request.send().await?;
            let status = res.status().as_u16();
            let ct = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            server.stop().await;
            Ok((status, ct))
        });
        let (status, ct) = outcome.map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!([200, 201, 400, 413, 415, 422].contains(&status), "status {status}");
        if status >= 400 {
            prop_assert_eq!(ct, "application/problem+json");
        }
    }
}
