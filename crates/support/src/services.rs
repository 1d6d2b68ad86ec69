//! Which real services can this run use?
//!
//! A demo must start in well under a second whether or not anything listens, so the probe speaks
//! just enough of each protocol to know a real server answered (not merely that a port is open),
//! with a short timeout, and probes every service at once. It needs no client library: a
//! topic that never touches RabbitMQ does not compile lapin to find out RabbitMQ is missing.

use std::fmt;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::Settings;

/// How long one probe may take, connect and answer together. Loopback answers in well under a
/// millisecond; a remote server on a slow link may need a larger value, which production code
/// would make configurable.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(400);

/// A real service that some topic can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Service {
    Postgres,
    Redis,
    RabbitMq,
    /// MariaDB, the MySQL family (sql-vs-nosql runs the same relational code on it).
    MariaDb,
}

impl Service {
    /// Every service, in the order they are reported.
    pub const ALL: [Service; 4] = [
        Service::Postgres,
        Service::Redis,
        Service::RabbitMq,
        Service::MariaDb,
    ];

    /// The name people know it by.
    pub fn name(self) -> &'static str {
        match self {
            Service::Postgres => "PostgreSQL",
            Service::Redis => "Redis",
            Service::RabbitMq => "RabbitMQ",
            Service::MariaDb => "MariaDB",
        }
    }

    /// The environment variable that holds its URL.
    pub fn env_var(self) -> &'static str {
        match self {
            Service::Postgres => "DATABASE_URL",
            Service::Redis => "REDIS_URL",
            Service::RabbitMq => "AMQP_URL",
            Service::MariaDb => "MARIADB_URL",
        }
    }

    /// Its service name in `docker-compose.yml`.
    pub fn compose_name(self) -> &'static str {
        match self {
            Service::Postgres => "postgres",
            Service::Redis => "redis",
            Service::RabbitMq => "rabbitmq",
            Service::MariaDb => "mariadb",
        }
    }

    /// Its URL in these settings.
    pub fn url(self, settings: &Settings) -> &str {
        match self {
            Service::Postgres => &settings.database_url,
            Service::Redis => &settings.redis_url,
            Service::RabbitMq => &settings.amqp_url,
            Service::MariaDb => &settings.mariadb_url,
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Service::Postgres => 5432,
            Service::Redis => 6379,
            Service::RabbitMq => 5672,
            Service::MariaDb => 3306,
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Status {
    /// A server of the right kind answered.
    Up,
    /// Nothing usable answered; the reason is for humans.
    Down(String),
}

/// The result of probing every service once.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Services {
    statuses: Vec<(Service, String, Status)>,
    /// How long the whole probe took.
    #[serde(skip)]
    pub elapsed: Duration,
}

impl Services {
    /// Probes every service in `settings` concurrently.
    pub async fn probe(settings: &Settings) -> Self {
        Self::probe_only(settings, &Service::ALL).await
    }

    /// Probes only the services a topic can use, concurrently.
    pub async fn probe_only(settings: &Settings, which: &[Service]) -> Self {
        let started = Instant::now();
        let probes = which.iter().map(|&service| async move {
            let url = service.url(settings).to_owned();
            let status = probe(service, &url).await;
            (service, url, status)
        });
        let statuses = futures_util::future::join_all(probes).await;
        Self {
            statuses,
            elapsed: started.elapsed(),
        }
    }

    /// Whether a probed service answered. A service that was not probed counts as down.
    pub fn is_up(&self, service: Service) -> bool {
        self.status(service) == Some(&Status::Up)
    }

    /// What the probe found for one service, if it was probed.
    pub fn status(&self, service: Service) -> Option<&Status> {
        self.statuses
            .iter()
            .find(|(s, _, _)| *s == service)
            .map(|(_, _, status)| status)
    }

    /// The services that answered.
    pub fn up(&self) -> Vec<Service> {
        self.statuses
            .iter()
            .filter(|(_, _, status)| *status == Status::Up)
            .map(|(s, _, _)| *s)
            .collect()
    }

    /// One line per probed service: `up` or why not.
    pub fn summary_lines(&self) -> Vec<String> {
        self.statuses
            .iter()
            .map(|(service, url, status)| match status {
                Status::Up => format!("{service:<10} up    {}", redact(url)),
                Status::Down(why) => format!(
                    "{service:<10} down  {} ({why}); start it with `docker compose up -d {}` or set {}",
                    redact(url),
                    service.compose_name(),
                    service.env_var()
                ),
            })
            .collect()
    }

    /// The line a demo prints when it runs without `service`: what it left out and how to add it.
    /// `None` when the service is up.
    pub fn missing_line(&self, service: Service, left_out: &str) -> Option<String> {
        match self.status(service) {
            Some(Status::Up) => None,
            Some(Status::Down(why)) => Some(format!(
                "{service} unreachable at {} ({why}): {left_out}. Add it with `docker compose up -d {}`.",
                redact(service_url(&self.statuses, service)),
                service.compose_name()
            )),
            None => Some(format!(
                "{service} was not probed: {left_out}. Add it with `docker compose up -d {}`.",
                service.compose_name()
            )),
        }
    }
}

fn service_url(statuses: &[(Service, String, Status)], service: Service) -> &str {
    statuses
        .iter()
        .find(|(s, _, _)| *s == service)
        .map_or("", |(_, url, _)| url.as_str())
}

/// Hides a password in a URL before it is printed.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // Setting a password cannot fail on a URL that already has one.
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Probes one service at `url` and says whether a server of that kind answered.
pub async fn probe(service: Service, url: &str) -> Status {
    match tokio::time::timeout(PROBE_TIMEOUT, handshake(service, url)).await {
        Ok(Ok(())) => Status::Up,
        Ok(Err(why)) => Status::Down(why),
        Err(_) => Status::Down(format!("no answer within {} ms", PROBE_TIMEOUT.as_millis())),
    }
}

/// The smallest exchange that proves a server of the right kind is there:
/// - PostgreSQL: an `SSLRequest`, answered by a single `S` or `N` byte.
/// - Redis: an inline `PING`, answered by `+PONG` (or an error such as `-NOAUTH`, which still
///   proves Redis is there).
/// - RabbitMQ: the AMQP 0-9-1 protocol header, answered by a `Connection.Start` method frame
///   (frame type 1).
/// - MariaDB/MySQL: nothing to send, the server speaks first: a handshake packet whose first
///   payload byte (after the 4-byte packet header) is protocol version 10, or an error packet
///   (`0xff`, e.g. "host not allowed"), which still proves a MySQL-family server is there.
async fn handshake(service: Service, url: &str) -> Result<(), String> {
    let (host, port) = host_port(url, service.default_port())?;
    let mut stream = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| e.kind().to_string())?;
    let (request, accept): (&[u8], fn(u8) -> bool) = match service {
        // Length 8, then the SSLRequest code 80877103 (0x04d2162f), both big-endian.
        Service::Postgres => (&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f], |b| {
            b == b'S' || b == b'N'
        }),
        Service::Redis => (b"PING\r\n", |b| b == b'+' || b == b'-'),
        Service::RabbitMq => (b"AMQP\x00\x00\x09\x01", |b| b == 1),
        // Nothing to send; the answer's first four bytes are the packet header.
        Service::MariaDb => (&[], |b| b == 10 || b == 0xff),
    };
    stream
        .write_all(request)
        .await
        .map_err(|e| e.kind().to_string())?;
    if service == Service::MariaDb {
        let mut packet_header = [0u8; 4];
        stream
            .read_exact(&mut packet_header)
            .await
            .map_err(|e| e.kind().to_string())?;
    }
    let first = stream.read_u8().await.map_err(|e| e.kind().to_string())?;
    if accept(first) {
        Ok(())
    } else {
        Err(format!("something answered, but not {}", service.name()))
    }
}

