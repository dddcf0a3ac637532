//! Which Node changes wake every Service and capacity provider: a node joining or leaving,
//! or a change of what placement and the lifecycle read of it (labels, allocatable, provider
//! id, kubelet version, cordon, taints, readiness and since when). A kubelet's status
//! heartbeat changes none of these: with it, every heartbeat of every node woke every
//! Service of the cluster.
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use k8s_openapi::api::core::v1::Node;
use kube::ResourceExt;
use kube::runtime::watcher::Event;

/// The facts last seen of each node, as a hash.
#[derive(Debug, Default)]
pub struct NodeWakes(HashMap<String, u64>);

impl NodeWakes {
    /// Does this watch event of the node cache matter to the services?
    pub fn matters(&mut self, event: &Event<Node>) -> bool {
        match event {
            Event::Apply(node) | Event::InitApply(node) => {
                let facts = facts(node);
                self.0.insert(node.name_any(), facts) != Some(facts)
            }
            Event::Delete(node) => {
                self.0.remove(&node.name_any());
                true
            }
            Event::Init => false,
            // A relist drops the nodes that left while the watch was down without an event.
            Event::InitDone => true,
        }
    }
}

fn facts(node: &Node) -> u64 {
    let (spec, status) = (node.spec.as_ref(), node.status.as_ref());
    let ready = status.and_then(|s| s.conditions.as_ref()).and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
        .map(|c| (c.status.clone(), c.last_transition_time.as_ref().map(|t| t.0.as_second())));
    let facts = serde_json::json!([
        node.labels(),
        status.and_then(|s| s.allocatable.as_ref()),
        spec.and_then(|s| s.provider_id.as_ref()),
        status.and_then(|s| s.node_info.as_ref()).map(|i| &i.kubelet_version),
        spec.and_then(|s| s.unschedulable),
        spec.and_then(|s| s.taints.as_ref()),
        ready,
    ]);
    let mut hasher = DefaultHasher::new();
    facts.to_string().hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn node(ready: &str, heartbeat: &str, zone: &str) -> Node {
        serde_json::from_value(json!({"metadata": {"name": "n1", "labels": {"topology.kubernetes.io/zone": zone}},
            "status": {"allocatable": {"cpu": "2", "memory": "4Gi"}, "conditions": [{"type": "Ready", "status": ready,
                "lastHeartbeatTime": heartbeat, "lastTransitionTime": "2026-11-29T10:00:00Z"}]}})).unwrap()
    }

    #[test]
    fn a_heartbeat_wakes_nothing_and_a_change_placement_reads_wakes_all() {
        let mut wakes = NodeWakes::default();
        assert!(wakes.matters(&Event::Apply(node("True", "2026-11-29T10:00:00Z", "a"))), "a node joined");
        assert!(!wakes.matters(&Event::Apply(node("True", "2026-11-29T10:00:10Z", "a"))), "a heartbeat");
        assert!(wakes.matters(&Event::Apply(node("False", "2026-11-29T10:00:20Z", "a"))), "NotReady");
        assert!(wakes.matters(&Event::Apply(node("False", "2026-11-29T10:00:20Z", "b"))), "relabelled");
        let mut cordoned = node("False", "2026-11-29T10:00:30Z", "b");
        cordoned.spec = Some(k8s_openapi::api::core::v1::NodeSpec { unschedulable: Some(true), ..Default::default() });
        assert!(wakes.matters(&Event::Apply(cordoned.clone())), "cordoned");
        assert!(wakes.matters(&Event::Delete(cordoned)), "left");
        assert!(!wakes.matters(&Event::Init));
        assert!(wakes.matters(&Event::InitDone), "a relist may have dropped nodes");
    }
}
