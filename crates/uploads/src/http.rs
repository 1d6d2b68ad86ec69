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
use crate::{download, headers, through_backend, tus};

/// What the server runs with. `direct: None` serves the backend path alone (no object store).
#[derive(Debug, Clone)]
pub struct AppState {
    pub shared: Shared,
    pub direct: Option<Direct>,
    /// tus's per-upload locks, shared by every worker.
    pub tus_locks: tus::Locks,
}

impl AppState {
    pub fn new(shared: Shared, direct: Option<Direct>) -> Self {
        Self {
            shared,
            direct,
            tus_locks: tus::Locks::default(),
        }
    }
}

/// Mounts every path.
pub fn configure(state: AppState) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    move |cfg| {
        cfg.app_data(web::Data::new(state.shared.clone()))
            .service(endpoint(through_backend::PATH).post(through_backend::upload))
            .service(endpoint(download::PATH).get(download::get))
            .app_data(web::Data::new(state.tus_locks.clone()))
            .service(
                endpoint(tus::PATH)
                    .post(tus::create)
                    .options_header(headers::TUS_RESUMABLE, headers::TUS_VERSION_VALUE)
                    .options_header(headers::TUS_VERSION, headers::TUS_VERSION_VALUE)
                    .options_header(tus::TUS_EXTENSION, tus::EXTENSIONS)
                    .options_header(tus::TUS_CHECKSUM_ALGORITHM, tus::CHECKSUM_ALGORITHMS)
                    .options_header(
                        tus::TUS_MAX_SIZE,
                        &state.shared.limits.max_bytes.to_string(),
                    ),
            )
            .service(
                endpoint(tus::UPLOAD_PATH)
                    .method(actix_web::http::Method::HEAD, tus::head)
                    .patch(tus::patch),
            );
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
