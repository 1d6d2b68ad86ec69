//! Claims about bad input: a precise 400 with a problem+json body, never a panic or a 500.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::DateTime;
use hmac::{Hmac, KeyInit, Mac};
use pagination::cursor::{CursorCodec, Position};
use pagination::http::{CURSOR_PATH, OFFSET_PATH};
use proptest::prelude::*;
use sha2::Sha256;

use crate::common::{Fixture, KEY, fixtures};

fn position() -> Position {
    Position {
        created_at: DateTime::from_timestamp_micros(1_700_000_000_123_456)
            .unwrap_or_default()
            .naive_utc(),
        id: 42,
    }
}

/// Asserts a 400 answered with `application/problem+json` and a `status` member of 400.
async fn assert_problem_400(fx: &Fixture, url: &str) -> anyhow::Result<()> {
    let res = fx.get(url).await?;
    assert_eq!(res.status(), 400, "{:?} {url}", fx.backend);
    let content_type = res
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json", "{url}");
    let body: serde_json::Value = res.json().await?;
    assert_eq!(body["status"], 400, "{url}: {body}");
    assert!(body["detail"].is_string(), "{url}: {body}");
    Ok(())
}

/// A cursor the server signed decodes back to the same position.
#[test]
fn a_signed_cursor_round_trips() {
    let codec = CursorCodec::new(KEY);
    let cursor = codec.encode(position());
    assert_eq!(codec.decode(&cursor).ok(), Some(position()));
}

/// Garbage, truncated, tampered, foreign-key and unknown-version cursors are all refused with
/// 400 problem+json, and nothing about them is trusted.
#[actix_web::test]
async fn bad_cursors_get_400_problem_json() -> anyhow::Result<()> {
    let good = CursorCodec::new(KEY).encode(position());
    let mut raw = URL_SAFE_NO_PAD.decode(&good)?;
    // Tampered: flip one bit of the id, keep the old signature.
    raw[16] ^= 1;
    let tampered = URL_SAFE_NO_PAD.encode(&raw);
    let truncated = good[..good.len() - 4].to_owned();
    let foreign = CursorCodec::new(b"another server's key").encode(position());
    // A correctly signed payload of a version this server does not know.
    let mut v2 = vec![2u8];
    v2.extend_from_slice(&raw[1..17]);
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(KEY)?;
    mac.update(&v2);
    v2.extend_from_slice(&mac.finalize().into_bytes());
    let unknown_version = URL_SAFE_NO_PAD.encode(&v2);
    let bad = [
        "garbage!!".to_owned(),
        "".to_owned(),
        "AAAA".to_owned(),
        tampered,
        truncated,
        foreign,
        unknown_version,
    ];
    for fx in fixtures("bad_cursor").await? {
        fx.seed(5).await?;
        for cursor in &bad {
            for param in ["after", "before"] {
                let url = fx.url(&format!("{CURSOR_PATH}?limit=2&{param}={cursor}"));
                assert_problem_400(&fx, &url).await?;
            }
        }
        // The good one is accepted.
        let ok = fx
            .get(&fx.url(&format!("{CURSOR_PATH}?after={good}")))
            .await?;
        assert_eq!(ok.status(), 200);
    }
    Ok(())
}

/// `limit` outside 1..=100, negative or non-numeric values, page 0, and parameters that
/// exclude each other all get 400 problem+json (the documented rule: refuse, never clamp).
#[actix_web::test]
async fn bad_limits_and_offsets_get_400_problem_json() -> anyhow::Result<()> {
    let good = CursorCodec::new(KEY).encode(position());
    let queries = [
        format!("{OFFSET_PATH}?limit=101"),
        format!("{OFFSET_PATH}?limit=0"),
        format!("{OFFSET_PATH}?limit=-1"),
        format!("{OFFSET_PATH}?limit=ten"),
        format!("{OFFSET_PATH}?limit=99999999999999999999"),
        format!("{OFFSET_PATH}?offset=-5"),
        format!("{OFFSET_PATH}?offset=x"),
        format!("{OFFSET_PATH}?offset=18446744073709551615"),
        format!("{OFFSET_PATH}?page=0"),
        format!("{OFFSET_PATH}?page=-1"),
        format!("{OFFSET_PATH}?page=18446744073709551615"),
        format!("{OFFSET_PATH}?page=2&offset=10"),
        format!("{CURSOR_PATH}?limit=101"),
        format!("{CURSOR_PATH}?limit=0"),
        format!("{CURSOR_PATH}?limit=-3"),
        format!("{CURSOR_PATH}?limit=1.5"),
        format!("{CURSOR_PATH}?count=maybe"),
        format!("{CURSOR_PATH}?after={good}&before={good}"),
    ];
    for fx in fixtures("bad_limit").await? {
        for query in &queries {
            assert_problem_400(&fx, &fx.url(query)).await?;
        }
        // The boundaries themselves are accepted.
        for ok in [
            format!("{OFFSET_PATH}?limit=1"),
            format!("{CURSOR_PATH}?limit=100"),
        ] {
            assert_eq!(fx.get(&fx.url(&ok)).await?.status(), 200, "{ok}");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// No string decodes unless this key signed it: arbitrary input is refused, never a panic.
    #[test]
    fn arbitrary_strings_are_never_accepted_as_cursors(s in ".{0,120}") {
        prop_assert!(CursorCodec::new(KEY).decode(&s).is_err());
    }

    /// Flipping any single bit of a valid cursor's bytes makes it invalid.
    #[test]
    fn any_single_bit_flip_invalidates_a_cursor(byte in 0usize..49, bit in 0u8..8, id in any::<i64>()) {
        let codec = CursorCodec::new(KEY);
        let cursor = codec.encode(Position { id, ..position() });
        let mut raw = URL_SAFE_NO_PAD.decode(&cursor).unwrap();
        raw[byte] ^= 1 << bit;
        prop_assert!(codec.decode(&URL_SAFE_NO_PAD.encode(&raw)).is_err());
    }
}

/// A wrong method on either listing is a 405 with `Allow`, an unknown path a 404, both as
/// problem+json, on every backend.
#[actix_web::test]
async fn a_wrong_method_is_405_with_allow_and_an_unknown_path_is_a_problem_404()
-> anyhow::Result<()> {
    for fx in fixtures("routing").await? {
        for path in [pagination::http::OFFSET_PATH, pagination::http::CURSOR_PATH] {
            support::testkit::assert_routing(
                &fx.server.base_url,
                path,
                reqwest::Method::DELETE,
                "GET, HEAD, OPTIONS",
                "/posts",
            )
            .await?;
        }
    }
    Ok(())
}
