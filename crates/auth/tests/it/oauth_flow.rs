//! The OAuth2 / OpenID Connect login through the local provider: the happy path, and every
//! failure RFC 6749, RFC 7636 and OpenID Connect name, each refused with its error code and
//! none of them logging anyone in.
//!
//! Two kinds of client appear here. The crate's own (`/oauth/login` → `/oauth/callback`) is
//! driven by a [`Browser`], as a user would drive it. The provider's rules about codes and
//! clients are checked by a [`TestClient`] that speaks to `/provider/token` directly, because
//! the crate's client keeps its verifier to itself and would never break those rules.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use auth::oauth_client::{CALLBACK_PATH, ClientConfig, LANDING_PATH, LOGIN_COOKIE, LOGIN_PATH};
use auth::oauth_provider::{
    self, AUTHORIZE_PATH, CODE_LIFETIME, ClientRegistration, IdTokenFault,
    LOGIN_PATH as PROVIDER_LOGIN_PATH, MOUNT, PROVIDER_USERS, TOKEN_PATH, USERINFO_PATH,
};
use auth::oidc::{self, ErrorBody, param};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE, WWW_AUTHENTICATE};
use reqwest::{Response, StatusCode};
use url::Url;

use crate::common::{self, Instance};

/// A user agent that keeps cookies (by name and path, across ports as browsers do) and
/// stops at every redirect, so a test sees each hop.
pub(crate) struct Browser {
    http: reqwest::Client,
    /// `(name, path)` → value.
    jar: Mutex<HashMap<(String, String), String>>,
}

/// One response on the way, with its `Location` made absolute.
#[derive(Debug, Clone)]
pub(crate) struct Hop {
    pub url: String,
    pub status: StatusCode,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub body: String,
}

impl Browser {
    pub(crate) fn new() -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(10))
                .build()?,
            jar: Mutex::default(),
        })
    }

    fn cookie_header(&self, url: &Url) -> String {
        let jar = self.jar.lock().unwrap_or_else(|e| e.into_inner());
        jar.iter()
            .filter(|((_, path), _)| url.path().starts_with(path.as_str()))
            .map(|((name, _), value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&self, response: &Response) -> Vec<String> {
        let mut jar = self.jar.lock().unwrap_or_else(|e| e.into_inner());
        let mut seen = Vec::new();
        for value in response.headers().get_all(SET_COOKIE) {
            let Ok(raw) = value.to_str() else { continue };
            seen.push(raw.to_owned());
            let mut parts = raw.split(';').map(str::trim);
            let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let mut path = "/".to_owned();
            let mut removed = value.is_empty();
            for attribute in parts {
                let lower = attribute.to_ascii_lowercase();
                if let Some(p) = lower.strip_prefix("path=") {
                    path = attribute[attribute.len() - p.len()..].to_owned();
                } else if lower == "max-age=0" || lower.contains("1970") {
                    removed = true;
                }
            }
            let key = (name.to_owned(), path);
            if removed {
                jar.remove(&key);
            } else {
                jar.insert(key, value.to_owned());
            }
        }
        seen
    }

    /// Whether the jar holds a cookie named `name`.
    pub(crate) fn has_cookie(&self, name: &str) -> bool {
        let jar = self.jar.lock().unwrap_or_else(|e| e.into_inner());
        jar.keys().any(|(n, _)| n == name)
    }

    async fn hop(&self, request: reqwest::RequestBuilder, url: &Url) -> anyhow::Result<Hop> {
        let cookies = self.cookie_header(url);
        let request = if cookies.is_empty() {
            request
        } else {
            request.header(COOKIE, cookies)
        };
        let response = request.send().await?;
        let set_cookies = self.keep(&response);
        let status = response.status();
        let location = match response.headers().get(LOCATION) {
            Some(value) => Some(url.join(value.to_str()?)?.to_string()),
            None => None,
        };
        Ok(Hop {
            url: url.to_string(),
            status,
            location,
            set_cookies,
            body: response.text().await?,
        })
    }

    pub(crate) async fn get(&self, url: &str) -> anyhow::Result<Hop> {
        let parsed = Url::parse(url)?;
        self.hop(self.http.get(parsed.clone()), &parsed).await
    }

    pub(crate) async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> anyhow::Result<Hop> {
        let parsed = Url::parse(url)?;
        self.hop(self.http.post(parsed.clone()).form(form), &parsed)
            .await
    }

    /// GETs `url` and follows redirects (at most 20) to the first answer that is not one;
    /// every response on the way, the last one included.
    pub(crate) async fn follow(&self, url: &str) -> anyhow::Result<Vec<Hop>> {
        let mut hops = vec![self.get(url).await?];
        while let Some(next) = hops.last().and_then(|h| h.location.clone()) {
            anyhow::ensure!(hops.len() < 20, "more than 20 redirects: {hops:#?}");
            hops.push(self.get(&next).await?);
        }
        Ok(hops)
    }
}

/// The query parameters of `url`.
pub(crate) fn query_of(url: &str) -> anyhow::Result<HashMap<String, String>> {
    Ok(Url::parse(url)?.query_pairs().into_owned().collect())
}

fn last(hops: &[Hop]) -> anyhow::Result<&Hop> {
    hops.last()
        .ok_or_else(|| anyhow::anyhow!("no response at all"))
}

/// A provider user's password.
fn provider_password(username: &str) -> &'static str {
    PROVIDER_USERS
        .iter()
        .find(|(name, ..)| *name == username)
        .map_or("", |(_, password, ..)| *password)
}

