//! The server: every path mounted side by side under its own prefix, on one listener.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::web;
use support::routing::endpoint;

use crate::context::Shared;
use crate::{download, through_backend};

/// Mounts the routes that need only the shared state (the backend path and downloads).
pub fn configure(shared: Shared) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    move |cfg| {
        cfg.app_data(web::Data::new(shared.clone()))
            .service(endpoint(through_backend::PATH).post(through_backend::upload))
            .service(endpoint(download::PATH).get(download::get));
    }
}

/// The server, on a listener the caller bound (main, demo and tests share it).
pub fn run(listener: TcpListener, shared: Shared) -> std::io::Result<Server> {
    support::server::app(listener, configure(shared))
}
