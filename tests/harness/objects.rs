//! Berth objects handled as a user would: applied with `kubectl apply
//! --server-side`, read back with kubectl's jsonpath. The reads are async
//! (`Kubectl::run_async`), so a `wait_until` check may make them.
use serde_json::{Value, json};

use crate::fixture::plane;
use crate::kubectl::Kubectl;

/// A Berth object of `kind` (TaskDefinition, Service, TaskRun) named `name`.
pub fn manifest(kind: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": "berth.dev/v1alpha1", "kind": kind, "metadata": {"name": name}, "spec": spec})
}

/// Applies `manifest` (one object or a List) server-side in namespace `ns`.
pub fn apply(ns: &str, manifest: &Value) {
    apply_with(&plane().kubectl(), ns, manifest);
}

/// `apply` on the plane `kubectl` talks to (a test's own plane).
pub fn apply_with(kubectl: &Kubectl, ns: &str, manifest: &Value) {
    kubectl.run_with_input(&["apply", "--server-side", "-n", ns, "-f", "-"], &manifest.to_string()).unwrap_or_else(|e| panic!("{e:#}"));
}

/// `kubectl get OBJECT -o jsonpath=PATH` in `ns`, OBJECT as kubectl names it
/// (`taskrun/nightly`), e.g. PATH `{.status.stoppedCount}`.
pub async fn field(ns: &str, object: &str, path: &str) -> String {
    read_field(ns, object, path).await.unwrap_or_else(|e| panic!("{e:#}"))
}

/// `field`, or the error of an object that is not there (yet).
pub async fn read_field(ns: &str, object: &str, path: &str) -> anyhow::Result<String> {
    plane().kubectl().run_async(&["get", "-n", ns, object, "-o", &format!("jsonpath={path}")]).await
}

/// `field` of the Berth Service `name`.
pub async fn service_field(ns: &str, name: &str, path: &str) -> String {
    field(ns, &format!("ecssvc/{name}"), path).await
}

/// The whole Service object as the API server has it.
pub async fn service_json(ns: &str, name: &str) -> Value {
    object_json(ns, "ecssvc", name).await
}

/// Any object, `kind` as kubectl names it (`taskrun`), as the API server has it.
pub async fn object_json(ns: &str, kind: &str, name: &str) -> Value {
    let json = plane().kubectl().run_async(&["get", "-n", ns, kind, name, "-o", "json"]).await.unwrap_or_else(|e| panic!("{e:#}"));
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{kind} {name} as JSON: {e}: {json}"))
}

/// The namespace's events, one a line: type, reason, message
/// (`Warning InvalidTaskDefinition (service web) ...`).
pub async fn events(ns: &str) -> String {
    let lines = "jsonpath={range .items[*]}{.type} {.reason} {.note}{.message}{\"\\n\"}{end}";
    plane().kubectl().run_async(&["get", "events", "-n", ns, "-o", lines]).await.unwrap_or_else(|e| panic!("{e:#}"))
}

/// Waits, on a watch, for an event in `ns` whose message contains `text`,
/// and returns that message.
pub async fn wait_for_event(ns: &str, text: &str, timeout: std::time::Duration) -> String {
    let api = kube::Api::<k8s_openapi::api::core::v1::Event>::namespaced(crate::fixture::client().await, ns);
    let says = |e: &k8s_openapi::api::core::v1::Event| e.message.as_deref().is_some_and(|m| m.contains(text));
    let seen = crate::fixture::wait_for(api, kube::runtime::watcher::Config::default(), timeout, &format!("an event saying {text:?}"), |es| es.iter().any(|e| says(e))).await;
    seen.iter().find(|e| says(e)).and_then(|e| e.message.clone()).unwrap_or_default()
}

/// The record `status.stoppedTasks` keeps of the task whose pod is `pod`, if any.
pub fn stopped_record<'a>(status: &'a berth::api::ServiceStatus, pod: &str) -> Option<&'a berth::api::TaskSummary> {
    status.stopped_tasks.iter().flatten().find(|t| t.pod_name.as_deref() == Some(pod))
}

/// Waits (on a watch) until the Service `name` records the task of `pod` as
/// stopped; the Service's status then, with that record.
pub async fn wait_for_stopped_task(ns: &str, name: &str, pod: &str, timeout: std::time::Duration) -> (berth::api::ServiceStatus, berth::api::TaskSummary) {
    let services = kube::Api::<berth::api::Service>::namespaced(crate::fixture::client().await, ns);
    let found = crate::fixture::wait_for(services, crate::tasks::named(name), timeout, &format!("task {pod} in {name}'s stoppedTasks"), |ss| {
        ss.iter().any(|s| s.status.as_ref().is_some_and(|st| stopped_record(st, pod).is_some()))
    })
    .await;
    let status = found[0].status.clone().expect("a status with the record");
    let record = stopped_record(&status, pod).expect("the record waited for").clone();
    (status, record)
}
