//! Tasks kube-scheduler cannot place (its NodePorts filter refuses a node whose host port
//! is taken, NodeResourcesFit one without room, ...): they stay PROVISIONING until the placement
//! timeout fails them (the planner), and the service says why in ECS words (ecs-semantics
//! §2.15), once per cause while it stands and again after six hours, as ECS omits duplicate
//! messages (`ecs::plan::repeats`): 4,500 tasks without room in 100 services cost 2,500 event
//! requests when each pass said it of the tasks it found.
use std::collections::{BTreeMap, HashMap};

use kube::ResourceExt;
use kube::runtime::events::EventType;

use super::Context;
use crate::api::Service;
use crate::ecs::placement::Unplaced;
use crate::ecs::plan::repeats::Repeats;
use crate::ecs::task::labels;
use crate::ecs::task::lifecycle::LastStatus;
use crate::ecs::task::observed::Task;

/// Per service (`<namespace>/<name>`), the placement failures said and standing.
#[derive(Debug, Default)]
pub struct Reported(HashMap<String, Repeats>);

impl Reported {
    /// The service is gone: forget what it said.
    pub fn forget(&mut self, namespace: &str, name: &str) {
        self.0.remove(&format!("{namespace}/{name}"));
    }
}

/// Publishes a Warning for each cause that keeps the service's tasks unplaced and is due (see
/// `Repeats::due`) at `now`: kube-scheduler's, and `planned`, why the tasks Berth places
/// itself found no node.
pub fn report(service: &Service, ctx: &Context, tasks: &[Task], planned: Option<&Unplaced>, now: i64) {
    let name = service.name_any();
    let standing = standing(&name, tasks, planned);
    let key = format!("{}/{name}", service.namespace().unwrap_or_default());
    let due = {
        let mut reported = ctx.unplaced.lock().unwrap();
        // Most passes find every task placed: nothing to keep, nothing to say.
        if standing.is_empty() {
            reported.0.remove(&key);
            return;
        }
        let repeats = reported.0.entry(key.clone()).or_default();
        let due = repeats.due(standing, now);
        if repeats.is_empty() {
            reported.0.remove(&key);
        }
        due
    };
    for message in due {
        ctx.publish(service, EventType::Warning, "ServiceTaskPlacementFailure", &message);
    }
}

/// The causes keeping service `name`'s tasks unplaced, each with its message.
fn standing(name: &str, tasks: &[Task], planned: Option<&Unplaced>) -> BTreeMap<String, String> {
    let mut standing: BTreeMap<String, String> = BTreeMap::new();
    let unschedulable = tasks.iter()
        .filter(|t| t.state.last_status == LastStatus::Provisioning && t.pod.metadata.deletion_timestamp.is_none())
        .filter_map(|t| Some((t.unschedulable()?, t.label(labels::CAPACITY_PROVIDER))));
    for (why, provider) in unschedulable {
        let cause = cause(name, &why, provider);
        standing.entry(cause.clone()).or_insert_with(|| format!("{cause} (kube-scheduler: {why})"));
    }
    if let Some(planned) = planned {
        let failure = placement_failure(name);
        standing.insert(format!("{failure} {}", planned.cause), format!("{failure} {}", planned.message));
    }
    standing
}

/// The ECS service event for an unplaceable task (named as ECS's
/// SERVICE_TASK_PLACEMENT_FAILURE), with its capacity provider; kube-scheduler's
/// words follow it in the message.
fn cause(service: &str, scheduler: &str, provider: Option<&str>) -> String {
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
    format!("{}{closest}{provider}", placement_failure(service))
}

/// The opening of ECS's SERVICE_TASK_PLACEMENT_FAILURE message, whoever placed the task.
fn placement_failure(service: &str) -> String {
    format!("(service {service}) was unable to place a task because no container instance met all of its requirements.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecs::task::pod::TaskPod;

    #[test]
    fn port_conflicts_are_worded_as_ecs_words_them() {
        let scheduler = "0/4 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 3 node(s) didn't have free ports for the requested pod ports.";
        assert_eq!(cause("web", scheduler, None),
            "(service web) was unable to place a task because no container instance met all of its requirements. \
             The closest matching container instance is already using a port required by your task.");
        let full = cause("web", "0/3 nodes are available: 3 Insufficient memory.", Some("fargate"));
        assert!(full.ends_with("insufficient memory available. (capacity provider fargate)"), "{full}");
    }

    #[test]
    fn a_placement_berth_could_not_make_stands_as_one_cause_whichever_node_is_closest() {
        let on = |node: &str| Unplaced {
            cause: "The closest matching container instance has insufficient memory available.".into(),
            message: format!("The closest matching container instance {node} has insufficient memory available."),
        };
        let first = standing("web", &[], Some(&on("n1")));
        let later = standing("web", &[], Some(&on("n2")));
        assert_eq!(first.keys().collect::<Vec<_>>(), later.keys().collect::<Vec<_>>(), "one cause while it stands");
        assert_eq!(first.values().next().map(String::as_str), Some("(service web) was unable to place a task because no container instance \
            met all of its requirements. The closest matching container instance n1 has insufficient memory available."));
        // Said once over both passes, as `Repeats` says a standing cause.
        let mut repeats = Repeats::default();
        assert_eq!(repeats.due(first, 0).len(), 1);
        assert!(repeats.due(later, 30).is_empty());
        assert!(standing("web", &[], None).is_empty());
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
