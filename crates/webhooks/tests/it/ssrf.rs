//! Claims about the endpoint URL check. No test resolves an internet name: IP literals need no
//! lookup, and `localhost` resolves from the hosts file.

use std::net::{IpAddr, SocketAddr};

use webhooks::ssrf::{Rule, SsrfError, check_endpoint, classify};

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
