//! The service: all three mechanisms in one actix-web app, built by [`run`] for `main`, the demo
//! and the tests alike. [`serve`] is what `main`'s `serve` command runs: it builds the instance
//! from [`ServeOptions`] (the command's own flags; `--port`/`--host` are the shared
//! [`ServeArgs`]) with [`serve_state`], which a test calls too, so the instance a reader explores
//! with curl is the one a test checks.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{HttpResponse, web};
use anyhow::Context as _;
use deadpool_redis::{Pool, Runtime};
use serde::{Deserialize, Serialize};
use support::cli::ServeArgs;
use support::clock::{SharedClock, SystemClock};
use support::problem::Json;
use support::routing::endpoint;
use support::{Service, Services, Settings};

use crate::config::{Config, JwtAlgorithm};
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
    body: Json<PasswordChange>,
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
    support::server::app(listener, move |cfg| configure(state.clone())(cfg))
}

/// The variable (and `--jwt-alg`) that picks how `serve` signs tokens.
pub const JWT_ALG_VAR: &str = "SVJ_JWT_ALG";
/// The variable (and `--jwt-secret`) holding the HS256 secret every instance shares.
pub const JWT_SECRET_VAR: &str = "SVJ_JWT_SECRET";
/// Shortest HS256 secret accepted: RFC 7518 §3.2 wants a key at least as long as the hash (256 bits).
pub const MIN_SECRET_BYTES: usize = 32;

/// `serve`'s own flags, beside the `--port`/`--host` every topic's `serve` takes
/// ([`support::cli::ServeArgs`]). `main` hands them to [`support::cli::start`] and passes what it
/// parsed on untouched, so a test can build the served instance from the same struct.
#[derive(Clone, Default, clap::Args)]
pub struct ServeOptions {
    /// How `/jwt/...` signs access tokens. Default: eddsa, so /.well-known/jwks.json publishes
    /// the public key that verifies them; hs256 when --jwt-secret is given (an HS256 secret is
    /// never published, so the JWKS is then empty).
    #[arg(long, env = JWT_ALG_VAR, value_enum)]
    pub jwt_alg: Option<JwtAlgorithm>,
    /// HS256 secret shared by every instance (at least 32 bytes); random per process if unset.
    /// Giving one without --jwt-alg selects hs256.
    #[arg(long, env = JWT_SECRET_VAR, hide_env_values = true)]
    pub jwt_secret: Option<String>,
}

/// By hand, so the secret never reaches a log line.
impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("jwt_alg", &self.jwt_alg)
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl ServeOptions {
    /// The algorithm `serve` pins. EdDSA unless a shared secret asks for HS256: a secret is what
    /// lets several instances (the compose file's two behind nginx) verify each other's tokens,
    /// which EdDSA keys generated per process cannot. Production would share one EdDSA key
    /// through a secret store instead, and keep the asymmetric benefit.
    pub fn jwt_algorithm(&self) -> anyhow::Result<JwtAlgorithm> {
        match (self.jwt_alg, &self.jwt_secret) {
            (Some(JwtAlgorithm::EdDsa), Some(_)) => anyhow::bail!(
                "{JWT_SECRET_VAR} (--jwt-secret) is an HS256 secret, but {JWT_ALG_VAR} \
                 (--jwt-alg) asks for eddsa, whose keys are generated per process: unset one"
            ),
            (Some(algorithm), _) => Ok(algorithm),
            (None, Some(_)) => Ok(JwtAlgorithm::Hs256),
            (None, None) => Ok(JwtAlgorithm::EdDsa),
        }
    }
}

/// The instance `serve` runs: Redis sessions and token store when Redis answers (memory
/// otherwise, and `/redis/...` is not mounted), the production argon2 cost, plain-HTTP cookies,
/// the system clock and the keyring [`ServeOptions::jwt_algorithm`] picks.
pub async fn serve_state(settings: Settings, options: &ServeOptions) -> anyhow::Result<AppState> {
    let algorithm = options.jwt_algorithm()?;
    let redis_up = Services::probe_only(&settings, &[Service::Redis])
        .await
        .is_up(Service::Redis);
    let pool = redis_up
        .then(|| redis_pool(&settings.redis_url))
        .transpose()?;
    let mut config = Config::new(settings).for_localhost();
    config.jwt.algorithm = algorithm;
    if let Some(secret) = &options.jwt_secret {
        anyhow::ensure!(
            secret.len() >= MIN_SECRET_BYTES,
            "{JWT_SECRET_VAR} (--jwt-secret) must be at least {MIN_SECRET_BYTES} bytes"
        );
        config.jwt.hs256_secret = secret.clone().into_bytes();
    }
    let users = UserStore::seeded(config.hash_cost)
        .await
        .context("seeding the demo users")?;
    AppState::new(Parts {
        config,
        clock: Arc::new(SystemClock),
        users,
        redis: pool,
        namespace: KEY_NAMESPACE.to_owned(),
        keys: None,
    })
}

/// `serve`: builds the instance with [`serve_state`], binds `host:port` and runs until stopped.
pub async fn serve(
    settings: Settings,
    address: &ServeArgs,
    options: &ServeOptions,
) -> anyhow::Result<()> {
    let state = serve_state(settings, options).await?;
    let (host, port) = address.address();
    let listener = TcpListener::bind((host.as_str(), port))
        .with_context(|| format!("binding {host}:{port}"))?;
    tracing::info!(
        redis = state.redis.is_some(),
        jwt = ?state.config.jwt.algorithm,
        "listening on http://{host}:{port}"
    );
    run(listener, state)
        .context("starting the server")?
        .await
        .context("running the server")
}
