//! Validators: 304 saves a body (from an `ETag` or a `Last-Modified` date), 412 prevents a lost
//! update.

use std::time::{Duration, SystemTime};

use actix_web::http::header::HttpDate;
use http_basics::negotiate::MERGE_PATCH;
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

/// A created note as a client first reads it: its location, its ETag and its `Last-Modified`.
async fn created_and_read(
    client: &reqwest::Client,
    server: &support::server::RunningServer,
) -> anyhow::Result<(String, String, String)> {
    let (location, etag) = created(client, server.url("/notes")).await?;
    let full = client.get(server.url(&location)).send().await?;
    let last_modified = full.headers()["last-modified"].to_str()?.to_owned();
    Ok((location, etag, last_modified))
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

/// A note's `Last-Modified` date shifted by `secs` (negative: earlier), as an HTTP-date.
fn shifted(last_modified: &str, secs: i64) -> anyhow::Result<String> {
    let at = SystemTime::from(last_modified.parse::<HttpDate>()?);
    let delta = Duration::from_secs(secs.unsigned_abs());
    let moved = if secs < 0 { at - delta } else { at + delta };
    Ok(HttpDate::from(moved).to_string())
}

/// A client that kept only the date sends it back and gets 304 with no body, carrying the same
/// validator and caching headers as the 304 an ETag earns. The note was stored with milliseconds
/// and sent with whole seconds; the comparison is at whole seconds, so the date it was sent with
/// counts as "not modified".
#[actix_web::test]
async fn if_modified_since_at_last_modified_is_304_without_a_body() -> anyhow::Result<()> {
    let (server, client) = start(Default::default())?;
    let (location, etag, last_modified) = created_and_read(&client, &server).await?;

    let by_date = client
        .get(server.url(&location))
        .header("if-modified-since", &last_modified)
        .send()
        .await?;
    let by_etag = client
        .get(server.url(&location))
        .header("if-none-match", &etag)
        .send()
        .await?;
    let head = client
        .head(server.url(&location))
        .header("if-modified-since", &last_modified)
        .send()
        .await?;

    assert_eq!(by_date.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(head.status(), StatusCode::NOT_MODIFIED);
    for name in ["etag", "last-modified", "cache-control", "vary"] {
        assert_eq!(by_date.headers()[name], by_etag.headers()[name], "{name}");
    }
    assert_eq!(by_date.headers()["last-modified"], last_modified.as_str());
    assert!(by_date.bytes().await?.is_empty());
    Ok(())
}

/// A client whose copy is dated before the note's last change gets the note in full. (The store's
/// clock is not ours to move, so rather than wait a second for the note to change after the
/// client's date, the test dates the client's copy a second before the change.)
#[actix_web::test]
async fn if_modified_since_before_a_change_is_200() -> anyhow::Result<()> {
    let (server, client) = start(Default::default())?;
    let (location, _, last_modified) = created_and_read(&client, &server).await?;

    let older_copy = client
        .get(server.url(&location))
        .header("if-modified-since", shifted(&last_modified, -1)?)
        .send()
        .await?;

    assert_eq!(older_copy.status(), StatusCode::OK);
    let note: Value = older_copy.json().await?;
    assert_eq!(note["title"], "shared doc");
    Ok(())
}

/// With both headers, the ETag decides and the date is not consulted: a stale ETag gets 200 even
/// though the date says "unchanged", and the current ETag gets 304 even though the date is old.
#[actix_web::test]
async fn if_none_match_takes_precedence_over_if_modified_since() -> anyhow::Result<()> {
    let (server, client) = start(Default::default())?;
    let (location, etag, last_modified) = created_and_read(&client, &server).await?;

    let stale_tag = client
        .get(server.url(&location))
        .header("if-none-match", "\"stale\"")
        .header("if-modified-since", &last_modified)
        .send()
        .await?;
    let current_tag = client
        .get(server.url(&location))
        .header("if-none-match", &etag)
        .header("if-modified-since", shifted(&last_modified, -3600)?)
        .send()
        .await?;

    assert_eq!(stale_tag.status(), StatusCode::OK);
    assert!(!stale_tag.bytes().await?.is_empty());
    assert_eq!(current_tag.status(), StatusCode::NOT_MODIFIED);
    Ok(())
}

/// A value that is not an HTTP-date is ignored, not guessed at: the answer is a full 200.
#[actix_web::test]
async fn an_unparseable_if_modified_since_is_ignored() -> anyhow::Result<()> {
    let (server, client) = start(Default::default())?;
    let (location, _) = created(&client, server.url("/notes")).await?;

    for value in ["yesterday", "2099-01-01T00:00:00Z", "0"] {
        let res = client
            .get(server.url(&location))
            .header("if-modified-since", value)
            .send()
            .await?;
        assert_eq!(res.status(), StatusCode::OK, "{value}");
        assert!(!res.bytes().await?.is_empty(), "{value}");
    }
    Ok(())
}

/// A date later than the server's clock cannot be a `Last-Modified` this server sent; it is
/// ignored rather than trusted, so the answer is a full 200.
#[actix_web::test]
async fn an_if_modified_since_in_the_future_is_ignored() -> anyhow::Result<()> {
    let (server, client) = start(Default::default())?;
    let (location, _) = created(&client, server.url("/notes")).await?;
    let tomorrow = HttpDate::from(SystemTime::now() + Duration::from_secs(86_400)).to_string();

    let res = client
        .get(server.url(&location))
        .header("if-modified-since", tomorrow)
        .send()
        .await?;

    assert_eq!(res.status(), StatusCode::OK);
    assert!(!res.bytes().await?.is_empty());
    Ok(())
}

/// `If-Modified-Since` only ever spares a read: a PUT carrying it still writes.
#[actix_web::test]
async fn a_put_with_if_modified_since_still_writes() -> anyhow::Result<()> {
    let (server, client) = start(Default::default())?;
    let (location, _, last_modified) = created_and_read(&client, &server).await?;

    let put = client
        .put(server.url(&location))
        .bearer_auth(writer())
        .header("if-modified-since", &last_modified)
        .json(&json!({ "title": "edited anyway" }))
        .send()
        .await?;

    assert_eq!(put.status(), StatusCode::OK);
    let now: Value = client
        .get(server.url(&location))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(now["title"], "edited anyway");
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
        .header("content-type", MERGE_PATCH)
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
