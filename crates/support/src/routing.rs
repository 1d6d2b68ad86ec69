//! The answers a server gives when a request matches no route: 404 for an unknown path, 405 with
//! `Allow` for a known path asked with a method it does not support, both as problem+json.
//!
//! actix-web's own answers to both are a bare `404 Not Found` with an empty body: a route declared
//! as `.route("/jobs/{id}", web::get().to(..))` moves its method guard onto the resource, so a
//! `DELETE /jobs/1` finds no resource at all and falls through to the app's default. HTTP says
//! otherwise (RFC 9110 §15.5.6): the resource exists, so the answer is 405, and it must list the
//! methods that would work in `Allow`. Three pieces make every server in the workspace say so:
//!
//! - [`endpoint`]: one path and its methods, listed once. The same list mounts the handlers, fills
//!   `Allow` on the 405 for any other method, and answers `OPTIONS`. A `get` handler also answers
//!   `HEAD` (RFC 9110 §9.3.2: a server that supports GET supports HEAD; actix drops the body).
//! - [`not_found`]: the app's default service, a problem+json 404 for any path no endpoint owns.
//! - [`bare_errors_as_problems`]: a safety net for error responses that something else built
//!   without a body (an extractor with no error config, a middleware, actix itself): it keeps
//!   their status and headers and gives them a problem+json body, so a client never has to guess.
//!
//! A server wires them as
//! `App::new().service(endpoint("/x").get(h)).default_service(web::to(not_found)).wrap(bare_errors_as_problems())`.

use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{AppService, HttpServiceFactory, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{FromRequest, Handler, HttpRequest, HttpResponse, Resource, Responder, guard, web};

use crate::problem::Problem;

/// One path and the methods it supports, listed once (see the module docs).
pub struct Endpoint {
    resource: Resource,
    methods: Vec<Method>,
    /// Extra headers for the `OPTIONS` answer (`Accept-Post`, `Accept-Patch`, ...).
    options_headers: Vec<(HeaderName, HeaderValue)>,
}

/// Starts an endpoint at `path` (relative to the enclosing scope, like `web::resource`).
pub fn endpoint(path: &str) -> Endpoint {
    Endpoint {
        resource: web::resource(path),
        methods: Vec::new(),
        options_headers: Vec::new(),
    }
}

impl Endpoint {
    /// `GET`, and `HEAD` with the same handler.
    pub fn get<F, Args>(mut self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.methods.extend([Method::GET, Method::HEAD]);
        self.resource = self.resource.route(
            web::route()
                .guard(guard::Any(guard::Get()).or(guard::Head()))
                .to(handler),
        );
        self
    }

    pub fn post<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.method(Method::POST, handler)
    }

    pub fn put<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.method(Method::PUT, handler)
    }

    pub fn patch<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.method(Method::PATCH, handler)
    }

    pub fn delete<F, Args>(self, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.method(Method::DELETE, handler)
    }

    /// Any other method, by name.
    pub fn method<F, Args>(mut self, method: Method, handler: F) -> Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.methods.push(method.clone());
        self.resource = self.resource.route(web::method(method).to(handler));
        self
    }

    /// Data for this endpoint's handlers only (`web::Resource::app_data`).
    pub fn app_data<U: 'static>(mut self, data: U) -> Self {
        self.resource = self.resource.app_data(data);
        self
    }

    /// A header the `OPTIONS` answer carries besides `Allow` (which bodies a write accepts, say).
    /// A header that is not valid is skipped: these are the crate's own constants.
    pub fn options_header(mut self, name: &str, value: &str) -> Self {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name),
            HeaderValue::try_from(value.to_owned()),
        ) {
            self.options_headers.push((name, value));
        }
        self
    }

    /// The `Allow` value: every method mounted so far, then `OPTIONS`.
    pub fn allow(&self) -> String {
        let mut names: Vec<&str> = self.methods.iter().map(Method::as_str).collect();
        if !self.methods.contains(&Method::OPTIONS) {
            names.push(Method::OPTIONS.as_str());
        }
        names.join(", ")
    }
}

impl HttpServiceFactory for Endpoint {
    fn register(self, config: &mut AppService) {
        let allow: Arc<str> = self.allow().into();
        let mut resource = self.resource;
        if !self.methods.contains(&Method::OPTIONS) {
            let allow = Arc::clone(&allow);
            let extra = Arc::new(self.options_headers);
            resource = resource.route(web::method(Method::OPTIONS).to(move || {
                let mut res = HttpResponse::NoContent();
                res.insert_header((header::ALLOW, &*allow));
                for (name, value) in extra.iter() {
                    res.insert_header((name.clone(), value.clone()));
                }
                std::future::ready(res.finish())
            }));
        }
        resource
            .default_service(web::to(move |req: HttpRequest| {
                std::future::ready(method_not_allowed(req.method(), &allow).to_response())
            }))
            .register(config);
    }
}

