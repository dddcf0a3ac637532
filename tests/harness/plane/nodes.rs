//! kwok nodes that mirror the workers of `kind-config.yaml`.
use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct KindConfig {
    #[serde(default)]
    name: Option<String>,
    nodes: Vec<KindNode>,
}

#[derive(Deserialize)]
struct KindNode {
    role: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// A worker to simulate: its name and labels.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Value>,
}

/// The workers of a kind config, named as kind names them (`<cluster>-worker`,
/// `<cluster>-worker2`, ...). With `count` above the config's worker count, the
/// extra workers repeat the config's workers' labels in turn (for load tests).
pub fn workers_from_kind_config(path: &Path, count: Option<usize>) -> Result<Vec<NodeSpec>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let config: KindConfig = serde_saphyr::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let cluster = config.name.unwrap_or_else(|| "kind".into());
    let workers: Vec<_> = config.nodes.into_iter().filter(|n| n.role == "worker").collect();
    anyhow::ensure!(!workers.is_empty(), "{} declares no worker nodes", path.display());
    let count = count.unwrap_or(workers.len());
    Ok((0..count)
        .map(|i| {
            let name = if i == 0 { format!("{cluster}-worker") } else { format!("{cluster}-worker{}", i + 1) };
            NodeSpec { name, labels: workers[i % workers.len()].labels.clone(), taints: vec![] }
        })
        .collect())
}

/// The Node object for kwok to manage: kubelet-style labels, room for 110 pods.
pub fn node_manifest(node: &NodeSpec) -> Value {
    let mut labels = node.labels.clone();
    labels.insert("kubernetes.io/hostname".into(), node.name.clone());
    labels.insert("kubernetes.io/os".into(), "linux".into());
    labels.insert("kubernetes.io/arch".into(), "amd64".into());
    labels.insert("type".into(), "kwok".into());
    let resources = json!({"cpu": "8", "memory": "32Gi", "pods": "110"});
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node.name,
            "labels": labels,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {"taints": node.taints},
        "status": {"allocatable": resources, "capacity": resources},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_the_repository_kind_config() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kind-config.yaml");
        let workers = workers_from_kind_config(&path, None).unwrap();
        let names: Vec<_> = workers.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names, ["berth-worker", "berth-worker2", "berth-worker3"]);
        let zones: Vec<_> = workers.iter().map(|w| w.labels["topology.kubernetes.io/zone"].as_str()).collect();
        assert_eq!(zones, ["us-east-1a", "us-east-1b", "us-east-1c"]);
        assert!(workers.iter().all(|w| w.labels.contains_key("node.kubernetes.io/instance-type")));
    }

    #[test]
    fn extra_workers_cycle_through_the_zones() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kind-config.yaml");
        let workers = workers_from_kind_config(&path, Some(7)).unwrap();
        assert_eq!(workers.len(), 7);
        assert_eq!(workers[6].name, "berth-worker7");
        assert_eq!(workers[6].labels["topology.kubernetes.io/zone"], "us-east-1a");
        let manifest = node_manifest(&workers[6]);
        assert_eq!(manifest["metadata"]["labels"]["kubernetes.io/hostname"], "berth-worker7");
        assert_eq!(manifest["status"]["allocatable"]["pods"], "110");
    }
}
