//! Claims about the path through the backend when the input is good.

use uploads::inspect::samples;
use uploads::through_backend::Stored;

use crate::common::{OWNER, fixtures, multipart, sha256_hex};

#[actix_web::test]
async fn a_valid_png_is_stored_with_its_hash_and_served_back_to_its_owner_only()
-> anyhow::Result<()> {
    for f in fixtures("uploads_backend_ok").await? {
        let png = samples::png(640, 480, 10_000);
        let res = f
            .post_multipart(multipart("café.png", "image/png", &png))
            .await?;
        assert_eq!(res.status(), 201, "{:?}", f.backend);
        let stored: Stored = res.json().await?;
        assert_eq!(stored.sha256, sha256_hex(&png));
        assert_eq!(stored.size, png.len() as i64);
        assert_eq!(stored.detected_type, "image/png");
        assert_eq!(f.shared.dir.file_count()?, 1);
        assert_eq!(f.shared.dir.partial_count()?, 0);

        let url = f.url(&stored.location);
        let got = f.client.get(&url).header("x-owner", OWNER).send().await?;
        assert_eq!(got.status(), 200);
        let h = got.headers().clone();
        assert_eq!(h["content-type"], "image/png");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(
            h["content-disposition"],
            "attachment; filename=\"caf_.png\"; filename*=UTF-8''caf%C3%A9.png"
        );
        assert_eq!(got.bytes().await?.as_ref(), png.as_slice());

        let stranger = f
            .client
            .get(&url)
            .header("x-owner", "mallory")
            .send()
            .await?;
        assert_eq!(
            stranger.status(),
            404,
            "someone else's file is not even acknowledged"
        );
        let anonymous = f.client.get(&url).send().await?;
        assert_eq!(anonymous.status(), 401);
    }
    Ok(())
}
