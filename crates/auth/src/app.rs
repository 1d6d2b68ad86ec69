//! The service: every mechanism in one actix-web app, built by [`run`] for `main`, the demo and
//! the tests alike.
//!
//! | prefix | how a request proves who it is | public routes beside it |
//! |---|---|---|
//! | `/basic` | `Authorization: Basic` on every request | |
//! | `/session` | the session cookie (+ `X-CSRF-Token` on unsafe methods) | `POST /session/login` |
//! | `/jwt` | `Authorization: Bearer <JWT>` | `POST /jwt/token` |
//! | `/apikey` | `X-API-Key` | (keys are made under the other three: `POST …/api-keys`) |
//!
//! Under each prefix the same routes (`documents`, `management`): the reader can diff the four
//! columns of the RBAC matrix because nothing but the front door differs.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::web;
use support::Settings;
use support::cli::ServeArgs;
use support::clock::{SharedClock, SystemClock};
use support::routing::endpoint;

use crate::accounts::Accounts;
use crate::api_keys::ApiKeys;
use crate::config::Config;
use crate::documents::{self, DocumentInput, Documents};
use crate::guard;
use crate::jwt_bearer::{self, JwtIssuer};
use crate::management;
use crate::oauth_client::{self, CALLBACK_PATH, ClientConfig, OAuthClient};
use crate::oauth_provider::{self, Provider};
use crate::passwords::Passwords;
use crate::principal::Mechanism;
use crate::session::{self, Sessions};
use crate::throttle::Throttle;

/// Largest JSON body accepted.
pub const JSON_LIMIT: usize = 32 * 1024;

/// Everything one instance holds. Cloning shares it.
#[derive(Debug, Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub clock: SharedClock,
    pub accounts: Accounts,
    pub throttle: Throttle,
    pub sessions: Sessions,
    pub jwt: Arc<JwtIssuer>,
    pub api_keys: ApiKeys,
    pub documents: Documents,
    /// The local OpenID provider under `/provider`, and the client `/oauth/...` logs in with.
    pub provider: Provider,
    pub oauth: OAuthClient,
}

impl AppState {
    /// An instance with the demo accounts and one document per author.
    pub async fn new(config: Config, clock: SharedClock) -> anyhow::Result<Self> {
        let passwords = Passwords::new(config.password_cost).await?;
        let accounts = Accounts::seeded(passwords).await?;
        let documents = Documents::default();
        for author in ["arthur", "olga"] {
            let owner = accounts
                .find(author)?
                .ok_or_else(|| anyhow::anyhow!("{author} is not seeded"))?;
            documents.insert(
                owner.id,
                &DocumentInput {
                    title: format!("{author}'s first document"),
                    body: "Seeded at start-up.".to_owned(),
                },
            )?;
        }
        let provider = Provider::new(clock.clone(), accounts.passwords().clone()).await?;
        let oauth = OAuthClient::new(clock.clone(), config.session.secure)?;
        Ok(Self {
            provider,
            oauth,
            throttle: Throttle::new(config.throttle.clone(), clock.clone()),
            sessions: Sessions::new(config.session.clone(), clock.clone()),
            jwt: Arc::new(JwtIssuer::new(config.jwt.clone(), clock.clone())?),
            api_keys: ApiKeys::new(clock.clone()),
            config: Arc::new(config),
            clock,
            accounts,
            documents,
        })
    }
}

/// Mounts every route of one instance.
pub fn configure(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(support::problem::json_config(JSON_LIMIT))
            .app_data(support::problem::path_config())
            .app_data(support::problem::query_config())
            .app_data(web::Data::new(state.accounts.clone()))
            .app_data(web::Data::new(state.throttle.clone()))
            .app_data(web::Data::new(state.sessions.clone()))
            .app_data(web::Data::from(state.jwt.clone()))
            .app_data(web::Data::new(state.api_keys.clone()))
            .app_data(web::Data::new(state.documents.clone()))
            .app_data(web::Data::new(state.provider.clone()))
            .app_data(web::Data::new(state.oauth.clone()));
        cfg.configure(oauth_provider::configure)
            .configure(oauth_client::configure);
        // The logins are public, and registered before the scopes, so they match first.
        cfg.service(endpoint("/session/login").post(session::login))
            .service(endpoint("/jwt/token").post(jwt_bearer::token));
        cfg.service(
            web::scope(Mechanism::Basic.prefix())
                .wrap(from_fn(guard::basic))
                .configure(documents::configure)
                .configure(management::configure),
        )
        .service(
            web::scope(Mechanism::Session.prefix())
                .wrap(from_fn(guard::session))
                .service(endpoint("/csrf").get(session::csrf))
                .service(endpoint("/logout").post(session::logout))
                .configure(documents::configure)
                .configure(management::configure),
        )
        .service(
            web::scope(Mechanism::Jwt.prefix())
                .wrap(from_fn(guard::jwt))
                .configure(documents::configure)
                .configure(management::configure),
        )
        .service(
            web::scope(Mechanism::ApiKey.prefix())
                .wrap(from_fn(guard::api_key))
                .configure(documents::configure)
                .configure(management::configure),
        );
    }
}

/// The server, around a listener the caller bound.
pub fn run(listener: TcpListener, state: AppState) -> std::io::Result<Server> {
    // The provider's issuer and the client's redirect URI are known only once bound.
    bind_local(&state.provider, &state.oauth, listener.local_addr()?)
        .map_err(std::io::Error::other)?;
    support::server::app(listener, move |cfg| configure(state.clone())(cfg))
}

/// What `serve` runs: the default configuration on the system clock.
pub async fn serve(_settings: Settings, serve: &ServeArgs) -> anyhow::Result<()> {
    let state = AppState::new(Config::default(), Arc::new(SystemClock)).await?;
    let listener = TcpListener::bind(serve.address())?;
    tracing::info!(address = %listener.local_addr()?, "auth listening");
    run(listener, state)?.await?;
    Ok(())
}

/// Wires the local provider and this client together once the server's address is known:
/// the provider learns its issuer and the client's redirect URI, and the client (unless
/// configured already) points at the provider.
fn bind_local(
    provider: &Provider,
    client: &OAuthClient,
    addr: std::net::SocketAddr,
) -> anyhow::Result<()> {
    let base = oauth_provider::base_url(addr);
    let redirect_uri = format!("{base}{CALLBACK_PATH}");
    let local = provider.bind(&base, &redirect_uri)?;
    client.configure_if_unset(ClientConfig {
        issuer: provider.issuer(),
        client_id: local.client_id,
        client_secret: local.client_secret,
        redirect_uri,
    })
}