/// The crate's login up to the provider's form: the hops, and the form's interaction id.
async fn open_login_form(app: &Instance, browser: &Browser) -> anyhow::Result<(Vec<Hop>, String)> {
    let hops = browser.follow(&app.url(LOGIN_PATH)).await?;
    let form = last(&hops)?;
    anyhow::ensure!(
        form.status == 200,
        "the login form answered {}",
        form.status
    );
    let interaction = oauth_provider::interaction_in(&form.body)
        .ok_or_else(|| anyhow::anyhow!("no interaction in the form: {}", form.body))?
        .to_owned();
    Ok((hops, interaction))
}

/// Logs `username` in at the provider's form; the redirect back to the callback.
async fn sign_in(
    app: &Instance,
    browser: &Browser,
    interaction: &str,
    username: &str,
) -> anyhow::Result<String> {
    let back = browser
        .post_form(
            &app.url(&format!("{MOUNT}{PROVIDER_LOGIN_PATH}")),
            &[
                (param::INTERACTION, interaction),
                ("username", username),
                ("password", provider_password(username)),
            ],
        )
        .await?;
    anyhow::ensure!(
        back.status == 303,
        "the provider's login answered {}",
        back.status
    );
    back.location
        .ok_or_else(|| anyhow::anyhow!("the provider's login redirected nowhere"))
}

/// The whole login through the crate's client up to the callback URL (not yet visited).
async fn login_until_callback(
    app: &Instance,
    browser: &Browser,
    username: &str,
) -> anyhow::Result<String> {
    let (_, interaction) = open_login_form(app, browser).await?;
    sign_in(app, browser, &interaction, username).await
}

/// Checks an error response of the crate's client: status, problem+json, the `error` code.
async fn expect_refusal(hop: &Hop, status: u16, error: &str) -> anyhow::Result<String> {
    anyhow::ensure!(
        hop.status.as_u16() == status,
        "expected {status}, got {} at {}: {}",
        hop.status,
        hop.url,
        hop.body
    );
    let body: serde_json::Value = serde_json::from_str(&hop.body)?;
    anyhow::ensure!(
        body["error"] == error,
        "expected error {error}, got {}",
        body["error"]
    );
    Ok(body["detail"].as_str().unwrap_or_default().to_owned())
}