/// Extracts host and port from a service URL, bracketless for IPv6.
fn host_port(url: &str, default_port: u16) -> Result<(String, u16), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("bad URL: {e}"))?;
    let host = match parsed.host() {
        Some(url::Host::Ipv6(addr)) => addr.to_string(),
        Some(host) => host.to_string(),
        None => return Err("URL has no host".to_owned()),
    };
    Ok((host, parsed.port().unwrap_or(default_port)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_come_from_the_url_or_the_default() {
        assert_eq!(
            host_port("postgres://u@db.local/test", 5432).unwrap(),
            ("db.local".to_owned(), 5432)
        );
        assert_eq!(
            host_port("redis://[::1]:7000", 6379).unwrap(),
            ("::1".to_owned(), 7000)
        );
    }

    #[test]
    fn passwords_are_hidden_before_printing() {
        assert_eq!(
            redact("amqp://guest:guest@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
    }

    #[tokio::test]
    async fn a_closed_port_is_down_quickly() {
        // Bind then drop a listener to get a port that nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let started = Instant::now();
        let status = probe(Service::Redis, &format!("redis://127.0.0.1:{port}")).await;
        assert!(matches!(status, Status::Down(_)));
        assert!(started.elapsed() <= PROBE_TIMEOUT + Duration::from_millis(200));
    }

    #[tokio::test]
    async fn a_server_of_another_kind_is_not_mistaken_for_the_service() {
        // An HTTP-ish server that answers anything with "H".
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            if let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 16];
                let _ = socket.read(&mut buf).await;
                let _ = socket.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
            }
        });
        let status = probe(Service::RabbitMq, &format!("amqp://127.0.0.1:{port}")).await;
        assert!(matches!(status, Status::Down(ref why) if why.contains("not RabbitMQ")));
    }

    #[tokio::test]
    async fn a_mysql_family_server_is_recognised_by_the_handshake_it_sends_first() {
        // A server that greets like MariaDB: a packet header, then protocol version 10.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            if let Ok((mut socket, _)) = listener.accept().await {
                let _ = socket.write_all(&[1, 0, 0, 0, 10]).await;
            }
        });
        let status = probe(
            Service::MariaDb,
            &format!("mysql://root@127.0.0.1:{port}/test"),
        )
        .await;
        assert_eq!(status, Status::Up);
    }
}
