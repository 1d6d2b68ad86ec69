//! The multipart parser the backend path streams through, held to RFC 7578's example.

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use futures_util::TryStreamExt as _;

/// RFC 7578 section 4.5's example part (a quoted-printable text field), with the closing
/// delimiter the RFC's excerpt leaves off, then a file part.
fn rfc7578_body(header_case: fn(&str) -> String) -> String {
    format!(
        "--AaB03x\r\n{}: form-data; name=\"field1\"\r\n{}: text/plain;charset=UTF-8\r\n\
         {}: quoted-printable\r\n\r\nJoe owes =E2=82=AC100.\r\n\
         --AaB03x\r\n{}: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nhello\r\n--AaB03x--\r\n",
        header_case("content-disposition"),
        header_case("content-type"),
        header_case("content-transfer-encoding"),
        header_case("Content-Disposition"),
    )
}

async fn parse(
    body: String,
) -> anyhow::Result<Vec<(String, Option<String>, Option<String>, Vec<u8>)>> {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("multipart/form-data; boundary=AaB03x"),
    );
    let stream = futures_util::stream::iter([Ok::<_, actix_web::error::PayloadError>(
        bytes::Bytes::from(body),
    )]);
    let mut form = actix_multipart::Multipart::new(&headers, stream);
    let mut parts = Vec::new();
    while let Some(mut field) = form.try_next().await.map_err(|e| anyhow::anyhow!("{e}"))? {
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field
            .content_disposition()
            .and_then(|cd| cd.get_filename())
            .map(str::to_owned);
        let ct = field.content_type().map(|m| m.to_string());
        let mut data = Vec::new();
        while let Some(chunk) = field.try_next().await.map_err(|e| anyhow::anyhow!("{e}"))? {
            data.extend_from_slice(&chunk);
        }
        parts.push((name, filename, ct, data));
    }
    Ok(parts)
}

#[actix_web::test]
async fn the_rfc_7578_example_parses_into_exactly_its_parts_whatever_the_header_case()
-> anyhow::Result<()> {
    let cases: [fn(&str) -> String; 3] = [
        |h| h.to_lowercase(),
        |h| h.to_uppercase(),
        |h| {
            h.split('-')
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                        .unwrap_or_default()
                })
                .collect::<Vec<_>>()
                .join("-")
        },
    ];
    for case in cases {
        let parts = parse(rfc7578_body(case)).await?;
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].0, "field1");
        assert_eq!(parts[0].1, None);
        assert_eq!(parts[0].2.as_deref(), Some("text/plain;charset=utf-8"));
        // The parser hands over the bytes as sent; quoted-printable is not decoded (RFC 7578
        // deprecates Content-Transfer-Encoding, and nothing here relies on it).
        assert_eq!(parts[0].3, b"Joe owes =E2=82=AC100.");
        assert_eq!(parts[1].0, "file");
        assert_eq!(parts[1].1.as_deref(), Some("a.txt"));
        assert_eq!(parts[1].3, b"hello");
    }
    Ok(())
}
