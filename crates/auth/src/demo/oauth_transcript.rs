//! One OAuth2 / OpenID Connect login through the local provider, as a transcript.
//!
//! The demo plays the browser: it follows each redirect by hand, so every hop is printed with
//! its parameters, and between the hops it prints what the service itself asked the provider
//! behind the browser's back (discovery, JWKS, the code exchange, userinfo), from the client's
//! own record of its back-channel calls. Secrets (cookies, the code, `state`, the verifier,
//! tokens) are cut to a prefix, enough to follow one value from hop to hop, never enough to
//! use it.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use reqwest::Method;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde::Serialize;
use support::narrate::Narrator;
use support::report::{Table, Unit};
use support::server::RunningServer;
use support::transcript::{Exchange, Recorder};

use crate::app::AppState;
use crate::oauth_client::{BackChannelCall, LOGIN_COOKIE, LOGIN_PATH, cut_secret};
use crate::oauth_provider::{self, MOUNT, PROVIDER_USERS};
use crate::oidc::param;

pub const TITLE: &str = "One OAuth2 login, as a transcript";

/// The provider user the demo logs in as.
const USER: usize = 0;

/// What one login took, measured.
#[derive(Debug, Clone, Serialize)]
pub struct OAuthFlow {
    /// Requests the browser sent, and how many of the answers were redirects.
    pub browser_requests: usize,
    pub redirects: usize,
    /// Requests the service sent to the provider itself (discovery, JWKS, token, userinfo).
    pub back_channel_requests: usize,
    /// Response bytes (headers and bodies) the browser received over the whole login.
    pub browser_bytes_received: usize,
    /// Request and response body bytes of the back channel.
    pub back_channel_bytes_sent: usize,
    pub back_channel_bytes_received: usize,
    /// From `GET /oauth/login` to the answer of `GET /session/me`, typing the password aside
    /// (the demo submits the form at once).
    pub login_ms: f64,
    /// Of which the service spent this long waiting for the provider.
    pub back_channel_ms: f64,
    /// Parameter names the front channel carried, in order of first appearance.
    pub front_channel_parameters: Vec<String>,
    /// The `id_token`'s algorithm and claim names.
    pub id_token_algorithm: String,
    pub id_token_claims: Vec<String>,
    /// The provider user, and the local account the identity was linked to.
    pub provider_user: String,
    pub local_account: String,
}

/// The browser's side: cookies kept by hand (name, path, value), secrets collected for cutting.
struct Browser {
    recorder: Recorder,
    cookies: Vec<(String, String, String)>,
    secrets: Vec<String>,
    requests: usize,
    redirects: usize,
    bytes_received: usize,
    parameters: Vec<String>,
}

impl Browser {
    fn note_parameters(&mut self, url: &str) {
        if let Ok(url) = url::Url::parse(url) {
            for (name, value) in url.query_pairs() {
                if !self.parameters.iter().any(|p| *p == name) {
                    self.parameters.push(name.clone().into_owned());
                }
                if [
                    param::STATE,
                    param::NONCE,
                    param::CODE,
                    param::CODE_CHALLENGE,
                ]
                .contains(&name.as_ref())
                {
                    self.secrets.push(value.into_owned());
                }
            }
        }
    }

