//! The benchmark's kwok nodes: a zone of them made NotReady and back through
//! kwok's `sim.berth.dev/not-ready` hook (as tests/e2e/scheduler_nodes.rs
//! does), status heartbeats as a kubelet posts them, and the room they have
//! for more pods.
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use anyhow::Result;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
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

/// Every kwok node posts its status every `interval`: a new
/// lastHeartbeatTime on each of its conditions, as a kubelet does (kwok's own
/// heartbeat stage comes every 5 to 10 minutes). The nodes take turns spread
/// over the interval. Stops when dropped.
pub struct Heartbeats(tokio::task::JoinHandle<()>);

impl Heartbeats {
    pub async fn start(client: &Client, interval: Duration) -> Result<Heartbeats> {
        let api = Api::<Node>::all(client.clone());
        let nodes: Vec<(String, Vec<String>)> = api.list(&ListParams::default()).await?.items.iter().filter(|n| is_kwok(n))
            .map(|n| (n.name_any(), n.status.iter().flat_map(|s| s.conditions.iter().flatten()).map(|c| c.type_.clone()).collect()))
            .collect();
        anyhow::ensure!(!nodes.is_empty(), "no kwok node to send heartbeats");
        let mut turns = tokio::time::interval(interval / nodes.len() as u32);
        turns.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let beats = async move {
            for (node, conditions) in nodes.iter().cycle() {
                turns.tick().await;
                let now = serde_json::to_value(Time(k8s_openapi::jiff::Timestamp::now())).unwrap_or_default();
                // A strategic merge patch: conditions merge by type, so only the heartbeats change.
                let conditions: Vec<Value> = conditions.iter().map(|c| json!({"type": c, "lastHeartbeatTime": now})).collect();
                let beat = Patch::Strategic(json!({"status": {"conditions": conditions}}));
                if let Err(e) = api.patch_status(node, &PatchParams::default(), &beat).await {
                    eprintln!("bench: heartbeat of node {node}: {e}");
                }
            }
        };
        Ok(Heartbeats(tokio::spawn(beats)))
    }
}

impl Drop for Heartbeats {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Pods the Ready, schedulable, untainted kwok nodes have room for now: their allocatable
/// pods less the pods bound to them that have not ended.
pub async fn pod_room(client: &Client) -> Result<usize> {
    let nodes = Api::<Node>::all(client.clone()).list(&ListParams::default()).await?.items;
    let pods = Api::<Pod>::all(client.clone()).list(&ListParams::default().fields("status.phase!=Succeeded,status.phase!=Failed")).await?.items;
    let mut bound = HashMap::<&str, usize>::new();
    for node in pods.iter().filter_map(|p| p.spec.as_ref()?.node_name.as_deref()) {
        *bound.entry(node).or_default() += 1;
    }
    let room = |node: &Node| {
        let allocatable = node.status.as_ref()?.allocatable.as_ref()?.get("pods")?.0.parse::<usize>().ok()?;
        Some(allocatable.saturating_sub(bound.get(node.name_any().as_str()).copied().unwrap_or(0)))
    };
    let schedulable = |node: &Node| node.spec.as_ref().is_none_or(|s| {
        s.unschedulable != Some(true) && s.taints.iter().flatten().all(|t| t.effect == "PreferNoSchedule")
    });
    Ok(nodes.iter().filter(|n| is_kwok(n) && is_ready(n) && schedulable(n)).filter_map(room).sum())
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
