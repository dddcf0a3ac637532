//! Node pools for tests of capacity providers and scale: kwok nodes labelled
//! and tainted for one provider, so no other test's task lands there.
use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::Api;
use kube::runtime::watcher;
use serde_json::json;

use crate::fixture::{client, plane, unique_suffix, wait_for};
use crate::plane::NodeSpec;
use crate::plane::nodes::node_manifest;

/// The label and taint key that make a node part of a test pool.
pub const POOL_KEY: &str = "berth.dev/pool";

/// A CapacityProvider and its tainted kwok nodes; both go when dropped.
pub struct Pool {
    pub provider: String,
    pub nodes: Vec<String>,
}

/// The label of an untainted test node that a service reaches by a memberOf
/// constraint on it (`attribute:berth.dev/test-pool == <pool>`).
pub const TEST_POOL_LABEL: &str = "berth.dev/test-pool";

/// An untainted kwok node in `zone`, labelled with test pool `pool`, with
/// `memory` allocatable (8 CPUs, as every kwok node of the plane) and an EC2
/// provider id whose instance id is `name`.
pub fn add_test_pool_node(pool: &str, name: &str, zone: &str, memory: &str) {
    let spec = NodeSpec {
        name: name.to_string(),
        labels: BTreeMap::from([
            ("topology.kubernetes.io/zone".to_string(), zone.to_string()),
            (TEST_POOL_LABEL.to_string(), pool.to_string()),
        ]),
        taints: vec![],
    };
    let mut manifest = node_manifest(&spec);
    for field in ["allocatable", "capacity"] {
        manifest["status"][field]["memory"] = json!(memory);
    }
    // As the AWS cloud provider names an EC2 node: its instance id is the node's name here.
    manifest["spec"]["providerID"] = json!(format!("aws:///{zone}/{name}"));
    plane().kubectl().run_with_input(&["apply", "-f", "-"], &manifest.to_string()).unwrap();
}

/// A test pool of untainted nodes (`add_test_pool_node`), whose nodes are deleted when it is
/// dropped: a test that fails leaves none behind for the tests after it on the plane.
pub struct TestPool {
    pub name: String,
}

impl TestPool {
    pub fn new(prefix: &str) -> TestPool {
        TestPool { name: format!("{prefix}-{}", unique_suffix()) }
    }

    /// Adds node `name` to the pool (see [`add_test_pool_node`]).
    pub fn add_node(&self, name: &str, zone: &str, memory: &str) {
        add_test_pool_node(&self.name, name, zone, memory);
    }

    /// Waits (on a watch) until the pool has `count` Ready nodes: tasks created after are
    /// placed by an operator that has seen them all (its node watch delivered them before
    /// their Ready status).
    pub async fn ready(&self, count: usize, timeout: Duration) {
        let nodes = Api::<Node>::all(client().await);
        let selector = watcher::Config::default().labels(&format!("{TEST_POOL_LABEL}={}", self.name));
        wait_for(nodes, selector, timeout, &format!("{count} Ready nodes in pool {}", self.name), |ns| {
            ns.iter().filter(|n| n.status.as_ref().and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))).count() == count
        }).await;
    }
}

impl Drop for TestPool {
    fn drop(&mut self) {
        let _ = plane().kubectl().run(&["delete", "node", "-l", &format!("{TEST_POOL_LABEL}={}", self.name), "--wait=false"]);
    }
}

impl Pool {
    /// `nodes` nodes of `cpu` CPUs, labelled and tainted `berth.dev/pool=<provider>`,
    /// and the provider selecting and tolerating them.
    pub fn create(provider: &str, type_: &str, nodes: usize, cpu: &str) -> Pool {
        let kubectl = plane().kubectl();
        let names: Vec<String> = (0..nodes).map(|i| format!("{provider}-{}-{i}", unique_suffix())).collect();
        for (i, name) in names.iter().enumerate() {
            let spec = NodeSpec {
                name: name.clone(),
                labels: BTreeMap::from([
                    ("topology.kubernetes.io/zone".to_string(), ["us-east-1a", "us-east-1b", "us-east-1c"][i % 3].to_string()),
                    (POOL_KEY.to_string(), provider.to_string()),
                ]),
                taints: vec![json!({"key": POOL_KEY, "value": provider, "effect": "NoSchedule"})],
            };
            let mut manifest = node_manifest(&spec);
            for field in ["allocatable", "capacity"] {
                manifest["status"][field]["cpu"] = json!(cpu);
            }
            kubectl.run_with_input(&["apply", "-f", "-"], &manifest.to_string()).unwrap();
        }
        let provider_manifest = json!({"apiVersion": "berth.dev/v1alpha1", "kind": "CapacityProvider", "metadata": {"name": provider},
            "spec": {"type": type_, "nodeSelector": {POOL_KEY: provider},
                     "tolerations": [{"key": POOL_KEY, "operator": "Equal", "value": provider, "effect": "NoSchedule"}]}});
        kubectl.run_with_input(&["apply", "--server-side", "--force-conflicts", "-f", "-"], &provider_manifest.to_string()).unwrap();
        Pool { provider: provider.to_string(), nodes: names }
    }

    pub fn holds(&self, pod: &Pod) -> bool {
        pod.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some_and(|n| self.nodes.contains(n))
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let kubectl = plane().kubectl();
        let _ = kubectl.run(&["delete", "capacityprovider", &self.provider, "--ignore-not-found", "--wait=false"]);
        for node in &self.nodes {
            let _ = kubectl.run(&["delete", "node", node, "--ignore-not-found", "--wait=false"]);
        }
    }
}

