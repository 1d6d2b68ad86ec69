//! The mail service: a small local HTTP sink standing in for SendGrid or SES.
//!
//! It is the workload, not the lesson: `POST /send` waits `latency`, then fails some requests
//! (a deterministic share, `failure_rate`, plus every recipient containing [`BOUNCE_MARKER`] while
//! bouncing is on) and records every message it accepted. That record is the ground truth for
//! "how many times did the side effect happen", which is what the crash matrix counts.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use serde::{Deserialize, Serialize};
use support::problem::Json;
use support::server::RunningServer;
use uuid::Uuid;

/// Path of the send endpoint.
pub const SEND_PATH: &str = "/send";
/// The latency the demo and `serve` give the mail service: about what a real provider's API
/// takes to accept a message.
pub const DEFAULT_LATENCY: Duration = Duration::from_millis(200);
/// Recipients containing this always fail while bouncing is on: a job that can never succeed.
pub const BOUNCE_MARKER: &str = "bounce";

/// One message, as the job runner sends it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Message {
    pub job_id: Uuid,
    pub to: String,
    pub subject: String,
}

/// The sink's knobs and its record of accepted messages.
#[derive(Debug, Default)]
pub struct SinkState {
    latency_us: AtomicU64,
    /// Failure rate in millionths (atomics have no f64).
    failure_ppm: AtomicU64,
    requests: AtomicU64,
    bouncing: AtomicBool,
    accepted: Mutex<HashMap<Uuid, u32>>,
}

impl SinkState {
    /// How long every request waits before it is answered.
    pub fn set_latency(&self, latency: Duration) {
        self.latency_us.store(
            u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Share of requests answered 503 (0.0 to 1.0), spread evenly: with 0.25, every fourth.
    pub fn set_failure_rate(&self, rate: f64) {
        self.failure_ppm
            .store((rate.clamp(0.0, 1.0) * 1e6) as u64, Ordering::Relaxed);
    }

    /// Whether recipients containing [`BOUNCE_MARKER`] fail.
    pub fn set_bouncing(&self, on: bool) {
        self.bouncing.store(on, Ordering::Relaxed);
    }

    /// How many times the message of job `id` was accepted.
    pub fn delivered(&self, id: Uuid) -> u32 {
        self.lock().get(&id).copied().unwrap_or(0)
    }

    /// Messages accepted in total.
    pub fn total_delivered(&self) -> u64 {
        self.lock().values().map(|&n| u64::from(n)).sum()
    }

    fn should_fail(&self, to: &str) -> bool {
        if self.bouncing.load(Ordering::Relaxed) && to.contains(BOUNCE_MARKER) {
            return true;
        }
        // Request n fails when floor(n × rate) steps up: an even spread with no randomness.
        let ppm = self.failure_ppm.load(Ordering::Relaxed);
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        (n + 1) * ppm / 1_000_000 > n * ppm / 1_000_000
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, u32>> {
        self.accepted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A running mail sink.
#[derive(Debug)]
pub struct MailSink {
    pub server: RunningServer,
    pub state: Arc<SinkState>,
}

impl MailSink {
    /// Starts the sink on `127.0.0.1:0` with `latency`; bouncing is on, no random failures.
    pub fn start(latency: Duration) -> std::io::Result<Self> {
        let state = Arc::new(SinkState::default());
        state.set_latency(latency);
        state.set_bouncing(true);
        let data = web::Data::from(state.clone());
        let server = support::server::spawn(move |listener: TcpListener| {
            Ok(HttpServer::new(move || {
                App::new()
                    .app_data(data.clone())
                    .service(support::routing::endpoint(SEND_PATH).post(send))
                    .default_service(web::to(support::routing::not_found))
            })
            .workers(1)
            .listen(listener)?
            .run())
        })?;
        Ok(Self { server, state })
    }

    /// The URL the job runner posts to.
    pub fn send_url(&self) -> String {
        self.server.url(SEND_PATH)
    }
}

async fn send(state: web::Data<SinkState>, message: Json<Message>) -> HttpResponse {
    let latency = Duration::from_micros(state.latency_us.load(Ordering::Relaxed));
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if state.should_fail(&message.to) {
        return HttpResponse::ServiceUnavailable().finish();
    }
    *state.lock().entry(message.job_id).or_default() += 1;
    HttpResponse::Accepted().finish()
}