/// 405 for `method` on a resource that supports `allow`.
pub fn method_not_allowed(method: &Method, allow: &str) -> Problem {
    Problem::new(StatusCode::METHOD_NOT_ALLOWED)
        .with_detail(format!(
            "This resource does not support {method}; it supports {allow}."
        ))
        .with_header(header::ALLOW.as_str(), allow)
}

/// The app's default service: a problem+json 404 for a path that no endpoint owns.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    not_found_problem(req.path()).to_response()
}

fn not_found_problem(path: &str) -> Problem {
    Problem::new(StatusCode::NOT_FOUND)
        .with_detail("No resource at this address.")
        .with_instance(path)
}

/// Middleware that gives a problem+json body to any 4xx or 5xx response that has no
/// `Content-Type`, keeping its status and its headers (`Allow`, `Retry-After`, ...). Responses
/// that already carry a body type pass through untouched.
pub fn bare_errors_as_problems<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(|res: ServiceResponse<B>| {
        if res.response().headers().contains_key(header::CONTENT_TYPE) {
            return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
        }
        let (req, bare) = res.into_parts();
        let mut problem = Problem::new(bare.status());
        if bare.status() == StatusCode::NOT_FOUND {
            problem = not_found_problem(req.path());
        }
        let mut answer = problem.to_response();
        for (name, value) in bare.headers() {
            if name != header::CONTENT_LENGTH && !answer.headers().contains_key(name) {
                answer.headers_mut().append(name.clone(), value.clone());
            }
        }
        let answer: ServiceResponse<EitherBody<B>> =
            ServiceResponse::new(req, answer).map_into_right_body();
        Ok(ErrorHandlerResponse::Response(answer))
    })
}

#[cfg(test)]
mod tests {
    use actix_web::{App, test};

    use super::*;
    use crate::problem::PROBLEM_JSON;

    async fn hello() -> &'static str {
        "hello"
    }

    async fn bare_teapot() -> HttpResponse {
        HttpResponse::build(StatusCode::IM_A_TEAPOT)
            .insert_header((header::RETRY_AFTER, "3"))
            .finish()
    }

    macro_rules! app {
        () => {
            test::init_service(
                App::new()
                    .service(endpoint("/notes").get(hello).post(hello))
                    .service(endpoint("/teapot").get(bare_teapot))
                    .default_service(web::to(not_found))
                    .wrap(bare_errors_as_problems()),
            )
            .await
        };
    }

    #[actix_web::test]
    async fn a_wrong_method_is_405_with_allow_as_problem_json() {
        let app = app!();
        let res =
            test::call_service(&app, test::TestRequest::delete().uri("/notes").to_request()).await;
        assert_eq!(res.status(), 405);
        assert_eq!(
            res.headers().get("allow").unwrap(),
            "GET, HEAD, POST, OPTIONS"
        );
        assert_eq!(res.headers().get("content-type").unwrap(), PROBLEM_JSON);
        let body: Problem = test::read_body_json(res).await;
        assert_eq!(body.status, 405);
    }

    #[actix_web::test]
    async fn an_unknown_path_is_a_problem_json_404_naming_the_path() {
        let app = app!();
        let res =
            test::call_service(&app, test::TestRequest::get().uri("/nowhere").to_request()).await;
        assert_eq!(res.status(), 404);
        assert_eq!(res.headers().get("content-type").unwrap(), PROBLEM_JSON);
        let body: Problem = test::read_body_json(res).await;
        assert_eq!(body.instance.as_deref(), Some("/nowhere"));
    }

    #[actix_web::test]
    async fn get_also_answers_head_and_options_lists_the_methods() {
        let app = app!();
        let head = test::call_service(
            &app,
            test::TestRequest::default()
                .method(Method::HEAD)
                .uri("/notes")
                .to_request(),
        )
        .await;
        assert_eq!(head.status(), 200);
        let options = test::call_service(
            &app,
            test::TestRequest::default()
                .method(Method::OPTIONS)
                .uri("/notes")
                .to_request(),
        )
        .await;
        assert_eq!(options.status(), 204);
        assert_eq!(
            options.headers().get("allow").unwrap(),
            "GET, HEAD, POST, OPTIONS"
        );
    }

    #[actix_web::test]
    async fn a_bare_error_gets_a_problem_body_and_keeps_its_headers() {
        let app = app!();
        let res =
            test::call_service(&app, test::TestRequest::get().uri("/teapot").to_request()).await;
        assert_eq!(res.status(), 418);
        assert_eq!(res.headers().get("content-type").unwrap(), PROBLEM_JSON);
        assert_eq!(res.headers().get("retry-after").unwrap(), "3");
        let body: Problem = test::read_body_json(res).await;
        assert_eq!(body.status, 418);
    }
}