/// Nobody is logged in: no session exists, no session cookie was set, no account was linked.
fn nobody_logged_in(app: &Instance, hop: &Hop) -> anyhow::Result<()> {
    anyhow::ensure!(
        app.state.sessions.is_empty(),
        "{} sessions exist",
        app.state.sessions.len()
    );
    let cookie = app.state.sessions.cookie_name();
    anyhow::ensure!(
        !hop.set_cookies
            .iter()
            .any(|c| c.starts_with(&format!("{cookie}="))),
        "a session cookie was set: {:?}",
        hop.set_cookies
    );
    for (username, ..) in PROVIDER_USERS {
        // "arthur" is a local account already; a linked provider arthur would be "arthur-2".
        for name in [username.to_owned(), format!("{username}-2")] {
            if name != "arthur" {
                anyhow::ensure!(
                    app.state.accounts.find(&name)?.is_none(),
                    "an account {name} was created"
                );
            }
        }
    }
    Ok(())
}

/// A client of the provider that the test plays itself, breaking rules on purpose.
struct TestClient {
    id: String,
    secret: String,
    redirect_uri: String,
    verifier: String,
}

impl TestClient {
    /// Registers `id` with two redirect URIs (`…/cb` first, `…/other` second), never visited.
    fn register(app: &Instance, id: &str) -> anyhow::Result<Self> {
        let client = Self {
            id: id.to_owned(),
            secret: format!("{id}-secret"),
            redirect_uri: format!("http://127.0.0.1:9/{id}/cb"),
            verifier: auth::pkce::new_verifier()?,
        };
        app.state.provider.register(ClientRegistration {
            client_id: client.id.clone(),
            client_secret: Some(client.secret.clone()),
            redirect_uris: vec![client.redirect_uri.clone(), client.other_redirect_uri()],
        })?;
        Ok(client)
    }

    fn other_redirect_uri(&self) -> String {
        format!("http://127.0.0.1:9/{}/other", self.id)
    }

    /// The authorization URL, with `changes` applied to the standard parameters (a value of
    /// `None` removes the parameter).
    fn authorize_url(&self, app: &Instance, changes: &[(&str, Option<&str>)]) -> String {
        let challenge = auth::pkce::challenge(&self.verifier);
        let mut params: Vec<(&str, String)> = vec![
            (param::RESPONSE_TYPE, "code".to_owned()),
            (param::CLIENT_ID, self.id.clone()),
            (param::REDIRECT_URI, self.redirect_uri.clone()),
            (param::SCOPE, "openid profile".to_owned()),
            (param::STATE, "the-state".to_owned()),
            (param::NONCE, "the-nonce".to_owned()),
            (param::CODE_CHALLENGE, challenge),
            (param::CODE_CHALLENGE_METHOD, auth::pkce::S256.to_owned()),
        ];
        for (name, value) in changes {
            params.retain(|(n, _)| n != name);
            if let Some(value) = value {
                params.push((name, (*value).to_owned()));
            }
        }
        let mut url = Url::parse(&app.url(&format!("{MOUNT}{AUTHORIZE_PATH}")))
            .unwrap_or_else(|e| panic!("{e}"));
        url.query_pairs_mut().extend_pairs(params);
        url.to_string()
    }

    /// A code for `grace`, through the form (the redirect back is read, never followed).
    async fn code(&self, app: &Instance, browser: &Browser) -> anyhow::Result<String> {
        let form = browser.get(&self.authorize_url(app, &[])).await?;
        anyhow::ensure!(
            form.status == 200,
            "authorize answered {}: {}",
            form.status,
            form.body
        );
        let interaction = oauth_provider::interaction_in(&form.body)
            .ok_or_else(|| anyhow::anyhow!("no login form"))?;
        let back = sign_in(app, browser, interaction, "grace").await?;
        anyhow::ensure!(back.starts_with(&self.redirect_uri), "{back}");
        query_of(&back)?
            .remove(param::CODE)
            .ok_or_else(|| anyhow::anyhow!("no code in {back}"))
    }

