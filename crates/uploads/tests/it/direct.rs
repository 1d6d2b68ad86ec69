//! Claims about the direct-to-storage path: the backend signs, the storage server enforces what
//! was signed, the confirm checks the bytes, and the sweep removes what was never confirmed.

use std::time::Duration;

use uploads::inspect::samples;
use uploads::metadata::{self, Status};
use uploads::presigned::{Announce, Confirmed, PresignedPost, PresignedPut, sweep};

use crate::common::{Fixture, OWNER, fixtures, problem, sha256_hex};

const FORM_BOUNDARY: &str = "----direct-form-boundary-1d2f";

async fn announce_put(
    f: &Fixture,
    name: &str,
    ct: &str,
    bytes: &[u8],
) -> anyhow::Result<PresignedPut> {
    let res = f
        .client
        .post(f.url(uploads::presigned::PUT_PATH))
        .header("x-owner", OWNER)
        .json(&Announce {
            filename: name.to_owned(),
            content_type: ct.to_owned(),
            size: bytes.len() as u64,
            sha256: Some(sha256_hex(bytes)),
        })
        .send()
        .await?;
    anyhow::ensure!(res.status() == 201, "announce: {}", res.status());
    Ok(res.json().await?)
}

/// Sends `bytes` to storage with the answer's headers (minus `Content-Length`, which the
/// client computes from the body it really sends).
async fn put(
    f: &Fixture,
    signed: &PresignedPut,
    bytes: Vec<u8>,
) -> anyhow::Result<reqwest::Response> {
    let mut req = f.client.put(&signed.url).body(bytes);
    for (k, v) in &signed.headers {
        if k != "content-length" {
            req = req.header(k, v);
        }
    }
    Ok(req.send().await?)
}

async fn confirm(f: &Fixture, confirm_path: &str) -> anyhow::Result<reqwest::Response> {
    Ok(f.client
        .post(f.url(confirm_path))
        .header("x-owner", OWNER)
        .send()
        .await?)
}

/// A browser-style form POST of the policy's fields, then the file, to the bucket URL.
async fn post_form(
    f: &Fixture,
    policy: &PresignedPost,
    ct: &str,
    bytes: &[u8],
) -> anyhow::Result<reqwest::Response> {
    let mut body = Vec::new();
    for (k, v) in &policy.fields {
        body.extend_from_slice(
            format!(
                "--{FORM_BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{FORM_BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\nContent-Type: {ct}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{FORM_BOUNDARY}--\r\n").as_bytes());
    Ok(f.client
        .post(&policy.url)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={FORM_BOUNDARY}"),
        )
        .body(body)
        .send()
        .await?)
}

/// No object in the bucket and no `ready` row (a `pending` row is the sweep's to remove).
async fn assert_no_object_no_ready(f: &Fixture, case: &str) -> anyhow::Result<()> {
    let objects = f.direct.store.keys().await?;
    anyhow::ensure!(objects.is_empty(), "{case}: objects left: {objects:?}");
    anyhow::ensure!(f.ready_rows().await? == 0, "{case}: a ready row");
    Ok(())
}

