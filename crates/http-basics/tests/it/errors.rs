//! Who may call, how often, and what a failure looks like from outside.

use std::time::Duration;

use http_basics::Config;
use http_basics::rate_limit::RateLimit;
use http_basics::request_id::REQUEST_ID;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{start, writer};

/// No credentials: 401 with a challenge. Known credentials without the right: 403, no challenge.
#[actix_web::test]
async fn missing_credentials_are_401_with_a_challenge_and_a_reader_writing_is_403()
-> anyhow::Result<()> {
    let (server, client) = start(Default::default())?;
    let note = json!({ "title": "x" });
    let anonymous = client.post(server.url("/notes")).json(&note).send().await?;
    let wrong = client
        .post(server.url("/notes"))
        .bearer_auth("guess")
        .json(&note)
        .send()
        .await?;
    let reader = client
        .post(server.url("/notes"))
        .bearer_auth(Config::default().tokens.reader)
        .json(&note)
        .send()
        .await?;

    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        anonymous.headers()["www-authenticate"],
        "Bearer realm=\"notes\""
    );
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(reader.status(), StatusCode::FORBIDDEN);
    assert!(!reader.headers().contains_key("www-authenticate"));
    Ok(())
}

/// A method the resource does not support is 405 and `Allow` says which ones it does.
#[actix_web::test]
async fn an_unsupported_method_is_405_with_allow() -> anyhow::Result<()> {
    let (server, client) = start(Default::default())?;
    let res = client
        .delete(server.url("/notes"))
        .bearer_auth(writer())
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.headers()["allow"], "GET, HEAD, POST, OPTIONS");
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    Ok(())
}

/// Unknown paths and ids that cannot exist are 404 problems, not 400s or 500s.
#[actix_web::test]
async fn unknown_paths_and_impossible_ids_are_404_problems() -> anyhow::Result<()> {
    let (server, client) = start(Default::default())?;
    for path in [
        "/nowhere",
        "/notes/42",
        "/notes/not-a-number",
        "/notes/-1/attachment",
    ] {
        let res = client.get(server.url(path)).send().await?;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
    }
    Ok(())
}

/// An internal failure is a 500 with a fixed sentence: the cause (host, user) stays in the log.
#[actix_web::test]
async fn an_internal_failure_is_500_without_its_cause() -> anyhow::Result<()> {
    let (server, client) = start(Default::default())?;
    let res = client.get(server.url("/debug/fail")).send().await?;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(res.headers().contains_key(REQUEST_ID));
    let body = res.text().await?;
    assert!(
        !body.contains("db-primary") && !body.contains("notes_admin"),
        "{body}"
    );
    let problem: Value = serde_json::from_str(&body)?;
    assert_eq!(problem["detail"], support::problem::INTERNAL_DETAIL);
    Ok(())
}

/// An empty write bucket answers 429 with a Retry-After the client can obey.
#[actix_web::test]
async fn too_many_writes_are_429_with_retry_after() -> anyhow::Result<()> {
    let config = Config {
        write_rate: RateLimit {
            burst: 2,
            per_second: 0.1,
        },
        ..Config::default()
    };
    let (server, client) = start(config)?;
    let post = || {
        client
            .post(server.url("/notes"))
            .bearer_auth(writer())
            .json(&json!({ "title": "x" }))
            .send()
    };
    assert_eq!(post().await?.status(), StatusCode::CREATED);
    assert_eq!(post().await?.status(), StatusCode::CREATED);
    let limited = post().await?;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = limited.headers()["retry-after"].to_str()?.parse()?;
    assert!((1..=10).contains(&retry_after), "{retry_after}");
    // Reads are not limited.
    assert_eq!(
        client.get(server.url("/notes")).send().await?.status(),
        StatusCode::OK
    );
    Ok(())
}

/// Maintenance is a 503 with Retry-After for everyone, and lifting it restores service.
#[actix_web::test]
async fn maintenance_is_503_with_retry_after_until_lifted() -> anyhow::Result<()> {
    let (server, client) = start(Default::default())?;
    let admin = Config::default().tokens.admin;
    let switch = |enabled: bool| {
        client
            .put(server.url("/admin/maintenance"))
            .bearer_auth(&admin)
            .json(&json!({ "enabled": enabled }))
            .send()
    };
    let by_writer = client
        .put(server.url("/admin/maintenance"))
        .bearer_auth(writer())
        .json(&json!({ "enabled": true }))
        .send()
        .await?;
    assert_eq!(by_writer.status(), StatusCode::FORBIDDEN);

    assert_eq!(switch(true).await?.status(), StatusCode::OK);
    let down = client.get(server.url("/notes")).send().await?;
    assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(down.headers()["retry-after"], "30");
    assert_eq!(switch(false).await?.status(), StatusCode::OK);
    assert_eq!(
        client.get(server.url("/notes")).send().await?.status(),
        StatusCode::OK
    );
    Ok(())
}

/// Every response carries a request id: the client's own if it is sane, a fresh one otherwise.
#[actix_web::test]
async fn every_response_carries_a_request_id() -> anyhow::Result<()> {
    let (server, client) = start(Default::default())?;
    let mine = client
        .get(server.url("/notes"))
        .header(REQUEST_ID, "trace-abc.123")
        .send()
        .await?;
    assert_eq!(mine.headers()[REQUEST_ID], "trace-abc.123");
    let forged = client
        .get(server.url("/notes"))
        .header(REQUEST_ID, "evil value\twith tab")
        .send()
        .await?;
    let fresh = forged.headers()[REQUEST_ID].to_str()?;
    assert_ne!(fresh, "evil value\twith tab");
    assert!(uuid::Uuid::parse_str(fresh).is_ok());
    let error = client
        .get(server.url("/nowhere"))
        .timeout(Duration::from_secs(5))
        .send()
        .await?;
    assert!(error.headers().contains_key(REQUEST_ID));
    Ok(())
}
