//! Claims about the HTTP API: bad input gets a precise status and a problem+json body, and a
//! refused request leaves nothing behind in any engine.

use std::sync::Arc;

use serde_json::{Value, json};
use sql_vs_nosql::app::{self, Engines};
use sql_vs_nosql::model::MAX_BODY_CHARS;
use sql_vs_nosql::store::SocialStore;

use crate::common::{every_relational, reference, small};

async fn send(request: reqwest::RequestBuilder) -> anyhow::Result<(u16, String, Value)> {
    let response = request.send().await?;
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    Ok((status, kind, body))
}

#[tokio::test]
async fn bad_input_is_a_precise_problem_and_writes_nothing_on_any_relational_engine()
-> anyhow::Result<()> {
    let data = small();
    let dbs = every_relational("http_bad").await?;
    let mut engines = Engines::default();
    for db in &dbs {
        db.store.load(&data, &|_| {}).await?;
    }
    let shared: Vec<Arc<dyn SocialStore>> = dbs.iter().map(|db| db.shared()).collect();
    for store in shared {
        engines = engines.with(store);
    }
    let server = support::server::spawn(move |l| app::run(l, engines))?;
    let client = reqwest::Client::new();
    let too_long = "x".repeat(MAX_BODY_CHARS + 1);

    for db in &dbs {
        let slug = db.store.engine().slug();
        let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
            (
                client
                    .post(server.url(&format!("/engines/{slug}/posts")))
                    .json(&json!({"author": 1, "body": too_long})),
                422,
                "over-long body",
            ),
            (
                client
                    .post(server.url(&format!("/engines/{slug}/posts")))
                    .json(&json!({"author": 1, "body": "   "})),
                422,
                "blank body",
            ),
            (
                client
                    .post(server.url(&format!("/engines/{slug}/posts")))
                    .json(&json!({"author": 999_999, "body": "orphan"})),
                404,
                "unknown author",
            ),
            (
                client
                    .post(server.url(&format!("/engines/{slug}/posts")))
                    .json(&json!({"author": 0, "body": "zero"})),
                400,
                "invalid author id",
            ),
            (
                client
                    .post(server.url(&format!("/engines/{slug}/posts")))
                    .json(&json!({"author": 1})),
                422,
                "missing body field (well-formed JSON, invalid post)",
            ),
            (
                client.get(server.url(&format!("/engines/{slug}/users/abc"))),
                404,
                "non-numeric id (a path that names no resource)",
            ),
            (
                client.get(server.url(&format!("/engines/{slug}/users/-4/profile"))),
                400,
                "negative id",
            ),
            (
                client.get(server.url(&format!("/engines/{slug}/users/999999/feed"))),
                404,
                "unknown user",
            ),
            (
                client.get(server.url(&format!("/engines/{slug}/posts/top?limit=1000"))),
                400,
                "limit out of range",
            ),
            (
                client
                    .post(server.url(&format!("/engines/{slug}/posts/999999/likes")))
                    .json(&json!({"user": 1})),
                404,
                "unknown post",
            ),
        ];
        for (request, status, what) in cases {
            let (got, kind, body) = send(request).await?;
            assert_eq!(got, status, "{slug}: {what}: {body}");
            assert!(
                kind.starts_with("application/problem+json"),
                "{slug}: {what}: {kind}"
            );
            assert_eq!(body["status"], status, "{slug}: {what}: {body}");
        }
        // Nothing refused above was written: every read still equals the oracle's.
        assert_eq!(
            db.store.profile(1, 20).await?,
            reference::profile(&data, 1, 20),
            "{slug}"
        );
        assert_eq!(
            db.store.top_posts(10).await?,
            reference::top_posts(&data, 10),
            "{slug}"
        );
    }

    let (status, _, _) = send(client.get(server.url("/engines/mongodb/posts/top"))).await?;
    assert_eq!(status, 404, "an engine this crate does not have");
    let (status, _, body) = send(client.get(server.url("/engines/falkordb/posts/top"))).await?;
    assert_eq!(
        status, 503,
        "an engine not connected in this instance: {body}"
    );

    // And a good request works end to end: 201 with the post, which then leads the profile.
    let slug = dbs[0].store.engine().slug();
    let response = client
        .post(server.url(&format!("/engines/{slug}/posts")))
        .json(&json!({"author": 1, "body": "hello over HTTP"}))
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 201);
    let created: Value = response.json().await?;
    let profile: Value = client
        .get(server.url(&format!("/engines/{slug}/users/1/profile?limit=1")))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(profile["posts"][0]["id"], created["id"]);
    server.stop().await;
    Ok(())
}
