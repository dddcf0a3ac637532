//! A task as the ECS core sees it: its pod, what the pod says of it
//! (`lifecycle`), and the facts about its node and endpoints the planner needs,
//! all gathered by the controller before a pass so that planning reads no cache.
use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;

use super::labels;
use super::lifecycle::{self, LastStatus, Stop, TaskState};
use super::pod::TaskPod;
use crate::api::{ContainerOutcome, TaskSummary};

/// The state of the node a task is on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NodeStatus {
    /// Not bound to a node yet.
    #[default]
    Unassigned,
    Ready,
    /// NotReady since this time (seconds).
    NotReadySince(i64),
    /// The node object is gone.
    Gone,
}

#[derive(Clone, Debug)]
pub struct Task {
    pub pod: Arc<TaskPod>,
    /// Shared with the operator's cache, which reads each pod once per change.
    pub state: Arc<TaskState>,
    /// The zone of its node, from the node's label.
    pub zone: Option<String>,
    pub node_status: NodeStatus,
    /// An EndpointSlice still lists it (a draining task waits until none does).
    pub in_endpoints: bool,
    /// Berth sent its delete and the cache does not show it yet.
    pub deleting: bool,
}

impl Task {
    /// A task read from its pod alone (node Ready if it has one, no endpoints).
    pub fn of(pod: impl Into<TaskPod>) -> Task {
        let pod = pod.into();
        let state = lifecycle::observe(&pod);
        let node_status = if pod.node_name().is_some() { NodeStatus::Ready } else { NodeStatus::Unassigned };
        Task { pod: Arc::new(pod), state: Arc::new(state), zone: None, node_status, in_endpoints: false, deleting: false }
    }

    pub fn name(&self) -> &str {
        self.pod.metadata.name.as_deref().unwrap_or_default()
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.pod.labels().get(key).map(String::as_str)
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.pod.annotations().get(key).map(String::as_str)
    }

    /// The task's id (its label), else its pod's name.
    pub fn task_id(&self) -> String {
        self.label(labels::TASK_ID).map(str::to_string).unwrap_or_else(|| self.name().to_string())
    }

    pub fn node(&self) -> Option<&str> {
        self.pod.node_name()
    }

    pub fn created_seconds(&self) -> i64 {
        self.pod.metadata.creation_timestamp.as_ref().map(|t| t.0.as_second()).unwrap_or(0)
    }

    /// Until when the task is protected from scale-in and deployments (Unix
    /// seconds), if it is at `now`.
    pub fn protected_until(&self, now: i64) -> Option<i64> {
        let until: k8s_openapi::jiff::Timestamp = self.annotation(labels::PROTECTION_EXPIRES_AT)?.parse().ok()?;
        Some(until.as_second()).filter(|until| *until > now)
    }

    /// When a task still waiting to run fails to start: its pod's start plus
    /// the longest `startTimeout` of its containers (their dependencies' deadline).
    pub fn start_deadline(&self) -> Option<i64> {
        let timeout: i64 = self.annotation(crate::ecs::render::START_TIMEOUT_ANNOTATION)?.parse().ok()?;
        let started = self.pod.status.as_ref()?.start_time.as_ref()?.0.as_second();
        Some(started + timeout).filter(|_| self.is_active() && self.state.last_status == LastStatus::Pending)
    }

    /// Since when the pod is Ready, in seconds, if it is.
    pub fn ready_since(&self) -> Option<i64> {
        let ready = self.pod.condition("Ready").filter(|c| c.status == "True")?;
        Some(ready.last_transition_time.as_ref()?.0.as_second())
    }

    /// Since when the pod is not Ready, in seconds, if it says.
    pub fn unready_since(&self) -> Option<i64> {
        let unready = self.pod.condition("Ready").filter(|c| c.status != "True")?;
        Some(unready.last_transition_time.as_ref()?.0.as_second())
    }

    /// kube-scheduler's explanation, when it could not place the task.
    pub fn unschedulable(&self) -> Option<String> {
        let scheduled = self.pod.condition("PodScheduled").filter(|c| c.status == "False" && c.reason.as_deref() == Some("Unschedulable"))?;
        Some(scheduled.message.clone().unwrap_or_default())
    }

    /// When the task's containers started running (the earliest start), in seconds.
    pub fn running_since(&self) -> Option<i64> {
        self.pod.container_statuses().iter().filter_map(|c| Some(c.state.as_ref()?.running.as_ref()?.started_at.as_ref()?.0.as_second())).min()
    }

    /// A container of it stopped before `span` had passed since it started running.
    pub fn lived_less_than(&self, span: Duration) -> bool {
        self.pod.container_statuses().iter().filter_map(|c| {
            let t = c.state.as_ref()?.terminated.as_ref()?;
            Some(t.finished_at.as_ref()?.0.as_second() - t.started_at.as_ref()?.0.as_second())
        }).any(|lived| lived < span.as_secs() as i64)
    }

    /// When the pod's last container finished, for a stopped task's record.
    pub fn finished_at(&self) -> Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time> {
        self.pod.container_statuses().iter().filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.clone()).max_by_key(|t| t.0)
    }

    /// Since when it drains out of its Services' endpoints, if it does.
    pub fn draining_since(&self) -> Option<i64> {
        self.annotation(labels::DRAINING_SINCE).and_then(|s| s.parse().ok())
    }

    /// Alive, but something (an essential exit, a failed start) means it must stop.
    pub fn needs_stop(&self) -> bool {
        self.state.stop.is_some() && !self.state.is_stopped() && !self.deleting && self.draining_since().is_none()
    }

    /// Ended by itself (all containers exited, evicted), its stop not recorded (on the pod or
    /// by its owner), nor its pod deleted by Berth.
    pub fn ended_unrecorded(&self) -> bool {
        self.state.last_status == LastStatus::Stopped && !self.state.recorded && !self.deleting
    }

    /// Counts toward the desired count.
    pub fn is_active(&self) -> bool {
        self.state.is_active() && !self.deleting
    }

    /// How long its node has been lost (NotReady or gone) at `now`, if it has.
    pub fn node_lost_for(&self, now: i64) -> Option<Duration> {
        match self.node_status {
            NodeStatus::Gone => Some(Duration::MAX),
            NodeStatus::NotReadySince(since) => Some(Duration::from_secs((now - since).max(0) as u64)),
            NodeStatus::Ready | NodeStatus::Unassigned => None,
        }
    }

    /// Its record for an owner's status: a stopped task with why it stopped.
    pub fn stopped_summary(&self, stop: &Stop, stopped_at: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>) -> TaskSummary {
        TaskSummary {
            task_id: self.task_id(),
            pod_name: Some(self.name().to_string()),
            last_status: Some(LastStatus::Stopped),
            stop_code: Some(stop.code),
            stopped_reason: Some(stop.reason.clone()),
            stopped_at,
            containers: Some(self.container_outcomes()),
        }
    }

    pub fn container_outcomes(&self) -> Vec<ContainerOutcome> {
        self.state.containers.iter().map(|c| ContainerOutcome { name: c.name.clone(), exit_code: c.exit_code, reason: c.reason.clone() }).collect()
    }
}