#[actix_web::test]
async fn a_presigned_put_carries_no_byte_through_the_backend_and_confirms_to_ready()
-> anyhow::Result<()> {
    for f in fixtures("uploads_direct_ok").await? {
        let png = samples::png(320, 200, 50_000);
        let signed = announce_put(&f, "été.png", "image/png", &png).await?;
        let stored = put(&f, &signed, png.clone()).await?;
        assert_eq!(
            stored.status(),
            200,
            "{:?}: {}",
            f.backend,
            stored.text().await?
        );
        let res = confirm(&f, &signed.confirm).await?;
        assert_eq!(res.status(), 200);
        let confirmed: Confirmed = res.json().await?;
        assert_eq!(confirmed.status, "ready");
        assert_eq!(confirmed.detected_type, "image/png");
        assert_eq!(confirmed.sha256, Some(sha256_hex(&png)));
        assert_eq!(
            f.shared.dir.list()?,
            Vec::<std::path::PathBuf>::new(),
            "no byte on the backend's disk"
        );

        // The download is a redirect to storage; the object carries the signed disposition.
        let no_redirects = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let res = no_redirects
            .get(f.url(&uploads::presigned::DOWNLOAD_PATH.replace("{id}", &signed.id)))
            .header("x-owner", OWNER)
            .send()
            .await?;
        assert_eq!(res.status(), 303);
        let location = res.headers()["location"].to_str()?.to_owned();
        let got = f.client.get(location).send().await?;
        assert_eq!(got.status(), 200);
        assert_eq!(got.headers()["content-type"], "image/png");
        assert_eq!(
            got.headers()["content-disposition"],
            "attachment; filename=\"_t_.png\"; filename*=UTF-8''%C3%A9t%C3%A9.png"
        );
        assert_eq!(got.bytes().await?.as_ref(), png.as_slice());
    }
    Ok(())
}

#[actix_web::test]
async fn a_presigned_put_used_after_it_expired_is_refused_by_storage() -> anyhow::Result<()> {
    for f in fixtures("uploads_direct_expired").await? {
        // Signed ten minutes ago with a five-minute lifetime.
        f.clock.set(f.clock_now() - 600);
        let png = samples::png(4, 4, 16);
        let signed = announce_put(&f, "a.png", "image/png", &png).await?;
        let res = put(&f, &signed, png).await?;
        assert_eq!(res.status(), 403, "{}", res.text().await?);
        assert_no_object_no_ready(&f, "expired URL").await?;
    }
    Ok(())
}

#[actix_web::test]
async fn a_presigned_put_of_a_larger_file_than_signed_is_refused_by_storage() -> anyhow::Result<()>
{
    for f in fixtures("uploads_direct_larger").await? {
        let png = samples::png(4, 4, 1_000);
        let signed = announce_put(&f, "a.png", "image/png", &png).await?;
        let res = put(&f, &signed, samples::png(4, 4, 100_000)).await?;
        assert_eq!(res.status(), 403, "{}", res.text().await?);
        assert_no_object_no_ready(&f, "larger than signed").await?;
    }
    Ok(())
}

#[actix_web::test]
async fn a_put_whose_bytes_differ_from_the_signed_checksum_is_refused_by_storage_and_rejected_on_confirm()
-> anyhow::Result<()> {
    for f in fixtures("uploads_direct_checksum").await? {
        let png = samples::png(4, 4, 1_000);
        let signed = announce_put(&f, "a.png", "image/png", &png).await?;
        let mut other = png.clone();
        *other.last_mut().unwrap() ^= 1; // same length, one bit different
        let res = put(&f, &signed, other).await?;
        let status = res.status();
        let text = res.text().await?;
        assert_eq!(status, 400, "{text}");
        assert!(text.contains("BadDigest"), "{text}");
        // S3 stores nothing on a BadDigest. The local server (s3s-fs 0.14) has already
        // committed the bytes when it compares the digest, and keeps them without their
        // checksum or attributes: exactly why the confirm trusts only what HEAD shows. It
        // finds no verified checksum, deletes the object and rejects the row.
        let res = confirm(&f, &signed.confirm).await?;
        assert_eq!(res.status(), 422);
        problem(res).await?;
        assert_no_object_no_ready(&f, "checksum mismatch").await?;
        assert_eq!(metadata::count(f.db(), Status::Rejected).await?, 1);
    }
    Ok(())
}

