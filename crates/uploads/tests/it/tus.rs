//! Claims about the resumable path (tus 1.0 core, creation and checksum).

use base64::Engine as _;
use sha1::Digest as _;
use uploads::demo::clients::interrupted_patch;
use uploads::inspect::samples;
use uploads::metadata::{self, Status};

use crate::common::{Fixture, OWNER, fixtures, problem, sha256_hex};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

async fn create(f: &Fixture, name: &str, ct: &str, length: usize) -> anyhow::Result<String> {
    let res = f
        .client
        .post(f.url(uploads::tus::PATH))
        .header("x-owner", OWNER)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", length.to_string())
        .header(
            "upload-metadata",
            format!(
                "filename {},filetype {}",
                b64(name.as_bytes()),
                b64(ct.as_bytes())
            ),
        )
        .send()
        .await?;
    anyhow::ensure!(res.status() == 201, "create: {}", res.status());
    Ok(f.url(res.headers()["location"].to_str()?))
}

async fn head_offset(f: &Fixture, url: &str) -> anyhow::Result<u64> {
    let res = f
        .client
        .head(url)
        .header("x-owner", OWNER)
        .header("tus-resumable", "1.0.0")
        .send()
        .await?;
    anyhow::ensure!(res.status() == 200, "HEAD: {}", res.status());
    assert_eq!(res.headers()["cache-control"], "no-store");
    Ok(res.headers()["upload-offset"].to_str()?.parse()?)
}

fn patch(f: &Fixture, url: &str, offset: u64) -> reqwest::RequestBuilder {
    f.client
        .patch(url)
        .header("x-owner", OWNER)
        .header("tus-resumable", "1.0.0")
        .header("content-type", "application/offset+octet-stream")
        .header("upload-offset", offset.to_string())
}

#[actix_web::test]
async fn options_lists_the_version_the_extensions_and_the_checksum_algorithms() -> anyhow::Result<()>
{
    for f in fixtures("uploads_tus_options").await? {
        let res = f
            .client
            .request(reqwest::Method::OPTIONS, f.url(uploads::tus::PATH))
            .send()
            .await?;
        assert_eq!(res.status(), 204);
        let h = res.headers();
        assert_eq!(h["tus-version"], "1.0.0");
        assert_eq!(h["tus-extension"], "creation,checksum");
        assert_eq!(h["tus-checksum-algorithm"], "sha1,sha256");
        assert_eq!(
            h["tus-max-size"],
            f.shared.limits.max_bytes.to_string().as_str()
        );
    }
    Ok(())
}

#[actix_web::test]
async fn a_tus_request_without_tus_resumable_is_412() -> anyhow::Result<()> {
    for f in fixtures("uploads_tus_412").await? {
        let res = f
            .client
            .post(f.url(uploads::tus::PATH))
            .header("x-owner", OWNER)
            .header("upload-length", "10")
            .send()
            .await?;
        assert_eq!(res.status(), 412);
        assert_eq!(res.headers()["tus-version"], "1.0.0");
        problem(res).await?;
        f.assert_nothing_left("no Tus-Resumable").await?;
    }
    Ok(())
}

#[actix_web::test]
async fn a_tus_upload_interrupted_at_an_offset_resumes_from_it_and_its_sha256_matches_the_source()
-> anyhow::Result<()> {
    for f in fixtures("uploads_tus_resume").await? {
        let source = samples::pdf(200 * 1024);
        let url = create(&f, "report.pdf", "application/pdf", source.len()).await?;
        assert_eq!(head_offset(&f, &url).await?, 0);

        // The first PATCH announces the whole body, sends 96 KiB of it, and the connection is
        // cut.
        let sent = 96 * 1024;
        let path = url.trim_start_matches(&f.server.base_url).to_owned();
        interrupted_patch(f.server.addr, &path, OWNER, 0, &source, sent).await?;
        // Wait until the server has taken in what arrived (it holds the upload's lock while it
        // writes, and HEAD waits for it, so this settles in a request or two).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while head_offset(&f, &url).await? == 0 {
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "the server never saw the bytes"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }

        // A tus client resumes: HEAD, PATCH from there; a 409 means the server was still
        // writing the cut chunk when it answered the HEAD, so ask again.
        let mut resumed_at = None;
        for _ in 0..10 {
            let offset = head_offset(&f, &url).await?;
            let res = patch(&f, &url, offset)
                .body(source[offset as usize..].to_vec())
                .send()
                .await?;
            if res.status() == 409 {
                continue;
            }
            assert_eq!(res.status(), 204);
            assert_eq!(
                res.headers()["upload-offset"],
                source.len().to_string().as_str()
            );
            resumed_at = Some(offset);
            break;
        }
        let resumed_at = resumed_at.expect("the upload resumed");
        assert!(
            resumed_at > 0 && resumed_at <= sent as u64,
            "resumed at {resumed_at}"
        );

        let rows = metadata::all(f.db()).await?;
        assert_eq!(rows.len(), 1);
        assert!(rows[0].is(Status::Ready));
        assert_eq!(
            rows[0].sha256.as_deref(),
            Some(sha256_hex(&source).as_str())
        );
        let got = f
            .client
            .get(f.url(&format!("/files/{}", rows[0].id)))
            .header("x-owner", OWNER)
            .send()
            .await?;
        assert_eq!(sha256_hex(&got.bytes().await?), sha256_hex(&source));
        assert_eq!(f.shared.dir.partial_count()?, 0);
    }
    Ok(())
}

