//! A task's pod as Berth keeps it: what the ECS core reads of a pod and no more.
//! The operator caches every task pod, and as k8s-openapi's `Pod` (whose
//! `PodSpec` and `Container` structs are 1.4 and 2.1 KB before any of their
//! fields is set) a trimmed one-container task took about 7.6 KB; 10,000
//! tasks then needed more memory than kube-controller-manager's whole cache
//! of pods per task. Read from the API server, a `TaskPod` is parsed from the
//! full pod and kept in this compact form.
use std::borrow::Cow;

use k8s_openapi::api::core::v1::{Container, ContainerState, Pod, PodCondition, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde::Deserialize;

use crate::ecs::placement::{Holding, Resources};
use crate::ecs::task::labels;

#[derive(Clone, Debug, Default, Deserialize)]
pub struct TaskPod {
    #[serde(default)]
    pub metadata: ObjectMeta,
    pub spec: Option<TaskPodSpec>,
    pub status: Option<TaskPodStatus>,
}

/// A task's containers and where it runs.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(from = "PodSpec")]
pub struct TaskPodSpec {
    pub node_name: Option<String>,
    /// The pod's containers, then its sidecars (restartable init containers,
    /// which run beside them for the task's life; an essential one that exits
    /// stops the task, though the kubelet restarts it in place); not
    /// run-to-completion init containers, which are not part of the task.
    pub containers: Vec<TaskContainer>,
    /// What the pod holds on its node, as kube-scheduler counts it.
    pub requests: Resources,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskContainer {
    pub name: String,
    /// A health check's timing (what makes the container UNHEALTHY), if it has one.
    pub health_check: Option<HealthCheckTiming>,
}

/// A readiness probe's timing, with the kubelet's defaults filled in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthCheckTiming {
    pub period_seconds: i32,
    pub failure_threshold: i32,
}

/// What the pod says of the task.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(from = "PodStatus")]
pub struct TaskPodStatus {
    pub phase: Option<String>,
    pub reason: Option<String>,
    pub message: Option<String>,
    /// Only those read: readiness, kube-scheduler's verdict and why a pod is disrupted.
    pub conditions: Vec<PodCondition>,
    pub start_time: Option<Time>,
    /// Containers' and init containers' alike.
    pub container_statuses: Vec<TaskContainerStatus>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaskContainerStatus {
    pub name: String,
    pub state: Option<ContainerState>,
    pub last_state: Option<ContainerState>,
    pub restart_count: i32,
    pub ready: bool,
}

const READ_CONDITIONS: [&str; 3] = ["Ready", "PodScheduled", "DisruptionTarget"];

/// A restartable init container: a sidecar, part of the task for its whole life.
fn is_sidecar(container: &Container) -> bool {
    container.restart_policy.as_deref() == Some("Always")
}

impl From<PodSpec> for TaskPodSpec {
    fn from(spec: PodSpec) -> TaskPodSpec {
        let requests = Resources::requested_by(&spec);
        let task_container = |c: Container| TaskContainer {
            health_check: c.readiness_probe.map(|p| HealthCheckTiming {
                period_seconds: p.period_seconds.unwrap_or(10),
                failure_threshold: p.failure_threshold.unwrap_or(3),
            }),
            name: c.name,
        };
        let sidecars = spec.init_containers.into_iter().flatten().filter(is_sidecar);
        TaskPodSpec { node_name: spec.node_name, containers: spec.containers.into_iter().chain(sidecars).map(task_container).collect(), requests }
    }
}

impl From<PodStatus> for TaskPodStatus {
    fn from(status: PodStatus) -> TaskPodStatus {
        let statuses = status.container_statuses.into_iter().flatten().chain(status.init_container_statuses.into_iter().flatten());
        TaskPodStatus {
            phase: status.phase,
            reason: status.reason,
            message: status.message,
            conditions: status.conditions.into_iter().flatten().filter(|c| READ_CONDITIONS.contains(&c.type_.as_str())).collect(),
            start_time: status.start_time,
            container_statuses: statuses
                .map(|c| TaskContainerStatus { name: c.name, state: c.state, last_state: c.last_state, restart_count: c.restart_count, ready: c.ready })
                .collect(),
        }
    }
}

impl From<Pod> for TaskPod {
    fn from(pod: Pod) -> TaskPod {
        TaskPod { metadata: pod.metadata, spec: pod.spec.map(Into::into), status: pod.status.map(Into::into) }
    }
}

impl TaskPod {
    /// Drops the API server's field ownership records: the cache keeps only what Berth reads.
    pub fn drop_field_ownership(&mut self) {
        self.metadata.managed_fields = None;
    }

    pub fn node_name(&self) -> Option<&str> {
        self.spec.as_ref()?.node_name.as_deref()
    }

    pub fn phase(&self) -> Option<&str> {
        self.status.as_ref()?.phase.as_deref()
    }

    /// The pod's condition of this type, if it has it.
    pub fn condition(&self, type_: &str) -> Option<&PodCondition> {
        self.status.as_ref()?.conditions.iter().find(|c| c.type_ == type_)
    }

    pub fn container_statuses(&self) -> &[TaskContainerStatus] {
        self.status.as_ref().map_or(&[], |s| &s.container_statuses)
    }

    /// What the task holds on the node it runs on or is pinned to; nothing once it has
    /// finished (its requests no longer hold room) or before it has a node.
    pub fn holding(&self) -> Option<Holding> {
        if matches!(self.phase(), Some("Succeeded" | "Failed")) {
            return None;
        }
        let labels = self.metadata.labels.as_ref();
        let node = self.node_name().or_else(|| labels?.get(labels::NODE).map(String::as_str))?;
        let group = self.metadata.annotations.as_ref().and_then(|a| a.get(labels::GROUP)).cloned();
        Some(Holding { node: node.to_string(), requests: self.spec.as_ref()?.requests, group })
    }
}

impl kube::Resource for TaskPod {
    type DynamicType = ();
    type Scope = k8s_openapi::NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        "Pod".into()
    }

    fn group(_: &()) -> Cow<'_, str> {
        "".into()
    }

    fn version(_: &()) -> Cow<'_, str> {
        "v1".into()
    }

    fn plural(_: &()) -> Cow<'_, str> {
        "pods".into()
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task_pod() -> serde_json::Value {
        json!({
            "metadata": {"name": "web-1", "namespace": "ns", "labels": {"app": "web"},
                "managedFields": [{"manager": "berth", "operation": "Apply"}]},
            "spec": {
                "nodeName": "n1",
                "initContainers": [
                    {"name": "migrate", "image": "m", "resources": {"requests": {"cpu": "2"}}},
                    {"name": "envoy", "image": "e", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}
                ],
                "containers": [{"name": "app", "image": "a", "env": [{"name": "K", "value": "V"}],
                    "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 5},
                    "resources": {"requests": {"cpu": "250m", "memory": "128Mi"}}}]
            },
            "status": {
                "phase": "Running", "podIP": "10.0.0.1", "qosClass": "Burstable", "startTime": "2026-01-01T00:00:00Z",
                "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
                "containerStatuses": [{"name": "app", "image": "a", "imageID": "x", "ready": true, "restartCount": 2,
                    "state": {"running": {"startedAt": "2026-01-01T00:00:01Z"}}}],
                "initContainerStatuses": [{"name": "envoy", "image": "e", "imageID": "y", "ready": true, "restartCount": 0}]
            }
        })
    }

    #[test]
    fn a_pod_read_from_the_api_keeps_what_the_core_reads() {
        let mut pod: TaskPod = serde_json::from_value(task_pod()).unwrap();
        pod.drop_field_ownership();
        assert!(pod.metadata.managed_fields.is_none());
        assert_eq!(pod.node_name(), Some("n1"));
        let spec = pod.spec.as_ref().unwrap();
        let names: Vec<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["app", "envoy"], "the sidecar is a task container, the run-to-completion init container is not");
        assert_eq!(spec.containers[0].health_check, Some(HealthCheckTiming { period_seconds: 5, failure_threshold: 3 }));
        assert_eq!(spec.containers[1].health_check, None);
        // As kube-scheduler counts: the init container's 2 cores outweigh app and sidecar's 350m.
        assert_eq!(spec.requests, Resources { cpu: 2000, memory: 192 << 20 });
        assert_eq!(pod.phase(), Some("Running"));
        assert_eq!(pod.status.as_ref().unwrap().conditions.len(), 1, "only the conditions read are kept");
        assert!(pod.condition("Ready").is_some());
        let statuses: Vec<(&str, i32)> = pod.container_statuses().iter().map(|s| (s.name.as_str(), s.restart_count)).collect();
        assert_eq!(statuses, [("app", 2), ("envoy", 0)]);
    }

    #[test]
    fn a_pod_converts_as_it_parses() {
        let pod: Pod = serde_json::from_value(task_pod()).unwrap();
        let parsed: TaskPod = serde_json::from_value(task_pod()).unwrap();
        let converted = TaskPod::from(pod);
        assert_eq!((converted.spec, converted.status), (parsed.spec, parsed.status));
    }

    #[test]
    fn a_task_holds_its_requests_on_its_node_until_it_finishes() {
        let mut pod: TaskPod = serde_json::from_value(task_pod()).unwrap();
        pod.metadata.annotations = Some([(labels::GROUP.to_string(), "service:web".to_string())].into());
        assert_eq!(pod.holding(), Some(Holding { node: "n1".into(), requests: Resources { cpu: 2000, memory: 192 << 20 }, group: Some("service:web".into()) }));
        pod.spec.as_mut().unwrap().node_name = None;
        assert_eq!(pod.holding(), None, "not yet scheduled nor pinned");
        pod.metadata.labels = Some([(labels::NODE.to_string(), "n2".to_string())].into());
        assert_eq!(pod.holding().map(|h| h.node), Some("n2".into()), "pinned by Berth before kube-scheduler binds it");
        pod.status.as_mut().unwrap().phase = Some("Failed".into());
        assert_eq!(pod.holding(), None);
    }

    #[test]
    fn a_pod_without_spec_or_status_parses() {
        let pod: TaskPod = serde_json::from_value(json!({"metadata": {"name": "p"}})).unwrap();
        assert_eq!((pod.node_name(), pod.phase(), pod.container_statuses().len()), (None, None, 0));
    }
}
