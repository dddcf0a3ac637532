//! Tasks kube-scheduler cannot place (its NodePorts filter refuses a node whose host port
//! is taken, NodeResourcesFit one without room, ...): they stay PROVISIONING until the placement timeout fails them (the planner),
//! and the service says why once per task (once per reason for the tasks found in one
//! pass), in ECS words (ecs-semantics §2.15).
use std::collections::BTreeSet;

use crate::ecs::task::pod::TaskPod;
use kube::ResourceExt;
use kube::runtime::events::EventType;

use super::Context;
use crate::ecs::task::observed::Task;
use crate::api::Service;
use crate::ecs::task::labels;
use crate::ecs::task::lifecycle::LastStatus;

/// `<namespace>/<pod>` of the tasks already reported.
#[derive(Debug, Default)]
pub struct Reported(BTreeSet<String>);

/// Publishes a Warning for the service's tasks newly found unschedulable, one per reason.
pub fn report(service: &Service, ctx: &Context, tasks: &[Task]) {
    let name = service.name_any();
    let ns = service.namespace().unwrap_or_default();
    let key = |pod: &TaskPod| format!("{ns}/{}", pod.name_any());
    let ours: BTreeSet<String> = tasks.iter().map(|t| key(&t.pod)).collect();
    let unschedulable: Vec<(String, String, Option<String>)> = tasks.iter()
        .filter(|t| t.state.last_status == LastStatus::Provisioning && t.pod.metadata.deletion_timestamp.is_none())
        .filter_map(|t| Some((key(&t.pod), t.unschedulable()?, t.label(labels::CAPACITY_PROVIDER).map(String::from))))
        .collect();
    let new: Vec<&(String, String, Option<String>)> = {
        let mut reported = ctx.unplaced.lock().unwrap();
        // Forget this service's tasks that were placed, and any task that is gone.
        reported.0.retain(|k| {
            let cached = k.split_once('/').is_some_and(|(ns, pod)| ctx.pods.get(ns, pod).is_some());
            cached && (!ours.contains(k) || unschedulable.iter().any(|(u, _, _)| u == k))
        });
        unschedulable.iter().filter(|(k, _, _)| reported.0.insert(k.clone())).collect()
    };
    // Tasks refused for the same reason share one event: 4,000 tasks that do
    // not fit would otherwise cost 4,000 requests.
    let messages: BTreeSet<String> = new.into_iter().map(|(_, why, provider)| message(&name, why, provider.as_deref())).collect();
    for message in messages {
        ctx.publish(service, EventType::Warning, "ServiceTaskPlacementFailure", &message);
    }
}

/// The ECS service event for an unplaceable task (named as ECS's
/// SERVICE_TASK_PLACEMENT_FAILURE), with its capacity provider and
/// kube-scheduler's words after it.
fn message(service: &str, scheduler: &str, provider: Option<&str>) -> String {
    let closest = if scheduler.contains("free ports") {
        " The closest matching container instance is already using a port required by your task."
    } else if scheduler.contains("Insufficient cpu") {
        " The closest matching container instance has insufficient CPU units available."
    } else if scheduler.contains("Insufficient memory") {
        " The closest matching container instance has insufficient memory available."
    } else {
        ""
    };
    let provider = provider.map(|p| format!(" (capacity provider {p})")).unwrap_or_default();
    format!("(service {service}) was unable to place a task because no container instance met all of its requirements.{closest}{provider} (kube-scheduler: {scheduler})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_conflicts_are_worded_as_ecs_words_them() {
        let scheduler = "0/4 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 3 node(s) didn't have free ports for the requested pod ports.";
        assert_eq!(message("web", scheduler, None), format!(
            "(service web) was unable to place a task because no container instance met all of its requirements. \
             The closest matching container instance is already using a port required by your task. (kube-scheduler: {scheduler})"));
        let full = message("web", "0/3 nodes are available: 3 Insufficient memory.", Some("fargate"));
        assert!(full.contains("insufficient memory available. (capacity provider fargate) (kube-scheduler"), "{full}");
    }

    #[test]
    fn only_unschedulable_pods_have_a_scheduler_message() {
        let pod: TaskPod = serde_json::from_value(serde_json::json!({"status": {"conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "no room"}]}})).unwrap();
        assert_eq!(Task::of(pod).unschedulable().as_deref(), Some("no room"));
        let pending: TaskPod = serde_json::from_value(serde_json::json!({"status": {"conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}})).unwrap();
        assert_eq!(Task::of(pending).unschedulable(), None);
    }
}