    /// `POST /provider/token` authenticated as this client (`client_secret_basic`).
    async fn redeem(
        &self,
        app: &Instance,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> anyhow::Result<Response> {
        Ok(app
            .http
            .post(app.url(&format!("{MOUNT}{TOKEN_PATH}")))
            .basic_auth(&self.id, Some(&self.secret))
            .form(&[
                (param::GRANT_TYPE, "authorization_code"),
                (param::CODE, code),
                (param::REDIRECT_URI, redirect_uri),
                (param::CODE_VERIFIER, verifier),
            ])
            .send()
            .await?)
    }

    async fn redeem_properly(&self, app: &Instance, code: &str) -> anyhow::Result<Response> {
        self.redeem(app, code, &self.verifier, &self.redirect_uri)
            .await
    }
}

/// Checks an RFC 6749 §5.2 error: status, JSON body, `error`, and that no token came with it.
async fn expect_token_error(response: Response, status: u16, error: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        response.status().as_u16() == status,
        "expected {status}, got {}",
        response.status()
    );
    let body: serde_json::Value = response.json().await?;
    anyhow::ensure!(body.get("access_token").is_none(), "a token came: {body}");
    let body: ErrorBody = serde_json::from_value(body)?;
    anyhow::ensure!(body.error == error, "expected {error}, got {body:?}");
    Ok(())
}

async fn access_token_of(response: Response) -> anyhow::Result<String> {
    anyhow::ensure!(
        response.status() == 200,
        "token answered {}",
        response.status()
    );
    let body: oidc::TokenResponse = response.json().await?;
    Ok(body.access_token)
}

async fn userinfo_status(app: &Instance, access_token: &str) -> anyhow::Result<u16> {
    Ok(app
        .http
        .get(app.url(&format!("{MOUNT}{USERINFO_PATH}")))
        .bearer_auth(access_token)
        .send()
        .await?
        .status()
        .as_u16())
}

/// The whole login, as a user sees it: the client redirects with `state`, an S256 challenge
/// and a `nonce`; the user signs in at the provider; the callback lands in a session of a
/// local account linked to the provider's `(iss, sub)`, and the next login finds the same one.
#[actix_web::test]
async fn a_user_logs_in_through_the_local_provider_and_lands_in_a_session_of_a_linked_account()
-> anyhow::Result<()> {
    let app = common::start().await?;
    let browser = Browser::new()?;

    let (hops, interaction) = open_login_form(&app, &browser).await?;
    let to_provider = &hops[0];
    assert_eq!(to_provider.status, 303);
    assert!(browser.has_cookie(LOGIN_COOKIE));
    let login_cookie = to_provider
        .set_cookies
        .iter()
        .find(|c| c.starts_with(LOGIN_COOKIE))
        .cloned()
        .unwrap_or_default();
    assert!(login_cookie.contains("HttpOnly"), "{login_cookie}");
    assert!(login_cookie.contains("SameSite=Lax"), "{login_cookie}");
    let authorize = query_of(to_provider.location.as_deref().unwrap_or_default())?;
    assert_eq!(authorize[param::RESPONSE_TYPE], "code");
    assert_eq!(authorize[param::CODE_CHALLENGE_METHOD], "S256");
    assert_eq!(authorize[param::CODE_CHALLENGE].len(), 43);
    assert_eq!(authorize[param::STATE].len(), 43);
    assert_eq!(authorize[param::NONCE].len(), 43);
    assert!(authorize[param::SCOPE].split(' ').any(|s| s == "openid"));
    assert_eq!(
        authorize[param::REDIRECT_URI],
        app.url(CALLBACK_PATH),
        "the registered callback"
    );

    let callback = sign_in(&app, &browser, &interaction, "grace").await?;
    let back = query_of(&callback)?;
    assert_eq!(back[param::STATE], authorize[param::STATE]);
    assert_eq!(back[param::ISS], app.state.provider.issuer());
    assert!(back.contains_key(param::CODE));

    let landed = browser.follow(&callback).await?;
    assert_eq!(
        landed[0].location.as_deref(),
        Some(app.url(LANDING_PATH).as_str())
    );
    let me = last(&landed)?;
    assert_eq!(me.status, 200, "{}", me.body);
    let principal: serde_json::Value = serde_json::from_str(&me.body)?;
    assert_eq!(principal["username"], "grace");
    assert_eq!(
        principal["role"], "reader",
        "a new external account is a reader"
    );
    assert!(
        !browser.has_cookie(LOGIN_COOKIE),
        "the login cookie is removed"
    );
    assert_eq!(app.state.oauth.pending_logins(), 0);

    // The same provider user again: the same local account, found by (iss, sub).
    let again = Browser::new()?;
    let callback = login_until_callback(&app, &again, "grace").await?;
    let me = again.follow(&callback).await?;
    let second: serde_json::Value = serde_json::from_str(&last(&me)?.body)?;
    assert_eq!(second["account"], principal["account"]);
    assert_eq!(app.state.sessions.len(), 2);
    Ok(())
}

