//! A credential header can be wrong in many ways, and each gets a client error with a
//! problem+json body: 401 when it is not this route's credential at all (or is refused), 400
//! when it is, but garbled. A malformed header is never a 500.

use std::cell::RefCell;

use actix_web::App;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::test as actix_test;
use auth::error::API_KEY_HEADER;
use auth::principal::Mechanism;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use reqwest::header::AUTHORIZATION;
use support::clock::ManualClock;
use support::problem::PROBLEM_JSON;

use crate::common;

/// One malformed credential: where it goes, what it is, what it must answer.
struct Case {
    what: &'static str,
    mechanism: Mechanism,
    header: &'static str,
    value: Vec<u8>,
    status: u16,
}

fn case(
    what: &'static str,
    mechanism: Mechanism,
    header: &'static str,
    value: impl Into<Vec<u8>>,
    status: u16,
) -> Case {
    Case {
        what,
        mechanism,
        header,
        value: value.into(),
        status,
    }
}

fn cases() -> Vec<Case> {
    let auth = AUTHORIZATION.as_str();
    let huge = format!("Basic {}", "A".repeat(8 * 1024));
    let huge_bearer = format!("Bearer {}", "A".repeat(8 * 1024));
    let huge_key = format!("bfk_{}_{}", "A".repeat(8), "A".repeat(8 * 1024));
    vec![
        case(
            "no scheme",
            Mechanism::Basic,
            auth,
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
            401,
        ),
        case(
            "a scheme this route does not speak",
            Mechanism::Basic,
            auth,
            "Bearer abc.def.ghi",
            401,
        ),
        case(
            "Basic where a bearer token is wanted",
            Mechanism::Jwt,
            auth,
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
            401,
        ),
        case(
            "Basic with bad base64",
            Mechanism::Basic,
            auth,
            "Basic not*base64!",
            400,
        ),
        case(
            "Basic with no colon",
            Mechanism::Basic,
            auth,
            format!("Basic {}", STANDARD.encode("Aladdin")),
            400,
        ),
        case(
            "Basic decoding to bytes that are not UTF-8",
            Mechanism::Basic,
            auth,
            format!("Basic {}", STANDARD.encode(b"\xff\xfe:\xc3\x28")),
            400,
        ),
        case(
            "raw non-ASCII header bytes after Basic",
            Mechanism::Basic,
            auth,
            b"Basic \xc3\xa9t\xe9".to_vec(),
            400,
        ),
        case(
            "raw non-ASCII header bytes after Bearer",
            Mechanism::Jwt,
            auth,
            b"Bearer \xff\xfe".to_vec(),
            400,
        ),
        case(
            "raw non-ASCII bytes in an API key",
            Mechanism::ApiKey,
            API_KEY_HEADER,
            b"bfk_\xe9_\xe9".to_vec(),
            400,
        ),
        case("an 8 KiB Basic value", Mechanism::Basic, auth, huge, 400),
        case(
            "an 8 KiB Bearer value",
            Mechanism::Jwt,
            auth,
            huge_bearer,
            400,
        ),
        case(
            "an 8 KiB API key",
            Mechanism::ApiKey,
            API_KEY_HEADER,
            huge_key,
            400,
        ),
        case(
            "Bearer with an empty token",
            Mechanism::Jwt,
            auth,
            "Bearer ",
            400,
        ),
        case(
            "Bearer with only spaces",
            Mechanism::Jwt,
            auth,
            "Bearer    ",
            400,
        ),
        case(
            "a garbage JWT",
            Mechanism::Jwt,
            auth,
            "Bearer not-a-jwt",
            401,
        ),
        case(
            "three garbage JWT segments",
            Mechanism::Jwt,
            auth,
            "Bearer e30.e30.AAAA",
            401,
        ),
        case(
            "an API key without the bfk_ shape",
            Mechanism::ApiKey,
            API_KEY_HEADER,
            "sk_live_0123456789",
            400,
        ),
        case(
            "an API key with the prefix but no id separator",
            Mechanism::ApiKey,
            API_KEY_HEADER,
            "bfk_nothingelse",
            400,
        ),
        case(
            "a well-formed API key nobody issued",
            Mechanism::ApiKey,
            API_KEY_HEADER,
            "bfk_abcdefgh_0123456789",
            401,
        ),
    ]
}

