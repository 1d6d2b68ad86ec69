//! The check every endpoint URL passes before the provider will ever POST to it.
//!
//! A webhook provider makes HTTP requests to URLs its *customers* typed in, from inside the
//! provider's network. Without a check, `http://169.254.169.254/latest/meta-data/` (the cloud
//! metadata service, which hands out the machine's credentials), `http://10.0.0.5:9200/` (an
//! internal search cluster) or `http://localhost:6379/` become requests the attacker makes with
//! the provider's network position: server-side request forgery. The Standard Webhooks
//! specification names it as the main risk of letting consumers register URLs.
//!
//! The rules, each a [`Rule`] so a refusal says which one fired: only `http` and `https`; no
//! userinfo (`http://user:pass@host/` hides the real host from a careless reader, and the
//! provider has no business sending credentials it was handed in a URL); and every address the
//! host resolves to must be a public one: not loopback (unless allowed, for tests and the demo),
//! private, link-local (which holds the metadata address), CGNAT shared space, unspecified,
//! multicast, broadcast or reserved, and not an IPv6 address that embeds one of those
//! (`::ffff:10.0.0.1` is 10.0.0.1 to the kernel).
//!
//! Hosts are read by the `url` crate's WHATWG parser, never by string matching: it turns
//! `http://2130706433/`, `http://0x7f.1/` and `http://127.1/` into the IPv4 address 127.0.0.1,
//! the same way a client would, so such spellings are checked as the address they are.
//!
//! **DNS rebinding.** Checking a name is not enough on its own: an attacker's DNS server can
//! answer the check with a public address and, seconds later, the delivery with 127.0.0.1. So
//! [`check_endpoint`] returns the vetted socket addresses in [`Checked`], and whoever connects
//! must either pin them (connect to exactly those, e.g. reqwest's `ClientBuilder::resolve`) or
//! call [`check_endpoint`] again at delivery time and use what that returns. Which of the two
//! the crate does is the dispatcher's decision, documented there. Redirects must not be
//! followed either (a 302 to the metadata address would skip the whole check); the
//! specification counts a 3xx as a failed delivery anyway.
//!
//! What production adds: an egress proxy that applies the same rules to every outgoing
//! connection (the specification suggests one), and a separate subnet for the workers that
//! deliver, so a gap in this list is not a way in.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::{Host, Url};

/// Which rule refused an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// 127.0.0.0/8, `::1`: this machine.
    Loopback,
    /// 10/8, 172.16/12, 192.168/16 (RFC 1918), and IPv6 unique-local `fc00::/7` and
    /// the deprecated site-local `fec0::/10`.
    Private,
    /// 169.254/16 and `fe80::/10`: the link, where cloud metadata services live.
    LinkLocal,
    /// 169.254.169.254 (and AWS's IPv6 `fd00:ec2::254`): the cloud metadata service itself,
    /// named separately because it is the target of most real SSRF attacks.
    CloudMetadata,
    /// 100.64/10 (RFC 6598): a carrier's NAT, not the public internet.
    SharedAddressSpace,
    /// 0.0.0.0/8 and `::`: "this host" (Linux connects 0.0.0.0 to the local machine).
    Unspecified,
    /// 224/4 and `ff00::/8`.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
    /// 240/4: reserved, never a legitimate destination.
    Reserved,
}

impl Rule {
    fn describe(self) -> &'static str {
        match self {
            Rule::Loopback => "loopback",
            Rule::Private => "private",
            Rule::LinkLocal => "link-local",
            Rule::CloudMetadata => "the cloud metadata service",
            Rule::SharedAddressSpace => "carrier-grade NAT shared space",
            Rule::Unspecified => "unspecified",
            Rule::Multicast => "multicast",
            Rule::Broadcast => "broadcast",
            Rule::Reserved => "reserved",
        }
    }
}

/// Why an endpoint URL was refused. Each message is written for the endpoint's owner (an API
/// answers it as 422 on the `url` field): it says what to change, and names no internal detail.
#[derive(Debug, thiserror::Error)]
pub enum SsrfError {
    /// The text is not an absolute URL.
    #[error("not an absolute URL")]
    NotAUrl,
    /// A scheme other than http and https (`ftp:`, `file:`, `gopher:`…).
    #[error("the scheme `{0}` is not accepted; use http or https")]
    Scheme(String),
    /// `user:password@` in the URL.
    #[error("URLs with a user name or password are not accepted")]
    UserInfo,
    /// No host, or no port that http(s) implies.
    #[error("the URL has no host")]
    NoHost,
    /// The host name did not resolve.
    #[error("the host `{host}` does not resolve")]
    Unresolvable {
        host: String,
        #[source]
        source: std::io::Error,
    },
    /// The host name resolved to nothing at all.
    #[error("the host `{0}` has no addresses")]
    NoAddresses(String),
    /// The host is, or resolves to, an address a rule refuses.
    #[error("{addr} is a {} address, which webhooks may not target", rule.describe())]
    Refused { addr: IpAddr, rule: Rule },
}

