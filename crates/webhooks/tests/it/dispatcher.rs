//! The dispatcher, against a real HTTP receiver on loopback that can be told to fail.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use support::server::RunningServer;
use tokio::sync::mpsc;
use webhooks::config::Config;
use webhooks::dispatcher::{Dispatcher, DispatcherHandle, redeliver};
use webhooks::endpoints::{self, Endpoint};
use webhooks::orders::{self, OrderState};
use webhooks::outbox::{self, Delivery, DeliveryStatus};
use webhooks::signature::{self, Headers, Secret};
use webhooks::store::{self, Db};

use crate::outbox::databases;

/// One request as the receiver saw it.
#[derive(Debug)]
struct Hit {
    at: Instant,
    id: Option<String>,
    timestamp: Option<String>,
    signature: Option<String>,
    body: Vec<u8>,
}

#[derive(Clone)]
struct Receiver {
    fail_first: usize,
    seen: Arc<AtomicUsize>,
    hits: mpsc::UnboundedSender<Hit>,
}

async fn hook(state: web::Data<Receiver>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let n = state.seen.fetch_add(1, Ordering::SeqCst);
    let _ = state.hits.send(Hit {
        at: Instant::now(),
        id: header(signature::HEADER_ID),
        timestamp: header(signature::HEADER_TIMESTAMP),
        signature: header(signature::HEADER_SIGNATURE),
        body: body.to_vec(),
    });
    if n < state.fail_first {
        HttpResponse::InternalServerError().finish()
    } else {
        HttpResponse::NoContent().finish()
    }
}

/// A receiver that answers 500 to its first `fail_first` requests and 204 after.
fn receiver(fail_first: usize) -> anyhow::Result<(RunningServer, mpsc::UnboundedReceiver<Hit>)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let state = web::Data::new(Receiver {
        fail_first,
        seen: Arc::new(AtomicUsize::new(0)),
        hits: tx,
    });
    let server = support::server::spawn(move |l| {
        support::server::app(l, move |cfg| {
            cfg.app_data(state.clone())
                .route("/hook", web::post().to(hook));
        })
    })?;
    Ok((server, rx))
}

/// The next request, or an error after a generous deadline (two cores, shared).
async fn next_hit(rx: &mut mpsc::UnboundedReceiver<Hit>) -> anyhow::Result<Hit> {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await?
        .ok_or_else(|| anyhow::anyhow!("the receiver stopped"))
}

fn start(db: &Db, config: &Config) -> anyhow::Result<DispatcherHandle> {
    Ok(Dispatcher::new(db.clone(), config.clone())?
        .poll_every(Duration::from_millis(2))
        .start())
}

/// Waits until `event`'s attempts to the endpoint satisfy `done` (the dispatcher records an
/// outcome just after the receiver answers).
async fn log_when(
    db: &Db,
    event: &str,
    done: impl Fn(&[Delivery]) -> bool,
) -> anyhow::Result<Vec<Delivery>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = outbox::deliveries_of(db, event).await?;
        if done(&log) {
            return Ok(log);
        }
        anyhow::ensure!(Instant::now() < deadline, "log never settled: {log:#?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn settled(log: &[Delivery]) -> bool {
    !log.is_empty()
        && log
            .iter()
            .all(|d| d.state() != Some(DeliveryStatus::Pending))
}

fn verifies(endpoint: &Endpoint, hit: &Hit) -> anyhow::Result<()> {
    let secret = Secret::parse(&endpoint.secret)?;
    let headers = Headers {
        id: hit.id.as_deref(),
        timestamp: hit.timestamp.as_deref(),
        signature: hit.signature.as_deref(),
    };
    let now = u64::try_from(chrono::Utc::now().timestamp())?;
    signature::verify(
        &[secret],
        &headers,
        &hit.body,
        now,
        Duration::from_secs(300),
    )?;
    Ok(())
}