/// Each malformed credential header answers its precise client error (400 for garbled, 401 for
/// absent, foreign or refused), as problem+json with the mechanism's challenge, and none is a 500.
#[actix_web::test]
async fn malformed_credential_headers_are_400_or_401_problems_never_500() -> anyhow::Result<()> {
    // Arrange
    let app = common::start().await?;
    let mut wrong = Vec::new();

    for case in cases() {
        // Act
        let path = format!("{}/documents", case.mechanism.prefix());
        let response = app
            .http
            .get(app.url(&path))
            .header(
                case.header,
                reqwest::header::HeaderValue::from_bytes(&case.value)?,
            )
            .send()
            .await?;

        // Assert (collected, so one run names every wrong case)
        let status = response.status().as_u16();
        let challenged = common::challenge_of(&response).is_some();
        if status != case.status {
            wrong.push(format!(
                "{}: expected {}, got {status}",
                case.what, case.status
            ));
        }
        if !challenged {
            wrong.push(format!("{}: {status} without WWW-Authenticate", case.what));
        }
        if let Err(e) = common::problem(response).await {
            wrong.push(format!("{}: {e}", case.what));
        }
    }

    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    Ok(())
}

/// Header values proptest can send: every byte a `HeaderValue` accepts (visible ASCII, space,
/// tab, and obs-text 0x80..=0xFF), bare or after a scheme or prefix this crate looks for, and
/// base64 of arbitrary bytes after `Basic ` (which reaches the decoder and the password check).
fn header_values() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![0x20u8..=0x7e, Just(b'\t'), 0x80u8..=0xff];
    let raw = proptest::collection::vec(byte, 0..300);
    let prefix = prop_oneof![
        Just(&b""[..]),
        Just(&b"Basic "[..]),
        Just(&b"basic "[..]),
        Just(&b"Bearer "[..]),
        Just(&b"bfk_"[..]),
        Just(&b"bfk_x_"[..]),
    ];
    let prefixed = (prefix, raw).prop_map(|(p, rest)| [p, &rest[..]].concat());
    let basic = proptest::collection::vec(any::<u8>(), 0..80)
        .prop_map(|bytes| format!("Basic {}", STANDARD.encode(bytes)).into_bytes());
    prop_oneof![3 => prefixed, 1 => basic]
}

/// Whatever bytes arrive in `Authorization` or `X-API-Key`, under whichever mechanism, the
/// answer is a client error with a problem+json body: proptest finds no 500.
///
/// In-process (`init_service`, no socket), so a hundred cases times eight requests stay quick.
#[test]
fn no_header_value_in_authorization_or_x_api_key_is_a_500() -> anyhow::Result<()> {
    // Arrange
    let runtime = actix_web::rt::System::new();
    let app = runtime.block_on(async {
        let clock = ManualClock::at(common::T0);
        let state = auth::AppState::new(common::test_config(), std::sync::Arc::new(clock)).await?;
        anyhow::Ok(
            actix_test::init_service(App::new().configure(auth::app::configure(state))).await,
        )
    })?;
    let headers = [AUTHORIZATION.as_str(), API_KEY_HEADER];
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let seen = RefCell::new(0usize);

    // Act
    let outcome = runner.run(&header_values(), |value| {
        let Ok(header_value) = HeaderValue::from_bytes(&value) else {
            return Err(TestCaseError::reject("not a header value"));
        };
        for mechanism in Mechanism::ALL {
            for name in headers {
                let request = actix_test::TestRequest::get()
                    .uri(&format!("{}/documents", mechanism.prefix()))
                    .insert_header((HeaderName::from_static(name), header_value.clone()))
                    .to_request();
                let (status, content_type) = runtime.block_on(async {
                    let response = match actix_test::try_call_service(&app, request).await {
                        Ok(response) => response.map_into_boxed_body(),
                        // What the HTTP dispatcher does with an error from a middleware.
                        Err(e) => {
                            let response = e.error_response();
                            return (response.status(), content_type(response.headers()));
                        }
                    };
                    (response.status(), content_type(response.headers()))
                });
                *seen.borrow_mut() += 1;

                // Assert
                prop_assert!(
                    !status.is_server_error(),
                    "{name}: {value:?} under {} answered {status}",
                    mechanism.prefix()
                );
                if status.is_client_error() {
                    prop_assert_eq!(content_type.as_deref(), Some(PROBLEM_JSON));
                }
            }
        }
        Ok(())
    });

    // Assert
    outcome.map_err(|e| anyhow::anyhow!("{e}"))?;
    assert!(
        *seen.borrow() >= 96 * 8,
        "only {} requests ran",
        seen.borrow()
    );
    Ok(())
}

fn content_type(headers: &actix_web::http::header::HeaderMap) -> Option<String> {
    headers
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
