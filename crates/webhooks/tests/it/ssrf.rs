//! Claims about the endpoint URL check. No test resolves an internet name: IP literals need no
//! lookup, and `localhost` resolves from the hosts file.
//!
//! The rebinding claims need a name whose answer is refused at delivery time without a DNS
//! server the test controls. `localhost` with loopback allowed at registration and refused at
//! delivery is that situation: the check passed once, and the same name now leads somewhere a
//! webhook may not go.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use reqwest::dns::{Name, Resolve};
use tokio::net::TcpListener;
use webhooks::config::Config;
use webhooks::dispatcher::Dispatcher;
use webhooks::outbox::{self, DeliveryStatus};
use webhooks::ssrf::{
    Rule, SsrfError, VettingResolver, check_before_send, check_endpoint, classify, keep_allowed,
};
use webhooks::{endpoints, orders};

use crate::outbox::databases;

/// The rule that refused `url`, or a failure naming what happened instead.
async fn refused_by(url: &str, allow_loopback: bool) -> anyhow::Result<Rule> {
    match check_endpoint(url, allow_loopback).await {
        Err(SsrfError::Refused { rule, .. }) => Ok(rule),
        other => anyhow::bail!("{url}: expected a refusal by rule, got {other:?}"),
    }
}

/// The addresses attackers aim at first, each refused by default and by the rule that names it.
#[tokio::test]
async fn internal_targets_are_refused_by_default_each_by_its_rule() -> anyhow::Result<()> {
    let cases = [
        (
            "http://169.254.169.254/latest/meta-data/",
            Rule::CloudMetadata,
        ),
        ("http://169.254.1.1/", Rule::LinkLocal),
        ("http://10.0.0.1/", Rule::Private),
        ("http://172.16.5.4:8080/", Rule::Private),
        ("http://192.168.1.1/", Rule::Private),
        ("http://100.64.0.1/", Rule::SharedAddressSpace),
        ("http://127.0.0.1:6379/", Rule::Loopback),
        ("http://[::1]/", Rule::Loopback),
        ("http://[fd12:3456::1]/", Rule::Private),
        ("http://[fe80::1]/", Rule::LinkLocal),
        ("http://0.0.0.0/", Rule::Unspecified),
        ("http://[::]/", Rule::Unspecified),
        ("http://224.0.0.1/", Rule::Multicast),
        ("http://[ff02::1]/", Rule::Multicast),
        ("http://255.255.255.255/", Rule::Broadcast),
        ("http://240.0.0.1/", Rule::Reserved),
    ];
    for (url, rule) in cases {
        assert_eq!(refused_by(url, false).await?, rule, "{url}");
    }
    Ok(())
}

/// `::ffff:a.b.c.d` reaches the IPv4 address a.b.c.d, so it is judged as that address; the
/// same goes for the WHATWG spellings of IPv4 (decimal, hex, shortened) that clients accept.
#[tokio::test]
async fn disguised_forms_of_internal_addresses_are_refused_as_what_they_are() -> anyhow::Result<()>
{
    let cases = [
        ("http://[::ffff:127.0.0.1]/", Rule::Loopback),
        ("http://[::ffff:10.0.0.1]/", Rule::Private),
        ("http://[::ffff:169.254.169.254]/", Rule::CloudMetadata),
        ("http://[64:ff9b::a00:1]/", Rule::Private),
        ("http://2130706433/", Rule::Loopback),
        ("http://0x7f.1/", Rule::Loopback),
        ("http://127.1/", Rule::Loopback),
        ("http://0251.0376.0251.0376/", Rule::CloudMetadata),
    ];
    for (url, rule) in cases {
        assert_eq!(refused_by(url, false).await?, rule, "{url}");
    }
    Ok(())
}

/// A name is checked by what it resolves to, not by how it is spelled.
#[tokio::test]
async fn a_name_that_resolves_to_loopback_is_refused() -> anyhow::Result<()> {
    assert_eq!(
        refused_by("http://localhost:8080/hooks", false).await?,
        Rule::Loopback
    );
    Ok(())
}

/// The demo's consumer runs on 127.0.0.1, so loopback can be allowed; nothing else is relaxed.
#[tokio::test]
async fn allowing_loopback_admits_loopback_but_still_refuses_private_targets() -> anyhow::Result<()>
{
    // Act
    let literal = check_endpoint("http://127.0.0.1:4000/webhooks", true).await?;
    let named = check_endpoint("http://localhost:4000/webhooks", true).await?;

    // Assert
    assert_eq!(
        literal.addrs,
        vec![SocketAddr::from(([127, 0, 0, 1], 4000))]
    );
    assert!(!named.addrs.is_empty());
    assert!(
        named
            .addrs
            .iter()
            .all(|a| a.ip().is_loopback() && a.port() == 4000)
    );
    assert_eq!(named.host(), "localhost");
    assert_eq!(refused_by("http://10.0.0.1/", true).await?, Rule::Private);
    assert_eq!(
        refused_by("http://169.254.169.254/", true).await?,
        Rule::CloudMetadata
    );
    assert_eq!(
        refused_by("http://[::ffff:192.168.0.1]/", true).await?,
        Rule::Private
    );
    Ok(())
}