/// The provider's "arthur" is not the local arthur: identities link by `(iss, sub)`, so a
/// provider user with a local user's name gets an account of their own.
#[actix_web::test]
async fn a_provider_user_named_like_a_local_account_gets_a_new_account_not_the_local_one()
-> anyhow::Result<()> {
    let app = common::start().await?;
    let browser = Browser::new()?;
    let local_arthur = app.account_id("arthur")?;

    let callback = login_until_callback(&app, &browser, "arthur").await?;
    let me = browser.follow(&callback).await?;
    let principal: serde_json::Value = serde_json::from_str(&last(&me)?.body)?;

    assert_ne!(principal["account"], local_arthur);
    assert_eq!(principal["username"], "arthur-2");
    Ok(())
}

/// `state` is what ties the callback to the browser that started the login: a callback
/// without it, with another one, or in a browser that never started a login (an attacker's
/// callback URL planted in the victim's browser: login CSRF) is refused with 400 before any
/// code is redeemed.
#[actix_web::test]
async fn a_callback_with_a_missing_or_wrong_state_is_refused_with_400_and_logs_nobody_in()
-> anyhow::Result<()> {
    let app = common::start().await?;
    for tamper in ["missing", "wrong", "other browser"] {
        let browser = Browser::new()?;
        let callback = login_until_callback(&app, &browser, "grace").await?;
        let mut url = Url::parse(&callback)?;
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .into_owned()
            .filter(|(name, _)| name != param::STATE)
            .collect();
        let mut query = url.query_pairs_mut();
        query.clear().extend_pairs(pairs);
        if tamper == "wrong" {
            query.append_pair(param::STATE, "not-the-state-this-browser-got");
        }
        drop(query);
        let url = if tamper == "other browser" {
            callback
        } else {
            url.to_string()
        };
        let agent = if tamper == "other browser" {
            Browser::new()?
        } else {
            browser
        };

        let answer = agent.get(&url).await?;

        let detail = expect_refusal(&answer, 400, "invalid_request").await?;
        assert!(
            detail.contains("state") || detail.contains("No login"),
            "{tamper}: {detail}"
        );
        nobody_logged_in(&app, &answer)?;
    }
    Ok(())
}

