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
//! **DNS rebinding is closed at connect time.** Checking a name once is not enough: an
//! attacker's DNS server can answer the registration check with a public address and, seconds
//! later, the delivery with 169.254.169.254 or 10.0.0.5 (a short TTL is all it takes). So the
//! check is made again by the code that connects: the dispatcher's HTTP client resolves every
//! name through [`VettingResolver`], which asks the system resolver and hands the connector only
//! the addresses [`check_ip`] accepts. The address that is checked is the address that is
//! connected to, in the same call, so there is no second lookup for an attacker to answer
//! differently. When nothing acceptable remains the lookup fails, the connection is never
//! opened, and the attempt is recorded as failed like any other connect error.
//!
//! The resolver only sees names: a URL with an IP literal (`http://10.0.0.5/`) is connected to
//! without any lookup. Such an address cannot rebind, but the rules or the `allow_loopback`
//! setting may have changed since the endpoint was registered (or the row written by other
//! means), so each attempt must also pass [`check_before_send`], which applies every rule that
//! needs no lookup, before the request is built. The two together are the whole check at
//! delivery time.
//!
//! Redirects must not be followed either (a 302 to the metadata address would skip the whole
//! check); the specification counts a 3xx as a failed delivery anyway. Nor may the client pick
//! up a proxy from the environment: through a proxy, the target's name is resolved by the
//! proxy, out of this resolver's sight.
//!
//! What production adds: an egress proxy that applies the same rules to every outgoing
//! connection (the specification suggests one), and a separate subnet for the workers that
//! deliver, so a gap in this list is not a way in.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
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
    /// The rule in a word or two ("loopback", "private"), for messages.
    pub fn describe(self) -> &'static str {
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
    /// At connect time, every address the host resolved to was refused ([`VettingResolver`]);
    /// `addr` is the first of them and `rule` the rule that refused it.
    #[error(
        "`{host}` resolves to no address webhooks may target: {addr} is a {} address",
        rule.describe()
    )]
    NoAcceptableAddress {
        host: String,
        addr: IpAddr,
        rule: Rule,
    },
}

/// A URL that passed, and the addresses it was vetted at. They hold only for the moment of the
/// check: a later connection must not trust them for a name, which is why delivery vets again
/// through [`VettingResolver`] (see DNS rebinding above). A client that must reach exactly
/// these addresses can pin them instead (reqwest's `ClientBuilder::resolve_to_addrs`).
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
    let (url, port) = parse(url)?;
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

/// The check to make just before each attempt: every rule that needs no DNS lookup, so an
/// IP-literal URL is judged again under today's rules and `allow_loopback` (the connector never
/// asks a resolver about a literal). A host name passes here; its addresses are vetted when the
/// client connects, by [`VettingResolver`]. Synchronous and cheap: it only parses.
pub fn check_before_send(url: &str, allow_loopback: bool) -> Result<(), SsrfError> {
    let (url, _) = parse(url)?;
    match url.host().ok_or(SsrfError::NoHost)? {
        Host::Ipv4(v4) => check_ip(IpAddr::V4(v4), allow_loopback),
        Host::Ipv6(v6) => check_ip(IpAddr::V6(v6), allow_loopback),
        Host::Domain(_) => Ok(()),
    }
}

/// The rules on the URL itself (scheme, userinfo, a port), shared by both checks so the one at
/// registration and the one at delivery cannot drift apart.
fn parse(url: &str) -> Result<(Url, u16), SsrfError> {
    let url = Url::parse(url).map_err(|_| SsrfError::NotAUrl)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(SsrfError::Scheme(url.scheme().to_owned()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(SsrfError::UserInfo);
    }
    let port = url.port_or_known_default().ok_or(SsrfError::NoHost)?;
    Ok((url, port))
}

/// A reqwest DNS resolver that returns only the addresses a webhook may be sent to: installed
/// with `ClientBuilder::dns_resolver`, it makes the SSRF check part of every connection the
/// client opens, which is what closes DNS rebinding (see the module docs).
///
/// It resolves with the system resolver, like reqwest's default, and then filters. Filtering
/// here differs from [`check_endpoint`], which refuses a URL if *any* address is bad: at
/// registration the client might later pick any of them, but here the connector can only try
/// the addresses this returns, so dropping the bad ones is enough and a name with one public
/// and one private address still gets its delivery.
///
/// What production adds: caching with the records' TTLs (this asks the system resolver on each
/// new connection, as reqwest's default does; idle pooled connections are reused without a
/// lookup), and a resolver that does not go through a blocking thread per lookup (hickory-dns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VettingResolver {
    allow_loopback: bool,
}

impl VettingResolver {
    /// `allow_loopback` as in [`check_ip`]: the dispatcher passes its configuration's.
    pub fn new(allow_loopback: bool) -> Self {
        Self { allow_loopback }
    }
}

impl Resolve for VettingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let host = name.as_str();
            // Port 0 because the connector sets each address's port from the URL afterwards.
            let found = tokio::net::lookup_host((host, 0)).await.map_err(|source| {
                SsrfError::Unresolvable {
                    host: host.to_owned(),
                    source,
                }
            })?;
            let kept = keep_allowed(host, found, allow_loopback)?;
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

/// The addresses among `found` that [`check_ip`] accepts, in their order; each refused one is
/// logged. An error when none remain: [`SsrfError::NoAcceptableAddress`] naming the first
/// refused address and its rule, or [`SsrfError::NoAddresses`] when `found` was empty.
/// Separate from [`VettingResolver`] so the filtering can be shown on any addresses, not only
/// on what this machine's resolver happens to return.
pub fn keep_allowed(
    host: &str,
    found: impl IntoIterator<Item = SocketAddr>,
    allow_loopback: bool,
) -> Result<Vec<SocketAddr>, SsrfError> {
    let mut kept = Vec::new();
    let mut first_refused = None;
    for addr in found {
        match check_ip(addr.ip(), allow_loopback) {
            Ok(()) => kept.push(addr),
            Err(error) => {
                // Logged even when another address is kept: a name that mixes public and
                // internal answers is worth an operator's look.
                tracing::warn!(%host, %error, "resolved address refused");
                if let (None, SsrfError::Refused { addr, rule }) = (first_refused, error) {
                    first_refused = Some((addr, rule));
                }
            }
        }
    }
    match (kept.is_empty(), first_refused) {
        (false, _) => Ok(kept),
        (true, Some((addr, rule))) => Err(SsrfError::NoAcceptableAddress {
            host: host.to_owned(),
            addr,
            rule,
        }),
        (true, None) => Err(SsrfError::NoAddresses(host.to_owned())),
    }
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
