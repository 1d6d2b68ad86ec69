//! Start an actix-web server on a free loopback port and get its base URL back.
//!
//! Topic crates expose `run(listener, state) -> Server` (the server is built around a listener the
//! caller bound), so a demo, a test and `main` start the very same server: `main` binds the port
//! it was asked for, demos and tests bind port 0 and let the OS pick.

use std::io;
use std::net::{SocketAddr, TcpListener};

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer, web};

/// Worker threads per server: the machines this runs on have two cores, and a demo or test
/// instance does not need more.
pub const WORKERS: usize = 2;

/// A server running in the background of the current runtime.
#[derive(Debug)]
pub struct RunningServer {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub base_url: String,
    pub addr: SocketAddr,
    handle: ServerHandle,
}

impl RunningServer {
    /// `base_url` + `path` (`path` starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Stops accepting, lets in-flight requests finish, and waits until the server has stopped.
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }

    /// Stops at once, dropping in-flight requests: a crashed instance, for demos that need one.
    pub async fn kill(self) {
        self.handle.stop(false).await;
    }
}

/// The server a topic runs around a listener the caller bound: `configure`'s routes, a
/// problem+json 404 for any other path, problem+json bodies for bare error responses
/// ([`crate::routing`]), and [`WORKERS`] workers.
pub fn app<F>(listener: TcpListener, configure: F) -> io::Result<Server>
where
    F: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
{
    Ok(HttpServer::new(move || {
        App::new()
            .configure(configure.clone())
            .default_service(web::to(crate::routing::not_found))
            .wrap(crate::routing::bare_errors_as_problems())
    })
    .workers(WORKERS)
    .listen(listener)?
    .run())
}

/// Binds `127.0.0.1:0`, builds the server with `make`, and spawns it on the current runtime.
/// Must be called from within a Tokio runtime (`#[actix_web::main]`, `#[tokio::test]`, ...).
pub fn spawn(make: impl FnOnce(TcpListener) -> io::Result<Server>) -> io::Result<RunningServer> {
    spawn_on(TcpListener::bind("127.0.0.1:0")?, make)
}

/// [`spawn`] on a listener the caller bound: when the address must be known before the
/// server's state can be built (a webhook endpoint registered before its consumer has its
/// secret), or when a restarted server must come back on the same port.
pub fn spawn_on(
    listener: TcpListener,
    make: impl FnOnce(TcpListener) -> io::Result<Server>,
) -> io::Result<RunningServer> {
    let addr = listener.local_addr()?;
    let server = make(listener)?;
    let handle = server.handle();
    tokio::spawn(server);
    Ok(RunningServer {
        base_url: format!("http://{addr}"),
        addr,
        handle,
    })
}
