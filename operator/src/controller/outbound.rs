//! What a BLUE_GREEN, LINEAR or CANARY deployment asks of the world outside the cluster:
//! its HTTP lifecycle hooks (a JSON POST of ECS's Lambda payload, read by
//! `ecs::plan::lifecycle::hook_answer`) and its alarms (the alerts Prometheus has firing).
use std::sync::OnceLock;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::api::HookInvocation;
use crate::ecs::plan::lifecycle::{HookCall, firing_alert_names, hook_answer};

/// How long one request may take: a hook that needs longer answers IN_PROGRESS and is called again.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Calls each hook, all at once, and reads their answers.
pub async fn call_hooks(calls: &[HookCall], now: i64) -> Vec<HookInvocation> {
    let replies = calls.iter().map(|c| async move {
        let reply = send(http::Method::POST, &c.url, Some(c.payload.to_string())).await;
        if let Err(e) = &reply {
            tracing::info!(url = %c.url, error = %e, "lifecycle hook call failed");
        }
        hook_answer(c, reply, now)
    });
    futures::future::join_all(replies).await
}

/// The names of the alerts firing in the Prometheus at `base` (its `/api/v1/alerts`).
pub async fn firing_alerts(base: &str) -> Result<Vec<String>, String> {
    let url = format!("{}/api/v1/alerts", base.trim_end_matches('/'));
    match send(http::Method::GET, &url, None).await? {
        (200, body) => firing_alert_names(&body),
        (code, _) => Err(format!("{url} answered HTTP {code}")),
    }
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>, Full<Bytes>>;

/// One client for every call, so connections to a hook or Prometheus are reused and the
/// system's TLS roots are read once; an error reading them is kept and reported per call.
fn client() -> Result<&'static HttpsClient, String> {
    static CLIENT: OnceLock<Result<HttpsClient, String>> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let connector = hyper_rustls::HttpsConnectorBuilder::new().with_native_roots().map_err(|e| format!("no TLS roots: {e}"))?
            .https_or_http().enable_http1().build();
        Ok(Client::builder(TokioExecutor::new()).build(connector))
    }).as_ref().map_err(Clone::clone)
}

/// One HTTP(S) request, bounded in time: the status code and the body.
async fn send(method: http::Method, url: &str, json: Option<String>) -> Result<(u16, String), String> {
    let client = client()?;
    let request = http::Request::builder().method(method).uri(url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(json.unwrap_or_default())))
        .map_err(|e| e.to_string())?;
    let exchange = async {
        let response = client.request(request).await.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    };
    tokio::time::timeout(CALL_TIMEOUT, exchange).await.unwrap_or_else(|_| Err(format!("no answer within {CALL_TIMEOUT:?}")))
}