/// A URL that passed, and the addresses it was vetted at: connect to these, not to a fresh
/// lookup of the name (see DNS rebinding above).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub url: Url,
    /// Every address the host resolved to at check time (one for an IP literal), each with the
    /// URL's port. Never empty.
    pub addrs: Vec<SocketAddr>,
}

impl Checked {
    /// The host as written in the URL (a name, or an address), for pinning it to [`Self::addrs`].
    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }
}

/// Parses `url`, applies every rule, resolves a host name with the system resolver, and checks
/// every address it returns (one bad address refuses the URL: the client might pick any of
/// them). IP literals are checked without any lookup.
pub async fn check_endpoint(url: &str, allow_loopback: bool) -> Result<Checked, SsrfError> {
    let url = Url::parse(url).map_err(|_| SsrfError::NotAUrl)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(SsrfError::Scheme(url.scheme().to_owned()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(SsrfError::UserInfo);
    }
    let port = url.port_or_known_default().ok_or(SsrfError::NoHost)?;
    let ips: Vec<IpAddr> = match url.host().ok_or(SsrfError::NoHost)? {
        Host::Ipv4(v4) => vec![IpAddr::V4(v4)],
        Host::Ipv6(v6) => vec![IpAddr::V6(v6)],
        Host::Domain(name) => {
            let resolved = tokio::net::lookup_host((name, port))
                .await
                .map_err(|source| SsrfError::Unresolvable {
                    host: name.to_owned(),
                    source,
                })?;
            resolved.map(|addr| addr.ip()).collect()
        }
    };
    if ips.is_empty() {
        return Err(SsrfError::NoAddresses(
            url.host_str().unwrap_or_default().to_owned(),
        ));
    }
    for ip in &ips {
        check_ip(*ip, allow_loopback)?;
    }
    let addrs = ips
        .into_iter()
        .map(|ip| SocketAddr::new(ip, port))
        .collect();
    Ok(Checked { url, addrs })
}

/// One address against the rules: `Ok` if a webhook may be sent to it.
pub fn check_ip(ip: IpAddr, allow_loopback: bool) -> Result<(), SsrfError> {
    match classify(ip) {
        None => Ok(()),
        Some(Rule::Loopback) if allow_loopback => Ok(()),
        Some(rule) => Err(SsrfError::Refused { addr: ip, rule }),
    }
}

/// The rule an address falls under, or `None` for a public address. Written out by range
/// rather than with `Ipv4Addr::is_global`, which is not stable, and so that each range is
/// visible and named.
pub fn classify(ip: IpAddr) -> Option<Rule> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Rule> {
    let [a, b, ..] = ip.octets();
    if ip == Ipv4Addr::new(169, 254, 169, 254) {
        Some(Rule::CloudMetadata)
    } else if a == 0 {
        Some(Rule::Unspecified)
    } else if ip.is_loopback() {
        Some(Rule::Loopback)
    } else if ip.is_private() {
        Some(Rule::Private)
    } else if ip.is_link_local() {
        Some(Rule::LinkLocal)
    } else if a == 100 && (64..128).contains(&b) {
        Some(Rule::SharedAddressSpace)
    } else if ip.is_multicast() {
        Some(Rule::Multicast)
    } else if ip.is_broadcast() {
        Some(Rule::Broadcast)
    } else if a >= 240 {
        Some(Rule::Reserved)
    } else {
        None
    }
}

fn classify_v6(ip: Ipv6Addr) -> Option<Rule> {
    // IPv6 forms that reach an IPv4 address: the mapped `::ffff:a.b.c.d` (what a dual-stack
    // socket uses for IPv4 peers), the deprecated compatible `::a.b.c.d`, and NAT64's
    // well-known prefix `64:ff9b::/96` (a NAT64 gateway forwards it to the IPv4 address).
    // Each is judged as the IPv4 address inside it.
    let segments = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    if ip.is_unspecified() {
        return Some(Rule::Unspecified);
    }
    if ip.is_loopback() {
        return Some(Rule::Loopback);
    }
    let embedded = || {
        let [.., c, d, e, f] = ip.octets();
        Ipv4Addr::new(c, d, e, f)
    };
    if segments[..6] == [0; 6] || segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return classify_v4(embedded());
    }
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        Some(Rule::CloudMetadata)
    } else if segments[0] & 0xfe00 == 0xfc00 || segments[0] & 0xffc0 == 0xfec0 {
        Some(Rule::Private)
    } else if segments[0] & 0xffc0 == 0xfe80 {
        Some(Rule::LinkLocal)
    } else if ip.is_multicast() {
        Some(Rule::Multicast)
    } else {
        None
    }
}
