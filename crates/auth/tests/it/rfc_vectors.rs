//! The specifications' own examples, reproduced byte for byte: if these drift, every client
//! written against the RFC stops interoperating.

use auth::basic::{self, BasicCredentials};
use auth::pkce;

/// RFC 7617 §2: user-id `Aladdin`, password `open sesame` travel as
/// `Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==`, and that value decodes back to the same pair.
#[test]
fn the_rfc_7617_aladdin_example_encodes_and_decodes_exactly() -> anyhow::Result<()> {
    // Arrange
    let published = "QWxhZGRpbjpvcGVuIHNlc2FtZQ==";

    // Act
    let encoded = basic::encode("Aladdin", "open sesame");
    let decoded = basic::decode(published)?;

    // Assert
    assert_eq!(encoded, format!("Basic {published}"));
    assert_eq!(
        decoded,
        BasicCredentials {
            user_id: "Aladdin".into(),
            password: "open sesame".into(),
        }
    );
    Ok(())
}

/// RFC 7617 §2.1: with `charset="UTF-8"`, user-id `test` and password `123£` are the octets
/// `74 65 73 74 3A 31 32 33 C2 A3`, base64 `dGVzdDoxMjPCow==` (the pound sign is two bytes, not
/// the one Latin-1 would give).
#[test]
fn the_rfc_7617_utf8_example_encodes_and_decodes_exactly() -> anyhow::Result<()> {
    // Arrange
    let published = "dGVzdDoxMjPCow==";

    // Act
    let encoded = basic::encode("test", "123£");
    let decoded = basic::decode(published)?;

    // Assert
    assert_eq!(encoded, format!("Basic {published}"));
    assert_eq!(decoded.user_id, "test");
    assert_eq!(decoded.password, "123£");
    Ok(())
}

/// The user-id ends at the first colon; a password may contain more (RFC 7617 §2).
#[test]
fn a_colon_in_the_password_stays_in_the_password() -> anyhow::Result<()> {
    // Arrange
    let header = basic::encode("Aladdin", "open:sesame");
    let token = header.trim_start_matches("Basic ");

    // Act
    let decoded = basic::decode(token)?;

    // Assert
    assert_eq!(decoded.user_id, "Aladdin");
    assert_eq!(decoded.password, "open:sesame");
    Ok(())
}

/// RFC 7636 Appendix B: the verifier `dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk` has the S256
/// challenge `E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM`, and that pair verifies.
#[test]
fn the_rfc_7636_appendix_b_verifier_yields_its_published_s256_challenge() -> anyhow::Result<()> {
    // Arrange
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let published = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    // Act
    let challenge = pkce::challenge(verifier);

    // Assert
    assert_eq!(challenge, published);
    assert!(pkce::verifies(verifier, published));
    assert!(!pkce::verifies(verifier, &published.replace('E', "F")));
    Ok(())
}
