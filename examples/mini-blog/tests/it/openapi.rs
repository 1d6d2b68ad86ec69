//! The OpenAPI document: valid, served, and the same set of routes the server mounts.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::common;

/// Every `$ref` in `value`.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if key == "$ref" {
                    if let Some(r) = v.as_str() {
                        out.push(r);
                    }
                } else {
                    refs(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_served_document_is_openapi_3_and_every_reference_resolves() -> anyhow::Result<()> {
    let app = common::sqlite().await?;
    let (status, document) = app.get("/api/openapi.json", None).await?;
    assert_eq!(status, StatusCode::OK);
    assert!(
        document["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.")),
        "{}",
        document["openapi"]
    );
    assert!(document["info"]["title"].is_string());
    let mut found = Vec::new();
    refs(&document, &mut found);
    assert!(!found.is_empty());
    for r in found {
        let pointer = r.strip_prefix('#').unwrap_or(r);
        assert!(document.pointer(pointer).is_some(), "{r} does not resolve");
    }
    assert!(document["components"]["securitySchemes"]["Token"].is_object());
    // Every operation has at least one response and names its tag.
    for (path, item) in document["paths"].as_object().cloned().unwrap_or_default() {
        for (method, op) in item.as_object().cloned().unwrap_or_default() {
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path}"
            );
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{method} {path}"
            );
        }
    }
    app.stop().await;
    Ok(())
}

/// The spec's endpoints plus this server's three extensions: what must be mounted and documented.
const EXPECTED: &[(&str, &str)] = &[
    ("post", "/api/users"),
    ("post", "/api/users/login"),
    ("get", "/api/user"),
    ("put", "/api/user"),
    ("get", "/api/user/notifications"),
    ("get", "/api/profiles/{username}"),
    ("post", "/api/profiles/{username}/follow"),
    ("delete", "/api/profiles/{username}/follow"),
    ("get", "/api/articles"),
    ("post", "/api/articles"),
    ("get", "/api/articles/feed"),
    ("get", "/api/articles/top"),
    ("get", "/api/articles/{slug}"),
    ("put", "/api/articles/{slug}"),
    ("delete", "/api/articles/{slug}"),
    ("post", "/api/articles/{slug}/favorite"),
    ("delete", "/api/articles/{slug}/favorite"),
    ("get", "/api/articles/{slug}/comments"),
    ("post", "/api/articles/{slug}/comments"),
    ("delete", "/api/articles/{slug}/comments/{id}"),
    ("get", "/api/tags"),
];

/// [`EXPECTED`] as a set of owned `(method, path)` pairs, to compare with what was found.
fn expected() -> BTreeSet<(String, String)> {
    EXPECTED
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect()
}

#[tokio::test]
async fn the_document_lists_exactly_the_routes_the_server_answers() -> anyhow::Result<()> {
    let app = common::sqlite().await?;
    let document = serde_json::to_value(mini_blog::http::document())?;
    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .map(|o| o.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
                .into_iter()
                .map(move |method| (method, path.clone()))
        })
        .collect();
    assert_eq!(documented, expected());
    // Each documented operation is routed: it answers anything but the router's 404 or 405.
    for (method, path) in &documented {
        let concrete = path
            .replace("{username}", "nobody")
            .replace("{slug}", "no-such-article")
            .replace("{id}", "1");
        let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())?;
        let (status, body) = app.call(method.clone(), &concrete, None, None).await?;
        let routed =
            status != StatusCode::METHOD_NOT_ALLOWED && body["errors"].get("route").is_none();
        assert!(routed, "{method} {concrete}: {status} {body}");
    }
    app.stop().await;
    Ok(())
}

#[tokio::test]
async fn swagger_ui_is_served_from_the_binary_without_a_network() -> anyhow::Result<()> {
    let app = common::sqlite().await?;
    let page = app.client.get(app.url("/api/docs/")).send().await?;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await?;
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(
        !html.contains("https://"),
        "the page loads nothing from elsewhere"
    );
    let script = app
        .client
        .get(app.url("/api/docs/swagger-ui-bundle.js"))
        .send()
        .await?;
    assert_eq!(script.status(), StatusCode::OK);
    assert!(script.bytes().await?.len() > 100_000);
    app.stop().await;
    Ok(())
}

/// `METHOD /path/{param}` for every request of a Postman collection (folders or flat).
fn collection_requests(items: &Value, out: &mut BTreeSet<(String, String)>) {
    for item in items.as_array().into_iter().flatten() {
        if let Some(children) = item.get("item") {
            collection_requests(children, out);
            continue;
        }
        let request = &item["request"];
        let method = request["method"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let path: Vec<String> = request["url"]["path"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|segment| match segment.strip_prefix(':') {
                Some(name) => format!("{{{name}}}"),
                None => segment.to_owned(),
            })
            .collect();
        out.insert((method, format!("/{}", path.join("/"))));
    }
}

#[test]
fn the_committed_postman_collection_has_a_request_for_every_documented_operation()
-> anyhow::Result<()> {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/postman/mini-blog.postman_collection.json"
    );
    let collection: Value = serde_json::from_str(&std::fs::read_to_string(file)?)?;
    let mut requested = BTreeSet::new();
    collection_requests(&collection["item"], &mut requested);
    assert_eq!(
        requested,
        expected(),
        "regenerate it: `just postman` against a running server"
    );
    Ok(())
}