/// RFC 6749 §4.1.2: a code is single-use, and a second presentation revokes the tokens the
/// first one got (someone else has the code, and may have been first).
#[actix_web::test]
async fn a_reused_code_is_invalid_grant_and_revokes_the_tokens_issued_for_it() -> anyhow::Result<()>
{
    let app = common::start().await?;
    let client = TestClient::register(&app, "reuser")?;
    let code = client.code(&app, &Browser::new()?).await?;
    let token = access_token_of(client.redeem_properly(&app, &code).await?).await?;
    assert_eq!(userinfo_status(&app, &token).await?, 200);

    let again = client.redeem_properly(&app, &code).await?;

    expect_token_error(again, 400, "invalid_grant").await?;
    assert_eq!(userinfo_status(&app, &token).await?, 401, "revoked");
    assert_eq!(app.state.provider.live_access_tokens(), 0);
    Ok(())
}

/// The crate's own client replaying a callback gets nowhere either: the first callback ended
/// the login, so the second one has no `state` to match.
#[actix_web::test]
async fn a_replayed_callback_is_refused_and_does_not_log_in_twice() -> anyhow::Result<()> {
    let app = common::start().await?;
    let browser = Browser::new()?;
    let callback = login_until_callback(&app, &browser, "grace").await?;
    // Keep the login cookie to send it again, as a replaying attacker holding it would.
    let login_cookie = browser.cookie_header(&Url::parse(&app.url(CALLBACK_PATH))?);
    let first = browser.get(&callback).await?;
    assert_eq!(first.status, 303);

    let replay = app
        .http
        .get(&callback)
        .header(COOKIE, login_cookie)
        .send()
        .await?;

    assert_eq!(replay.status(), 400);
    let problem = common::problem(replay).await?;
    assert_eq!(problem.extensions["error"], "invalid_request");
    assert_eq!(
        app.state.sessions.len(),
        1,
        "only the first callback logged in"
    );
    Ok(())
}

/// RFC 7636 §4.6: the verifier must hash to the challenge sent with the authorization request.
#[actix_web::test]
async fn a_pkce_verifier_that_does_not_match_the_challenge_is_invalid_grant() -> anyhow::Result<()>
{
    let app = common::start().await?;
    let client = TestClient::register(&app, "pkce")?;
    let code = client.code(&app, &Browser::new()?).await?;
    let someone_elses = auth::pkce::new_verifier()?;

    let answer = client
        .redeem(&app, &code, &someone_elses, &client.redirect_uri)
        .await?;

    expect_token_error(answer, 400, "invalid_grant").await?;
    assert_eq!(app.state.provider.live_access_tokens(), 0);
    Ok(())
}

/// PKCE S256 is required: an authorization request without a challenge, or with `plain`, is
/// sent back to the (registered) redirect URI with `invalid_request` and its `state`.
#[actix_web::test]
async fn an_authorization_request_without_an_s256_challenge_is_sent_back_with_invalid_request()
-> anyhow::Result<()> {
    let app = common::start().await?;
    let client = TestClient::register(&app, "no-pkce")?;
    let browser = Browser::new()?;
    for changes in [
        vec![(param::CODE_CHALLENGE, None)],
        vec![(param::CODE_CHALLENGE_METHOD, Some("plain"))],
        vec![(param::CODE_CHALLENGE_METHOD, None)],
    ] {
        let answer = browser.get(&client.authorize_url(&app, &changes)).await?;

        assert_eq!(answer.status, 303, "{changes:?}");
        let location = answer.location.unwrap_or_default();
        assert!(location.starts_with(&client.redirect_uri), "{location}");
        let back = query_of(&location)?;
        assert_eq!(back[param::ERROR], "invalid_request", "{changes:?}");
        assert_eq!(back[param::STATE], "the-state");
        assert!(!back.contains_key(param::CODE));
    }
    Ok(())
}

