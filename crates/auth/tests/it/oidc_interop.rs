//! The crate's OAuth2 client against a certified OpenID provider: the npm package
//! `oidc-provider`, run under Node.js by `interop/oidc-provider/server.mjs`.
//!
//! The local stand-in provider and the crate's client were written side by side, so they could
//! share a misreading of the specs and still pass each other's tests. This test removes that
//! doubt for the client: the same code, pointed at a provider written by someone else (signing
//! RS256 rather than EdDSA, with its own cookies, interaction redirects and error rules),
//! must log a user in just the same.
//!
//! It needs `node` and the installed package (`npm ci --prefix crates/auth/interop/oidc-provider`).
//! Without them it prints why it is skipped, and under `BF_REQUIRE_SERVICES=1` it fails.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use auth::AppState;
use auth::oauth_client::{CALLBACK_PATH, ClientConfig, LANDING_PATH, LOGIN_PATH};
use support::clock::SystemClock;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

use crate::common;
use crate::oauth_flow::{Browser, query_of};

const CLIENT_ID: &str = "documents-interop";
const CLIENT_SECRET: &str = "interop-client-secret-0123456789";
/// The line `server.mjs` prints once it accepts connections.
const READY: &str = "listening ";
/// How long Node may take to start (it loads and compiles the package first).
const START_DEADLINE: Duration = Duration::from_secs(30);

/// Where `server.mjs` and its packages are, from the workspace root.
const INTEROP_DIR: &str = "crates/auth/interop/oidc-provider";

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop/oidc-provider")
}

/// Why the test cannot run here, if it cannot.
async fn missing_prerequisite() -> Option<String> {
    match Command::new("node").arg("--version").output().await {
        Ok(out) if out.status.success() => {}
        Ok(out) => return Some(format!("`node --version` exited with {}", out.status)),
        Err(e) => return Some(format!("Node.js is not installed ({e})")),
    }
    let package = interop_dir().join("node_modules/oidc-provider/package.json");
    if !package.exists() {
        return Some(format!(
            "oidc-provider is not installed (run `npm ci --prefix {INTEROP_DIR}`)"
        ));
    }
    None
}

/// Returns `true` when the test should go on; prints the reason and returns `false` when it
/// should be skipped; panics instead of skipping under `BF_REQUIRE_SERVICES=1`.
async fn prerequisites_present() -> anyhow::Result<bool> {
    let Some(reason) = missing_prerequisite().await else {
        return Ok(true);
    };
    let test = std::thread::current()
        .name()
        .unwrap_or("this test")
        .to_owned();
    assert!(
        !support::Settings::from_env()?.require_services,
        "{test}: {reason}, and {}=1 requires it",
        support::config::REQUIRE_SERVICES_VAR
    );
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason}");
    Ok(false)
}

/// A running `oidc-provider`; the process is killed when this is dropped.
struct OidcProvider {
    issuer: String,
    _child: Child,
    stderr: Arc<Mutex<String>>,
}

impl OidcProvider {
    /// Starts it on a free loopback port with one client registered for `redirect_uri`, and
    /// waits for its ready line.
    async fn start(redirect_uri: &str) -> anyhow::Result<Self> {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
            probe.local_addr()?.port()
        };
        let mut child = Command::new("node")
            .arg("server.mjs")
            .current_dir(interop_dir())
            .env("PORT", port.to_string())
            .env("CLIENT_ID", CLIENT_ID)
            .env("CLIENT_SECRET", CLIENT_SECRET)
            .env("REDIRECT_URI", redirect_uri)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("Failed to start node")?;
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(pipe) = child.stderr.take() {
            let sink = stderr.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(pipe).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Ok(mut text) = sink.lock() {
                        text.push_str(&line);
                        text.push('\n');
                    }
                }
            });
        }
        let stdout = child.stdout.take().context("no stdout from node")?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(START_DEADLINE, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(issuer) = line.strip_prefix(READY) {
                    return Ok::<_, anyhow::Error>(issuer.trim().to_owned());
                }
            }
            anyhow::bail!("node exited before it was ready")
        })
        .await;
        let issuer = match ready {
            Ok(Ok(issuer)) => issuer,
            Ok(Err(e)) => {
                let stderr = stderr.lock().map(|s| s.clone()).unwrap_or_default();
                return Err(e.context(format!("oidc-provider did not start: {stderr}")));
            }
            Err(_) => anyhow::bail!("oidc-provider was not ready within {START_DEADLINE:?}"),
        };
        // Keep draining stdout so the process never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self {
            issuer,
            _child: child,
            stderr,
        })
    }

    fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// The same client that logs in through the local provider logs in through `oidc-provider`:
/// discovery, an RS256 `id_token` checked against its JWKS with `nonce`, `aud` and `iss`,
/// userinfo, and a session of a local account linked to the identity.
#[actix_web::test]
async fn the_client_logs_in_against_the_certified_oidc_provider() -> anyhow::Result<()> {
    if !prerequisites_present().await? {
        return Ok(());
    }
    let state = AppState::new(common::test_config(), Arc::new(SystemClock)).await?;
    let for_server = state.clone();
    let server = support::server::spawn(move |l| auth::app::run(l, for_server))?;
    let provider = OidcProvider::start(&server.url(CALLBACK_PATH)).await?;
    state.oauth.configure(ClientConfig {
        issuer: provider.issuer.clone(),
        client_id: CLIENT_ID.to_owned(),
        client_secret: Some(CLIENT_SECRET.to_owned()),
        redirect_uri: server.url(CALLBACK_PATH),
    })?;
    let browser = Browser::new()?;

    let hops = browser.follow(&server.url(LOGIN_PATH)).await?;

    let trail: Vec<String> = hops
        .iter()
        .map(|h| format!("{} {}", h.status, h.url))
        .collect();
    let landed = hops.last().context("no response")?;
    assert_eq!(
        landed.status,
        200,
        "{trail:#?}\n{}\n{}",
        landed.body,
        provider.stderr()
    );
    assert_eq!(landed.url, server.url(LANDING_PATH), "{trail:#?}");
    let me: serde_json::Value = serde_json::from_str(&landed.body)?;
    assert_eq!(me["username"], "interop-user");
    assert_eq!(me["mechanism"], "session");

    let authorize = query_of(hops[0].location.as_deref().unwrap_or_default())?;
    assert!(
        hops[0]
            .location
            .as_deref()
            .is_some_and(|l| l.starts_with(&provider.issuer)),
        "{trail:#?}"
    );
    assert_eq!(authorize["code_challenge_method"], "S256");
    assert!(authorize.contains_key("nonce"));

    let identity = state.oauth.last_login().context("no login recorded")?;
    assert_eq!(identity.issuer, provider.issuer);
    assert_eq!(identity.subject, "interop-user-1");
    assert_eq!(identity.id_token_algorithm, "RS256");
    let linked = state
        .accounts
        .find("interop-user")?
        .context("no linked account")?;
    assert_eq!(me["account"], linked.id);
    server.stop().await;
    Ok(())
}
