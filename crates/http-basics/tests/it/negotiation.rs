//! Accept picks the representation; Content-Type says what the body is.

use http_basics::negotiate::{ACCEPT_PATCH, ACCEPT_POST, MERGE_PATCH};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{start, writer};

/// One note, two representations, each with its own validator; XML is honestly refused.
#[actix_web::test]
async fn accept_selects_json_or_text_and_anything_else_is_406() -> anyhow::Result<()> {
    let (server, client) = start(Default::default())?;
    let res = client
        .post(server.url("/notes"))
        .bearer_auth(writer())
        .json(&json!({ "title": "negotiated" }))
        .send()
        .await?;
    let location = res.headers()["location"].to_str()?.to_owned();
    let get = |accept: &'static str| {
        client
            .get(server.url(&location))
            .header("accept", accept)
            .send()
    };

    let json = get("application/json").await?;
    let text = get("text/plain;q=0.9, application/json;q=0.1").await?;
    let xml = get("application/xml").await?;

    assert!(
        json.headers()["content-type"]
            .to_str()?
            .starts_with("application/json")
    );
    assert_eq!(text.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(text.headers()["vary"], "Accept");
    assert_ne!(json.headers()["etag"], text.headers()["etag"]);
    assert!(text.text().await?.starts_with("#1 negotiated"));
    assert_eq!(xml.status(), StatusCode::NOT_ACCEPTABLE);
    assert_eq!(xml.headers()["content-type"], "application/problem+json");
    Ok(())
}

/// An HTML form body creates the same note a JSON body does.
#[actix_web::test]
async fn a_form_body_creates_the_same_note_as_json() -> anyhow::Result<()> {
    let (server, client) = start(Default::default())?;
    let res = client
        .post(server.url("/notes"))
        .bearer_auth(writer())
        .form(&[
            ("title", "from a form"),
            ("body", "hello"),
            ("tags", "a, b"),
        ])
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::CREATED);
    let note: Value = res.json().await?;
    assert_eq!(note["title"], "from a form");
    assert_eq!(note["tags"], json!(["a", "b"]));
    Ok(())
}

/// A body we cannot read is 415, and the response says what we can read.
#[actix_web::test]
async fn an_unsupported_body_is_415_with_what_is_accepted() -> anyhow::Result<()> {
    let (server, client) = start(Default::default())?;
    let post = client
        .post(server.url("/notes"))
        .bearer_auth(writer())
        .header("content-type", "application/xml")
        .body("<note><title>x</title></note>")
        .send()
        .await?;
    assert_eq!(post.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        post.headers()[ACCEPT_POST]
            .to_str()?
            .contains("application/json")
    );

    let created = client
        .post(server.url("/notes"))
        .bearer_auth(writer())
        .json(&json!({ "title": "x" }))
        .send()
        .await?;
    let location = created.headers()["location"].to_str()?.to_owned();
    // PATCH needs the merge-patch media type: plain JSON would be ambiguous (merge? replace?).
    let patch = client
        .patch(server.url(&location))
        .bearer_auth(writer())
        .json(&json!({ "title": "y" }))
        .send()
        .await?;
    assert_eq!(patch.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(patch.headers()[ACCEPT_PATCH], MERGE_PATCH);
    Ok(())
}
