//! A rollout predicted pass by pass with the operator's own planner
//! (`ecs::plan::service::plan` and `outcome`): each simulated pass starts and stops what
//! the real pass would, the tasks it starts become healthy before the next pass (as they
//! do on a cluster whose tasks pass their checks), and the status it computes is the next
//! pass's input. No rule of the rollout is written here.

use crate::ecs::placement::node_labels::ZONE_LABEL;
use crate::ecs::placement::place;
use crate::ecs::placement::Resources;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::ecs::task::pod::TaskPod;
use serde_json::json;

use crate::api::Service;
use crate::ecs::capacity::CapacityStrategy;
use crate::ecs::plan::deployment::{Deployment, Primary};
use crate::ecs::plan::service::{Scheduling, ServiceInput, Traffic, plan};
use crate::ecs::plan::{Launched, Limits};
use crate::ecs::task::labels;
use crate::ecs::task::lifecycle;
use crate::ecs::task::observed::{NodeStatus, Task};

/// Simulated time between passes: longer than the 40 s after which a running task
/// without health checks counts as healthy (ecs-semantics §2.4).
const PASS_INTERVAL: i64 = 60;
/// A rollout that has not converged after this many passes is reported as stuck.
const MAX_PASSES: usize = 200;

/// One pass of the rollout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    /// Tasks started, each with its zone and capacity provider (if the service has a strategy).
    pub starts: Vec<Placement>,
    /// Tasks stopped per deployment label, with the stop reason.
    pub stops: BTreeMap<String, (usize, String)>,
    /// Active tasks per deployment label after the pass.
    pub after: BTreeMap<String, usize>,
}

/// Where a new task goes.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Placement {
    /// The node: Berth's choice where it places the service's tasks, else the one
    /// kube-scheduler would score best (the zone the spread asks for, the least allocated node).
    pub node: Option<String>,
    pub zone: Option<String>,
    pub provider: Option<String>,
}

/// How the predicted rollout ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Only the new deployment's tasks are left and the next pass would do nothing.
    Completed,
    /// Tasks of older deployments are left and no pass would start or stop anything: the
    /// deployment configuration allows no progress (ECS: "unable to stop or start tasks").
    Stuck,
    /// Still moving after the most passes simulated.
    Unfinished,
}

/// The predicted rollout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rollout {
    pub batches: Vec<Batch>,
    pub end: End,
}

/// What the simulation starts from.
pub struct Start<'a> {
    /// The service with the changed spec and the status the cluster has now.
    pub service: Service,
    pub primary: &'a Primary,
    /// Its current tasks, each with its zone.
    pub tasks: Vec<Task>,
    pub strategy: Option<&'a CapacityStrategy>,
    /// The cluster as the operator's placement sees it for the service: its nodes with their
    /// room, the service's strategies (the default spread when it names none), and whether
    /// Berth chooses the nodes.
    pub placement: place::Placement,
    pub now: i64,
}