#[tokio::test]
async fn a_delivery_that_fails_twice_then_succeeds_has_three_attempts_at_the_schedules_spacing()
-> anyhow::Result<()> {
    for (backend, db) in databases("wh_dispatch_retry").await? {
        let label = backend.backend().name();
        let config = Config::compressed();
        let (server, mut hits) = receiver(2)?;
        let endpoint = endpoints::register(&db, &server.url("/hook"), &config).await?;
        let dispatcher = start(&db, &config)?;

        let (_, event) = orders::create(&db).await?;
        let got = [
            next_hit(&mut hits).await?,
            next_hit(&mut hits).await?,
            next_hit(&mut hits).await?,
        ];
        let log = log_when(&db, &event.id, settled).await?;
        dispatcher.stop().await;

        let statuses: Vec<_> = log
            .iter()
            .map(|d| (d.attempt, d.state(), d.response_status))
            .collect();
        assert_eq!(
            statuses,
            vec![
                (1, Some(DeliveryStatus::Failed), Some(500)),
                (2, Some(DeliveryStatus::Failed), Some(500)),
                (3, Some(DeliveryStatus::Delivered), Some(204)),
            ],
            "{label}"
        );
        for (k, base) in config.retry_schedule.iter().take(2).enumerate() {
            let gap = got[k + 1].at - got[k].at;
            assert!(
                gap >= *base,
                "{label}: retry {k} came after {gap:?} < {base:?}"
            );
            assert!(gap < *base * 2 + Duration::from_secs(1), "{label}: {gap:?}");
            assert_eq!(
                log[k].next_attempt_at,
                Some(log[k + 1].scheduled_at),
                "{label}"
            );
        }
        assert!(log[2].next_attempt_at.is_none());
        for hit in &got {
            assert_eq!(
                hit.id.as_deref(),
                Some(event.id.as_str()),
                "{label}: one webhook-id"
            );
            verifies(&endpoint, hit)?;
        }
        assert_eq!(
            got[0].body, got[2].body,
            "{label}: every retry sends the same bytes"
        );
        let endpoint = endpoints::get(&db, &endpoint.id).await?.unwrap();
        assert_eq!(
            endpoint.consecutive_failures, 0,
            "{label}: reset by the success"
        );
    }
    Ok(())
}

#[tokio::test]
async fn an_endpoint_that_always_fails_is_disabled_after_the_threshold_with_a_reason_and_receives_nothing_more()
-> anyhow::Result<()> {
    for (backend, db) in databases("wh_dispatch_disable").await? {
        let label = backend.backend().name();
        let config = Config {
            disable_after: 3,
            ..Config::compressed()
        };
        let (server, mut hits) = receiver(usize::MAX)?;
        let endpoint = endpoints::register(&db, &server.url("/hook"), &config).await?;
        let dispatcher = start(&db, &config)?;

        let (order, event) = orders::create(&db).await?;
        for _ in 0..3 {
            next_hit(&mut hits).await?;
        }
        let log = log_when(&db, &event.id, settled).await?;
        let later = orders::change_state(&db, &order.id, OrderState::Paid).await?;
        // Long enough for several polls and the whole compressed schedule.
        tokio::time::sleep(Duration::from_millis(300)).await;
        dispatcher.stop().await;

        assert_eq!(log.len(), 3, "{label}: {log:#?}");
        assert!(
            log[2].next_attempt_at.is_none(),
            "{label}: no retry after disabling"
        );
        let endpoint = endpoints::get(&db, &endpoint.id).await?.unwrap();
        assert!(!endpoint.enabled, "{label}");
        let reason = endpoint.disabled_reason.unwrap_or_default();
        assert!(
            reason.contains("3 consecutive failed deliveries") && reason.contains("HTTP 500"),
            "{label}: {reason}"
        );
        assert!(hits.try_recv().is_err(), "{label}: nothing more was sent");
        assert!(
            outbox::deliveries_of(&db, &later.id).await?.is_empty(),
            "{label}: nothing queued"
        );
        assert!(matches!(
            redeliver(&db, &event.id, &endpoint.id).await,
            Err(store::StoreError::EndpointDisabled(_))
        ));
    }
    Ok(())
}

