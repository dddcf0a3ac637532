//! A recording API server for the controllers' unit tests: it proves the
//! order of a pass's requests only; behaviour is proven end to end.
use std::sync::{Arc, Mutex};

use serde_json::json;

/// `METHOD path` of every request, in order; an event's line ends with its reason.
pub type Requests = Arc<Mutex<Vec<String>>>;

/// The Status the API server answers a refused request with.
pub fn refusal(code: u16, reason: &str, details: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "Status", "status": "Failure", "code": code, "reason": reason, "message": "refused", "details": details})
}

/// The error kube returns for `status` (a [`refusal`]).
pub fn api_error(status: serde_json::Value) -> kube::Error {
    kube::Error::Api(Box::new(serde_json::from_value(status).unwrap()))
}

/// A client whose requests are recorded: creates (events too) and pod patches are answered
/// with what was sent, deletes with a Status, other writes with `reply`.
pub fn recording(reply: serde_json::Value) -> (kube::Client, Requests) {
    answering(200, reply)
}

/// As [`recording`], with writes answered with HTTP `code` (a refusal's Status as `reply`).
pub fn answering(code: u16, reply: serde_json::Value) -> (kube::Client, Requests) {
    let requests = Requests::default();
    (kube::Client::new(Recording { requests: requests.clone(), reply, code }, "ns"), requests)
}

#[derive(Clone)]
struct Recording {
    requests: Requests,
    reply: serde_json::Value,
    code: u16,
}

impl tower_service::Service<http::Request<kube::client::Body>> for Recording {
    type Response = http::Response<kube::client::Body>;
    type Error = std::convert::Infallible;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<kube::client::Body>) -> Self::Future {
        let (requests, reply, code) = (self.requests.clone(), self.reply.clone(), self.code);
        Box::pin(async move {
            let mut line = format!("{} {}", request.method(), request.uri().path());
            let body = request.into_body().collect_bytes().await.unwrap_or_default();
            let (status, answer) = if line.ends_with("/events") {
                let event: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                line = format!("{line} {}", event["reason"].as_str().unwrap_or_default());
                (200, body.to_vec())
            } else if (line.starts_with("POST") || line.contains("/pods/")) && code == 200 {
                (200, body.to_vec())
            } else if line.starts_with("DELETE") {
                (200, serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "Status", "status": "Success"})).unwrap())
            } else {
                (code, serde_json::to_vec(&reply).unwrap())
            };
            requests.lock().unwrap().push(line);
            Ok(http::Response::builder().status(status).body(kube::client::Body::from(answer)).unwrap())
        })
    }
}