#[tokio::test]
async fn schemes_other_than_http_and_https_are_refused() {
    for url in [
        "ftp://93.184.216.34/",
        "file:///etc/passwd",
        "gopher://93.184.216.34/",
    ] {
        assert!(
            matches!(check_endpoint(url, false).await, Err(SsrfError::Scheme(_))),
            "{url}"
        );
    }
}

#[tokio::test]
async fn urls_with_credentials_or_no_url_at_all_are_refused() {
    assert!(matches!(
        check_endpoint("http://admin:hunter2@93.184.216.34/", false).await,
        Err(SsrfError::UserInfo)
    ));
    assert!(matches!(
        check_endpoint("http://93.184.216.34@10.0.0.1/", false).await,
        Err(SsrfError::UserInfo)
    ));
    assert!(matches!(
        check_endpoint("/webhooks", false).await,
        Err(SsrfError::NotAUrl)
    ));
}

/// A public IP literal passes without any lookup (the test machine has no internet), and the
/// vetted address carries the scheme's default port.
#[tokio::test]
async fn a_public_literal_is_accepted_with_its_address_to_pin() -> anyhow::Result<()> {
    // Act
    let http = check_endpoint("http://93.184.216.34/hooks", false).await?;
    let https = check_endpoint("https://[2606:2800:220:1:248:1893:25c8:1946]/", false).await?;

    // Assert
    assert_eq!(http.addrs, vec![SocketAddr::from(([93, 184, 216, 34], 80))]);
    assert_eq!(http.url.path(), "/hooks");
    assert_eq!(https.addrs.len(), 1);
    assert_eq!(https.addrs[0].port(), 443);
    Ok(())
}

/// The boundaries of the ranges: the first address outside each is public.
#[test]
fn addresses_just_outside_the_refused_ranges_are_public() -> anyhow::Result<()> {
    for public in [
        "9.255.255.255",
        "11.0.0.0",
        "172.15.255.255",
        "172.32.0.0",
        "100.63.255.255",
        "100.128.0.0",
        "169.253.255.255",
        "223.255.255.255",
        "1.1.1.1",
        "::ffff:8.8.8.8",
        "2001:4860:4860::8888",
    ] {
        let ip: IpAddr = public.parse()?;
        assert_eq!(classify(ip), None, "{public}");
    }
    Ok(())
}

/// A listener on 127.0.0.1 that counts the connections made to it (and drops each at once):
/// "never connected" is then a number, not an absence of log lines.
async fn counting_listener() -> anyhow::Result<(u16, Arc<AtomicUsize>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let count = Arc::new(AtomicUsize::new(0));
    let counted = count.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            // Counted before the drop, so a client that sees the connection close has been counted.
            counted.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    Ok((port, count))
}

/// The [`SsrfError`] somewhere in an error's chain of causes, if there is one.
fn ssrf_cause<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a SsrfError> {
    std::iter::successors(Some(error), |e| e.source()).find_map(|e| e.downcast_ref())
}

/// At connect time a name's answers are filtered, not judged as a whole: the connector can only
/// try what the resolver returns, so dropping the internal addresses is enough.
#[test]
fn the_resolver_drops_a_private_address_and_keeps_a_public_one() -> anyhow::Result<()> {
    let private = SocketAddr::from(([10, 0, 0, 5], 0));
    let public = SocketAddr::from(([93, 184, 216, 34], 0));
    let metadata = SocketAddr::from(([169, 254, 169, 254], 0));

    let kept = keep_allowed("mixed.example", [private, public, metadata], false)?;
    let none_left = keep_allowed("internal.example", [metadata, private], false);

    assert_eq!(kept, vec![public]);
    match none_left {
        Err(SsrfError::NoAcceptableAddress { host, addr, rule }) => {
            assert_eq!(host, "internal.example");
            assert_eq!(addr, metadata.ip(), "the first refused address is named");
            assert_eq!(rule, Rule::CloudMetadata);
        }
        other => anyhow::bail!("expected NoAcceptableAddress, got {other:?}"),
    }
    Ok(())
}

/// The resolver itself, on the one name this machine resolves: it fails the lookup with the
/// address and the rule when loopback is refused, and answers with loopback when it is allowed.
#[tokio::test]
async fn the_resolver_refuses_localhost_unless_loopback_is_allowed() -> anyhow::Result<()> {
    let name = || {
        "localhost"
            .parse::<Name>()
            .map_err(|_| anyhow::anyhow!("`localhost` is not a name"))
    };

    let refused = VettingResolver::new(false).resolve(name()?).await;
    let allowed = VettingResolver::new(true).resolve(name()?).await;

    let Err(error) = refused else {
        anyhow::bail!("loopback refused, yet `localhost` resolved");
    };
    match error.downcast_ref::<SsrfError>() {
        Some(SsrfError::NoAcceptableAddress { addr, rule, .. }) => {
            assert!(addr.is_loopback(), "{addr}");
            assert_eq!(*rule, Rule::Loopback);
            assert!(error.to_string().contains("loopback"), "{error}");
        }
        other => anyhow::bail!("expected NoAcceptableAddress, got {other:?} ({error})"),
    }
    let addrs: Vec<SocketAddr> = allowed.map_err(|e| anyhow::anyhow!(e))?.collect();
    assert!(!addrs.is_empty());
    assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    Ok(())
}

