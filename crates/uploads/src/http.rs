//! The server: every path mounted side by side under its own prefix, on one listener.
//!
//! | prefix | path | file |
//! |---|---|---|
//! | `POST /backend/files` | through the backend (multipart) | `through_backend.rs` |
//! | `POST /direct/uploads`, `/direct/policies`, `…/{id}/confirm`, `GET /direct/files/{id}` | direct to storage | `presigned.rs` |
//! | `OPTIONS`/`POST /tus/files`, `HEAD`/`PATCH /tus/files/{id}` | resumable (tus 1.0) | `tus.rs` |
//! | `GET /files/{id}` | downloads of files on the backend's disk | `download.rs` |

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::web;
use support::routing::endpoint;

use crate::context::Shared;
use crate::presigned::{self, Direct};
use crate::{download, through_backend};

/// What the server runs with. `direct: None` serves the backend path alone (no object store).
#[derive(Debug, Clone)]
pub struct AppState {
    pub shared: Shared,
    pub direct: Option<Direct>,
}

/// Mounts every path.
pub fn configure(state: AppState) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    move |cfg| {
        cfg.app_data(web::Data::new(state.shared.clone()))
            .service(endpoint(through_backend::PATH).post(through_backend::upload))
            .service(endpoint(download::PATH).get(download::get));
        if let Some(direct) = &state.direct {
            cfg.app_data(web::Data::new(direct.clone()))
                .service(endpoint(presigned::PUT_PATH).post(presigned::announce_put))
                .service(endpoint(presigned::POLICY_PATH).post(presigned::announce_post))
                .service(endpoint(presigned::CONFIRM_PATH).post(presigned::confirm))
                .service(endpoint(presigned::DOWNLOAD_PATH).get(presigned::download));
        }
    }
}

/// The server, on a listener the caller bound (main, demo and tests share it).
pub fn run(listener: TcpListener, state: AppState) -> std::io::Result<Server> {
    support::server::app(listener, configure(state))
}
