//! Test tasks for the planners' unit and property tests: pods in the shapes
//! kube-scheduler and the kubelet leave them in, at explicit times.
use serde_json::{Value, json};

use crate::ecs::task::labels;
use crate::ecs::task::observed::{NodeStatus, Task};
use crate::ecs::task::pod::TaskPod;

fn time(seconds: i64) -> String {
    k8s_openapi::jiff::Timestamp::from_second(seconds).unwrap().to_string()
}

pub struct TaskBuilder {
    name: String,
    created: i64,
    labels: serde_json::Map<String, Value>,
    annotations: serde_json::Map<String, Value>,
    node: Option<String>,
    zone: Option<String>,
    status: Value,
    health_check: bool,
    /// A second, non-essential container with a health check that fails.
    failing_non_essential: bool,
}

impl TaskBuilder {
    /// A task created at `created`, not yet scheduled.
    pub fn new(name: &str, created: i64) -> TaskBuilder {
        TaskBuilder {
            name: name.into(),
            created,
            labels: serde_json::Map::from_iter([(labels::TASK_ID.to_string(), json!(name))]),
            annotations: serde_json::Map::new(),
            node: None,
            zone: None,
            status: json!({"phase": "Pending"}),
            health_check: false,
            failing_non_essential: false,
        }
    }

    pub fn deployment(mut self, label: &str) -> Self {
        self.labels.insert(labels::DEPLOYMENT.into(), json!(label));
        self
    }

    /// Of the deployment `id` running `task_definition`, labelled and annotated as rendered.
    pub fn of_deployment(mut self, deployment: &crate::ecs::plan::deployment::Deployment, task_definition: &str) -> Self {
        self.annotations.insert(labels::DEPLOYMENT_ID.into(), json!(deployment.id));
        self.annotations.insert(labels::TASK_DEFINITION.into(), json!(task_definition));
        self.deployment(&deployment.label)
    }

    pub fn on(mut self, node: &str, zone: &str) -> Self {
        self.node = Some(node.into());
        self.zone = Some(zone.into());
        if self.status["phase"] == "Pending" && self.status.get("containerStatuses").is_none() {
            self.status = json!({"phase": "Pending", "containerStatuses": [{"name": "app", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "ContainerCreating"}}}]});
        }
        self
    }

    /// Its container runs since `since`, Ready.
    pub fn running_since(mut self, since: i64) -> Self {
        self.status = json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "app", "image": "x", "imageID": "", "ready": true, "restartCount": 0, "state": {"running": {"startedAt": time(since)}}}]});
        if self.node.is_none() {
            self.node = Some("n0".into());
        }
        self
    }

    /// An essential health check that does (or does not) pass.
    pub fn health_check(mut self, passing: bool) -> Self {
        self.health_check = true;
        let ready = if passing { "True" } else { "False" };
        self.status["conditions"] = json!([{"type": "Ready", "status": ready}]);
        if let Some(c) = self.status["containerStatuses"].get_mut(0) {
            c["ready"] = json!(passing);
        }
        self
    }

    /// A non-essential `log` container beside it, running as long, whose health check fails.
    pub fn failing_non_essential_check(mut self) -> Self {
        self.failing_non_essential = true;
        self.annotations.insert(labels::ESSENTIAL_CONTAINERS.into(), json!("app"));
        let mut log = self.status["containerStatuses"][0].clone();
        log["name"] = json!("log");
        log["ready"] = json!(false);
        if let Some(statuses) = self.status["containerStatuses"].as_array_mut() {
            statuses.push(log);
        }
        self.status["conditions"] = json!([{"type": "Ready", "status": "False"}]);
        self
    }

    /// It takes traffic: its Services select it.
    pub fn serving(mut self) -> Self {
        self.labels.insert(labels::TRAFFIC.into(), json!(labels::TRAFFIC_SERVE));
        self
    }

    /// Not Ready since `since` (out of its Services' ready endpoints), its containers running.
    pub fn unready_since(mut self, since: i64) -> Self {
        self.status["conditions"] = json!([{"type": "Ready", "status": "False", "lastTransitionTime": time(since)}]);
        self
    }

    /// Its pod started at `started`, its containers' longest startTimeout `seconds`.
    pub fn start_timeout(mut self, seconds: i64, started: i64) -> Self {
        self.annotations.insert(crate::ecs::render::START_TIMEOUT_ANNOTATION.into(), json!(seconds.to_string()));
        self.status["startTime"] = json!(time(started));
        self
    }

    /// Protected from scale-in and deployments until `until`.
    pub fn protected_until(mut self, until: i64) -> Self {
        self.annotations.insert(labels::PROTECTION_EXPIRES_AT.into(), json!(time(until)));
        self
    }

    /// kube-scheduler could not place it, saying `why`.
    pub fn unschedulable(mut self, why: &str) -> Self {
        self.status = json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": why}]});
        self
    }

    /// Its image cannot be pulled.
    pub fn failed_to_start(mut self) -> Self {
        self.node.get_or_insert_with(|| "n0".into());
        self.status = json!({"phase": "Pending", "containerStatuses": [{"name": "app", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ErrImagePull", "message": "not found"}}}]});
        self
    }

    /// Its essential container exited with `code` at `at`, after running since `since`.
    pub fn exited(mut self, code: i32, since: i64, at: i64) -> Self {
        self.node.get_or_insert_with(|| "n0".into());
        self.status = json!({"phase": "Running", "containerStatuses": [{"name": "app", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": code, "startedAt": time(since), "finishedAt": time(at)}}}]});
        self
    }

    /// Its pod ended (phase Failed): its essential container exited with `code` at `at`.
    pub fn ended(self, code: i32, since: i64, at: i64) -> Self {
        let mut task = self.exited(code, since, at);
        task.status["phase"] = json!("Failed");
        task
    }

    pub fn build(self) -> Task {
        // The kubelet's defaults: a check every 10 s, unready after 3 failures.
        let check = json!({"exec": {"command": ["true"]}, "periodSeconds": 10, "failureThreshold": 3});
        let probe = if self.health_check { check.clone() } else { Value::Null };
        let mut containers = vec![json!({"name": "app", "image": "x", "readinessProbe": probe})];
        if self.failing_non_essential {
            containers.push(json!({"name": "log", "image": "x", "readinessProbe": check}));
        }
        let pod = json!({
            "metadata": {"name": self.name, "namespace": "ns", "creationTimestamp": time(self.created), "labels": self.labels, "annotations": self.annotations},
            "spec": {"nodeName": self.node, "containers": containers},
            "status": self.status,
        });
        let mut task = Task::of(serde_json::from_value::<TaskPod>(pod).expect("test pod"));
        task.zone = self.zone;
        if task.node().is_none() {
            task.node_status = NodeStatus::Unassigned;
        }
        task
    }
}
