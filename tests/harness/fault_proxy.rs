//! A proxy in front of the API server for one operator, answering a share of
//! its writes with 500 Internal Server Error (issue 19: "the API server
//! answering 429/500 to a share of requests"). Priority and fairness can make
//! the API server refuse with 429, but nothing in Kubernetes makes it fail a
//! request with 500 on demand; this does, for one client only, on the run's
//! plane (no plane of its own needed: the other tests' requests never pass it).
//!
//! The operator talks plain HTTP to 127.0.0.1:<port> with no credentials; the
//! proxy forwards each request it lets through with a `kube::Client` of the
//! kubeconfig it was given (so the operator keeps its ServiceAccount's RBAC),
//! streaming answers back (watches included). It is a task of the test's
//! runtime, stopped when dropped.
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::http::{Method, Request, Response, StatusCode, header};

/// The counts of what passed the proxy.
#[derive(Debug, Default)]
pub struct Counts {
    /// Writes (POST, PUT, PATCH, DELETE) answered 500 by the proxy.
    pub failed_writes: AtomicU64,
    /// Writes forwarded to the API server.
    pub forwarded_writes: AtomicU64,
    /// Reads and watches, all forwarded.
    pub reads: AtomicU64,
}

pub struct FaultProxy {
    pub port: u16,
    pub counts: Arc<Counts>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The Status body of an injected failure, as the API server words one.
const INTERNAL_ERROR: &str = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Internal error occurred: injected by the test's fault proxy","reason":"InternalError","code":500}"#;

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1 forwarding with `client`, answering each
    /// write 500 with probability `fail_percent`/100 (a seeded choice per
    /// request, from `seed`).
    pub async fn start(client: kube::Client, fail_percent: u64, seed: u64) -> FaultProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port for the fault proxy");
        let port = listener.local_addr().unwrap().port();
        let counts = Arc::new(Counts::default());
        let state = Arc::new((client, counts.clone(), std::sync::Mutex::new(seed.max(1)), fail_percent));
        let app = axum::Router::new().fallback(move |request: Request<Body>| {
            let state = state.clone();
            async move {
                let (client, counts, dice, fail_percent) = &*state;
                let write = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
                if write && roll(dice) % 100 < *fail_percent {
                    counts.failed_writes.fetch_add(1, Ordering::Relaxed);
                    return Response::builder().status(StatusCode::INTERNAL_SERVER_ERROR)
                        .header(header::CONTENT_TYPE, "application/json").body(Body::from(INTERNAL_ERROR)).unwrap();
                }
                let counter = if write { &counts.forwarded_writes } else { &counts.reads };
                counter.fetch_add(1, Ordering::Relaxed);
                forward(client, request).await
            }
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FaultProxy { port, counts, task }
    }

    /// A kubeconfig for the operator: this proxy, no credentials.
    pub fn write_kubeconfig(&self, path: &std::path::Path) {
        let config = serde_json::json!({
            "apiVersion": "v1", "kind": "Config", "current-context": "proxy",
            "clusters": [{"name": "proxy", "cluster": {"server": format!("http://127.0.0.1:{}", self.port)}}],
            "users": [{"name": "proxy", "user": {}}],
            "contexts": [{"name": "proxy", "context": {"cluster": "proxy", "user": "proxy"}}],
        });
        std::fs::write(path, config.to_string()).expect("writing the proxy's kubeconfig");
    }
}

/// xorshift64* over the shared state.
fn roll(state: &std::sync::Mutex<u64>) -> u64 {
    let mut s = state.lock().unwrap();
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    s.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// Sends `request` on with `client` (its server and credentials), the answer
/// streamed back; a failure to reach the API server is a 502.
async fn forward(client: &kube::Client, request: Request<Body>) -> Response<Body> {
    let (mut parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, 64 << 20).await {
        Ok(bytes) => bytes,
        Err(e) => return bad_gateway(&format!("reading the request: {e}")),
    };
    // The client sets the host (and the length of what it sends).
    parts.headers.remove(header::HOST);
    parts.headers.remove(header::CONTENT_LENGTH);
    match client.send(Request::from_parts(parts, kube::client::Body::from(body))).await {
        Ok(response) => {
            let (mut parts, body) = response.into_parts();
            // Hop-by-hop: the proxy's server frames the body itself.
            for name in [header::CONTENT_LENGTH, header::TRANSFER_ENCODING, header::CONNECTION] {
                parts.headers.remove(name);
            }
            Response::from_parts(parts, Body::new(body))
        }
        Err(e) => bad_gateway(&e.to_string()),
    }
}

fn bad_gateway(message: &str) -> Response<Body> {
    Response::builder().status(StatusCode::BAD_GATEWAY).body(Body::from(format!("fault proxy: {message}"))).unwrap()
}
