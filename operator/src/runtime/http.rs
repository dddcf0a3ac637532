//! The operator's HTTP endpoints: `/livez` (the controllers are running),
//! `/readyz` (every cache has synced, so decisions rest on a full view) and
//! `/metrics` (Prometheus text format).
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use super::metrics::Metrics;

/// What the endpoints report, shared with the controllers.
#[derive(Default)]
pub struct Health {
    pub live: AtomicBool,
    pub ready: AtomicBool,
    pub metrics: Metrics,
}

impl Health {
    /// A standby replica is live and ready: waiting for the Lease is its job.
    pub fn stand_by(&self) {
        self.live.store(true, Ordering::SeqCst);
        self.ready.store(true, Ordering::SeqCst);
        self.metrics.set_leader(false);
    }

    /// Now leading: ready again only once the caches have synced.
    pub fn lead(&self) {
        self.ready.store(false, Ordering::SeqCst);
    }
}

/// Serves until the process ends; returns the bound address once listening.
pub async fn serve(addr: SocketAddr, health: Arc<Health>) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route("/livez", get(|State(h): State<Arc<Health>>| async move { probe(h.live.load(Ordering::SeqCst)) }))
        .route("/readyz", get(|State(h): State<Arc<Health>>| async move { probe(h.ready.load(Ordering::SeqCst)) }))
        .route("/metrics", get(|State(h): State<Arc<Health>>| async move {
            ([("content-type", "application/openmetrics-text; version=1.0.0; charset=utf-8")], h.metrics.encode())
        }))
        .with_state(health);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("http server: {e}");
        }
    });
    Ok(bound)
}

fn probe(ok: bool) -> (StatusCode, &'static str) {
    if ok { (StatusCode::OK, "ok") } else { (StatusCode::SERVICE_UNAVAILABLE, "not ready") }
}
