//! A CapacityProvider's own status: is there anywhere to place its tasks?
//! Pure: the controller passes the nodes from its cache.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Node;

use super::pool::admits;
use crate::api::CapacityProviderSpec;

/// What the `Ready` condition and the node counts of a provider say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    pub reason: &'static str,
    pub message: String,
    /// Nodes whose labels and taints admit the provider's tasks.
    pub matching_nodes: i32,
    /// Of those, the ones Ready and schedulable (not cordoned).
    pub ready_nodes: i32,
}

/// The provider is Ready when at least one node of its pool can take a task now.
pub fn readiness<'a>(provider: &CapacityProviderSpec, nodes: impl IntoIterator<Item = &'a Node>) -> Readiness {
    let empty = BTreeMap::new();
    let pool: Vec<&Node> = nodes
        .into_iter()
        .filter(|node| {
            let taints = node.spec.as_ref().and_then(|s| s.taints.as_deref()).unwrap_or_default();
            admits(Some(provider), node.metadata.labels.as_ref().unwrap_or(&empty), taints)
        })
        .collect();
    let matching_nodes = pool.len() as i32;
    let ready_nodes = pool.iter().filter(|node| takes_tasks(node)).count() as i32;
    let selector = describe_selector(provider);
    let (ready, reason, message) = match (matching_nodes, ready_nodes) {
        (0, _) => (false, "NoMatchingNodes", format!("no node matches nodeSelector {selector} and tolerations; tasks on this provider cannot be placed")),
        (_, 0) => (false, "NoReadyNodes", format!("{matching_nodes} node(s) match nodeSelector {selector}, none of them Ready and schedulable")),
        _ => (true, "NodesReady", format!("{ready_nodes} of {matching_nodes} matching node(s) Ready and schedulable")),
    };
    Readiness { ready, reason, message, matching_nodes, ready_nodes }
}

/// Ready and not cordoned: kube-scheduler would bind a task to it.
fn takes_tasks(node: &Node) -> bool {
    let cordoned = node.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false);
    let ready = node.status.as_ref().and_then(|s| s.conditions.as_ref()).into_iter().flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    ready && !cordoned
}

fn describe_selector(provider: &CapacityProviderSpec) -> String {
    match provider.node_selector.as_ref().filter(|s| !s.is_empty()) {
        None => "{} (every node)".to_string(),
        Some(selector) => format!("{{{}}}", selector.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(yaml: &str) -> CapacityProviderSpec {
        serde_saphyr::from_str(yaml).expect("capacity provider fixture")
    }

    fn node(pool: &str, ready: &str, tainted: bool, cordoned: bool) -> Node {
        let taints = if tainted { serde_json::json!([{"key": "berth.dev/pool", "value": pool, "effect": "NoSchedule"}]) } else { serde_json::json!([]) };
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": format!("{pool}-{ready}"), "labels": {"berth.dev/pool": pool}},
            "spec": {"taints": taints, "unschedulable": cordoned},
            "status": {"conditions": [{"type": "Ready", "status": ready}]},
        }))
        .unwrap()
    }

    const GPU: &str = "type: EC2\nnodeSelector: {berth.dev/pool: gpu}\ntolerations: [{key: berth.dev/pool, operator: Equal, value: gpu, effect: NoSchedule}]";

    #[test]
    fn ready_when_a_matching_node_is_ready() {
        let nodes = [node("gpu", "True", true, false), node("gpu", "False", true, false), node("web", "True", false, false)];
        let r = readiness(&provider(GPU), &nodes);
        assert_eq!((r.ready, r.reason, r.matching_nodes, r.ready_nodes), (true, "NodesReady", 2, 1));
        assert_eq!(r.message, "1 of 2 matching node(s) Ready and schedulable");
    }

    #[test]
    fn a_selector_matching_no_node_is_not_ready_and_says_which_selector() {
        let nodes = [node("web", "True", false, false)];
        let r = readiness(&provider("type: EC2\nnodeSelector: {berth.dev/pool: nowhere}"), &nodes);
        assert_eq!((r.ready, r.reason, r.matching_nodes, r.ready_nodes), (false, "NoMatchingNodes", 0, 0));
        assert!(r.message.contains("{berth.dev/pool: nowhere}"), "{}", r.message);
    }

    #[test]
    fn a_tainted_node_not_tolerated_does_not_count() {
        // The selector matches, but the provider does not tolerate the pool's taint.
        let r = readiness(&provider("type: EC2\nnodeSelector: {berth.dev/pool: gpu}"), &[node("gpu", "True", true, false)]);
        assert_eq!((r.ready, r.reason), (false, "NoMatchingNodes"));
    }

    #[test]
    fn matching_nodes_all_not_ready_or_cordoned() {
        let nodes = [node("gpu", "False", true, false), node("gpu", "True", true, true)];
        let r = readiness(&provider(GPU), &nodes);
        assert_eq!((r.ready, r.reason, r.matching_nodes, r.ready_nodes), (false, "NoReadyNodes", 2, 0));
    }

    #[test]
    fn no_selector_means_every_untainted_node() {
        let nodes = [node("a", "True", false, false), node("b", "True", false, false), node("c", "True", true, false)];
        let r = readiness(&provider("type: FARGATE"), &nodes);
        assert_eq!((r.ready, r.matching_nodes, r.ready_nodes), (true, 2, 2));
    }
}
