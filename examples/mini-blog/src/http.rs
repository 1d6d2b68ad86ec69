//! The server: routes, middleware, and `run`, which `main`, the demo and the tests share.
//!
//! Middleware, outermost first: CORS (any origin may call: the API authenticates with a header,
//! not a cookie, so a foreign page gains nothing a script could not do with its own token),
//! request ids and a log line per request (the http-basics topic's middleware, reused), then
//! the routes. Requests no route takes get the spec's error shape: 405 with `Allow` when the
//! path exists under other methods (the OpenAPI document knows which), else 404.

use std::sync::Arc;

use actix_cors::Cors;
use actix_web::dev::{ResourceDef, Server};
use actix_web::http::{Method, header};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::{AppExt as _, scope};
use utoipa_swagger_ui::SwaggerUi;

use crate::body::BodyLimit;
use crate::state::AppState;
use crate::token::Tokens;
use crate::{articles, comments, favorites, inbox, listing, openapi, profiles, tags, top, users};

/// Every route, mounted under `/api`. Order matters where paths overlap: `/articles/feed` and
/// `/articles/top` before `/articles/{slug}`, which would otherwise take them as slugs.
pub fn routes(config: &mut ServiceConfig<'_>) {
    config.service(
        scope::scope("/api")
            .service(users::register)
            .service(users::login)
            .service(users::current)
            .service(users::update)
            .service(inbox::list)
            .service(profiles::show)
            .service(profiles::follow)
            .service(profiles::unfollow)
            .service(listing::feed)
            .service(top::top)
            .service(listing::list)
            .service(articles::create)
            .service(articles::show)
            .service(articles::update)
            .service(articles::remove)
            .service(favorites::favorite)
            .service(favorites::unfavorite)
            .service(comments::list)
            .service(comments::create)
            .service(comments::remove)
            .service(tags::list),
    );
}

/// The OpenAPI document of exactly the routes [`routes`] mounts.
pub fn document() -> utoipa::openapi::OpenApi {
    App::new()
        .into_utoipa_app()
        .openapi(openapi::base())
        .configure(routes)
        .split_for_parts()
        .1
}

/// The methods the document lists for the path template that matches `path`, if any.
fn allowed(document: &utoipa::openapi::OpenApi, path: &str) -> Option<Vec<String>> {
    document.paths.paths.iter().find_map(|(template, item)| {
        ResourceDef::new(template.as_str()).is_match(path).then(|| {
            let mut methods: Vec<String> = serde_json::to_value(item)
                .ok()
                .and_then(|v| v.as_object().cloned())
                .map(|o| {
                    o.keys()
                        .filter(|k| {
                            matches!(k.as_str(), "get" | "put" | "post" | "delete" | "patch")
                        })
                        .map(|k| k.to_ascii_uppercase())
                        .collect()
                })
                .unwrap_or_default();
            methods.sort();
            methods
        })
    })
}

/// Any request no route took.
async fn unrouted(req: HttpRequest, document: web::Data<utoipa::openapi::OpenApi>) -> HttpResponse {
    let body = |key: &str, message: &str, status: u16| serde_json::json!({ "errors": { key: [message] }, "status": status });
    match allowed(&document, req.path()) {
        Some(methods) if *req.method() != Method::OPTIONS => HttpResponse::MethodNotAllowed()
            .insert_header((header::ALLOW, methods.join(", ")))
            .json(body(
                "method",
                &format!("{} is not allowed here", req.method()),
                405,
            )),
        _ => HttpResponse::NotFound().json(body("route", "not found", 404)),
    }
}

fn cors() -> Cors {
    Cors::default()
        .allow_any_origin()
        .allowed_methods(["GET", "POST", "PUT", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_NONE_MATCH,
        ])
        .expose_headers([
            header::LINK,
            header::ETAG,
            header::HeaderName::from_static("x-cache"),
            header::HeaderName::from_static(http_basics::request_id::REQUEST_ID),
        ])
        .max_age(3600)
}

/// The server around `listener`, with `workers` threads.
pub fn run(
    listener: std::net::TcpListener,
    state: Arc<AppState>,
    workers: usize,
) -> std::io::Result<Server> {
    let tokens = web::Data::new(Tokens::new(
        &state.config.jwt_secret,
        state.config.token_ttl,
    ));
    let limit = state.config.body_limit;
    let state = web::Data::from(state);
    let document = web::Data::new(document());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(tokens.clone())
            .app_data(document.clone())
            .app_data(web::PayloadConfig::new(limit))
            .app_data(BodyLimit(limit))
            // Before the `/api` scope: a scope that matches a prefix keeps the request even
            // when none of its routes does, so these would never be reached after it.
            .service(
                SwaggerUi::new(format!("{}{{_:.*}}", openapi::SWAGGER_PATH))
                    .url(openapi::DOCUMENT_PATH, document.get_ref().clone()),
            )
            // The same `routes` that `document` reads; the paths it collects here are dropped,
            // the document was built once above.
            .configure(|config| routes(&mut ServiceConfig::new(config)))
            .default_service(web::to(unrouted))
            .wrap(from_fn(http_basics::request_id::request_id))
            .wrap(cors())
    })
    .workers(workers)
    .listen(listener)?
    .run();
    Ok(server)
}
