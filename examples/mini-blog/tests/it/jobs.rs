//! The background job: publishing tells the author's followers, on every queue backend.

use std::time::{Duration, Instant};

use mini_blog::state::QueueChoice;
use reqwest::Method;
use support::Service;
use support::testkit::require;

use crate::common::{self, Fixture, Options};

/// Publishes as `ada` with `bob` following; waits (bounded) for bob's notification.
async fn bob_is_notified(app: &Fixture) -> anyhow::Result<()> {
    let ada = app.register("ada").await?;
    let bob = app.register("bob").await?;
    let cat = app.register("cat").await?;
    app.call(Method::POST, "/api/profiles/ada/follow", Some(&bob), None)
        .await?;
    let slug = app.article(&ada, "News", &[]).await?;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, body) = app.get("/api/user/notifications", Some(&bob)).await?;
        if body["notifications"]
            .as_array()
            .is_some_and(|n| !n.is_empty())
        {
            assert_eq!(body["notifications"][0]["slug"], slug.as_str());
            assert_eq!(body["notifications"][0]["author"], "ada");
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "no notification within 15 s on {}",
            app.state.notifier.backend()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, body) = app.get("/api/user/notifications", Some(&cat)).await?;
    assert_eq!(
        body["notifications"].as_array().map(Vec::len),
        Some(0),
        "cat follows nobody"
    );
    Ok(())
}

#[tokio::test]
async fn a_new_article_notifies_followers_through_the_in_process_queue() -> anyhow::Result<()> {
    let app = common::sqlite().await?;
    bob_is_notified(&app).await?;
    app.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_new_article_notifies_followers_through_redis() -> anyhow::Result<()> {
    let Some(_) = require(Service::Redis).await else {
        return Ok(());
    };
    for app in common::every_with(Options {
        queue: QueueChoice::Redis,
        ..Options::default()
    })
    .await?
    {
        assert_eq!(app.state.notifier.backend(), "redis");
        bob_is_notified(&app).await?;
        app.stop().await;
    }
    Ok(())
}

#[tokio::test]
async fn a_new_article_notifies_followers_through_rabbitmq() -> anyhow::Result<()> {
    let Some(_) = require(Service::RabbitMq).await else {
        return Ok(());
    };
    for app in common::every_with(Options {
        queue: QueueChoice::RabbitMq,
        ..Options::default()
    })
    .await?
    {
        assert_eq!(app.state.notifier.backend(), "rabbitmq");
        bob_is_notified(&app).await?;
        app.stop().await;
    }
    Ok(())
}