pub fn simulate(start: Start) -> Rollout {
    let Start { mut service, primary, mut tasks, strategy, mut placement, mut now } = start;
    let limits = Limits::default();
    let traffic = Traffic::default();
    let mut batches = vec![];
    let mut created = 0;
    // Every older deployment's revision is known here (the cluster ran it).
    let old_revisions: BTreeSet<String> = service.status.iter().flat_map(|s| s.deployments.iter().flatten()).map(|d| d.id.clone()).collect();
    for _ in 0..MAX_PASSES {
        let input = ServiceInput {
            service: &service,
            primary,
            tasks: &tasks,
            creations_in_flight: 0,
            scheduling: Scheduling::Replica { strategy },
            traffic: &traffic,
            placement: &placement,
            old_revisions: &old_revisions,
            lifecycle: None,
            firing_alarms: &[],
            problem: None,
            unsupported: &[],
            limits: &limits,
            now,
        };
        let pass = plan(&input);
        if pass.starts.is_empty() && pass.stops.is_empty() {
            let old_left = tasks.iter().any(|t| t.is_active() && t.label(labels::DEPLOYMENT) != Some(primary.deployment.label.as_str()));
            return Rollout { batches, end: if old_left { End::Stuck } else { End::Completed } };
        }
        // The room the pass's stops free and its starts take, for the next pass's placement.
        let mut room = placement.clone();
        let mut stops: BTreeMap<String, (usize, String)> = BTreeMap::new();
        for stop in &pass.stops {
            let stopped = tasks.iter().find(|t| t.name() == stop.pod);
            let deployment = stopped.and_then(|t| t.label(labels::DEPLOYMENT)).unwrap_or_default().to_string();
            stops.entry(deployment).or_insert((0, stop.stop.reason.clone())).0 += 1;
            if let Some(node) = stopped.and_then(|t| t.node()) {
                occupy(&mut room, node, -1);
            }
        }
        let mut launched = Launched::default();
        let mut starts = vec![];
        let mut survivors: Vec<Task> = tasks.iter().filter(|t| !pass.stops.iter().any(|s| s.pod == t.name())).cloned().collect();
        for new in &pass.starts {
            created += 1;
            let name = format!("simulated-{created}");
            let node = new.node.clone().or_else(|| kube_scheduler_node(&room, &survivors));
            let zone = match &node {
                Some(node) => zone_of(&room, node),
                None => emptiest_zone(&zones(&room), &survivors),
            };
            if let Some(node) = &node {
                occupy(&mut room, node, 1);
            }
            let deployment = new.deployment.as_deref().map_or_else(|| primary.deployment.clone(), Deployment::from_id);
            survivors.push(running_task(&name, &deployment.label, new.provider.as_deref(), node.as_deref(), zone.as_deref(), now));
            launched.created.push((name.clone(), name));
            starts.push(Placement { node, zone, provider: new.provider.clone() });
        }
        let outcome = pass.outcome(&input, &launched);
        service.status = Some(outcome.status);
        placement = room;
        let mut after = BTreeMap::new();
        for task in survivors.iter().filter(|t| t.is_active()) {
            *after.entry(task.label(labels::DEPLOYMENT).unwrap_or_default().to_string()).or_insert(0) += 1;
        }
        batches.push(Batch { starts, stops, after });
        tasks = survivors;
        now += PASS_INTERVAL;
    }
    Rollout { batches, end: End::Unfinished }
}

/// The zones of the nodes a task may go to.
fn zones(placement: &place::Placement) -> Vec<String> {
    let zones: BTreeSet<String> = placement.nodes.iter().filter(|n| n.eligible).filter_map(|n| n.labels.get(ZONE_LABEL).cloned()).collect();
    zones.into_iter().collect()
}

fn zone_of(placement: &place::Placement, node: &str) -> Option<String> {
    placement.nodes.iter().find(|n| n.name == node).and_then(|n| n.labels.get(ZONE_LABEL).cloned())
}

/// A task of the service taking (`1`) or giving back (`-1`) its room on `node`, as the next
/// pass's placement would count it.
fn occupy(placement: &mut place::Placement, node: &str, tasks: i64) {
    let (request, group) = (placement.request, placement.group.clone());
    let Some(slot) = placement.nodes.iter_mut().find(|n| n.name == node) else { return };
    let scaled = Resources { cpu: request.cpu * tasks, memory: request.memory * tasks };
    slot.free = slot.free.less(scaled);
    slot.running_tasks = slot.running_tasks.saturating_add_signed(tasks as isize);
    let in_group = slot.task_groups.entry(group).or_default();
    *in_group = in_group.saturating_add_signed(tasks as isize);
}

/// The node kube-scheduler would give a task Berth does not place: in the zone the
/// service's topology spread asks for (the emptiest), the node with the most free memory
/// that holds the task (NodeResourcesFit's LeastAllocated). None without node facts.
fn kube_scheduler_node(placement: &place::Placement, tasks: &[Task]) -> Option<String> {
    let zone = emptiest_zone(&zones(placement), tasks);
    let admitted = placement.admitting().ok()?;
    admitted.into_iter()
        .filter(|n| n.free.holds(placement.request) && (zone.is_none() || n.labels.get(ZONE_LABEL) == zone.as_ref()))
        .max_by_key(|n| (n.free.memory, n.free.cpu, std::cmp::Reverse(n.name.clone())))
        .map(|n| n.name.clone())
}

