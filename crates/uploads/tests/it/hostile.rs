//! The hostile-input table, through the backend: every row is a test, and each asserts the
//! status and that nothing was left behind (no file, finished or partial; no row).

use uploads::inspect::samples;
use uploads::through_backend::Stored;

use crate::common::{
    BOUNDARY, fixtures, multipart, multipart_head, multipart_with_disposition, problem, test_limits,
};

#[actix_web::test]
async fn a_chunked_upload_over_the_limit_is_413_while_streaming_and_its_partial_file_removed()
-> anyhow::Result<()> {
    for f in fixtures("uploads_oversize_stream").await? {
        let big = samples::pdf(test_limits().max_bytes as usize * 2);
        let res = f
            .post_multipart_chunked(multipart("big.pdf", "application/pdf", &big), 16 * 1024)
            .await?;
        assert_eq!(res.status(), 413, "{:?}", f.backend);
        let p = problem(res).await?;
        assert_eq!(p.extensions["limit"], test_limits().max_bytes);
        f.assert_nothing_left("oversize, chunked").await?;
    }
    Ok(())
}

#[actix_web::test]
async fn an_upload_whose_content_length_is_over_the_limit_is_413_before_it_is_read()
-> anyhow::Result<()> {
    for f in fixtures("uploads_oversize_length").await? {
        let big = samples::pdf(test_limits().max_bytes as usize + 64 * 1024);
        let res = f
            .post_multipart(multipart("big.pdf", "application/pdf", &big))
            .await?;
        assert_eq!(res.status(), 413);
        problem(res).await?;
        f.assert_nothing_left("oversize, with Content-Length")
            .await?;
    }
    Ok(())
}

#[actix_web::test]
async fn an_executable_renamed_png_and_declared_image_png_is_415() -> anyhow::Result<()> {
    for f in fixtures("uploads_spoofed").await? {
        let res = f
            .post_multipart(multipart("cat.png", "image/png", &samples::elf(4096)))
            .await?;
        assert_eq!(res.status(), 415);
        let detail = problem(res).await?.detail.unwrap_or_default();
        assert!(detail.contains("application/x-executable"), "{detail}");
        f.assert_nothing_left("spoofed type").await?;
    }
    Ok(())
}

#[actix_web::test]
async fn a_declared_type_that_disagrees_with_the_bytes_is_415() -> anyhow::Result<()> {
    for f in fixtures("uploads_declared").await? {
        let res = f
            .post_multipart(multipart("cat.png", "image/jpeg", &samples::png(4, 4, 100)))
            .await?;
        assert_eq!(res.status(), 415);
        problem(res).await?;
        f.assert_nothing_left("declared mismatch").await?;
    }
    Ok(())
}

#[actix_web::test]
async fn a_double_extension_jpg_php_is_415() -> anyhow::Result<()> {
    for f in fixtures("uploads_double_ext").await? {
        let res = f
            .post_multipart(multipart(
                "photo.jpg.php",
                "image/jpeg",
                &samples::jpeg(64, 64),
            ))
            .await?;
        assert_eq!(res.status(), 415);
        let detail = problem(res).await?.detail.unwrap_or_default();
        assert!(detail.contains(".php"), "{detail}");
        f.assert_nothing_left("double extension").await?;
    }
    Ok(())
}

#[actix_web::test]
async fn a_path_traversal_name_is_stored_under_a_generated_key_and_shown_as_its_last_component()
-> anyhow::Result<()> {
    for f in fixtures("uploads_traversal").await? {
        let res = f
            .post_multipart(multipart(
                "../../etc/passwd",
                "image/png",
                &samples::png(8, 8, 64),
            ))
            .await?;
        assert_eq!(res.status(), 201);
        let stored: Stored = res.json().await?;
        assert_eq!(stored.name, "passwd");
        // Exactly one file, in files/, named by a 32-hex key; nothing above the root was touched.
        let files = f.shared.dir.list()?;
        assert_eq!(files.len(), 1, "{files:?}");
        let only = files[0].to_string_lossy().into_owned();
        assert!(
            only.starts_with("files/") && only.len() == "files/".len() + 32,
            "{only}"
        );
        let outside = f.shared.dir.root().parent().map(|p| p.join("etc"));
        assert!(outside.is_none_or(|p| !p.exists()));
        assert_eq!(f.ready_rows().await?, 1);
    }
    Ok(())
}