/// RFC 6749 §4.1.2.1: with an unregistered `redirect_uri` (or an unknown client) the provider
/// shows an error page and never redirects; and a code redeemed with another `redirect_uri`
/// than it was issued for (§4.1.3) is `invalid_grant`.
#[actix_web::test]
async fn a_redirect_uri_that_differs_from_the_registered_one_is_never_redirected_to()
-> anyhow::Result<()> {
    let app = common::start().await?;
    let client = TestClient::register(&app, "redirects")?;
    let browser = Browser::new()?;
    for changes in [
        vec![(param::REDIRECT_URI, Some("http://attacker.test/steal"))],
        vec![(
            param::REDIRECT_URI,
            Some("http://127.0.0.1:9/redirects/cb/../../x"),
        )],
        vec![(param::REDIRECT_URI, None)],
        vec![(param::CLIENT_ID, Some("nobody"))],
    ] {
        let answer = browser.get(&client.authorize_url(&app, &changes)).await?;

        assert_eq!(answer.status, 400, "{changes:?}");
        assert!(answer.location.is_none(), "{changes:?} redirected");
        assert!(
            answer.body.contains("<html>"),
            "an HTML page: {}",
            answer.body
        );
    }

    let code = client.code(&app, &browser).await?;
    let answer = client
        .redeem(&app, &code, &client.verifier, &client.other_redirect_uri())
        .await?;
    expect_token_error(answer, 400, "invalid_grant").await?;
    assert_eq!(app.state.provider.live_access_tokens(), 0);
    Ok(())
}

/// Codes live for [`CODE_LIFETIME`]; one second past it, the code is `invalid_grant`.
#[actix_web::test]
async fn an_expired_code_is_invalid_grant() -> anyhow::Result<()> {
    let app = common::start().await?;
    let client = TestClient::register(&app, "slow")?;
    let code = client.code(&app, &Browser::new()?).await?;

    app.clock.advance(CODE_LIFETIME + Duration::from_secs(1));
    let answer = client.redeem_properly(&app, &code).await?;

    expect_token_error(answer, 400, "invalid_grant").await?;
    assert_eq!(app.state.provider.live_access_tokens(), 0);
    Ok(())
}

/// A code is bound to the client it was issued to: another client, with its own valid
/// credentials, gets `invalid_grant`, and the rightful client can still redeem it.
#[actix_web::test]
async fn a_code_issued_to_another_client_is_invalid_grant() -> anyhow::Result<()> {
    let app = common::start().await?;
    let victim = TestClient::register(&app, "victim")?;
    let thief = TestClient::register(&app, "thief")?;
    let code = victim.code(&app, &Browser::new()?).await?;

    let stolen = thief
        .redeem(&app, &code, &victim.verifier, &victim.redirect_uri)
        .await?;

    expect_token_error(stolen, 400, "invalid_grant").await?;
    assert_eq!(app.state.provider.live_access_tokens(), 0);
    access_token_of(victim.redeem_properly(&app, &code).await?).await?;
    Ok(())
}

/// RFC 6749 §5.2: a client that fails to authenticate gets 401 `invalid_client` with a
/// `WWW-Authenticate` challenge, and its code stays unredeemed.
#[actix_web::test]
async fn a_wrong_client_secret_is_invalid_client_with_401_and_a_challenge() -> anyhow::Result<()> {
    let app = common::start().await?;
    let client = TestClient::register(&app, "forgetful")?;
    let code = client.code(&app, &Browser::new()?).await?;

    let answer = app
        .http
        .post(app.url(&format!("{MOUNT}{TOKEN_PATH}")))
        .basic_auth(&client.id, Some("not-the-secret"))
        .form(&[
            (param::GRANT_TYPE, "authorization_code"),
            (param::CODE, code.as_str()),
            (param::REDIRECT_URI, client.redirect_uri.as_str()),
            (param::CODE_VERIFIER, client.verifier.as_str()),
        ])
        .send()
        .await?;

    let challenge = common::header(&answer, WWW_AUTHENTICATE.as_str()).unwrap_or_default();
    assert!(challenge.starts_with("Basic "), "{challenge}");
    expect_token_error(answer, 401, "invalid_client").await?;
    access_token_of(client.redeem_properly(&app, &code).await?).await?;
    Ok(())
}