/// The zone with the fewest active tasks (the first such, in name order).
fn emptiest_zone(zones: &[String], tasks: &[Task]) -> Option<String> {
    let load = |zone: &String| tasks.iter().filter(|t| t.is_active() && t.zone.as_ref() == Some(zone)).count();
    let mut sorted = zones.to_vec();
    sorted.sort();
    sorted.dedup();
    sorted.into_iter().min_by_key(load)
}

/// A task of `deployment` running and Ready since `since`, on `node` in `zone`.
fn running_task(name: &str, deployment: &str, provider: Option<&str>, node: Option<&str>, zone: Option<&str>, since: i64) -> Task {
    let started = k8s_openapi::jiff::Timestamp::from_second(since).map(|t| t.to_string()).unwrap_or_default();
    let mut pod_labels = json!({labels::TASK_ID: name, labels::DEPLOYMENT: deployment});
    if let Some(provider) = provider {
        pod_labels[labels::CAPACITY_PROVIDER] = json!(provider);
    }
    let pod: TaskPod = serde_json::from_value(json!({
        "metadata": {"name": name, "creationTimestamp": started, "labels": pod_labels},
        "spec": {"nodeName": node.map_or_else(|| zone.map_or_else(|| "node".to_string(), |z| format!("node-in-{z}")), str::to_string),
            "containers": [{"name": "task", "image": "simulated"}]},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "task", "image": "simulated", "imageID": "", "ready": true, "restartCount": 0, "state": {"running": {"startedAt": started}}}]},
    })).expect("a simulated pod is a valid pod");
    Task { state: Arc::new(lifecycle::observe(&pod)), pod: Arc::new(pod), zone: zone.map(str::to_string), node_status: NodeStatus::Ready, in_endpoints: false, deleting: false }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecs::plan::deployment::{self, Deployment};
    use crate::ecs::task::reference::Resolved;

    fn service(deployment_configuration: serde_json::Value, desired: i32) -> Service {
        serde_json::from_value(json!({"apiVersion": "berth.dev/v1alpha1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "prod", "generation": 2},
            "spec": {"taskDefinition": "web:2", "desiredCount": desired, "deploymentConfiguration": deployment_configuration}})).unwrap()
    }

    fn primary(service: &Service) -> Primary {
        let resolved = Resolved { family: "web".into(), revision: 2, spec: serde_json::from_value(json!({"containerDefinitions": [{"name": "app", "image": "x"}]})).unwrap() };
        deployment::primary(&service.spec, resolved, &[], &[])
    }

    const MIB: i64 = 1024 * 1024;

    /// `count` healthy tasks of an old deployment, spread over the nodes of zones a, b, c.
    fn old_tasks(count: usize) -> Vec<Task> {
        let zones = ["a", "b", "c"];
        (0..count).map(|i| {
            let zone = zones[i % 3];
            running_task(&format!("old-{i}"), &Deployment::from_id("ecs-svc/1").label, None, Some(&format!("n-{zone}")), Some(zone), 0)
        }).collect()
    }

    /// Nodes `n-<zone>` with `MiB` free each, tasks of 512 MiB, the default spread (kube-scheduler places).
    fn cluster(nodes: &[(&str, i64)]) -> place::Placement {
        let nodes = nodes.iter().map(|(zone, mib)| place::NodeSlot {
            name: format!("n-{zone}"),
            labels: BTreeMap::from([(ZONE_LABEL.to_string(), zone.to_string())]),
            free: Resources { cpu: 4000, memory: mib * MIB },
            eligible: true,
            ..Default::default()
        }).collect();
        place::Placement { nodes, strategies: place::default_spread(), request: Resources { cpu: 250, memory: 512 * MIB }, group: "service:web".into(),
            ..Default::default() }
    }

    fn rollout_on(config: serde_json::Value, desired: i32, old: usize, placement: place::Placement) -> (Rollout, String) {
        let service = service(config, desired);
        let primary = primary(&service);
        let rollout = simulate(Start { service, primary: &primary, tasks: old_tasks(old), strategy: None, placement, now: 1000 });
        (rollout, primary.deployment.label.clone())
    }

    fn rollout(config: serde_json::Value, desired: i32, old: usize) -> (Rollout, String) {
        rollout_on(config, desired, old, cluster(&[("a", 8192), ("b", 8192), ("c", 8192)]))
    }

    fn counts(batch: &Batch) -> (usize, usize) {
        (batch.starts.len(), batch.stops.values().map(|(n, _)| n).sum())
    }

    #[test]
    fn min_100_max_200_starts_everything_then_stops_the_old() {
        let (rollout, new) = rollout(json!({"minimumHealthyPercent": 100, "maximumPercent": 200}), 4, 4);
        assert_eq!(rollout.end, End::Completed);
        let steps: Vec<(usize, usize)> = rollout.batches.iter().map(counts).collect();
        assert_eq!(steps, [(4, 0), (0, 4)]);
        assert_eq!(rollout.batches.last().unwrap().after, BTreeMap::from([(new, 4)]));
    }

    #[test]
    fn min_50_max_100_stops_half_then_replaces_in_the_freed_room() {
        let (rollout, _) = rollout(json!({"minimumHealthyPercent": 50, "maximumPercent": 100}), 4, 4);
        assert_eq!(rollout.end, End::Completed);
        let steps: Vec<(usize, usize)> = rollout.batches.iter().map(counts).collect();
        assert_eq!(steps, [(0, 2), (2, 0), (0, 2), (2, 0)]);
    }

    #[test]
    fn new_tasks_spread_over_the_zones() {
        let (rollout, _) = rollout(json!({"minimumHealthyPercent": 100, "maximumPercent": 200}), 6, 0);
        let mut zones: Vec<Option<String>> = rollout.batches[0].starts.iter().map(|p| p.zone.clone()).collect();
        zones.sort();
        assert_eq!(zones.iter().flatten().map(String::as_str).collect::<Vec<_>>(), ["a", "a", "b", "b", "c", "c"]);
    }

    #[test]
    fn kube_scheduler_s_node_is_the_least_allocated_of_the_zone_the_spread_asks_for() {
        let mut placement = cluster(&[("a", 1024), ("b", 8192), ("c", 8192)]);
        placement.nodes.push(place::NodeSlot { name: "n-a2".into(), eligible: true, free: Resources { cpu: 4000, memory: 4096 * MIB },
            labels: BTreeMap::from([(ZONE_LABEL.to_string(), "a".to_string())]), ..Default::default() });
        let (rollout, _) = rollout_on(json!({}), 3, 0, placement);
        let nodes: BTreeSet<String> = rollout.batches[0].starts.iter().filter_map(|p| p.node.clone()).collect();
        assert_eq!(nodes, BTreeSet::from(["n-a2".to_string(), "n-b".to_string(), "n-c".to_string()]), "zone a's roomier node");
    }

    /// Where Berth places (binpack), the plan's nodes are the operator's own choice, and each
    /// pass sees the room the earlier ones took.
    #[test]
    fn under_binpack_new_tasks_fill_the_fullest_node_that_holds_them_first() {
        let mut placement = cluster(&[("a", 2048), ("b", 4096), ("c", 8192)]);
        placement.strategies = vec![place::Strategy::Binpack(crate::ecs::placement::BinpackResource::Memory)];
        placement.berth_places = true;
        let (rollout, _) = rollout_on(json!({"minimumHealthyPercent": 100, "maximumPercent": 200}), 6, 0, placement);
        let mut by_node: BTreeMap<String, usize> = BTreeMap::new();
        for start in rollout.batches.iter().flat_map(|b| &b.starts) {
            *by_node.entry(start.node.clone().unwrap_or_default()).or_default() += 1;
        }
        assert_eq!(by_node, BTreeMap::from([("n-a".to_string(), 4), ("n-b".to_string(), 2)]), "{rollout:?}");
        assert!(rollout.batches[0].starts.iter().all(|s| s.zone.as_deref() == Some(&s.node.as_deref().unwrap()[2..])), "zones follow the nodes");
    }

    #[test]
    fn a_deadlocked_configuration_does_not_converge() {
        // min 100 / max 100: nothing may start (no room) or stop (no healthy spare): stuck.
        let (rollout, _) = rollout(json!({"minimumHealthyPercent": 100, "maximumPercent": 100}), 2, 2);
        assert!(rollout.batches.is_empty());
        assert_eq!(rollout.end, End::Stuck);
    }
}