#[actix_web::test]
async fn control_characters_and_300_bytes_of_unicode_in_a_name_are_sanitised_for_display()
-> anyhow::Result<()> {
    for f in fixtures("uploads_weird_names").await? {
        let png = samples::png(2, 2, 8);
        // Raw control bytes in a header are refused by the HTTP parser itself (400).
        let res = f
            .post_multipart(multipart("evil\u{1b}[31m\u{7}.png", "image/png", &png))
            .await?;
        assert_eq!(res.status(), 400);
        f.assert_nothing_left("raw control characters").await?;
        // RFC 5987's `filename*` carries them percent-encoded, past the parser: the sanitiser
        // is what removes them. 150 × "ü" is 300 bytes of Unicode.
        let long = format!("{}.png", "%C3%BC".repeat(150));
        for (encoded, expected) in [
            ("evil%1B%5B31m%07.png", Some("evil[31m.png")),
            (long.as_str(), None),
        ] {
            let body = multipart_with_disposition(
                &format!("form-data; name=\"file\"; filename*=UTF-8''{encoded}"),
                "image/png",
                &png,
            );
            let res = f.post_multipart(body).await?;
            assert_eq!(res.status(), 201, "{encoded}");
            let stored: Stored = res.json().await?;
            assert!(stored.name.len() <= 255, "{}", stored.name.len());
            assert!(!stored.name.chars().any(char::is_control));
            assert!(stored.name.ends_with(".png"));
            if let Some(expected) = expected {
                assert_eq!(stored.name, expected);
            } else {
                assert!(stored.name.starts_with("üüü"));
            }
        }
    }
    Ok(())
}

#[actix_web::test]
async fn an_empty_file_is_422() -> anyhow::Result<()> {
    for f in fixtures("uploads_empty").await? {
        let res = f
            .post_multipart(multipart("empty.png", "image/png", b""))
            .await?;
        assert_eq!(res.status(), 422);
        problem(res).await?;
        f.assert_nothing_left("zero bytes").await?;
    }
    Ok(())
}

#[actix_web::test]
async fn a_decompression_bomb_png_is_422_from_its_header_alone() -> anyhow::Result<()> {
    for f in fixtures("uploads_bomb").await? {
        // 100 000 × 100 000 RGBA would be 40 GB decoded; the file is a few KB.
        let bomb = samples::png(100_000, 100_000, 4096);
        let res = f
            .post_multipart(multipart("bomb.png", "image/png", &bomb))
            .await?;
        assert_eq!(res.status(), 422);
        let detail = problem(res).await?.detail.unwrap_or_default();
        assert!(detail.contains("100000×100000"), "{detail}");
        f.assert_nothing_left("decompression bomb").await?;
    }
    Ok(())
}

#[actix_web::test]
async fn a_truncated_multipart_body_is_400() -> anyhow::Result<()> {
    for f in fixtures("uploads_truncated").await? {
        // The file's bytes, then the body just stops: no closing boundary.
        let mut body = multipart_head("cut.pdf", "application/pdf");
        body.extend_from_slice(&samples::pdf(100_000));
        let res = f.post_multipart(body).await?;
        assert_eq!(res.status(), 400);
        problem(res).await?;
        f.assert_nothing_left("truncated body").await?;
    }
    Ok(())
}

#[actix_web::test]
async fn a_body_without_a_file_part_is_400() -> anyhow::Result<()> {
    for f in fixtures("uploads_no_file").await? {
        let body = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhi\r\n--{BOUNDARY}--\r\n"
        );
        let res = f.post_multipart(body.into_bytes()).await?;
        assert_eq!(res.status(), 400);
        problem(res).await?;
        f.assert_nothing_left("no file part").await?;
    }
    Ok(())
}
