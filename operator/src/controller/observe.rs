//! An owner's tasks as the planner takes them: its pods from the shared cache
//! with their nodes' facts and what is still in flight; and the pods of new
//! tasks, rendered from the plan.
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::api::core::v1::{Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;

use super::Context;
use super::task_cache::{CachedTask, OwnerLabel};
use super::error::{Error, Result};
use crate::api::{CapacityProviderSpec, TaskOverride};
use crate::ecs::placement::node_labels::ZONE_LABEL;
use crate::ecs::render::names::{label_value, task_pod_name};
use crate::ecs::task::labels;
use crate::ecs::task::lifecycle;
use crate::ecs::task::observed::{NodeStatus, Task};
use crate::ecs::task::reference::Resolved;

/// An owner's tasks and the creates it still waits to see.
pub struct Observed {
    pub tasks: Vec<Task>,
    pub creations_in_flight: usize,
}

/// The pods labelled `key=value` in `ns`, each with its node's zone and
/// readiness and whether an EndpointSlice lists it, settled against the
/// expectations of `owner`.
pub fn observe(ctx: &Context, ns: &str, key: OwnerLabel, value: &str, owner: &str) -> Observed {
    // Expectations before the cache (see `Expectations::expected`).
    let now = Instant::now();
    let expected = ctx.expectations.lock().unwrap().expected(owner, now);
    let cached_tasks = ctx.pods.owned_by(ns, key, value);
    // Pod name → whether it is live (not terminating).
    let cached: HashMap<&str, bool> = cached_tasks.iter().filter_map(|t| Some((t.pod.metadata.name.as_deref()?, t.pod.metadata.deletion_timestamp.is_none()))).collect();
    let live = |name: &str| cached.get(name) == Some(&true);
    ctx.expectations.lock().unwrap().settle(owner, live, now);
    let in_flight = expected.unseen(live);
    let stopping = ctx.stopping.of(owner, |name| cached.contains_key(name));
    let listed = endpoints_of(ctx, ns);
    let mut tasks: Vec<Task> = cached_tasks
        .iter()
        .map(|CachedTask { pod, state }| {
            let node = pod.node_name().map(|n| ctx.nodes.get(&ObjectRef::new(n)));
            let zone = node.clone().flatten().and_then(|n| n.labels().get(ZONE_LABEL).cloned());
            let node_status = match node {
                None => NodeStatus::Unassigned,
                Some(None) => NodeStatus::Gone,
                Some(Some(n)) => match not_ready_since(&n) {
                    Some(since) => NodeStatus::NotReadySince(since),
                    None => NodeStatus::Ready,
                },
            };
            let name = pod.metadata.name.as_deref().unwrap_or_default();
            // The cache read the pod alone; a stop its owner made and has not recorded on it yet changes what it says.
            let state = match stopping.get(name) {
                Some(stop) if !state.recorded => Arc::new(lifecycle::observe_stopped(pod, Some(stop))),
                _ => state.clone(),
            };
            Task {
                state,
                zone,
                node_status,
                in_endpoints: listed.contains(name),
                deleting: in_flight.deletes.contains(name),
                pod: pod.clone(),
            }
        })
        .collect();
    // Oldest first; the cache gave them by name, which breaks ties.
    tasks.sort_by_key(Task::created_seconds);
    Observed { tasks, creations_in_flight: in_flight.creates.len() }
}

/// The pods that the cached EndpointSlices of `ns` list, but for test Services' (they select
/// a deployment's tasks whether or not they take production traffic).
fn endpoints_of(ctx: &Context, ns: &str) -> BTreeSet<String> {
    ctx.endpoint_slices.state().iter().filter(|s| s.namespace().as_deref() == Some(ns) && !s.labels().contains_key(labels::TEST_TRAFFIC))
        .flat_map(|slice| slice.endpoints.iter().filter_map(|e| e.target_ref.as_ref()).filter(|r| r.kind.as_deref() == Some("Pod")).filter_map(|r| r.name.clone()).collect::<Vec<_>>())
        .collect()
}

pub fn node_ready(node: &Node) -> bool {
    not_ready_since(node).is_none()
}

/// Since when the node has not been Ready (None when Ready).
fn not_ready_since(node: &Node) -> Option<i64> {
    let conditions = node.status.as_ref().and_then(|s| s.conditions.as_ref())?;
    let ready = conditions.iter().find(|c| c.type_ == "Ready")?;
    if ready.status == "True" {
        return None;
    }
    Some(ready.last_transition_time.as_ref().map(|t| t.0.as_second()).unwrap_or(0))
}

/// What differs between a service's task and a task run's task.
pub struct NewTask<'a> {
    pub namespace: String,
    /// Prefix of the pod name (the owner's name).
    pub name_prefix: &'a str,
    /// A fixed pod name suffix (task runs), or None for one from the task id.
    pub name_suffix: Option<String>,
    pub owner: OwnerReference,
    /// The owner's label (`berth.dev/service` or `berth.dev/task-run`) and more.
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub overrides: Option<&'a TaskOverride>,
}

