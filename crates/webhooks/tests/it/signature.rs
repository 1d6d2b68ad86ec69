//! Claims about signing and verifying: the published vectors, each way a delivery is refused,
//! rotation, and a property over arbitrary bodies.

use std::time::Duration;

use proptest::prelude::*;
use webhooks::signature::{
    self, Headers, Secret, SecretError, Signer, VerifyError, github_sign, github_verify, sign,
    verify,
};

/// The vector the Standard Webhooks reference libraries test against.
const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SPEC_TIMESTAMP: u64 = 1_614_265_330;
const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

const TOLERANCE: Duration = Duration::from_secs(300);

fn spec_headers(signature: &str) -> Headers<'_> {
    Headers {
        id: Some(SPEC_ID),
        timestamp: Some("1614265330"),
        signature: Some(signature),
    }
}

/// Signing the specification's inputs gives its published signature, byte for byte, and that
/// signature verifies: this is what makes a consumer written against any other library agree.
#[test]
fn the_specification_vector_signs_identically_and_verifies() -> anyhow::Result<()> {
    // Arrange
    let secret = Secret::parse(SPEC_SECRET)?;

    // Act
    let signed = sign(&secret, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY);
    let verified = verify(
        &[secret],
        &spec_headers(SPEC_SIGNATURE),
        SPEC_BODY,
        SPEC_TIMESTAMP,
        TOLERANCE,
    )?;

    // Assert
    assert_eq!(signed, SPEC_SIGNATURE);
    assert_eq!(verified.id, SPEC_ID);
    assert_eq!(verified.timestamp, SPEC_TIMESTAMP);
    assert_eq!(verified.secret_index, 0);
    Ok(())
}

/// GitHub's "Validating webhook deliveries" example: secret `It's a Secret to Everybody`,
/// payload `Hello, World!`.
#[test]
fn the_github_documentation_example_signs_identically_and_verifies() -> anyhow::Result<()> {
    // Arrange
    let secret = b"It's a Secret to Everybody";
    let body = b"Hello, World!";
    let published = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    // Act
    let signed = github_sign(secret, body);

    // Assert
    assert_eq!(signed, published);
    github_verify(secret, Some(published), body)?;
    assert_eq!(
        github_verify(secret, Some(published), b"Hello, World?"),
        Err(VerifyError::NoMatchingSignature)
    );
    assert_eq!(
        github_verify(secret, None, body),
        Err(VerifyError::MissingHeader(signature::GITHUB_HEADER))
    );
    Ok(())
}

#[test]
fn a_wrong_signature_is_refused_as_no_match() -> anyhow::Result<()> {
    // Arrange: a well-formed v1 entry made with another secret.
    let forged = sign(&Secret::generate(), SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY);

    // Act
    let result = verify(
        &[Secret::parse(SPEC_SECRET)?],
        &spec_headers(&forged),
        SPEC_BODY,
        SPEC_TIMESTAMP,
        TOLERANCE,
    );

    // Assert
    assert_eq!(result, Err(VerifyError::NoMatchingSignature));
    Ok(())
}

#[test]
fn an_altered_body_is_refused_as_no_match() -> anyhow::Result<()> {
    let result = verify(
        &[Secret::parse(SPEC_SECRET)?],
        &spec_headers(SPEC_SIGNATURE),
        br#"{"test": 2432232315}"#,
        SPEC_TIMESTAMP,
        TOLERANCE,
    );

    assert_eq!(result, Err(VerifyError::NoMatchingSignature));
    Ok(())
}

/// A genuine delivery replayed after the tolerance is refused, and so is one stamped too far
/// in the future; exactly at the boundary both are still accepted.
#[test]
fn a_timestamp_outside_the_tolerance_is_refused_in_both_directions() -> anyhow::Result<()> {
    // Arrange
    let secrets = [Secret::parse(SPEC_SECRET)?];
    let headers = spec_headers(SPEC_SIGNATURE);
    let tolerance = TOLERANCE.as_secs();

    // Act
    let at = |now: u64| verify(&secrets, &headers, SPEC_BODY, now, TOLERANCE);

    // Assert
    assert!(at(SPEC_TIMESTAMP + tolerance).is_ok());
    assert!(at(SPEC_TIMESTAMP - tolerance).is_ok());
    assert_eq!(
        at(SPEC_TIMESTAMP + tolerance + 1),
        Err(VerifyError::TooOld {
            age_secs: tolerance + 1
        })
    );
    assert_eq!(
        at(SPEC_TIMESTAMP - tolerance - 1),
        Err(VerifyError::TooNew {
            ahead_secs: tolerance + 1
        })
    );
    Ok(())
}

