//! ETags: 304 saves a body, 412 prevents a lost update.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{start, writer};

async fn created(client: &reqwest::Client, url: String) -> anyhow::Result<(String, String)> {
    let res = client
        .post(url)
        .bearer_auth(writer())
        .json(&json!({ "title": "shared doc" }))
        .send()
        .await?;
    Ok((
        res.headers()["location"].to_str()?.to_owned(),
        res.headers()["etag"].to_str()?.to_owned(),
    ))
}

/// A client holding the current version gets 304 and no body; after an update, 200 and a new ETag.
#[actix_web::test]
async fn if_none_match_with_the_current_etag_gets_304_until_the_note_changes() -> anyhow::Result<()>
{
    let (server, client) = start(Default::default())?;
    let (location, etag) = created(&client, server.url("/notes")).await?;

    let cached = client
        .get(server.url(&location))
        .header("if-none-match", &etag)
        .send()
        .await?;
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(cached.headers()["etag"], etag.as_str());
    assert!(cached.bytes().await?.is_empty());

    client
        .put(server.url(&location))
        .bearer_auth(writer())
        .json(&json!({ "title": "edited" }))
        .send()
        .await?;
    let fresh = client
        .get(server.url(&location))
        .header("if-none-match", &etag)
        .send()
        .await?;
    assert_eq!(fresh.status(), StatusCode::OK);
    assert_ne!(fresh.headers()["etag"], etag.as_str());
    Ok(())
}

/// Two clients read version 1; the first writes; the second's write, conditional on version 1,
/// is refused with 412 and the first client's change survives.
#[actix_web::test]
async fn a_write_with_a_stale_if_match_is_412_and_changes_nothing() -> anyhow::Result<()> {
    let (server, client) = start(Default::default())?;
    let (location, etag) = created(&client, server.url("/notes")).await?;

    let alice = client
        .put(server.url(&location))
        .bearer_auth(writer())
        .header("if-match", &etag)
        .json(&json!({ "title": "alice's edit" }))
        .send()
        .await?;
    let bob = client
        .patch(server.url(&location))
        .bearer_auth(writer())
        .header("if-match", &etag)
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"title": "bob's edit"}"#)
        .send()
        .await?;
    let bob_delete = client
        .delete(server.url(&location))
        .bearer_auth(writer())
        .header("if-match", &etag)
        .send()
        .await?;

    assert_eq!(alice.status(), StatusCode::OK);
    assert_eq!(bob.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(bob_delete.status(), StatusCode::PRECONDITION_FAILED);
    let now: Value = client
        .get(server.url(&location))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(now["title"], "alice's edit");
    Ok(())
}

/// The collection has a validator too: a write anywhere changes it.
#[actix_web::test]
async fn the_collection_etag_changes_on_every_write() -> anyhow::Result<()> {
    let (server, client) = start(Default::default())?;
    let before = client.get(server.url("/notes")).send().await?;
    let etag = before.headers()["etag"].to_str()?.to_owned();
    let unchanged = client
        .get(server.url("/notes"))
        .header("if-none-match", &etag)
        .send()
        .await?;
    assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);
    created(&client, server.url("/notes")).await?;
    let changed = client
        .get(server.url("/notes"))
        .header("if-none-match", &etag)
        .send()
        .await?;
    assert_eq!(changed.status(), StatusCode::OK);
    Ok(())
}

/// Writing to an archived note is a conflict with its state (409); unarchiving is allowed.
#[actix_web::test]
async fn an_archived_note_is_read_only_until_unarchived() -> anyhow::Result<()> {
    let (server, client) = start(Default::default())?;
    let res = client
        .post(server.url("/notes"))
        .bearer_auth(writer())
        .json(&json!({ "title": "old", "archived": true }))
        .send()
        .await?;
    let location = res.headers()["location"].to_str()?.to_owned();
    let edit = |archived: bool| {
        client
            .put(server.url(&location))
            .bearer_auth(writer())
            .json(&json!({ "title": "new", "archived": archived }))
            .send()
    };
    assert_eq!(edit(true).await?.status(), StatusCode::CONFLICT);
    let delete = client
        .delete(server.url(&location))
        .bearer_auth(writer())
        .send()
        .await?;
    assert_eq!(delete.status(), StatusCode::CONFLICT);
    assert_eq!(edit(false).await?.status(), StatusCode::OK);
    Ok(())
}
