//! An owner's tasks as the controllers see them: its pods from the shared
//! cache, each read through `task::lifecycle`, with what is still in flight.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;

use super::Context;
use super::error::{Error, Result};
use crate::ecs::task::reference::Resolved;
use crate::ecs::capacity::launch::Launch;
use crate::api::{CapacityProviderSpec, ContainerOutcome, TaskOverride, TaskSummary};
use crate::ecs::placement::node_labels::ZONE_LABEL;
use crate::ecs::render::names::{dns_label, label_value};
use crate::ecs::scheduler::TaskView;
use crate::ecs::scheduler::expectations::InFlight;
use crate::ecs::task::labels;
use crate::ecs::task::lifecycle::{self, LastStatus, Stop, TaskState};

pub struct Task {
    pub pod: Arc<Pod>,
    pub state: TaskState,
}

impl Task {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.pod.labels().get(key).map(String::as_str)
    }

    pub fn node(&self) -> Option<&str> {
        self.pod.spec.as_ref().and_then(|s| s.node_name.as_deref())
    }

    pub fn created_seconds(&self) -> i64 {
        self.pod.metadata.creation_timestamp.as_ref().map(|t| t.0.as_second()).unwrap_or(0)
    }

    /// When the task's containers started running (the earliest start), in seconds.
    pub fn running_since(&self) -> Option<i64> {
        let statuses = self.pod.status.as_ref().and_then(|s| s.container_statuses.as_ref())?;
        statuses.iter().filter_map(|c| Some(c.state.as_ref()?.running.as_ref()?.started_at.as_ref()?.0.as_second())).min()
    }

    /// Stopped before `span` had passed since it started running.
    pub fn lived_less_than(&self, span: Duration) -> bool {
        let status = self.pod.status.as_ref();
        let statuses = status.and_then(|s| s.container_statuses.as_ref());
        let ended = statuses.into_iter().flatten().filter_map(|c| {
            let t = c.state.as_ref()?.terminated.as_ref()?;
            Some((t.started_at.as_ref()?.0.as_second(), t.finished_at.as_ref()?.0.as_second()))
        });
        ended.into_iter().any(|(start, end)| end - start < span.as_secs() as i64)
    }

    /// The scheduler's view; the zone comes from the node's label.
    pub fn view(&self, ctx: &Context) -> TaskView {
        let node = self.node().map(str::to_string);
        let zone = node.as_ref().and_then(|n| ctx.nodes.get(&ObjectRef::new(n))).and_then(|n| n.labels().get(ZONE_LABEL).cloned());
        TaskView {
            name: self.pod.name_any(),
            // Daemon tasks are bound to their node before they are scheduled.
            node: node.or_else(|| self.label(labels::NODE).map(str::to_string)),
            zone,
            provider: self.label(labels::CAPACITY_PROVIDER).map(str::to_string),
            pending: self.state.last_status != LastStatus::Running,
            healthy: self.state.last_status == LastStatus::Running && self.state.ready,
            created: self.created_seconds(),
        }
    }
}

pub struct Observed {
    pub tasks: Vec<Task>,
    pub in_flight: InFlight,
}

/// The pods labelled `key=value` in `ns`, settled against the expectations of `owner`.
pub fn observe(ctx: &Context, ns: &str, key: &str, value: &str, owner: &str) -> Observed {
    let mut tasks: Vec<Task> = ctx
        .pods
        .state()
        .into_iter()
        .filter(|p| p.namespace().as_deref() == Some(ns) && p.labels().get(key).map(String::as_str) == Some(value))
        .map(|pod| Task { state: lifecycle::observe(&pod), pod })
        .collect();
    tasks.sort_by_key(|t| (t.created_seconds(), t.pod.name_any()));
    let live = |name: &str| tasks.iter().any(|t| t.pod.name_any() == name && t.pod.metadata.deletion_timestamp.is_none());
    let in_flight = ctx.expectations.lock().unwrap().in_flight(owner, live, Instant::now());
    Observed { tasks, in_flight }
}

impl Observed {
    fn deleting(&self, task: &Task) -> bool {
        self.in_flight.deletes.contains(&task.pod.name_any())
    }

    /// Alive but must be stopped (essential exit, failed start); a draining task is
    /// already being stopped.
    pub fn needing_stop(&self) -> impl Iterator<Item = &Task> {
        self.tasks.iter().filter(|t| {
            t.state.stop.is_some() && !t.state.is_stopped() && !self.deleting(t) && !t.pod.annotations().contains_key(labels::DRAINING_SINCE)
        })
    }

    /// Ended by themselves (all containers exited, evicted) and not yet recorded.
    pub fn ended_unrecorded(&self) -> impl Iterator<Item = &Task> {
        self.tasks.iter().filter(|t| t.state.last_status == LastStatus::Stopped && !t.pod.annotations().contains_key(labels::STOP_CODE))
    }

    /// Counting toward the desired count.
    pub fn active(&self) -> impl Iterator<Item = &Task> {
        self.tasks.iter().filter(|t| t.state.is_active() && !self.deleting(t))
    }

    /// Active tasks whose node has been gone or not Ready for longer than `grace`.
    pub fn on_lost_nodes<'a>(&'a self, ctx: &'a Context, grace: Duration) -> impl Iterator<Item = &'a Task> {
        self.active().filter(move |t| match t.node() {
            None => false,
            Some(node) => match ctx.nodes.get(&ObjectRef::new(node)) {
                None => true,
                Some(n) => not_ready_for(&n) > Some(grace),
            },
        })
    }