/// Installed in a reqwest client, the refusal happens before any connection: the listener
/// counts none, and the request's error carries the refusal. The allowed client reaching the
/// same listener shows the test would have seen a connection.
#[tokio::test]
async fn a_client_with_the_resolver_never_connects_to_a_refused_address() -> anyhow::Result<()> {
    let (port, connections) = counting_listener().await?;
    let url = format!("http://localhost:{port}/hook");
    let client = |allow_loopback| {
        reqwest::Client::builder()
            .dns_resolver(VettingResolver::new(allow_loopback))
            .no_proxy()
            .build()
    };

    let refused = client(false)?.post(&url).send().await;

    let Err(error) = refused else {
        anyhow::bail!("the request to a refused address was sent");
    };
    assert!(
        matches!(
            ssrf_cause(&error),
            Some(SsrfError::NoAcceptableAddress {
                rule: Rule::Loopback,
                ..
            })
        ),
        "the refusal is the cause: {error:?}"
    );
    assert_eq!(connections.load(Ordering::SeqCst), 0, "never connected");

    // The listener drops the connection, so this errors too; what counts is that it connected.
    let _ = client(true)?.post(&url).send().await;
    assert!(
        connections.load(Ordering::SeqCst) >= 1,
        "the control connected"
    );
    Ok(())
}

/// The rebinding case end to end: an endpoint registered while its name was acceptable, whose
/// name leads to a refused address when the dispatcher sends. The attempt fails and is recorded
/// like any failed delivery (and retried on the schedule), and no connection is made.
#[tokio::test]
async fn a_delivery_to_a_name_that_resolves_to_a_refused_address_at_send_time_fails_and_is_recorded()
-> anyhow::Result<()> {
    for (backend, db) in databases("wh_ssrf_rebind").await? {
        let label = backend.backend().name();
        let (port, connections) = counting_listener().await?;
        let url = format!("http://localhost:{port}/hook");
        // Registered under loopback allowed: the name passed its check.
        endpoints::register(&db, &url, &Config::compressed()).await?;
        let (_, event) = orders::create(&db).await?;
        let at_send = Config {
            allow_loopback: false,
            ..Config::compressed()
        };
        let dispatcher = Dispatcher::new(db.clone(), at_send)?;

        let sent = dispatcher.run_once().await?;

        assert_eq!(sent, 1, "{label}: the attempt was made");
        let log = outbox::deliveries_of(&db, &event.id).await?;
        let first = log
            .iter()
            .find(|d| d.attempt == 1)
            .ok_or_else(|| anyhow::anyhow!("{label}: no first attempt in {log:#?}"))?;
        assert_eq!(
            first.state(),
            Some(DeliveryStatus::Failed),
            "{label}: {first:#?}"
        );
        assert_eq!(first.response_status, None, "{label}: no HTTP answer");
        let error = first.error.as_deref().unwrap_or_default();
        assert!(
            error.contains("resolves only to loopback") && !error.contains("127.0.0.1"),
            "{label}: the rule is recorded, the address is not: {first:#?}"
        );
        assert!(
            log.iter()
                .any(|d| d.attempt == 2 && d.state() == Some(DeliveryStatus::Pending)),
            "{label}: retried like any failure: {log:#?}"
        );
        assert_eq!(
            connections.load(Ordering::SeqCst),
            0,
            "{label}: never connected"
        );
    }
    Ok(())
}

/// An IP literal never reaches a resolver, so the per-attempt check judges it itself, under the
/// rules and `allow_loopback` of the moment; a name is left to the resolver, with no lookup here.
#[test]
fn the_check_before_send_judges_ip_literals_and_leaves_names_to_the_resolver() -> anyhow::Result<()>
{
    assert!(matches!(
        check_before_send("http://127.0.0.1:4000/hook", false),
        Err(SsrfError::Refused {
            rule: Rule::Loopback,
            ..
        })
    ));
    check_before_send("http://127.0.0.1:4000/hook", true)?;
    assert!(matches!(
        check_before_send("http://[::ffff:169.254.169.254]/", true),
        Err(SsrfError::Refused {
            rule: Rule::CloudMetadata,
            ..
        })
    ));
    assert!(matches!(
        check_before_send("http://0x0a.1/", true),
        Err(SsrfError::Refused {
            rule: Rule::Private,
            ..
        })
    ));
    check_before_send("http://93.184.216.34/hook", false)?;
    // No lookup: this name does not exist, and the check does not find out.
    check_before_send("http://no-such-host.invalid/hook", false)?;
    assert!(matches!(
        check_before_send("http://user:pw@93.184.216.34/", false),
        Err(SsrfError::UserInfo)
    ));
    Ok(())
}
