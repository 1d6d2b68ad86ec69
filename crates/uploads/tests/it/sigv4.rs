//! The signatures the direct path hands out, held to the S3 documentation's published examples.

use std::time::Duration;

use rusty_s3::{Bucket, Credentials, UrlStyle};
use uploads::object_store::ObjectStore;
use uploads::presigned::{post_signature, sign_get};

const ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// "Authenticating Requests: Using Query Parameters": GET examplebucket/test.txt, signed at
/// 2013-05-24T00:00:00Z, valid for 86400 s.
#[test]
fn the_presigned_get_for_examplebucket_test_txt_has_the_published_signature() -> anyhow::Result<()>
{
    let bucket = Bucket::new(
        url::Url::parse("https://s3.amazonaws.com")?,
        UrlStyle::VirtualHost,
        "examplebucket",
        "us-east-1",
    )?;
    let store = ObjectStore::with_bucket(bucket, Credentials::new(ACCESS_KEY, SECRET_KEY))?;
    let at = jiff::Timestamp::from_second(1_369_353_600)?;
    let url = sign_get(&store, "test.txt", Duration::from_secs(86_400), &at);
    assert_eq!(
        url.as_str(),
        "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256\
         &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
         &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
         &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    );
    Ok(())
}

/// "Example: Browser-Based Upload using HTTP POST (Using AWS Signature Version 4)": the
/// published base64 policy (its JSON has CRLF line ends, which are part of what is signed) and
/// signature, for 2015-12-29 in us-east-1.
#[test]
fn the_post_policy_example_has_the_published_signature() {
    const POLICY: &str = "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAg\
        ICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAi\
        dXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25f\
        cmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxf\
        dXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQog\
        ICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRl\
        LWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAi\
        Il0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMt\
        ZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEy\
        NTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9";
    assert_eq!(
        post_signature(POLICY, SECRET_KEY, "20151229", "us-east-1"),
        "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e"
    );
}