    /// How long until the next active task on a NotReady node passes `grace`
    /// (None when no task waits on one): the service must look again then.
    pub fn next_node_loss<'a>(&'a self, ctx: &'a Context, grace: Duration) -> Option<Duration> {
        self.active()
            .filter_map(|t| ctx.nodes.get(&ObjectRef::new(t.node()?)))
            .filter_map(|n| not_ready_for(&n))
            .filter(|waited| *waited <= grace)
            .map(|waited| grace - waited + Duration::from_secs(1))
            .min()
    }

    /// Pods of stopped tasks beyond the newest `keep`, or older than `ttl`.
    pub fn expired_records(&self, keep: usize, ttl: Duration) -> Vec<String> {
        let now = k8s_openapi::jiff::Timestamp::now().as_second();
        let mut stopped: Vec<&Task> = self.tasks.iter().filter(|t| t.state.last_status == LastStatus::Stopped).collect();
        stopped.sort_by_key(|t| std::cmp::Reverse(t.created_seconds()));
        stopped
            .iter()
            .enumerate()
            .filter(|(i, t)| *i >= keep || now - t.created_seconds() > ttl.as_secs() as i64)
            .map(|(_, t)| t.pod.name_any())
            .collect()
    }

    pub fn task_id(&self, pod: &str) -> String {
        let task = self.tasks.iter().find(|t| t.pod.name_any() == pod);
        task.and_then(|t| t.label(labels::TASK_ID)).map(str::to_string).unwrap_or_else(|| pod.to_string())
    }

    /// Recently stopped tasks, newest first, at most `limit`: those just
    /// stopped now, those whose pods ended by themselves, and older records.
    pub fn stopped_summaries(&self, previous: &[TaskSummary], stopped_now: &[(String, Stop)], limit: usize) -> Vec<TaskSummary> {
        let now = super::conditions::now();
        let mut summaries: Vec<TaskSummary> = vec![];
        let mut push = |s: TaskSummary| {
            if !summaries.iter().any(|e| e.task_id == s.task_id) {
                summaries.push(s);
            }
        };
        for (pod, stop) in stopped_now {
            let task = self.tasks.iter().find(|t| &t.pod.name_any() == pod);
            push(summary(self.task_id(pod), pod, stop, task.map(|t| &t.state), Some(now.clone())));
        }
        let mut ended: Vec<&Task> = self.tasks.iter().filter(|t| t.state.last_status == LastStatus::Stopped).collect();
        ended.sort_by_key(|t| std::cmp::Reverse(t.created_seconds()));
        for task in ended {
            let stop = task.state.stop.clone().expect("stopped tasks have a stop");
            push(summary(self.task_id(&task.pod.name_any()), &task.pod.name_any(), &stop, Some(&task.state), finished_at(&task.pod)));
        }
        for old in previous {
            push(old.clone());
        }
        summaries.truncate(limit);
        summaries
    }
}

fn summary(task_id: String, pod: &str, stop: &Stop, state: Option<&TaskState>, stopped_at: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>) -> TaskSummary {
    TaskSummary {
        task_id,
        pod_name: Some(pod.to_string()),
        last_status: Some(LastStatus::Stopped),
        stop_code: Some(stop.code),
        stopped_reason: Some(stop.reason.clone()),
        stopped_at,
        containers: state.map(|s| {
            s.containers.iter().map(|c| ContainerOutcome { name: c.name.clone(), exit_code: c.exit_code, reason: c.reason.clone() }).collect()
        }),
    }
}

fn finished_at(pod: &Pod) -> Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time> {
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    statuses.iter().filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.clone()).max_by_key(|t| t.0)
}

pub fn node_ready(node: &Node) -> bool {
    not_ready_for(node).is_none()
}

/// How long the node has not been Ready (None when Ready).
fn not_ready_for(node: &Node) -> Option<Duration> {
    let conditions = node.status.as_ref().and_then(|s| s.conditions.as_ref())?;
    let ready = conditions.iter().find(|c| c.type_ == "Ready")?;
    if ready.status == "True" {
        return None;
    }
    let since = ready.last_transition_time.as_ref().map(|t| t.0.as_second()).unwrap_or(0);
    let now = k8s_openapi::jiff::Timestamp::now().as_second();
    Some(Duration::from_secs((now - since).max(0) as u64))
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
    let prefix: String = dns_label(new.name_prefix).chars().take(50).collect();
    let suffix = new.name_suffix.unwrap_or_else(|| task_id[..10].to_string());
    let context = crate::ecs::render::TaskContext {
        namespace: new.namespace,
        pod_name: format!("{}-{suffix}", prefix.trim_end_matches('-')),
        labels: task_labels,
        annotations,
        overrides: new.overrides.cloned(),
    };
    let mut pod = crate::ecs::render::render_pod(&resolved.spec, &context).map_err(|e| Error::Render(e.to_string()))?;
    pod.metadata.owner_references = Some(vec![new.owner]);
    Ok(pod)
}

/// The capacity provider of each of `count` new tasks, so that with the
/// owner's current tasks (`current`) they follow the strategy's split; `None`
/// without a launch type or strategy.
pub fn new_task_providers<'a>(launch: Option<&'a Launch>, current: impl Iterator<Item = &'a Task>, count: usize) -> Vec<Option<(&'a str, &'a CapacityProviderSpec)>> {
    let Some(launch) = launch else { return vec![None; count] };
    let current = crate::ecs::capacity::split::provider_counts(current.map(|t| t.label(labels::CAPACITY_PROVIDER)));
    crate::ecs::capacity::split::providers_for_new_tasks(&launch.strategy, &current, count)
        .into_iter()
        .map(|name| launch.providers.get_key_value(&name).map(|(name, pool)| (name.as_str(), pool)))
        .collect()
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