#[actix_web::test]
async fn a_presigned_post_with_content_length_range_refuses_a_larger_file_at_the_storage_server()
-> anyhow::Result<()> {
    for f in fixtures("uploads_direct_post").await? {
        let png = samples::png(8, 8, 2_000);
        let res = f
            .client
            .post(f.url(uploads::presigned::POLICY_PATH))
            .header("x-owner", OWNER)
            .json(&Announce {
                filename: "form.png".to_owned(),
                content_type: "image/png".to_owned(),
                size: png.len() as u64,
                sha256: None,
            })
            .send()
            .await?;
        assert_eq!(res.status(), 201);
        let policy: PresignedPost = res.json().await?;

        let larger = post_form(&f, &policy, "image/png", &samples::png(8, 8, 20_000)).await?;
        let status = larger.status();
        let text = larger.text().await?;
        assert_eq!(status, 400, "{text}");
        assert!(text.contains("EntityTooLarge"), "{text}");
        assert_no_object_no_ready(&f, "POST over content-length-range").await?;

        let ok = post_form(&f, &policy, "image/png", &png).await?;
        assert!(ok.status().is_success(), "{}", ok.text().await?);
        let res = confirm(&f, &policy.confirm).await?;
        assert_eq!(res.status(), 200);
        assert_eq!(res.json::<Confirmed>().await?.status, "ready");
    }
    Ok(())
}

#[actix_web::test]
async fn a_spoofed_type_sent_straight_to_storage_is_deleted_and_rejected_on_confirm()
-> anyhow::Result<()> {
    for f in fixtures("uploads_direct_spoof").await? {
        let elf = samples::elf(4096);
        let signed = announce_put(&f, "cat.png", "image/png", &elf).await?;
        assert_eq!(
            put(&f, &signed, elf).await?.status(),
            200,
            "storage cannot tell"
        );
        let res = confirm(&f, &signed.confirm).await?;
        assert_eq!(res.status(), 415);
        problem(res).await?;
        assert_no_object_no_ready(&f, "spoofed, confirmed").await?;
        let rows = metadata::all(f.db()).await?;
        assert_eq!(rows.len(), 1);
        assert!(rows[0].is(Status::Rejected));
    }
    Ok(())
}

#[actix_web::test]
async fn confirming_before_the_bytes_arrive_is_409_and_changes_nothing() -> anyhow::Result<()> {
    for f in fixtures("uploads_direct_early").await? {
        let png = samples::png(4, 4, 16);
        let signed = announce_put(&f, "a.png", "image/png", &png).await?;
        let res = confirm(&f, &signed.confirm).await?;
        assert_eq!(res.status(), 409);
        problem(res).await?;
        assert_eq!(metadata::count(f.db(), Status::Pending).await?, 1);
    }
    Ok(())
}

#[actix_web::test]
async fn an_unconfirmed_direct_upload_is_removed_by_the_sweep_and_a_confirmed_one_survives_it()
-> anyhow::Result<()> {
    for f in fixtures("uploads_direct_sweep").await? {
        let kept = samples::png(4, 4, 100);
        let signed = announce_put(&f, "kept.png", "image/png", &kept).await?;
        put(&f, &signed, kept).await?.error_for_status()?;
        confirm(&f, &signed.confirm).await?.error_for_status()?;

        let abandoned = samples::png(4, 4, 200);
        let signed = announce_put(&f, "abandoned.png", "image/png", &abandoned).await?;
        put(&f, &signed, abandoned).await?.error_for_status()?;
        assert_eq!(f.direct.store.keys().await?.len(), 2);

        // Before the deadline the sweep leaves both alone.
        assert_eq!(sweep(&f.shared, &f.direct).await?.rows, 0);
        f.clock.advance(f.direct.deadline + Duration::from_secs(1));
        assert_eq!(sweep(&f.shared, &f.direct).await?.rows, 1);

        assert_eq!(f.direct.store.keys().await?.len(), 1);
        let rows = metadata::all(f.db()).await?;
        assert_eq!(rows.len(), 1);
        assert!(rows[0].is(Status::Ready) && rows[0].original_name == "kept.png");
    }
    Ok(())
}