/// OpenID Connect's own checks on the `id_token`, with a provider that lies: a token whose
/// `nonce` belongs to another login, whose `aud` is another client, or whose signature is not
/// from a key in the JWKS is refused with 401, and nobody is logged in.
#[actix_web::test]
async fn an_id_token_with_the_wrong_nonce_aud_or_signature_logs_nobody_in() -> anyhow::Result<()> {
    let app = common::start().await?;
    for (fault, mentions) in [
        (IdTokenFault::WrongNonce, "nonce"),
        (IdTokenFault::WrongAudience, "aud"),
        (IdTokenFault::ForeignSignature, "signature"),
    ] {
        app.state.provider.misbehave(Some(fault))?;
        let browser = Browser::new()?;
        let callback = login_until_callback(&app, &browser, "grace").await?;

        let answer = browser.get(&callback).await?;

        let detail = expect_refusal(&answer, 401, "invalid_grant").await?;
        assert!(detail.contains(mentions), "{fault:?}: {detail}");
        nobody_logged_in(&app, &answer)?;
    }
    Ok(())
}

/// A wrong password at the provider shows its form again (401) and sends nobody back; the
/// right one afterwards still completes the same login.
#[actix_web::test]
async fn a_wrong_password_at_the_provider_shows_the_form_again_and_sends_nobody_back()
-> anyhow::Result<()> {
    let app = common::start().await?;
    let browser = Browser::new()?;
    let (_, interaction) = open_login_form(&app, &browser).await?;

    let wrong = browser
        .post_form(
            &app.url(&format!("{MOUNT}{PROVIDER_LOGIN_PATH}")),
            &[
                (param::INTERACTION, interaction.as_str()),
                ("username", "grace"),
                ("password", "not grace's password"),
            ],
        )
        .await?;

    assert_eq!(wrong.status, 401);
    assert!(wrong.location.is_none());
    assert_eq!(
        oauth_provider::interaction_in(&wrong.body),
        Some(interaction.as_str())
    );
    let callback = sign_in(&app, &browser, &interaction, "grace").await?;
    let landed = browser.follow(&callback).await?;
    assert_eq!(last(&landed)?.status, 200);
    Ok(())
}

/// A user who clicks "Deny" comes back with `access_denied`, and no session.
#[actix_web::test]
async fn a_user_who_denies_comes_back_with_access_denied_and_no_session() -> anyhow::Result<()> {
    let app = common::start().await?;
    let browser = Browser::new()?;
    let (_, interaction) = open_login_form(&app, &browser).await?;
    let back = browser
        .post_form(
            &app.url(&format!("{MOUNT}{PROVIDER_LOGIN_PATH}")),
            &[
                (param::INTERACTION, interaction.as_str()),
                ("decision", "deny"),
            ],
        )
        .await?;
    let callback = back.location.unwrap_or_default();
    assert_eq!(query_of(&callback)?[param::ERROR], "access_denied");

    let answer = browser.get(&callback).await?;

    expect_refusal(&answer, 400, "access_denied").await?;
    nobody_logged_in(&app, &answer)?;
    Ok(())
}

/// A provider that cannot be reached is the provider's failure, not the user's: 502.
#[actix_web::test]
async fn a_login_with_an_unreachable_provider_answers_502() -> anyhow::Result<()> {
    let app = common::start().await?;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?;
    let issuer = format!("http://{}", closed.local_addr()?);
    drop(closed);
    app.state.oauth.configure(ClientConfig {
        issuer,
        client_id: "nobody".to_owned(),
        client_secret: None,
        redirect_uri: app.url(CALLBACK_PATH),
    })?;

    let answer = Browser::new()?.get(&app.url(LOGIN_PATH)).await?;

    assert_eq!(answer.status, 502, "{}", answer.body);
    assert!(answer.location.is_none());
    Ok(())
}
