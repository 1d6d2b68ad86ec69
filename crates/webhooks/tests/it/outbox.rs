//! The transactional outbox: an event exists exactly when the change it announces committed.

use diesel::prelude::*;
use support::testkit::{TestBackend, every_backend};
use webhooks::config::Config;
use webhooks::orders::{self, OrderState};
use webhooks::outbox::{self, DeliveryStatus};
use webhooks::store::{self, Db};

/// A migrated database on every backend the claim must hold on. The [`TestBackend`] is returned
/// beside the pool and must outlive it: dropping it removes the database.
pub async fn databases(label: &str) -> anyhow::Result<Vec<(TestBackend, Db)>> {
    let mut out = Vec::new();
    for backend in every_backend(label).await? {
        let db = store::open(&backend.target, 4).await?;
        out.push((backend, db));
    }
    Ok(out)
}

/// How many rows a table holds, for "nothing was written" claims.
async fn count_deliveries(db: &Db) -> anyhow::Result<i64> {
    use webhooks::store::schema::webhooks_deliveries::dsl as d;
    Ok(db
        .interact(|c| d::webhooks_deliveries.count().get_result(c))
        .await?)
}

/// The test's own fault, injected after the event is written and before the commit.
fn fail(_: &mut store::AnyConnection) -> QueryResult<()> {
    Err(diesel::result::Error::RollbackTransaction)
}

#[tokio::test]
async fn a_rolled_back_state_change_leaves_no_event_and_no_delivery() -> anyhow::Result<()> {
    for (backend, db) in databases("wh_outbox_rollback").await? {
        let label = backend.backend().name();
        webhooks::endpoints::register(&db, "http://127.0.0.1:9/hook", &Config::compressed())
            .await?;
        let (order, _) = orders::create(&db).await?;
        let before = outbox::events_since(&db, 0, 100).await?;
        let deliveries_before = count_deliveries(&db).await?;

        let failed = orders::change_state_then(&db, &order.id, OrderState::Paid, fail).await;

        assert!(
            failed.is_err(),
            "{label}: the injected failure must surface"
        );
        assert_eq!(outbox::events_since(&db, 0, 100).await?, before, "{label}");
        assert_eq!(count_deliveries(&db).await?, deliveries_before, "{label}");
        assert_eq!(
            orders::state_of(&db, &order.id).await?,
            Some(OrderState::Created),
            "{label}: the order keeps its state"
        );
    }
    Ok(())
}

#[tokio::test]
async fn an_invalid_transition_writes_nothing() -> anyhow::Result<()> {
    for (backend, db) in databases("wh_outbox_invalid").await? {
        let (order, _) = orders::create(&db).await?;
        let before = outbox::events_since(&db, 0, 100).await?;

        let refused = orders::change_state(&db, &order.id, OrderState::Delivered).await;

        assert!(
            matches!(refused, Err(store::StoreError::InvalidTransition { .. })),
            "{}: {refused:?}",
            backend.backend().name()
        );
        assert_eq!(outbox::events_since(&db, 0, 100).await?, before);
    }
    Ok(())
}

#[tokio::test]
async fn a_committed_change_has_exactly_one_event_with_a_delivery_per_enabled_endpoint()
-> anyhow::Result<()> {
    for (backend, db) in databases("wh_outbox_commit").await? {
        let label = backend.backend().name();
        let config = Config::compressed();
        let a = webhooks::endpoints::register(&db, "http://127.0.0.1:9/a", &config).await?;
        let b = webhooks::endpoints::register(&db, "http://127.0.0.1:9/b", &config).await?;
        let off = webhooks::endpoints::register(&db, "http://127.0.0.1:9/off", &config).await?;
        db.interact(move |c| webhooks::endpoints::disable_in(c, &off.id, "test", 0))
            .await?;
        let (order, created) = orders::create(&db).await?;

        let paid = orders::change_state(&db, &order.id, OrderState::Paid).await?;

        let events = outbox::events_since(&db, created.seq, 100).await?;
        assert_eq!(events, vec![paid.clone()], "{label}: exactly one new event");
        assert_eq!(paid.event_type, "order.paid");
        assert!(paid.id.starts_with("msg_"), "{label}: {}", paid.id);
        let mut to: Vec<String> = outbox::deliveries_of(&db, &paid.id)
            .await?
            .into_iter()
            .inspect(|d| assert_eq!(d.state(), Some(DeliveryStatus::Pending)))
            .map(|d| d.endpoint_id)
            .collect();
        to.sort();
        let mut expected = vec![a.id, b.id];
        expected.sort();
        assert_eq!(
            to, expected,
            "{label}: one pending delivery per enabled endpoint"
        );
    }
    Ok(())
}

#[tokio::test]
async fn events_since_is_ordered_and_complete() -> anyhow::Result<()> {
    for (backend, db) in databases("wh_outbox_since").await? {
        let label = backend.backend().name();
        let mut written = Vec::new();
        for _ in 0..5 {
            let (order, created) = orders::create(&db).await?;
            written.push(created.id);
            written.push(
                orders::change_state(&db, &order.id, OrderState::Paid)
                    .await?
                    .id,
            );
        }

        // Read in pages of three, the way a poller does: each page from the last seq it saw.
        let (mut seen, mut since) = (Vec::new(), 0);
        loop {
            let page = outbox::events_since(&db, since, 3).await?;
            let Some(last) = page.last() else { break };
            since = last.seq;
            seen.extend(page.into_iter().map(|e| e.id));
        }

        assert_eq!(seen, written, "{label}: every event once, in commit order");
    }
    Ok(())
}