#[tokio::test]
async fn a_manual_redelivery_after_the_schedule_gave_up_delivers() -> anyhow::Result<()> {
    for (backend, db) in databases("wh_dispatch_redeliver").await? {
        let label = backend.backend().name();
        let config = Config {
            retry_schedule: vec![Duration::from_millis(5)],
            ..Config::compressed()
        };
        let (server, mut hits) = receiver(2)?;
        let endpoint = endpoints::register(&db, &server.url("/hook"), &config).await?;
        let dispatcher = start(&db, &config)?;
        let (_, event) = orders::create(&db).await?;
        next_hit(&mut hits).await?;
        next_hit(&mut hits).await?;
        let gave_up = log_when(&db, &event.id, settled).await?;
        assert_eq!(
            gave_up.len(),
            2,
            "{label}: two attempts, then the schedule is over"
        );

        redeliver(&db, &event.id, &endpoint.id).await?;
        let hit = next_hit(&mut hits).await?;
        let log = log_when(&db, &event.id, |l| l.len() == 3 && settled(l)).await?;
        dispatcher.stop().await;

        assert_eq!(hit.id.as_deref(), Some(event.id.as_str()), "{label}");
        assert_eq!(
            log[2].state(),
            Some(DeliveryStatus::Delivered),
            "{label}: {log:#?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn an_event_committed_before_the_dispatcher_stopped_is_delivered_after_a_new_one_starts()
-> anyhow::Result<()> {
    for (backend, db) in databases("wh_dispatch_restart").await? {
        let label = backend.backend().name();
        let config = Config::compressed();
        let (server, mut hits) = receiver(0)?;
        endpoints::register(&db, &server.url("/hook"), &config).await?;
        start(&db, &config)?.stop().await;

        let (_, event) = orders::create(&db).await?;
        // A new provider process: its own pool on the same database, its own dispatcher. (The old
        // pool stays open meanwhile: closing SQLite's last connection checkpoints the WAL under
        // an exclusive lock, which the new pool's first PRAGMA would meet.)
        let old = db;
        let db = store::open(&backend.target, 2).await?;
        let dispatcher = start(&db, &config)?;
        let hit = next_hit(&mut hits).await?;
        let log = log_when(&db, &event.id, settled).await?;
        dispatcher.stop().await;

        assert_eq!(hit.id.as_deref(), Some(event.id.as_str()), "{label}");
        assert_eq!(log.len(), 1, "{label}");
        assert_eq!(log[0].state(), Some(DeliveryStatus::Delivered), "{label}");
        drop(old);
    }
    Ok(())
}

#[tokio::test]
async fn a_rolled_back_change_is_never_delivered() -> anyhow::Result<()> {
    for (backend, db) in databases("wh_dispatch_rollback").await? {
        let label = backend.backend().name();
        let config = Config::compressed();
        let (server, mut hits) = receiver(0)?;
        endpoints::register(&db, &server.url("/hook"), &config).await?;
        let (order, created) = orders::create(&db).await?;
        let dispatcher = start(&db, &config)?;
        next_hit(&mut hits).await?;

        let failed = orders::change_state_then(&db, &order.id, OrderState::Paid, |_| {
            Err(diesel::result::Error::RollbackTransaction)
        })
        .await;
        // A committed change after it: once that one arrives, the rolled-back one had every
        // chance to be sent before it.
        let paid = orders::change_state(&db, &order.id, OrderState::Paid).await?;
        let next = next_hit(&mut hits).await?;
        tokio::time::sleep(Duration::from_millis(50)).await;
        dispatcher.stop().await;

        assert!(failed.is_err());
        assert_eq!(next.id.as_deref(), Some(paid.id.as_str()), "{label}");
        assert!(hits.try_recv().is_err(), "{label}: nothing else was sent");
        let events = outbox::events_since(&db, 0, 10).await?;
        assert_eq!(
            events.iter().map(|e| &e.id).collect::<Vec<_>>(),
            vec![&created.id, &paid.id]
        );
    }
    Ok(())
}

#[tokio::test]
async fn registering_a_private_or_metadata_address_is_refused_and_stores_nothing()
-> anyhow::Result<()> {
    for (backend, db) in databases("wh_register_ssrf").await? {
        let label = backend.backend().name();
        for url in [
            "http://10.0.0.1/hook",
            "http://169.254.169.254/latest/meta-data/",
        ] {
            let refused = endpoints::register(&db, url, &Config::compressed()).await;
            assert!(
                matches!(refused, Err(store::StoreError::EndpointRefused(_))),
                "{label}: {url}: {refused:?}"
            );
        }
        let (_, event) = orders::create(&db).await?;
        assert!(
            outbox::deliveries_of(&db, &event.id).await?.is_empty(),
            "{label}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn during_a_rotations_grace_period_a_delivery_verifies_with_the_old_secret_and_the_new()
-> anyhow::Result<()> {
    for (backend, db) in databases("wh_dispatch_rotate").await? {
        let label = backend.backend().name();
        let config = Config::compressed();
        let (server, mut hits) = receiver(0)?;
        let before = endpoints::register(&db, &server.url("/hook"), &config).await?;
        let new = endpoints::rotate_secret(&db, &before.id, Duration::from_secs(60)).await?;
        let dispatcher = start(&db, &config)?;

        orders::create(&db).await?;
        let hit = next_hit(&mut hits).await?;
        dispatcher.stop().await;

        let after = endpoints::get(&db, &before.id).await?.unwrap();
        assert_eq!(after.secret, new, "{label}");
        verifies(&before, &hit)?;
        verifies(&after, &hit)?;
    }
    Ok(())
}

/// The provider's commit wakes an idle dispatcher in the same process: with a poll of one
/// minute, the delivery still arrives within seconds of the order being created over HTTP.
#[tokio::test]
async fn a_dispatcher_woken_by_the_provider_sends_a_new_event_without_waiting_for_its_poll()
-> anyhow::Result<()> {
    use webhooks::provider::{self, Provider};
    for (backend, db) in databases("wh_dispatch_woken").await? {
        let label = backend.backend().name();
        let config = Config::compressed();
        let (server, mut hits) = receiver(0)?;
        endpoints::register(&db, &server.url("/hook"), &config).await?;
        let state = Provider::new(db.clone(), config.clone());
        let dispatcher = Dispatcher::new(db.clone(), config.clone())?
            .poll_every(Duration::from_secs(60))
            .woken_by(state.changes())
            .start();
        let api = support::server::spawn(move |l| provider::run(l, state))?;
        // Let the dispatcher's first round find nothing and go to sleep on its minute.
        tokio::time::sleep(Duration::from_millis(100)).await;

        let created = reqwest::Client::new()
            .post(api.url("/orders"))
            .send()
            .await?;
        assert_eq!(created.status(), reqwest::StatusCode::CREATED, "{label}");
        // `next_hit` gives up after 10 s, long before the minute's poll would have sent it.
        let hit = next_hit(&mut hits).await?;
        assert!(hit.id.is_some(), "{label}: a signed delivery");
        dispatcher.stop().await;
        api.stop().await;
    }
    Ok(())
}

/// On PostgreSQL several dispatchers can run: each claims with `FOR UPDATE SKIP LOCKED` and a
/// lease, so between them every event is sent, and none twice. (SQLite has one writer and one
/// dispatcher per file: its half is not run.)
#[tokio::test]
async fn two_dispatchers_on_postgresql_send_every_event_exactly_once() -> anyhow::Result<()> {
    for (backend, db) in databases("wh_dispatch_two").await? {
        if backend.backend() != support::db::Backend::Postgres {
            continue;
        }
        let config = Config::compressed();
        let (server, mut hits) = receiver(0)?;
        endpoints::register(&db, &server.url("/hook"), &config).await?;
        let mut events = Vec::new();
        for _ in 0..20 {
            events.push(orders::create(&db).await?.1.id);
        }
        let (first, second) = (start(&db, &config)?, start(&db, &config)?);

        let mut got = Vec::new();
        for _ in 0..events.len() {
            got.push(next_hit(&mut hits).await?.id.unwrap_or_default());
        }
        // Anything sent twice would arrive within the same rounds; give it the time to.
        tokio::time::sleep(Duration::from_millis(200)).await;
        first.stop().await;
        second.stop().await;
        while let Ok(hit) = hits.try_recv() {
            got.push(hit.id.unwrap_or_default());
        }

        got.sort();
        events.sort();
        assert_eq!(got, events, "each event once, none twice");
    }
    Ok(())
}