/// Renders the pod of a new task: the revision's pod spec, Berth's labels
/// (family, revision, task id) and the owner reference.
pub fn render(resolved: &Resolved, new: NewTask) -> Result<Pod> {
    let task_id = uuid::Uuid::new_v4().simple().to_string();
    let mut task_labels = new.labels;
    task_labels.extend([
        (labels::MANAGED_BY.to_string(), labels::MANAGED_BY_VALUE.to_string()),
        (labels::FAMILY.to_string(), label_value(&resolved.family)),
        (labels::REVISION.to_string(), resolved.revision.to_string()),
        (labels::TASK_ID.to_string(), task_id.clone()),
    ]);
    let mut annotations = new.annotations;
    annotations.insert(labels::TASK_DEFINITION.to_string(), resolved.reference());
    let suffix = new.name_suffix.unwrap_or_else(|| task_id[..10].to_string());
    let context = crate::ecs::render::TaskContext {
        namespace: new.namespace,
        pod_name: task_pod_name(new.name_prefix, &suffix),
        labels: task_labels,
        annotations,
        overrides: new.overrides.cloned(),
    };
    let mut pod = crate::ecs::render::render_pod(&resolved.spec, &context).map_err(|e| Error::Render(e.to_string()))?;
    pod.metadata.owner_references = Some(vec![new.owner]);
    Ok(pod)
}

/// Puts a new task on a capacity provider: the provider's label (so the
/// strategy can count it) and its pool's selector, tolerations and runtime class.
pub fn place_on_provider(pod: &mut Pod, provider: Option<(&str, &CapacityProviderSpec)>) {
    let Some((name, pool)) = provider else { return };
    pod.metadata.labels.get_or_insert_with(BTreeMap::new).insert(labels::CAPACITY_PROVIDER.to_string(), name.to_string());
    crate::ecs::capacity::pool::confine_to_pool(pod.spec.get_or_insert_with(Default::default), pool);
}

/// Binds a daemon task to its node, as the DaemonSet controller does: a
/// required node affinity on the node's name, which kube-scheduler honours.
pub fn pin_to_node(spec: &mut PodSpec, node: &str) {
    let term = NodeSelectorTerm {
        match_fields: Some(vec![NodeSelectorRequirement {
            key: "metadata.name".into(),
            operator: "In".into(),
            values: Some(vec![node.to_string()]),
        }]),
        ..Default::default()
    };
    let affinity = spec.affinity.get_or_insert_with(Default::default);
    affinity.node_affinity = Some(NodeAffinity {
        required_during_scheduling_ignored_during_execution: Some(NodeSelector { node_selector_terms: vec![term] }),
        ..Default::default()
    });
}