#[actix_web::test]
async fn a_patch_at_another_offset_than_the_servers_is_409_and_changes_nothing()
-> anyhow::Result<()> {
    for f in fixtures("uploads_tus_409").await? {
        let source = samples::pdf(10_000);
        let url = create(&f, "a.pdf", "application/pdf", source.len()).await?;
        patch(&f, &url, 0)
            .body(source[..4_000].to_vec())
            .send()
            .await?
            .error_for_status()?;
        let res = patch(&f, &url, 3_000)
            .body(source[3_000..].to_vec())
            .send()
            .await?;
        assert_eq!(res.status(), 409);
        problem(res).await?;
        assert_eq!(head_offset(&f, &url).await?, 4_000);
    }
    Ok(())
}

#[actix_web::test]
async fn a_chunk_whose_checksum_does_not_match_is_460_and_discarded_and_a_matching_one_is_kept()
-> anyhow::Result<()> {
    for f in fixtures("uploads_tus_checksum").await? {
        let source = samples::pdf(10_000);
        let url = create(&f, "a.pdf", "application/pdf", source.len()).await?;
        let wrong = format!("sha1 {}", b64(&sha1::Sha1::digest(b"something else")));
        let res = patch(&f, &url, 0)
            .header("upload-checksum", wrong)
            .body(source[..5_000].to_vec())
            .send()
            .await?;
        assert_eq!(res.status(), 460);
        problem(res).await?;
        assert_eq!(head_offset(&f, &url).await?, 0);

        let right = format!("sha1 {}", b64(&sha1::Sha1::digest(&source[..5_000])));
        let res = patch(&f, &url, 0)
            .header("upload-checksum", right)
            .body(source[..5_000].to_vec())
            .send()
            .await?;
        assert_eq!(res.status(), 204);
        assert_eq!(head_offset(&f, &url).await?, 5_000);

        let unknown = patch(&f, &url, 5_000)
            .header("upload-checksum", "md5 AAAA")
            .body(vec![1])
            .send()
            .await?;
        assert_eq!(unknown.status(), 400);
    }
    Ok(())
}

#[actix_web::test]
async fn a_tus_upload_of_a_spoofed_type_is_415_when_it_completes_and_nothing_is_left()
-> anyhow::Result<()> {
    for f in fixtures("uploads_tus_spoof").await? {
        let elf = samples::elf(8_000);
        let url = create(&f, "cat.png", "image/png", elf.len()).await?;
        let res = patch(&f, &url, 0).body(elf).send().await?;
        assert_eq!(res.status(), 415);
        problem(res).await?;
        assert_eq!(f.shared.dir.list()?.len(), 0, "the file is gone");
        assert_eq!(f.ready_rows().await?, 0);
        assert_eq!(metadata::count(f.db(), Status::Rejected).await?, 1);
    }
    Ok(())
}

#[actix_web::test]
async fn a_tus_upload_longer_than_the_limit_is_413_at_creation() -> anyhow::Result<()> {
    for f in fixtures("uploads_tus_413").await? {
        let res = f
            .client
            .post(f.url(uploads::tus::PATH))
            .header("x-owner", OWNER)
            .header("tus-resumable", "1.0.0")
            .header("upload-length", (f.shared.limits.max_bytes + 1).to_string())
            .send()
            .await?;
        assert_eq!(res.status(), 413);
        problem(res).await?;
        f.assert_nothing_left("tus over the limit").await?;
    }
    Ok(())
}

#[actix_web::test]
async fn an_unfinished_tus_upload_is_removed_by_the_sweep_and_a_finished_one_survives_it()
-> anyhow::Result<()> {
    for f in fixtures("uploads_tus_sweep").await? {
        let done = samples::pdf(3_000);
        let url = create(&f, "done.pdf", "application/pdf", done.len()).await?;
        patch(&f, &url, 0)
            .body(done)
            .send()
            .await?
            .error_for_status()?;
        let half = samples::pdf(6_000);
        let url = create(&f, "half.pdf", "application/pdf", half.len()).await?;
        patch(&f, &url, 0)
            .body(half[..2_000].to_vec())
            .send()
            .await?
            .error_for_status()?;
        assert_eq!(f.shared.dir.partial_count()?, 1);

        let locks = uploads::tus::Locks::default();
        let past = metadata::now() - chrono::Duration::hours(1);
        assert_eq!(
            uploads::tus::sweep(&f.shared, &locks, past).await?,
            0,
            "not old enough yet"
        );
        let future = metadata::now() + chrono::Duration::seconds(1);
        assert_eq!(uploads::tus::sweep(&f.shared, &locks, future).await?, 1);

        assert_eq!(f.shared.dir.partial_count()?, 0);
        assert_eq!(f.shared.dir.file_count()?, 1);
        let rows = metadata::all(f.db()).await?;
        assert_eq!(rows.len(), 1);
        assert!(rows[0].is(Status::Ready) && rows[0].original_name == "done.pdf");
        let gone = f
            .client
            .head(&url)
            .header("x-owner", OWNER)
            .header("tus-resumable", "1.0.0")
            .send()
            .await?;
        assert_eq!(gone.status(), 404);
    }
    Ok(())
}
