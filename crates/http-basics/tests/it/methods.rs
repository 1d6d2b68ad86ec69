//! Safe and idempotent methods, checked by reading the server's state back after a retry.

use http_basics::idempotency::{IDEMPOTENCY_KEY, REPLAYED};
use http_basics::negotiate::{ACCEPT_PATCH, MERGE_PATCH};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{start, writer};

async fn count(client: &reqwest::Client, base: &str) -> anyhow::Result<usize> {
    let notes: Vec<Value> = client
        .get(format!("{base}/notes"))
        .send()
        .await?
        .json()
        .await?;
    Ok(notes.len())
}

async fn create(client: &reqwest::Client, base: &str, title: &str) -> anyhow::Result<String> {
    let res = client
        .post(format!("{base}/notes"))
        .bearer_auth(writer())
        .json(&json!({ "title": title }))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::CREATED);
    Ok(res.headers()["location"].to_str()?.to_owned())
}

/// POST is not idempotent: the same request sent twice creates two resources.
#[actix_web::test]
async fn a_retried_post_creates_a_duplicate() -> anyhow::Result<()> {
    let (server, client) = start(Default::default())?;
    create(&client, &server.base_url, "milk").await?;
    create(&client, &server.base_url, "milk").await?;
    assert_eq!(count(&client, &server.base_url).await?, 2);
    Ok(())
}

/// With an Idempotency-Key the retry is recognised and replayed: one note, same Location.
#[actix_web::test]
async fn an_idempotency_key_makes_a_retried_post_create_one_note() -> anyhow::Result<()> {
    let (server, client) = start(Default::default())?;
    let send = || {
        client
            .post(server.url("/notes"))
            .bearer_auth(writer())
            .header(IDEMPOTENCY_KEY, "7b1c-retry-me")
            .json(&json!({ "title": "milk" }))
            .send()
    };
    let first = send().await?;
    let retry = send().await?;
    assert_eq!(first.status(), StatusCode::CREATED);
    assert_eq!(retry.status(), StatusCode::CREATED);
    assert_eq!(first.headers()["location"], retry.headers()["location"]);
    assert_eq!(retry.headers()[REPLAYED], "true");
    assert!(!first.headers().contains_key(REPLAYED));
    assert_eq!(count(&client, &server.base_url).await?, 1);
    Ok(())
}

/// Reusing a key for a different request is a client bug: 422, and nothing is created.
#[actix_web::test]
async fn an_idempotency_key_reused_with_another_body_is_422() -> anyhow::Result<()> {
    let (server, client) = start(Default::default())?;
    let send = |title: &'static str| {
        client
            .post(server.url("/notes"))
            .bearer_auth(writer())
            .header(IDEMPOTENCY_KEY, "same-key")
            .json(&json!({ "title": title }))
            .send()
    };
    assert_eq!(send("milk").await?.status(), StatusCode::CREATED);
    assert_eq!(
        send("bread").await?.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(count(&client, &server.base_url).await?, 1);
    Ok(())
}

/// PUT is idempotent: sending the same replacement twice leaves one state and one version.
#[actix_web::test]
async fn a_retried_put_leaves_the_same_state_and_version() -> anyhow::Result<()> {
    let (server, client) = start(Default::default())?;
    let location = create(&client, &server.base_url, "draft").await?;
    let put = || {
        client
            .put(server.url(&location))
            .bearer_auth(writer())
            .json(&json!({ "title": "final", "tags": ["done"] }))
            .send()
    };
    let first: Value = put().await?.json().await?;
    let retry: Value = put().await?.json().await?;
    assert_eq!(first, retry);
    assert_eq!(retry["version"], 2);
    Ok(())
}

/// DELETE is idempotent even though the retry answers 404: the state after it is the same.
#[actix_web::test]
async fn a_retried_delete_answers_404_and_changes_nothing_more() -> anyhow::Result<()> {
    let (server, client) = start(Default::default())?;
    let keep = create(&client, &server.base_url, "keep").await?;
    let gone = create(&client, &server.base_url, "gone").await?;
    let delete = || {
        client
            .delete(server.url(&gone))
            .bearer_auth(writer())
            .send()
    };
    assert_eq!(delete().await?.status(), StatusCode::NO_CONTENT);
    assert_eq!(delete().await?.status(), StatusCode::NOT_FOUND);
    assert_eq!(count(&client, &server.base_url).await?, 1);
    assert_eq!(
        client.get(server.url(&keep)).send().await?.status(),
        StatusCode::OK
    );
    Ok(())
}

/// HEAD answers exactly what GET would, without the body.
#[actix_web::test]
async fn head_returns_the_get_headers_without_a_body() -> anyhow::Result<()> {
    let (server, client) = start(Default::default())?;
    let location = create(&client, &server.base_url, "peek").await?;
    let get = client.get(server.url(&location)).send().await?;
    let head = client.head(server.url(&location)).send().await?;
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["etag"], get.headers()["etag"]);
    assert_eq!(
        head.headers()["content-type"],
        get.headers()["content-type"]
    );
    assert!(head.bytes().await?.is_empty());
    Ok(())
}

/// OPTIONS lists the methods and the body formats a resource accepts.
#[actix_web::test]
async fn options_lists_allowed_methods_and_body_formats() -> anyhow::Result<()> {
    let (server, client) = start(Default::default())?;
    let location = create(&client, &server.base_url, "x").await?;
    let res = client
        .request(reqwest::Method::OPTIONS, server.url(&location))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        res.headers()["allow"],
        "GET, HEAD, PUT, PATCH, DELETE, OPTIONS"
    );
    assert_eq!(res.headers()[ACCEPT_PATCH], MERGE_PATCH);
    Ok(())
}

/// A merge patch sets what it names, removes what it nulls, keeps the rest, and is idempotent.
#[actix_web::test]
async fn a_merge_patch_changes_only_the_fields_it_names() -> anyhow::Result<()> {
    let (server, client) = start(Default::default())?;
    let res = client
        .post(server.url("/notes"))
        .bearer_auth(writer())
        .json(&json!({ "title": "t", "body": "b", "tags": ["a"] }))
        .send()
        .await?;
    let location = res.headers()["location"].to_str()?.to_owned();
    let patch = || {
        client
            .patch(server.url(&location))
            .bearer_auth(writer())
            .header("content-type", MERGE_PATCH)
            .body(r#"{"body": "new", "tags": null}"#)
            .send()
    };
    let first: Value = patch().await?.json().await?;
    let retry: Value = patch().await?.json().await?;
    assert_eq!(first["title"], "t");
    assert_eq!(first["body"], "new");
    assert_eq!(first["tags"], json!([]));
    assert_eq!(first, retry);
    Ok(())
}

/// A merge patch that removes a required field is refused with 422 naming it.
#[actix_web::test]
async fn a_merge_patch_removing_the_title_is_422() -> anyhow::Result<()> {
    let (server, client) = start(Default::default())?;
    let location = create(&client, &server.base_url, "t").await?;
    let res = client
        .patch(server.url(&location))
        .bearer_auth(writer())
        .header("content-type", MERGE_PATCH)
        .body(r#"{"title": null}"#)
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = res.json().await?;
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap_or("")
            .contains("title")
    );
    Ok(())
}
