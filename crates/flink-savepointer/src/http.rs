//! `/metrics`, `/healthz` and `/readyz`, and the listener that serves them.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use crate::status::Status;

/// How long a client may take to send a request's headers (and how long a
/// kept-alive connection may sit idle): a slow or silent client cannot hold
/// a connection open.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The most connections served at once; more wait in the kernel's accept
/// queue until one closes.
pub const MAX_CONNECTIONS: usize = 64;

/// The longest one connection is served (a client that never reads its
/// answer holds one otherwise); then it is closed after its request in
/// flight, given [`HEADER_READ_TIMEOUT`] more.
pub const MAX_CONNECTION_AGE: Duration = Duration::from_secs(60);

/// How long connections get to finish once the listener stops.
const DRAIN: Duration = Duration::from_secs(5);

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
            grace: interval.saturating_mul(2).saturating_add(timeout),
            fresh: interval.saturating_mul(2),
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

/// Serves `router` on `listener` until `shutdown` completes, with the bounds
/// above; then lets open connections finish for a few seconds.
pub async fn serve(listener: TcpListener, router: Router, shutdown: impl Future<Output = ()>) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let (closing, closed) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors, or a connection reset before it
                // was accepted: not the listener's end. Slow down and go on.
                Err(e) => {
                    tracing::warn!(error = %e, "cannot accept a connection on the HTTP listener: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(router.clone());
        let mut closed = closed.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let stop = async {
                tokio::select! {
                    _ = closed.wait_for(|closed| *closed) => {}
                    _ = tokio::time::sleep(MAX_CONNECTION_AGE) => {}
                }
            };
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "HTTP connection ended: {e}");
                    }
                    return;
                }
                _ = stop => {}
            }
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(HEADER_READ_TIMEOUT, conn).await;
        });
    }
    drop(listener);
    closing.send_replace(true);
    // Every permit back: every connection closed.
    let all = u32::try_from(MAX_CONNECTIONS).unwrap_or(u32::MAX);
    if tokio::time::timeout(DRAIN, permits.acquire_many(all))
        .await
        .is_err()
    {
        tracing::debug!("HTTP connections still open at shutdown are dropped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_bounds_never_overflow() {
        let status = Arc::new(Status::new());
        let health = Health::new(status.clone(), Duration::MAX, Duration::MAX);
        assert_eq!(health.grace, Duration::MAX);
        assert_eq!(health.fresh, Duration::MAX);
        let health = Health::new(status, Duration::from_secs(60), Duration::from_secs(30));
        assert_eq!(health.grace, Duration::from_secs(150));
        assert_eq!(health.fresh, Duration::from_secs(120));
    }
}
