//! A recording API server for the controllers' unit tests: it proves the
//! order of a pass's requests only; behaviour is proven end to end.
use std::sync::{Arc, Mutex};

use serde_json::json;

/// `METHOD path` of every request, in order; an event's line ends with its reason.
pub type Requests = Arc<Mutex<Vec<String>>>;

/// A client whose requests are recorded: writes are answered with `reply`,
/// deletes with a Status, events with the event sent.
pub fn recording(reply: serde_json::Value) -> (kube::Client, Requests) {
    let requests = Requests::default();
    (kube::Client::new(Recording { requests: requests.clone(), reply }, "ns"), requests)
}

#[derive(Clone)]
struct Recording {
    requests: Requests,
    reply: serde_json::Value,
}

impl tower_service::Service<http::Request<kube::client::Body>> for Recording {
    type Response = http::Response<kube::client::Body>;
    type Error = std::convert::Infallible;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<kube::client::Body>) -> Self::Future {
        let (requests, reply) = (self.requests.clone(), self.reply.clone());
        Box::pin(async move {
            let mut line = format!("{} {}", request.method(), request.uri().path());
            let body = request.into_body().collect_bytes().await.unwrap_or_default();
            let answer = if line.ends_with("/events") {
                let event: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                line = format!("{line} {}", event["reason"].as_str().unwrap_or_default());
                body.to_vec()
            } else if line.starts_with("DELETE") {
                serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "Status", "status": "Success"})).unwrap()
            } else {
                serde_json::to_vec(&reply).unwrap()
            };
            requests.lock().unwrap().push(line);
            Ok(http::Response::builder().status(200).body(kube::client::Body::from(answer)).unwrap())
        })
    }
}
