//! `/metrics`, `/healthz` and `/readyz`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::status::Status;

/// What the endpoints read.
#[derive(Debug, Clone)]
pub struct Health {
    /// The sidecar's numbers.
    pub status: Arc<Status>,
    /// From the start, how long readiness only needs a reachable JobManager.
    pub grace: Duration,
    /// How young each job's last savepoint must be afterwards.
    pub fresh: Duration,
}

impl Health {
    /// Readiness for a schedule whose rounds are `interval` apart, with
    /// savepoints that may take `timeout`: a savepoint must be younger than
    /// two intervals, after a first grace of two intervals plus one timeout.
    pub fn new(status: Arc<Status>, interval: Duration, timeout: Duration) -> Self {
        Self {
            status,
            grace: interval * 2 + timeout,
            fresh: interval * 2,
        }
    }

    fn readiness(&self) -> Result<(), String> {
        self.status
            .readiness(Instant::now(), self.grace, self.fresh)
    }
}

/// The routes.
pub fn router(health: Health) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(Arc::new(health))
}

async fn metrics(State(health): State<Arc<Health>>) -> impl IntoResponse {
    let ready = health.readiness().is_ok();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        health.status.render_metrics(ready),
    )
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(health): State<Arc<Health>>) -> (StatusCode, String) {
    match health.readiness() {
        Ok(()) => (StatusCode::OK, "ready\n".into()),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready:\n{why}\n"),
        ),
    }
}
