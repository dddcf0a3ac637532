//! The benchmark's kwok nodes: a zone of them made NotReady and back through
//! kwok's `sim.berth.dev/not-ready` hook (as tests/e2e/scheduler_nodes.rs does).
use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Result;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

use crate::fixture::try_wait_for;

const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
/// The plane's workers cycle through three zones (kind-config.yaml), so one
/// zone holds a third of them.
pub const LOST_ZONE: &str = "us-east-1a";
/// kwok's test hook: the node reports Ready=False while it is set.
const NOT_READY: &str = "sim.berth.dev/not-ready";
/// The taints kcm's node lifecycle controller puts on a node that is not Ready.
const LOST_TAINTS: [&str; 2] = ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"];

/// The Ready kwok nodes of `zone`.
pub async fn ready_in_zone(client: &Client, zone: &str) -> Result<BTreeSet<String>> {
    let nodes = Api::<Node>::all(client.clone()).list(&ListParams::default().labels(&format!("{ZONE_LABEL}={zone}"))).await?;
    Ok(nodes.items.iter().filter(|n| is_kwok(n) && is_ready(n)).map(|n| n.name_any()).collect())
}

/// Makes `nodes` report Ready=False, or (with `false`) Ready again.
pub async fn set_not_ready(client: &Client, nodes: &BTreeSet<String>, not_ready: bool) -> Result<()> {
    let api = Api::<Node>::all(client.clone());
    let patch = Patch::Merge(json!({"metadata": {"annotations": {NOT_READY: if not_ready { json!("true") } else { Value::Null }}}}));
    let params = PatchParams::default();
    futures::future::try_join_all(nodes.iter().map(|node| api.patch(node, &params, &patch))).await?;
    Ok(())
}

/// Waits until `nodes` are Ready and kcm has lifted their not-ready and
/// unreachable taints, so pods land on them again.
pub async fn until_schedulable(client: &Client, nodes: &BTreeSet<String>, timeout: Duration) -> Result<()> {
    try_wait_for(Api::<Node>::all(client.clone()), watcher::Config::default(), timeout, "the lost nodes Ready and untainted", |all| {
        all.iter().filter(|n| nodes.contains(&n.name_any())).all(|n| is_ready(n) && !has_lost_taint(n))
    })
    .await?;
    Ok(())
}

fn is_kwok(node: &Node) -> bool {
    node.annotations().get("kwok.x-k8s.io/node").is_some_and(|v| v == "fake")
}

fn is_ready(node: &Node) -> bool {
    let conditions = node.status.as_ref().and_then(|s| s.conditions.as_ref());
    conditions.is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn has_lost_taint(node: &Node) -> bool {
    let taints = node.spec.as_ref().and_then(|s| s.taints.as_ref());
    taints.is_some_and(|ts| ts.iter().any(|t| LOST_TAINTS.contains(&t.key.as_str())))
}
