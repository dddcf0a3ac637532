//! Pods read as Berth's tasks, for the predicates of `wait_for`: which watch
//! selects a service's tasks, and what state a task is in.
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::runtime::watcher;

/// The labels the operator puts on a service's tasks, and the annotation it
/// sets when it starts draining one.
const SERVICE_LABEL: &str = "berth.dev/service";
const REVISION_LABEL: &str = "berth.dev/revision";
const DRAINING_ANNOTATION: &str = "berth.dev/draining-since";

/// A watch of the tasks of Berth Service `svc`.
pub fn tasks_of(svc: &str) -> watcher::Config {
    watcher::Config::default().labels(&format!("{SERVICE_LABEL}={svc}"))
}

/// A watch of the one object called `name`.
pub fn named(name: &str) -> watcher::Config {
    watcher::Config::default().fields(&format!("metadata.name={name}"))
}

/// The pod's phase, or "" before the API server has set one.
pub fn phase(p: &Pod) -> &str {
    p.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

pub fn is_deleting(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_some()
}

/// Neither being deleted nor terminated (Failed or Succeeded): a task that
/// counts towards the desired count.
pub fn is_live(p: &Pod) -> bool {
    !is_deleting(p) && !matches!(phase(p), "Failed" | "Succeeded")
}

/// Running and not being deleted.
pub fn is_running(p: &Pod) -> bool {
    !is_deleting(p) && phase(p) == "Running"
}

/// The pod's Ready condition is True.
pub fn is_ready(p: &Pod) -> bool {
    let conditions = p.status.as_ref().and_then(|s| s.conditions.as_ref());
    conditions.is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Running and Ready, not being deleted: what a rollout counts as healthy.
pub fn is_healthy(p: &Pod) -> bool {
    is_running(p) && is_ready(p)
}

/// The operator has taken the task out of its load balancers before stopping it.
pub fn is_draining(p: &Pod) -> bool {
    p.annotations().contains_key(DRAINING_ANNOTATION)
}

/// The task definition revision the task runs ("" if unlabelled).
pub fn revision_of(p: &Pod) -> &str {
    p.labels().get(REVISION_LABEL).map(String::as_str).unwrap_or("")
}

/// The node the scheduler bound the pod to.
pub fn node_of(p: &Pod) -> Option<&str> {
    p.spec.as_ref()?.node_name.as_deref()
}

/// The exit code of `container`, once it has terminated.
pub fn exit_code(p: &Pod, container: &str) -> Option<i32> {
    let statuses = p.status.as_ref()?.container_statuses.as_ref()?;
    let status = statuses.iter().find(|s| s.name == container)?;
    Some(status.state.as_ref()?.terminated.as_ref()?.exit_code)
}

/// The running tasks among `pods`.
pub fn running(pods: &[Arc<Pod>]) -> Vec<&Arc<Pod>> {
    pods.iter().filter(|p| is_running(p)).collect()
}

/// Running tasks among `pods`, counted by the node each runs on.
pub fn running_by_node(pods: &[Arc<Pod>]) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for p in running(pods) {
        *counts.entry(node_of(p).unwrap_or_default().to_string()).or_default() += 1;
    }
    counts
}

/// The pods not being deleted, whatever their phase: every task that still
/// exists, for counting the most that ever existed at once.
pub fn undeleted(pods: &[Arc<Pod>]) -> Vec<&Arc<Pod>> {
    pods.iter().filter(|p| !is_deleting(p)).collect()
}
