//! The local control plane works as Berth's tests need it to: the real
//! kube-scheduler spreads over the zones of kind-config.yaml, the kwok stages
//! run, fail and un-ready pods on request, kube-controller-manager taints a
//! NotReady node, and kubectl and helm talk to it.
use std::collections::BTreeMap;
use std::time::Duration;

use berth_tests::fixture::{TestNamespace, client, plane, unique_suffix, wait_for};
use berth_tests::plane::NodeSpec;
use berth_tests::plane::nodes::node_manifest;
use berth_tests::tasks::{exit_code, is_ready, named, phase};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(60);

fn pod(name: &str, containers: &[&str], annotations: serde_json::Value) -> Pod {
    let containers: Vec<_> = containers.iter().map(|c| json!({"name": c, "image": "registry.example/app:1"})).collect();
    serde_json::from_value(json!({
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"restartPolicy": "Never", "containers": containers},
    }))
    .unwrap()
}

#[tokio::test]
async fn deployment_of_six_spreads_two_per_zone() {
    let ns = TestNamespace::create("smoke-spread");
    let client = client().await;
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 6,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [{"name": "web", "image": "registry.example/web:1"}],
                    "topologySpreadConstraints": [{
                        "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                        "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "web"}},
                    }],
                },
            },
        },
    }))
    .unwrap();
    Api::<Deployment>::namespaced(client.clone(), &ns.name).create(&PostParams::default(), &deployment).await.unwrap();

    let pods = wait_for(Api::<Pod>::namespaced(client.clone(), &ns.name), watcher::Config::default().labels("app=web"),
        TIMEOUT, "6 running pods", |pods| pods.len() == 6 && pods.iter().all(|p| phase(p) == "Running")).await;

    let nodes = Api::<Node>::all(client).list(&Default::default()).await.unwrap();
    let zone_of: BTreeMap<String, String> = nodes.items.iter()
        .filter_map(|n| Some((n.metadata.name.clone()?, n.metadata.labels.as_ref()?.get("topology.kubernetes.io/zone")?.clone())))
        .collect();
    let mut per_zone: BTreeMap<String, usize> = BTreeMap::new();
    for p in &pods {
        let node = p.spec.as_ref().and_then(|s| s.node_name.clone()).expect("scheduled");
        *per_zone.entry(zone_of[&node].clone()).or_default() += 1;
    }
    assert_eq!(per_zone, BTreeMap::from([
        ("us-east-1a".to_string(), 2), ("us-east-1b".to_string(), 2), ("us-east-1c".to_string(), 2),
    ]));
}

#[tokio::test]
async fn pod_told_to_fail_ends_failed_with_the_exit_code() {
    let ns = TestNamespace::create("smoke-fail");
    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    pods.create(&PostParams::default(), &pod("crash", &["app"], json!({"sim.berth.dev/exit-code": "3"}))).await.unwrap();
    let seen = wait_for(pods, named("crash"), TIMEOUT, "pod Failed", |ps| ps.iter().any(|p| phase(p) == "Failed")).await;
    assert_eq!(exit_code(&seen[0], "app"), Some(3));
}

#[tokio::test]
async fn one_container_exits_while_the_other_keeps_running() {
    let ns = TestNamespace::create("smoke-sidecar");
    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    let annotations = json!({"sim.berth.dev/exit-code": "2", "sim.berth.dev/exit-container": "log-router"});
    pods.create(&PostParams::default(), &pod("two", &["app", "log-router"], annotations)).await.unwrap();
    let seen = wait_for(pods, named("two"), TIMEOUT, "log-router exited",
        |ps| ps.iter().any(|p| exit_code(p, "log-router").is_some())).await;
    assert_eq!(exit_code(&seen[0], "log-router"), Some(2));
    assert_eq!(exit_code(&seen[0], "app"), None, "app keeps running");
    assert_eq!(phase(&seen[0]), "Running");
}

#[tokio::test]
async fn readiness_follows_the_unready_annotation() {
    let ns = TestNamespace::create("smoke-ready");
    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    pods.create(&PostParams::default(), &pod("flappy", &["app"], json!({}))).await.unwrap();
    wait_for(pods.clone(), named("flappy"), TIMEOUT, "ready", |ps| ps.iter().any(|p| is_ready(p))).await;
    let set = |value: serde_json::Value| Patch::Merge(json!({"metadata": {"annotations": {"sim.berth.dev/unready": value}}}));
    pods.patch("flappy", &PatchParams::default(), &set(json!("true"))).await.unwrap();
    wait_for(pods.clone(), named("flappy"), TIMEOUT, "unready", |ps| ps.iter().any(|p| phase(p) == "Running" && !is_ready(p))).await;
    pods.patch("flappy", &PatchParams::default(), &set(serde_json::Value::Null)).await.unwrap();
    wait_for(pods, named("flappy"), TIMEOUT, "ready again", |ps| ps.iter().any(|p| is_ready(p))).await;
}

#[tokio::test]
async fn not_ready_node_gets_the_not_ready_taint() {
    let kubectl = plane().kubectl();
    let nodes = Api::<Node>::all(client().await);
    // A node of this test's own, tainted so no other test's pods land on it.
    let name = format!("smoke-node-{}", unique_suffix());
    let spec = NodeSpec {
        name: name.clone(),
        labels: BTreeMap::from([("topology.kubernetes.io/zone".to_string(), "us-east-1a".to_string())]),
        taints: vec![json!({"key": "berth.dev/test-only", "effect": "NoSchedule"})],
    };
    kubectl.run_with_input(&["apply", "-f", "-"], &node_manifest(&spec).to_string()).unwrap();
    let taints = |n: &Node| -> Vec<String> {
        n.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default().into_iter().map(|t| format!("{}:{}", t.key, t.effect)).collect()
    };
    let node_ready = |n: &Node| {
        n.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
    };
    wait_for(nodes.clone(), named(&name), TIMEOUT, "node Ready without not-ready taint",
        |ns| ns.iter().any(|n| node_ready(n) && !taints(n).iter().any(|t| t.starts_with("node.kubernetes.io/not-ready")))).await;

    kubectl.run(&["annotate", "node", &name, "sim.berth.dev/not-ready=true"]).unwrap();
    let seen = wait_for(nodes.clone(), named(&name), TIMEOUT, "not-ready taint from kube-controller-manager",
        |ns| ns.iter().any(|n| taints(n).contains(&"node.kubernetes.io/not-ready:NoExecute".to_string()))).await;
    assert!(!node_ready(&seen[0]));
    nodes.delete(&name, &DeleteParams::default()).await.unwrap();
}

#[test]
fn kubectl_and_helm_run_against_the_plane() {
    let kubectl = plane().kubectl();
    let nodes = kubectl.run(&["get", "nodes", "-L", "topology.kubernetes.io/zone"]).unwrap();
    for zone in ["us-east-1a", "us-east-1b", "us-east-1c"] {
        assert!(nodes.contains(zone), "{zone} missing from:\n{nodes}");
    }
    let version = kubectl.run(&["version"]).unwrap();
    assert!(version.contains("Server Version: v1.34."), "{version}");
    let helm = kubectl.helm(&["version", "--short"]).unwrap();
    assert!(helm.starts_with("v3."), "{helm}");
    kubectl.helm(&["list", "--all-namespaces"]).unwrap();
}