/// The timestamp is checked before any HMAC: a stale delivery with a garbage signature is
/// refused as stale, not as unsigned.
#[test]
fn a_stale_delivery_is_refused_for_its_age_before_its_signature_is_looked_at() -> anyhow::Result<()>
{
    let result = verify(
        &[Secret::parse(SPEC_SECRET)?],
        &spec_headers("not even an entry"),
        SPEC_BODY,
        SPEC_TIMESTAMP + 3600,
        TOLERANCE,
    );

    assert_eq!(result, Err(VerifyError::TooOld { age_secs: 3600 }));
    Ok(())
}

#[test]
fn each_missing_header_is_refused_by_name() -> anyhow::Result<()> {
    // Arrange
    let secrets = [Secret::parse(SPEC_SECRET)?];
    let full = spec_headers(SPEC_SIGNATURE);
    let cases = [
        (
            Headers { id: None, ..full },
            VerifyError::MissingHeader(signature::HEADER_ID),
        ),
        (
            Headers {
                timestamp: None,
                ..full
            },
            VerifyError::MissingHeader(signature::HEADER_TIMESTAMP),
        ),
        (
            Headers {
                signature: None,
                ..full
            },
            VerifyError::MissingHeader(signature::HEADER_SIGNATURE),
        ),
    ];

    for (headers, expected) in cases {
        // Act
        let result = verify(&secrets, &headers, SPEC_BODY, SPEC_TIMESTAMP, TOLERANCE);

        // Assert
        assert_eq!(result, Err(expected));
    }
    Ok(())
}

#[test]
fn malformed_headers_are_refused_with_their_own_errors() -> anyhow::Result<()> {
    // Arrange
    let secrets = [Secret::parse(SPEC_SECRET)?];
    let check =
        |headers: Headers<'_>| verify(&secrets, &headers, SPEC_BODY, SPEC_TIMESTAMP, TOLERANCE);
    let full = spec_headers(SPEC_SIGNATURE);

    // Act and assert
    for timestamp in ["", "soon", "-1", "1614265330.5"] {
        let headers = Headers {
            timestamp: Some(timestamp),
            ..full
        };
        assert_eq!(
            check(headers),
            Err(VerifyError::BadTimestamp),
            "{timestamp:?}"
        );
    }
    for signature in ["", "   ", "v1g0hM9SsE"] {
        assert!(
            matches!(
                check(spec_headers(signature)),
                Err(VerifyError::Malformed(_))
            ),
            "{signature:?}"
        );
    }
    let dotted = Headers {
        id: Some("msg.1"),
        ..full
    };
    assert!(matches!(check(dotted), Err(VerifyError::Malformed(_))));
    Ok(())
}

/// The reference libraries' multi-signature case: unknown versions and non-matching entries
/// around the good one do not prevent a match.
#[test]
fn one_matching_entry_among_others_and_unknown_versions_is_enough() -> anyhow::Result<()> {
    let header = format!(
        "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= \
         v1,not-base64! {SPEC_SIGNATURE} v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg=="
    );

    let verified = verify(
        &[Secret::parse(SPEC_SECRET)?],
        &spec_headers(&header),
        SPEC_BODY,
        SPEC_TIMESTAMP,
        TOLERANCE,
    )?;

    assert_eq!(verified.id, SPEC_ID);
    Ok(())
}

#[test]
fn only_unknown_versions_are_no_match_rather_than_an_error_of_form() -> anyhow::Result<()> {
    let result = verify(
        &[Secret::parse(SPEC_SECRET)?],
        &spec_headers("v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5Bdq== v9,abc"),
        SPEC_BODY,
        SPEC_TIMESTAMP,
        TOLERANCE,
    );

    assert_eq!(result, Err(VerifyError::NoMatchingSignature));
    Ok(())
}

