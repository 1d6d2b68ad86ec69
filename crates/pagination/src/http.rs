//! The server: the shared state, and the routes that mount both schemes side by side.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use support::routing::endpoint;

use crate::cursor::{self, CursorCodec};
use crate::db::Db;
use crate::offset;
use crate::page::Limits;

/// Where the offset scheme is mounted.
pub const OFFSET_PATH: &str = offset::PATH;
/// Where the cursor scheme is mounted.
pub const CURSOR_PATH: &str = cursor::PATH;

/// What the handlers need, built once by the caller (main, demo, tests).
#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Db,
    pub codec: CursorCodec,
    pub limits: Limits,
}

/// Mounts both schemes side by side.
pub fn configure(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        // Registered piece by piece, not as one struct, so each handler extracts only what its
        // scheme uses (offset needs no cursor codec) and neither scheme depends on this module.
        cfg.app_data(web::Data::new(state.db))
            .app_data(web::Data::new(state.codec))
            .app_data(web::Data::new(state.limits))
            .app_data(support::problem::query_config())
            .service(endpoint(OFFSET_PATH).get(offset::list))
            .service(endpoint(CURSOR_PATH).get(cursor::list));
    }
}

/// The server, on a listener the caller bound (main, demo and tests share it).
pub fn run(listener: TcpListener, state: AppState) -> std::io::Result<Server> {
    let server = HttpServer::new(move || {
        App::new()
            .configure(configure(state.clone()))
            .default_service(web::to(support::routing::not_found))
            .wrap(support::routing::bare_errors_as_problems())
    })
    .listen(listener)?
    .run();
    Ok(server)
}
