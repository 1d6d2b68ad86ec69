//! The service: all three mechanisms in one actix-web app, built by [`run`] for `main`, the demo
//! and the tests alike.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context as _;
use deadpool_redis::{Pool, Runtime};
use serde::{Deserialize, Serialize};
use support::routing::endpoint;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::error::AuthError;
use crate::jwt::Keyring;
use crate::jwt_auth::{self, JwtService};
use crate::memory_session::{MEMORY_COOKIE, MemoryStore};
use crate::redis_session::{REDIS_COOKIE, RedisStore};
use crate::session::{self, Sessions};
use crate::token_store::TokenStore;
use crate::users::UserStore;

/// Every Redis key this crate writes starts with this (tests use their own `TestKeys` prefix).
pub const KEY_NAMESPACE: &str = "svj:";
/// Largest JSON body accepted (credentials are tiny).
pub const JSON_LIMIT: usize = 4 * 1024;

/// Everything one instance of the service holds.
#[derive(Debug, Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub clock: SharedClock,
    pub users: UserStore,
    pub memory: Arc<Sessions<MemoryStore>>,
    /// `None` when Redis is not available: `/redis/...` is then not mounted.
    pub redis: Option<Arc<Sessions<RedisStore>>>,
    pub jwt: Arc<JwtService>,
}

/// What the parts of an instance are built from. Two instances of one deployment share `users`
/// (a database, really), `redis` and `keys`; each has its own memory.
pub struct Parts {
    pub config: Config,
    pub clock: SharedClock,
    pub users: UserStore,
    pub redis: Option<Pool>,
    /// Redis key namespace (`KEY_NAMESPACE`, or a test's own prefix).
    pub namespace: String,
    /// `None`: build one from the configuration.
    pub keys: Option<Arc<Keyring>>,
}

impl AppState {
    pub fn new(parts: Parts) -> anyhow::Result<Self> {
        let Parts {
            config,
            clock,
            users,
            redis,
            namespace,
            keys,
        } = parts;
        let keys = match keys {
            Some(keys) => keys,
            None => Arc::new(Keyring::for_config(
                config.jwt.algorithm,
                &config.jwt.hs256_secret,
                clock.clone(),
            )?),
        };
        let memory = Arc::new(Sessions::new(
            MemoryStore::default(),
            MEMORY_COOKIE,
            &config.cookies,
            clock.clone(),
            users.clone(),
        ));
        let redis_sessions = redis.as_ref().map(|pool| {
            Arc::new(Sessions::new(
                RedisStore::new(pool.clone(), &namespace),
                REDIS_COOKIE,
                &config.cookies,
                clock.clone(),
                users.clone(),
            ))
        });
        let store = match &redis {
            Some(pool) => TokenStore::redis(pool.clone(), &namespace),
            None => TokenStore::memory(),
        };
        let jwt = Arc::new(JwtService::new(
            keys,
            store,
            config.jwt.clone(),
            clock.clone(),
            users.clone(),
        ));
        Ok(Self {
            config: Arc::new(config),
            clock,
            users,
            memory,
            redis: redis_sessions,
            jwt,
        })
    }

    /// Changes a password and revokes what the old one issued, in every mechanism at once.
    pub async fn change_password(&self, req: &PasswordChange) -> Result<Revoked, AuthError> {
        let user = self
            .users
            .change_password(&req.username, &req.old_password, &req.new_password)
            .await?;
        use crate::session::SessionStore as _;
        let memory_sessions = self.memory.store.remove_user(&user.id).await?;
        let redis_sessions = match &self.redis {
            Some(redis) => Some(redis.store.remove_user(&user.id).await?),
            None => None,
        };
        let jwt_generation = self.jwt.store.bump_generation(&user.id).await?;
        Ok(Revoked {
            memory_sessions,
            redis_sessions,
            jwt_generation,
        })
    }
}

/// A pool for `url`. Creating it does not connect; the first `get()` does.
pub fn redis_pool(url: &str) -> anyhow::Result<Pool> {
    deadpool_redis::Config::from_url(url)
        .create_pool(Some(Runtime::Tokio1))
        .context("creating the Redis pool")
}

/// `POST /account/password` body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PasswordChange {
    pub username: String,
    pub old_password: String,
    pub new_password: String,
}

/// What a password change revoked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Revoked {
    pub memory_sessions: usize,
    pub redis_sessions: Option<usize>,
    /// Tokens and refresh families minted under an older generation are refused from now on.
    pub jwt_generation: u64,
}

async fn change_password(
    body: web::Json<PasswordChange>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AuthError> {
    Ok(HttpResponse::Ok().json(state.change_password(&body).await?))
}

/// Mounts every route of one instance.
pub fn configure(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(support::problem::json_config(JSON_LIMIT))
            .app_data(support::problem::path_config())
            .app_data(support::problem::query_config());
        cfg.service(session::scope("/memory", state.memory.clone()));
        if let Some(redis) = &state.redis {
            cfg.service(session::scope("/redis", redis.clone()));
        }
        jwt_auth::configure(cfg, state.jwt.clone());
        cfg.app_data(web::Data::new(state))
            .service(endpoint("/account/password").post(change_password));
    }
}

/// The server, around a listener the caller bound.
pub fn run(listener: TcpListener, state: AppState) -> std::io::Result<Server> {
    Ok(HttpServer::new(move || {
        App::new()
            .configure(configure(state.clone()))
            .default_service(web::to(support::routing::not_found))
            .wrap(support::routing::bare_errors_as_problems())
    })
    // Two workers: the machine this was written on has two cores, and a demo instance
    // does not need more.
    .workers(2)
    .listen(listener)?
    .run())
}
