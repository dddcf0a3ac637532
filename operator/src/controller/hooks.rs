//! Calling the HTTP lifecycle hooks of a BLUE_GREEN, LINEAR or CANARY deployment: a JSON
//! POST of ECS's Lambda payload, read by `ecs::plan::lifecycle::hook_answer`.
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::api::HookInvocation;
use crate::ecs::plan::lifecycle::{HookCall, hook_answer};

/// How long one call may take: a hook that needs longer answers IN_PROGRESS and is called again.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Calls each hook, all at once, and reads their answers.
pub async fn call(calls: &[HookCall], now: i64) -> Vec<HookInvocation> {
    if calls.is_empty() {
        return vec![];
    }
    let connector = match hyper_rustls::HttpsConnectorBuilder::new().with_native_roots() {
        Ok(builder) => builder.https_or_http().enable_http1().build(),
        Err(e) => return calls.iter().map(|c| hook_answer(c, Err(format!("no TLS roots: {e}")), now)).collect(),
    };
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
    let replies = calls.iter().map(|c| {
        let client = client.clone();
        async move {
            let reply = tokio::time::timeout(CALL_TIMEOUT, post(&client, c)).await.unwrap_or_else(|_| Err(format!("no answer within {CALL_TIMEOUT:?}")));
            if let Err(e) = &reply {
                tracing::info!(url = %c.url, error = %e, "lifecycle hook call failed");
            }
            hook_answer(c, reply, now)
        }
    });
    futures::future::join_all(replies).await
}

async fn post<C>(client: &Client<C, Full<Bytes>>, call: &HookCall) -> Result<(u16, String), String>
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let request = http::Request::post(&call.url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(call.payload.to_string())))
        .map_err(|e| e.to_string())?;
    let response = client.request(request).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}
