//! A real nginx in front of two instances: the load balancer of the "Two instances" lesson, run
//! as a child process of the demo or of a test, on a free loopback port, killed on drop.
//!
//! The configuration is rendered from `deploy/nginx.conf`, the very file `docker compose` mounts,
//! so the balancer the tests measure and the one a reader starts in containers cannot drift
//! apart. Rendering changes only what must differ outside a container, each by an exact textual
//! replacement that fails loudly when the template no longer holds the line it replaces:
//!
//! | in `deploy/nginx.conf` | rendered here | why |
//! |---|---|---|
//! | `server sessions-a:8080;`, `server sessions-b:8080;` | `server 127.0.0.1:<port>;` twice | the instances are processes on loopback ports, not compose services |
//! | `listen 80;` | `listen 127.0.0.1:<port>;` | a free port on loopback only; port 80 is the machine's |
//! | `# ip_hash;` | `ip_hash;` for [`Routing::Sticky`] | the template's own switch for sticky routing |
//! | (nothing) | logs and temp paths inside a temp dir | the compiled-in ones are root paths under `/var` |
//!
//! Why `ip_hash` and not a hash of the session cookie: open-source nginx has no `sticky cookie`
//! (that is NGINX Plus), and `hash $cookie_<name> consistent` routes the login (which carries no
//! cookie yet) and the requests after it (which do) by different keys, so they can land on
//! different instances, the very failure stickiness is meant to remove. `ip_hash` hashes the
//! first three octets of the client's IPv4 address; every client here is `127.0.0.1`, so it
//! pins everything to one instance. That is what sticky means for one client, and it also shows
//! the method's weakness: clients behind one NAT all land on one instance.
//!
//! Where the program is comes from, in order: `NGINX_SERVER` (a path, or `none` to treat nginx
//! as absent even when it is installed, as CI's bare-machine pass does); `nginx` on `PATH`;
//! `/usr/sbin/nginx`, where Debian installs it (the rule of [`support::programs`]).
//!
//! A simplification: if this process is killed outright (`SIGKILL`), no destructor runs and
//! nginx outlives it (a supervisor would use `PR_SET_PDEATHSIG`, which needs `unsafe`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;
use support::programs::{Program, free_port};

/// The variable naming the nginx binary (or `none`).
pub const SERVER_VAR: &str = "NGINX_SERVER";
/// The `nginx` program, found by the workspace's one rule for installed programs (Debian puts it
/// in `/usr/sbin`, which is not on a normal user's `PATH`).
pub const PROGRAM: Program = Program {
    variable: SERVER_VAR,
    names: &["nginx"],
    fallbacks: &["/usr/sbin/nginx"],
};
/// How to install nginx, for the messages that say it is missing.
pub const INSTALL: &str = "apt-get install -y nginx";
/// The compose file's configuration: the template every rendered one starts from.
pub const TEMPLATE: &str = include_str!("../deploy/nginx.conf");

/// The template's lines that rendering replaces (see the module's table).
const UPSTREAM_A: &str = "server sessions-a:8080;";
const UPSTREAM_B: &str = "server sessions-b:8080;";
const LISTEN: &str = "listen 80;";
const STICKY_SWITCH: &str = "# ip_hash;";
const HTTP_OPEN: &str = "http {";

/// Another process can take the port between our probe and nginx's bind; then nginx gives up
/// and a new port almost always works.
const START_ATTEMPTS: usize = 3;
/// nginx retries a failed bind for about 2.5 s before it exits, so the deadline is longer.
const READY_WITHIN: Duration = Duration::from_secs(8);
const POLL: Duration = Duration::from_millis(20);
/// The error log lines quoted when nginx fails to start.
const LOG_TAIL_LINES: usize = 5;

/// How nginx picks an instance for each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Routing {
    /// nginx's default: each request goes to the next instance in turn.
    RoundRobin,
    /// `ip_hash`: one client address, one instance (while that instance is up).
    Sticky,
}

