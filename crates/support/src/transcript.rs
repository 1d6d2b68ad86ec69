//! HTTP transcripts: send a request and narrate it, and its response, the way `curl -v` would.
//!
//! Why this exists: a topic that teaches HTTP teaches it through exchanges a reader can see: the
//! request line, the headers that carry the lesson (`ETag`, `Location`, `Retry-After`...), the
//! status and the start of the body. Left to each topic, every demo prints them differently, shows
//! different headers, and sooner or later prints a bearer token. A [`Recorder`] does it once:
//! it sends the request with a deadline, keeps the response's status, headers and body for the
//! demo to act on, and returns the lines for [`Narrator::transcript`](crate::narrate::Narrator::transcript).
//!
//! ```text
//! let recorder = Recorder::new(client, &server.base_url).show(MY_HEADER);
//! let created = recorder.exchange(recorder.request(Method::POST, "/notes").json(&note)).await?;
//! n.transcript(created.lines.clone());
//! let location = created.header("location");
//! ```
//!
//! Which response headers are shown is a choice, not everything the server sent: `date`,
//! `content-length` and friends are noise in a lesson. [`SHOWN`] is the default list (the
//! headers HTTP's own rules hang on); a topic adds its own with [`Recorder::show`]. Request
//! headers are all shown (the demo chose them), except that credentials are cut to their scheme.
//!
//! Feature `transcript` (it pulls in the reqwest client).

use std::time::Duration;

use reqwest::header::{self, AsHeaderName, HeaderMap, HeaderName};
use reqwest::{Client, Method, RequestBuilder, StatusCode};

/// Response headers shown by default, in the order they are printed: identity and validators
/// first, then caching, then what the server says about allowed methods and bodies, then the
/// answers that tell a client what to do next.
pub const SHOWN: [&str; 12] = [
    "location",
    "etag",
    "last-modified",
    "cache-control",
    "vary",
    "allow",
    "accept-post",
    "accept-patch",
    "www-authenticate",
    "retry-after",
    "content-type",
    "x-request-id",
];

/// Longest body shown, in characters; a longer one is cut and its full size given in bytes.
pub const BODY_SHOWN: usize = 160;

/// How long one exchange may take. Loopback answers in microseconds; the deadline exists so a
/// demo against a wedged server fails with a message instead of hanging.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Request headers whose value is a credential: printed as their scheme only (`Bearer …`), so a
/// transcript pasted into a README or a bug report never carries a token.
const CREDENTIALS: [HeaderName; 2] = [header::AUTHORIZATION, header::PROXY_AUTHORIZATION];

/// Sends requests to one server and records each exchange as transcript lines.
#[derive(Debug, Clone)]
pub struct Recorder {
    client: Client,
    base_url: String,
    shown: Vec<String>,
}

/// One request and its response: what the demo acts on, and what it prints.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The response body as text (lossy for binary bodies; empty when there was none).
    pub body: String,
    /// `> ` lines for the request, `< ` lines for the response, ready for `Narrator::transcript`.
    pub lines: Vec<String>,
}

impl Exchange {
    /// A response header as text, or `""` when absent or not text (a transcript shows what came
    /// back; a missing header is the demo's to check, not a reason to stop narrating).
    pub fn header(&self, name: impl AsHeaderName) -> String {
        header_text(&self.headers, name)
    }
}

impl Recorder {
    /// A recorder for the server at `base_url` (`http://127.0.0.1:PORT`, no trailing slash),
    /// showing the [`SHOWN`] response headers.
    pub fn new(client: Client, base_url: impl Into<String>) -> Self {
        Self {
            client,
            base_url: base_url.into(),
            shown: SHOWN.iter().map(|h| (*h).to_owned()).collect(),
        }
    }

    /// Also shows response header `name` (after the default ones), for a topic's own headers.
    pub fn show(mut self, name: &str) -> Self {
        let name = name.to_ascii_lowercase();
        if !self.shown.contains(&name) {
            self.shown.push(name);
        }
        self
    }

    /// The client requests go through (for requests the demo sends without narrating them).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// `base_url` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// A request to `path` on this server, with the [`TIMEOUT`] deadline. Send it with
    /// [`exchange`](Self::exchange) to narrate it, or with `.send()` to send it quietly.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path)).timeout(TIMEOUT)
    }

    /// Sends the request and returns the response with its transcript lines.
    pub async fn exchange(&self, builder: RequestBuilder) -> anyhow::Result<Exchange> {
        let request = builder.build()?;
        let url = request.url();
        let target = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        // HTTP/1.1 on the request line because that is what goes over loopback here; the lesson
        // (method, target, headers) is the same over HTTP/2.
        let mut lines = vec![format!("> {} {target} HTTP/1.1", request.method())];
        for (name, value) in request.headers() {
            let value = value.to_str().unwrap_or("<binary>");
            let value = if CREDENTIALS.contains(name) {
                redact(value)
            } else {
                value.to_owned()
            };
            lines.push(format!("> {name}: {value}"));
        }
        // Only buffered bodies can be shown; a streamed one is not read twice.
        if let Some(body) = request.body().and_then(|b| b.as_bytes()) {
            lines.push(format!("> {}", one_line(&String::from_utf8_lossy(body))));
        }

        let response = self.client.execute(request).await?;
        let status = response.status();
        lines.push(format!("< HTTP/1.1 {status}"));
        for name in &self.shown {
            if let Some(value) = response.headers().get(name.as_str()) {
                lines.push(format!(
                    "< {name}: {}",
                    value.to_str().unwrap_or("<binary>")
                ));
            }
        }
        let headers = response.headers().clone();
        let body = response.text().await?;
        if !body.is_empty() {
            lines.push(format!("< {}", one_line(&body)));
        }
        Ok(Exchange {
            status,
            headers,
            body,
            lines,
        })
    }
}