    /// Sends one request with the cookies held, keeps what it sets, and returns it.
    async fn send(&mut self, request: reqwest::RequestBuilder) -> anyhow::Result<Exchange> {
        // As a browser does: a cookie goes only where its `Path` covers the request's path.
        let (client, built) = request.build_split();
        let built = built?;
        let path = built.url().path().to_owned();
        let request = reqwest::RequestBuilder::from_parts(client, built);
        let cookie = self
            .cookies
            .iter()
            .filter(|(_, scope, _)| path.starts_with(scope.as_str()))
            .map(|(name, _, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ");
        let request = if cookie.is_empty() {
            request
        } else {
            request.header(COOKIE, cookie)
        };
        let exchange = self.recorder.exchange(request).await?;
        self.requests += 1;
        if exchange.status.is_redirection() {
            self.redirects += 1;
        }
        self.bytes_received += exchange.body.len()
            + exchange
                .headers
                .iter()
                .map(|(name, value)| name.as_str().len() + value.len() + 4)
                .sum::<usize>();
        for value in exchange.headers.get_all(SET_COOKIE) {
            let Ok(raw) = value.to_str() else { continue };
            let mut parts = raw.split(';').map(str::trim);
            let Some((name, value)) = parts.next().and_then(|pair| pair.split_once('=')) else {
                continue;
            };
            let path = parts
                .find_map(|a| a.strip_prefix("Path="))
                .unwrap_or("/")
                .to_owned();
            self.cookies.retain(|(n, p, _)| !(n == name && *p == path));
            if !value.is_empty() {
                self.cookies.push((name.to_owned(), path, value.to_owned()));
                self.secrets.push(value.to_owned());
            }
        }
        // A Location may be relative (`/session/me`); resolve it against the server.
        let location = url::Url::parse(&self.recorder.url("/"))
            .and_then(|base| base.join(&exchange.header(LOCATION)));
        if let Ok(location) = location {
            self.note_parameters(location.as_str());
        }
        Ok(exchange)
    }

    /// The exchange's lines with every secret seen so far cut to a prefix.
    fn lines(&self, exchange: &Exchange) -> Vec<String> {
        exchange.lines.iter().map(|l| self.cut(l)).collect()
    }

    fn cut(&self, line: &str) -> String {
        let mut line = line.to_owned();
        for secret in &self.secrets {
            if secret.len() > 8 {
                for form in [
                    secret.clone(),
                    url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
                ] {
                    line = line.replace(&form, &cut_secret(secret));
                }
            }
        }
        line
    }
}

/// The back-channel calls as transcript lines.
fn back_channel_lines(calls: &[BackChannelCall]) -> Vec<String> {
    let mut lines = Vec::new();
    for call in calls {
        let path = url::Url::parse(&call.url).map_or(call.url.clone(), |u| u.path().to_owned());
        lines.push(format!("» {} {path}", call.method));
        if let Some(authorization) = &call.authorization {
            lines.push(format!("» authorization: {authorization}"));
        }
        if !call.params.is_empty() {
            let form: Vec<String> = call
                .params
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            lines.push(format!("» {}", form.join("&")));
        }
        lines.push(format!(
            "« {} ({} bytes, {:.1} ms) {}",
            call.status,
            call.response_bytes,
            call.elapsed.as_secs_f64() * 1e3,
            support::transcript::shorten(&call.response)
        ));
    }
    lines
}

pub async fn section(
    n: &mut Narrator,
    server: &RunningServer,
    state: &AppState,
) -> anyhow::Result<OAuthFlow> {
    let (username, password, ..) = PROVIDER_USERS[USER];
    // A fresh look at the provider, so the transcript shows discovery and the JWKS fetch.
    if let Some(config) = state.oauth.config() {
        state.oauth.configure(config)?;
    }
    state.oauth.clear_back_channel();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let mut browser = Browser {
        recorder: Recorder::new(client, &server.base_url).show(SET_COOKIE.as_str()),
        cookies: Vec::new(),
        secrets: vec![password.to_owned()],
        requests: 0,
        redirects: 0,
        bytes_received: 0,
        parameters: Vec::new(),
    };
    n.say(&format!(
        "The browser starts at {LOGIN_PATH}. The service makes three secrets and keeps them \
         under a short-lived login cookie: `state` (ties the callback to this browser), a PKCE \
         verifier (only its SHA-256 travels now) and a `nonce` (must come back inside the \
         id_token). To build the redirect it first reads the provider's discovery document and \
         its signing keys, behind the browser's back (» lines):"
    ));
    let started = Instant::now();
    let start = browser
        .send(browser.recorder.request(Method::GET, LOGIN_PATH))
        .await?;
    anyhow::ensure!(
        start.status.is_redirection(),
        "{LOGIN_PATH} answered {}",
        start.status
    );
    let mut calls_seen = state.oauth.back_channel().len();
    n.transcript(back_channel_lines(&state.oauth.back_channel()));
    n.transcript(browser.lines(&start));

    n.say(
        "The browser follows the redirect to the provider, which checks the client and the \
         redirect_uri against its registration (an unregistered one gets an error page, never a \
         redirect), requires an S256 challenge, and shows its own login form:",
    );
    let authorize = start.header(LOCATION);
    let form = browser
        .send(
            browser
                .recorder
                .client()
                .get(&authorize)
                .timeout(support::transcript::TIMEOUT),
        )
        .await?;
    let interaction = oauth_provider::interaction_in(&form.body)
        .context("the provider showed no login form")?
        .to_owned();
    browser.secrets.push(interaction.clone());
    n.transcript(browser.lines(&form));

    n.say(&format!(
        "The user signs in as {username} at the provider (this service never sees that \
         password), and the provider sends the browser back with a one-time code, the same \
         `state`, and its issuer (`iss`, RFC 9207):"
    ));
    let signed_in = browser
        .send(
            browser
                .recorder
                .request(
                    Method::POST,
                    &format!("{MOUNT}{}", oauth_provider::LOGIN_PATH),
                )
                .form(&[
                    (param::INTERACTION, interaction.as_str()),
                    ("username", username),
                    ("password", password),
                ]),
        )
        .await?;
    anyhow::ensure!(
        signed_in.status.is_redirection(),
        "the provider's login answered {}",
        signed_in.status
    );
    n.transcript(browser.lines(&signed_in));

    n.say(&format!(
        "At the callback the service checks `state` against the login cookie ({LOGIN_COOKIE}), \
         then redeems the code server to server with its client secret and the PKCE verifier, \
         verifies the id_token (signature from the JWKS, iss, aud, exp, nonce), asks userinfo \
         for the profile, links (iss, sub) to a local account and starts a session:"
    ));
    let callback = browser
        .send(browser.recorder.client().get(signed_in.header(LOCATION)))
        .await?;
    anyhow::ensure!(
        callback.status.is_redirection(),
        "the callback answered {}: {}",
        callback.status,
        callback.body
    );
    let calls = state.oauth.back_channel();
    n.transcript(back_channel_lines(
        calls.get(calls_seen..).unwrap_or_default(),
    ));
    calls_seen = calls.len();
    n.transcript(browser.lines(&callback));

    let landing = callback.header(LOCATION);
    let me = browser
        .send(browser.recorder.request(Method::GET, &landing))
        .await?;
    let login_time = started.elapsed();
    anyhow::ensure!(me.status == 200, "{landing} answered {}", me.status);
    n.transcript(browser.lines(&me));

    let identity = state
        .oauth
        .last_login()
        .context("the client recorded no login")?;
    let mut claims = identity.id_token_claims.clone();
    if let Some(nonce) = claims.get_mut(param::NONCE) {
        *nonce = serde_json::Value::String(cut_secret(nonce.as_str().unwrap_or_default()));
    }
    n.say(&format!(
        "The id_token the service verified ({}), its claims:",
        identity.id_token_algorithm
    ));
    n.transcript(vec![claims.to_string()]);
    let principal: serde_json::Value = serde_json::from_str(&me.body)?;
    let local_account = principal["username"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let back_channel = state.oauth.back_channel();
    let back_channel = back_channel.get(..calls_seen).unwrap_or_default();
    let flow = OAuthFlow {
        browser_requests: browser.requests,
        redirects: browser.redirects,
        back_channel_requests: back_channel.len(),
        browser_bytes_received: browser.bytes_received,
        back_channel_bytes_sent: back_channel.iter().map(|c| c.request_bytes).sum(),
        back_channel_bytes_received: back_channel.iter().map(|c| c.response_bytes).sum(),
        login_ms: login_time.as_secs_f64() * 1e3,
        back_channel_ms: back_channel
            .iter()
            .map(|c| c.elapsed)
            .sum::<Duration>()
            .as_secs_f64()
            * 1e3,
        front_channel_parameters: browser.parameters.clone(),
        id_token_algorithm: identity.id_token_algorithm.clone(),
        id_token_claims: identity
            .id_token_claims
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default(),
        provider_user: username.to_owned(),
        local_account,
    };

    let mut table = Table::new("channel")
        .column("requests", Unit::Count)
        .column("bytes received", Unit::Bytes)
        .column("time", Unit::Millis);
    table.row(
        "front (the browser, redirects included)",
        [
            flow.browser_requests.into(),
            flow.browser_bytes_received.into(),
            flow.login_ms.into(),
        ],
    );
    table.row(
        "back (the service to the provider)",
        [
            flow.back_channel_requests.into(),
            flow.back_channel_bytes_received.into(),
            flow.back_channel_ms.into(),
        ],
    );
    n.table(table);
    n.say(&format!(
        "One login: {} browser requests, {} of them answered with a redirect, and {} requests \
         from the service to the provider, in {:.1} ms over loopback. The provider's {} became \
         the local account `{}`, linked by (iss, sub) and never by name or email. From here on \
         the user is an ordinary session: OAuth2 costs nothing per request, only at login.",
        flow.browser_requests,
        flow.redirects,
        flow.back_channel_requests,
        flow.login_ms,
        flow.provider_user,
        flow.local_account,
    ));
    n.figures(&flow)?;
    Ok(flow)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use support::clock::ManualClock;
    use support::demo::DemoArgs;

    use super::*;
    use crate::config::Config;
    use crate::passwords::PasswordCost;

    /// The section runs one real login and prints no full secret.
    #[actix_web::test]
    async fn the_transcript_logs_in_and_shows_no_secret_whole() -> anyhow::Result<()> {
        let state = AppState::new(
            Config::default().with_password_cost(PasswordCost::CHEAP),
            Arc::new(ManualClock::at(1_750_000_000)),
        )
        .await?;
        let for_server = state.clone();
        let server = support::server::spawn(move |l| crate::app::run(l, for_server))?;
        let args = DemoArgs {
            silent: true,
            ..DemoArgs::default()
        };
        let mut n = Narrator::new("auth", "test", &args);
        n.section(TITLE);

        let flow = section(&mut n, &server, &state).await?;

        assert_eq!(flow.browser_requests, 5);
        assert_eq!(flow.redirects, 3);
        assert_eq!(
            flow.back_channel_requests, 4,
            "discovery, JWKS, token, userinfo"
        );
        assert_eq!(flow.local_account, "grace");
        for name in [
            param::STATE,
            param::CODE_CHALLENGE,
            param::NONCE,
            param::CODE,
            param::ISS,
        ] {
            assert!(
                flow.front_channel_parameters.iter().any(|p| p == name),
                "{name}: {:?}",
                flow.front_channel_parameters
            );
        }
        let printed = serde_json::to_string(n.report())?;
        let session = state.sessions.len();
        assert_eq!(session, 1);
        let (_, password, ..) = PROVIDER_USERS[USER];
        let encoded: String = url::form_urlencoded::byte_serialize(password.as_bytes()).collect();
        assert!(!printed.contains(&encoded), "the password is printed");
        // No 43-character secret (cookie, code, state, verifier, token) is printed whole; the
        // public key and its thumbprint, which the JWKS answer shows, are not secrets.
        let jwks: serde_json::Value = reqwest::get(server.url("/provider/jwks"))
            .await?
            .json()
            .await?;
        let public: Vec<&str> = ["x", "kid"]
            .iter()
            .filter_map(|field| jwks["keys"][0][field].as_str())
            .collect();
        let whole_token = printed
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .filter(|word| word.len() >= 43 && !public.contains(word))
            .find(|word| {
                word.bytes()
                    .any(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            });
        assert_eq!(whole_token, None);
        server.stop().await;
        Ok(())
    }
}