/// During the grace period the provider signs with both secrets, so a consumer holding either
/// accepts; after the deadline only the new one signs, and the old secret alone no longer does.
#[test]
fn after_rotation_both_secrets_verify_until_the_deadline_and_only_the_new_one_after()
-> anyhow::Result<()> {
    // Arrange
    let old = Secret::generate();
    let new = Secret::generate();
    let rotated_at = 1_700_000_000;
    let deadline = rotated_at + 24 * 3600;
    let mut signer = Signer::new(old.clone());
    signer.rotate(new.clone(), deadline);
    let body = br#"{"type":"order.paid"}"#;
    let accepts = |secrets: &[Secret], now: u64| {
        let sent = signer.headers("evt_1", now, body);
        verify(secrets, &sent.as_headers(), body, now, TOLERANCE)
    };

    // Act and assert: inside the grace period.
    let during = signer.headers("evt_1", deadline, body);
    assert_eq!(during.signature.split(' ').count(), 2);
    assert_eq!(
        accepts(std::slice::from_ref(&old), rotated_at)?.secret_index,
        0
    );
    assert_eq!(
        accepts(std::slice::from_ref(&new), deadline)?.secret_index,
        0
    );
    // A consumer holding both, old first, still matches the old one while it signs...
    let both = [old.clone(), new.clone()];
    assert_eq!(accepts(&both, rotated_at)?.secret_index, 0);

    // After it.
    let after = deadline + 1;
    assert_eq!(
        signer
            .headers("evt_1", after, body)
            .signature
            .split(' ')
            .count(),
        1
    );
    assert_eq!(
        accepts(std::slice::from_ref(&old), after),
        Err(VerifyError::NoMatchingSignature)
    );
    assert!(accepts(std::slice::from_ref(&new), after).is_ok());
    // ...and only the new one after: its cue that the old secret can be dropped.
    assert_eq!(accepts(&both, after)?.secret_index, 1);
    signer.prune(after);
    assert_eq!(signer.valid_secrets(rotated_at).count(), 1);
    Ok(())
}

#[test]
fn a_secret_round_trips_through_its_whsec_text_and_never_shows_in_debug() -> anyhow::Result<()> {
    // Arrange
    let secret = Secret::generate();
    let text = secret.expose();

    // Act
    let parsed: Secret = text.parse()?;
    let debug = format!("{secret:?}");

    // Assert: same key (same signature), and no key material in Debug.
    assert!(text.starts_with(signature::SECRET_PREFIX));
    assert_eq!(sign(&parsed, "a", 1, b"x"), sign(&secret, "a", 1, b"x"));
    assert!(
        !debug.contains(&text[signature::SECRET_PREFIX.len()..]),
        "{debug}"
    );
    assert!(debug.contains("32 bytes"), "{debug}");
    Ok(())
}

#[test]
fn secrets_without_the_prefix_or_of_the_wrong_size_are_refused() {
    assert_eq!(
        Secret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").err(),
        Some(SecretError::MissingPrefix)
    );
    assert_eq!(
        Secret::parse("whsec_***").err(),
        Some(SecretError::NotBase64)
    );
    // 16 bytes: below the specification's 24.
    assert_eq!(
        Secret::parse("whsec_AAAAAAAAAAAAAAAAAAAAAA==").err(),
        Some(SecretError::BadLength(16))
    );
    assert_eq!(
        Secret::from_bytes(vec![7; 65]).err(),
        Some(SecretError::BadLength(65))
    );
}

proptest! {
    /// Whatever the body and id, what the signer signs verifies, and changing any one byte of
    /// the body makes it fail.
    #[test]
    fn verify_accepts_what_sign_made_and_refuses_any_flipped_body_byte(
        body in proptest::collection::vec(any::<u8>(), 1..512),
        id in "[A-Za-z0-9_-]{1,40}",
        now in 0u64..4_000_000_000,
        at in any::<proptest::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let secret = Secret::generate();
        let sent = Signer::new(secret.clone()).headers(&id, now, &body);
        let secrets = [secret];

        let verified = verify(&secrets, &sent.as_headers(), &body, now, TOLERANCE);
        prop_assert_eq!(verified.map(|v| v.id), Ok(id.clone()));

        let mut altered = body.clone();
        altered[at.index(body.len())] ^= flip;
        prop_assert_eq!(
            verify(&secrets, &sent.as_headers(), &altered, now, TOLERANCE),
            Err(VerifyError::NoMatchingSignature)
        );
    }
}