/// A header as text, or `""`; for responses the demo sent quietly.
pub fn header_text(headers: &HeaderMap, name: impl AsHeaderName) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// `text` cut to [`BODY_SHOWN`] characters (counted in characters, so a cut never splits one),
/// with the full length in bytes when it was cut.
pub fn shorten(text: &str) -> String {
    cut(text, text.len())
}

/// A body on one transcript line: newlines shown as `⏎`, then shortened. The size given is the
/// body's own, not that of the `⏎`s that replaced its newlines.
fn one_line(text: &str) -> String {
    cut(&text.replace('\n', "⏎"), text.len())
}

fn cut(shown: &str, bytes: usize) -> String {
    if shown.chars().count() <= BODY_SHOWN {
        shown.to_owned()
    } else {
        format!(
            "{}… ({bytes} bytes)",
            shown.chars().take(BODY_SHOWN).collect::<String>()
        )
    }
}

/// `Bearer abc` → `Bearer …`: the scheme tells the reader how the client authenticated; the
/// credential is nobody's business.
fn redact(value: &str) -> String {
    match value.split_once(' ') {
        Some((scheme, _)) => format!("{scheme} …"),
        None => "…".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::{App, HttpResponse, HttpServer, web};

    use super::*;

    /// A server with one route that answers with a shown header, a hidden one, a topic header
    /// and a long multi-line body.
    fn spawn() -> anyhow::Result<crate::server::RunningServer> {
        let server = crate::server::spawn(|listener| {
            Ok(HttpServer::new(|| {
                App::new().route(
                    "/things",
                    web::post().to(|| async {
                        HttpResponse::Created()
                            .insert_header(("location", "/things/1"))
                            .insert_header(("etag", "\"1\""))
                            .insert_header(("x-hidden", "not a lesson"))
                            .insert_header(("x-topic", "shown on request"))
                            .body(format!("first line\n{}", "é".repeat(300)))
                    }),
                )
            })
            .workers(1)
            .listen(listener)?
            .run())
        })?;
        Ok(server)
    }

    #[actix_web::test]
    async fn an_exchange_is_narrated_like_curl_without_the_credential() -> anyhow::Result<()> {
        let server = spawn()?;
        let recorder = Recorder::new(Client::new(), &server.base_url).show("X-Topic");

        let exchange = recorder
            .exchange(
                recorder
                    .request(Method::POST, "/things?draft=1")
                    .bearer_auth("s3cret-token")
                    .body("a\nb"),
            )
            .await?;

        assert_eq!(exchange.status, StatusCode::CREATED);
        assert_eq!(exchange.header("location"), "/things/1");
        assert_eq!(
            exchange.header("x-hidden"),
            "not a lesson",
            "kept, just not shown"
        );
        let lines = &exchange.lines;
        assert_eq!(lines[0], "> POST /things?draft=1 HTTP/1.1");
        assert!(
            lines.contains(&"> authorization: Bearer …".to_owned()),
            "{lines:?}"
        );
        assert!(!lines.iter().any(|l| l.contains("s3cret")), "{lines:?}");
        assert!(lines.contains(&"> a⏎b".to_owned()), "{lines:?}");
        let response: Vec<&str> = lines
            .iter()
            .skip_while(|l| l.starts_with('>'))
            .map(String::as_str)
            .collect();
        assert_eq!(response[0], "< HTTP/1.1 201 Created");
        // Default headers in `SHOWN` order, then the topic's own; never the unlisted one.
        assert_eq!(response[1], "< location: /things/1");
        assert_eq!(response[2], "< etag: \"1\"");
        let topic = response
            .iter()
            .position(|l| *l == "< x-topic: shown on request");
        let content_type = response
            .iter()
            .position(|l| l.starts_with("< content-type:"));
        assert!(topic > content_type, "{response:?}");
        assert!(!response.iter().any(|l| l.contains("x-hidden")));
        let body = response.last().copied().unwrap_or_default();
        assert!(body.starts_with("< first line⏎éé"), "{body}");
        assert!(
            body.ends_with(&format!("… ({} bytes)", exchange.body.len())),
            "{body}"
        );
        server.stop().await;
        Ok(())
    }

    #[test]
    fn a_short_body_is_shown_whole_and_a_long_one_is_cut_on_a_character() {
        assert_eq!(shorten("short"), "short");
        let long = "ü".repeat(BODY_SHOWN + 1);
        let cut = shorten(&long);
        assert!(cut.starts_with(&"ü".repeat(BODY_SHOWN)));
        assert!(cut.ends_with(&format!("… ({} bytes)", long.len())));
    }

    #[test]
    fn a_credential_keeps_only_its_scheme() {
        assert_eq!(redact("Bearer abc.def"), "Bearer …");
        assert_eq!(redact("opaque"), "…");
    }
}