impl Routing {
    /// The label tables and sentences use.
    pub fn label(self) -> &'static str {
        match self {
            Routing::RoundRobin => "round robin",
            Routing::Sticky => "sticky (ip_hash)",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NginxError {
    /// Not on this machine (or [`SERVER_VAR`] says to act as if): a reason to skip.
    #[error("nginx is not available ({reason}); install it with `{INSTALL}`")]
    Absent { reason: String },
    /// `deploy/nginx.conf` no longer holds a line rendering replaces: fix the template or this.
    #[error("deploy/nginx.conf should hold `{0}` exactly once")]
    Template(&'static str),
    #[error("failed to run {}: {source}", server.display())]
    Spawn {
        server: PathBuf,
        source: std::io::Error,
    },
    #[error("nginx exited during start-up ({status}): {log}")]
    Exited {
        status: std::process::ExitStatus,
        log: String,
    },
    #[error("nginx did not answer on 127.0.0.1:{port} within {within:?}")]
    NotReady { port: u16, within: Duration },
    #[error("nginx: {0}")]
    Io(#[from] std::io::Error),
}

impl NginxError {
    /// True when nginx is simply not installed (or disabled): skip, do not fail.
    pub fn is_absent(&self) -> bool {
        matches!(self, Self::Absent { .. })
    }
}

/// Where the `nginx` program is, or why there is none.
pub fn locate() -> Result<PathBuf, NginxError> {
    PROGRAM.locate().map_err(|absent| NginxError::Absent {
        reason: absent.reason,
    })
}

/// Why nginx cannot be used here, or `None`: what `support::testkit::present` takes.
pub fn missing() -> Option<String> {
    locate().err().map(|e| e.to_string())
}

/// `nginx/1.22.1`, from `nginx -v` (which prints to stderr); `None` if it cannot be read.
pub fn version(server: &Path) -> Option<String> {
    let out = Command::new(server).arg("-v").output().ok()?;
    let text = String::from_utf8_lossy(&out.stderr);
    text.split_whitespace()
        .find(|w| w.starts_with("nginx/"))
        .map(str::to_owned)
}

/// Replaces the one occurrence of `from`; an error if there is none or more than one.
fn replace_once(text: &str, from: &'static str, to: &str) -> Result<String, NginxError> {
    if text.matches(from).count() != 1 {
        return Err(NginxError::Template(from));
    }
    Ok(text.replacen(from, to, 1))
}

/// The configuration for `routing` in front of `upstreams`, listening on `listen`, with every
/// file nginx writes inside `dir`.
pub fn render(
    routing: Routing,
    upstreams: [SocketAddr; 2],
    listen: SocketAddr,
    dir: &Path,
) -> Result<String, NginxError> {
    let mut conf = replace_once(TEMPLATE, UPSTREAM_A, &format!("server {};", upstreams[0]))?;
    conf = replace_once(&conf, UPSTREAM_B, &format!("server {};", upstreams[1]))?;
    conf = replace_once(&conf, LISTEN, &format!("listen {listen};"))?;
    let switch = match routing {
        Routing::RoundRobin => STICKY_SWITCH,
        Routing::Sticky => "ip_hash;",
    };
    conf = replace_once(&conf, STICKY_SWITCH, switch)?;
    // Debian's nginx would otherwise log and buffer under /var, which needs root and is the
    // machine's own nginx's.
    let path = |name: &str| format!("\"{}\"", dir.join(name).display());
    let local = format!(
        "{HTTP_OPEN}\n    access_log {};\n    client_body_temp_path {};\n    proxy_temp_path {};\n    fastcgi_temp_path {};\n    uwsgi_temp_path {};\n    scgi_temp_path {};\n",
        path("access.log"),
        path("client_body"),
        path("proxy"),
        path("fastcgi"),
        path("uwsgi"),
        path("scgi"),
    );
    replace_once(&conf, HTTP_OPEN, &local)
}

/// A running nginx, killed (and its directory removed) on drop.
#[derive(Debug)]
pub struct Nginx {
    child: Child,
    port: u16,
    /// Removed when the handle is dropped, after `Drop` has killed the child.
    dir: tempfile::TempDir,
    routing: Routing,
    version: Option<String>,
}

impl Nginx {
    /// Starts one with `routing` in front of `upstreams` on a free loopback port, and waits
    /// until it answers HTTP as nginx.
    pub async fn start(routing: Routing, upstreams: [SocketAddr; 2]) -> Result<Self, NginxError> {
        let server = locate()?;
        let version = version(&server);
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            let dir = tempfile::Builder::new().prefix("svj-nginx-").tempdir()?;
            match Self::start_in(&server, routing, upstreams, dir).await {
                Ok(mut running) => {
                    running.version = version;
                    return Ok(running);
                }
                // The failed attempt's directory went with it: the next one makes a new one.
                Err(e @ NginxError::Exited { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(NginxError::NotReady {
            port: 0,
            within: READY_WITHIN,
        }))
    }

    async fn start_in(
        server: &Path,
        routing: Routing,
        upstreams: [SocketAddr; 2],
        dir: tempfile::TempDir,
    ) -> Result<Self, NginxError> {
        // Every early return drops `dir`, which removes it.
        let port = free_port()?;
        let conf_path = dir.path().join("nginx.conf");
        let conf = render(
            routing,
            upstreams,
            SocketAddr::from(([127, 0, 0, 1], port)),
            dir.path(),
        )?;
        std::fs::write(&conf_path, conf)?;
        let error_log = dir.path().join("error.log");
        // `-e`: the error log nginx opens before it reads any configuration (it would be
        // /var/log/nginx/error.log). `daemon off`: stay the child we can kill. `master_process
        // off`: one process, so killing it frees the port; a master killed with SIGKILL leaves
        // its workers running and holding the port. Production runs a master and workers.
        let globals = format!(
            "daemon off; master_process off; pid \"{}\"; error_log \"{}\";",
            dir.path().join("nginx.pid").display(),
            error_log.display()
        );
        let child = Command::new(server)
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(&error_log)
            .arg("-c")
            .arg(&conf_path)
            .arg("-g")
            .arg(globals)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| NginxError::Spawn {
                server: server.to_owned(),
                source,
            })?;
        // From here on, dropping `running` kills the child and removes the directory.
        let mut running = Self {
            child,
            port,
            dir,
            routing,
            version: None,
        };
        running.wait_until_ready().await?;
        Ok(running)
    }

    /// Polls until the port answers HTTP with nginx's `Server` header (so it is this nginx,
    /// not another process that took the port), nginx exits, or the deadline passes.
    async fn wait_until_ready(&mut self) -> Result<(), NginxError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()
            .map_err(std::io::Error::other)?;
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(NginxError::Exited {
                    status,
                    log: self.log_tail(),
                });
            }
            if let Ok(resp) = http.get(self.url("/")).send().await {
                let server = resp
                    .headers()
                    .get(reqwest::header::SERVER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                if server.starts_with("nginx") {
                    return Ok(());
                }
            }
            if started.elapsed() > READY_WITHIN {
                return Err(NginxError::NotReady {
                    port: self.port,
                    within: READY_WITHIN,
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The last lines of this nginx's error log, for a failure message.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join(" | ")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn routing(&self) -> Routing {
        self.routing
    }

    /// `nginx/1.22.1`, when `nginx -v` could be read.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `base_url` + `path` (`path` starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> ([SocketAddr; 2], SocketAddr) {
        (
            [
                SocketAddr::from(([127, 0, 0, 1], 1001)),
                SocketAddr::from(([127, 0, 0, 1], 1002)),
            ],
            SocketAddr::from(([127, 0, 0, 1], 1003)),
        )
    }

    #[test]
    fn round_robin_renders_the_compose_file_with_local_addresses_and_no_ip_hash() {
        let (up, listen) = addrs();

        let conf = render(Routing::RoundRobin, up, listen, Path::new("/d")).unwrap();

        assert!(conf.contains("server 127.0.0.1:1001;"), "{conf}");
        assert!(conf.contains("server 127.0.0.1:1002;"), "{conf}");
        assert!(conf.contains("listen 127.0.0.1:1003;"), "{conf}");
        assert!(conf.contains("# ip_hash;"), "{conf}");
        assert!(!conf.contains("sessions-a"), "{conf}");
        assert!(
            conf.contains("proxy_next_upstream error timeout;"),
            "{conf}"
        );
        assert!(conf.contains("access_log \"/d/access.log\";"), "{conf}");
    }

    #[test]
    fn sticky_turns_on_the_templates_ip_hash_switch() {
        let (up, listen) = addrs();

        let conf = render(Routing::Sticky, up, listen, Path::new("/d")).unwrap();

        assert!(conf.contains("\n        ip_hash;"), "{conf}");
        assert!(!conf.contains("# ip_hash;"), "{conf}");
    }

    #[test]
    fn a_template_without_the_replaced_line_is_an_error() {
        let err = replace_once("events {}", LISTEN, "listen 1;").unwrap_err();

        assert!(matches!(err, NginxError::Template(LISTEN)), "{err}");
    }
}
