//! Reading a task pod as an ECS task (ecs-semantics §3, §4.9): its lastStatus,
//! whether it must stop, and its stop code, stopped reason and exit codes.
//! Pure: the controllers act on what this returns.
use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::ContainerStateTerminated;

use super::labels;
use super::pod::{TaskContainerStatus, TaskPod};
use crate::ecs::render::RestartRule;
pub use crate::api::{TaskLastStatus as LastStatus, TaskStopCode as StopCode};

fn parse_stop_code(name: &str) -> Option<StopCode> {
    serde_json::from_value(serde_json::Value::String(name.to_string())).ok()
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stop {
    pub code: StopCode,
    pub reason: String,
}

impl Stop {
    pub fn new(code: StopCode, reason: impl Into<String>) -> Stop {
        Stop { code, reason: reason.into() }
    }
}

/// One container's ECS view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerState {
    pub name: String,
    pub essential: bool,
    pub started: bool,
    pub exit_code: Option<i32>,
    /// In-place restarts its restart policy made (an exit ECS would restart).
    pub restarts: u32,
    /// ECS-style reason for an exit or a start failure.
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskState {
    pub last_status: LastStatus,
    /// Why the task stopped, or why it must be stopped now. A task whose
    /// `last_status` is not Stopping/Stopped but has a `stop` is one the
    /// controller must stop (an essential container exited, or it cannot start).
    pub stop: Option<Stop>,
    /// Every container Ready (readiness = the ECS health check, §4.4).
    pub ready: bool,
    /// Has the task ever been RUNNING (for start-failure accounting, §2.5)?
    pub ever_running: bool,
    pub containers: Vec<ContainerState>,
    /// Its stop is recorded: on its pod (a stop Berth made for a failure), or by its owner
    /// until the pod goes. The planner counts each stop once, and a stop its owner's status
    /// reports is counted too (`ecs::plan::service::reported_stopped`).
    pub recorded: bool,
}

impl TaskState {
    /// Pending or running and not asked to stop: counts toward desiredCount.
    pub fn is_active(&self) -> bool {
        matches!(self.last_status, LastStatus::Provisioning | LastStatus::Pending | LastStatus::Running) && self.stop.is_none()
    }

    /// Ended or ending: the pod object is only a record now.
    pub fn is_stopped(&self) -> bool {
        matches!(self.last_status, LastStatus::Stopping | LastStatus::Stopped)
    }
}

const ESSENTIAL_EXITED: &str = "Essential container in task exited";

/// The ECS view of a task pod.
pub fn observe(pod: &TaskPod) -> TaskState {
    observe_stopped(pod, None)
}

/// [`observe`] of a task whose owner deleted it because of `stop` (its cause is not on the pod).
pub fn observe_stopped(pod: &TaskPod, stop: Option<&Stop>) -> TaskState {
    // Read in place: every pass observes every task of its service.
    let no_annotations = BTreeMap::new();
    let annotations = pod.metadata.annotations.as_ref().unwrap_or(&no_annotations);
    let essential: Option<BTreeSet<&str>> =
        annotations.get(labels::ESSENTIAL_CONTAINERS).map(|names| names.split(',').map(str::trim).filter(|n| !n.is_empty()).collect());
    let rules = crate::ecs::render::restart_rules(annotations);
    let statuses = pod.container_statuses();
    let containers: Vec<ContainerState> = pod.spec.iter().flat_map(|s| &s.containers)
        .map(|c| {
            let essential = essential.as_ref().is_none_or(|set| set.contains(c.name.as_str()));
            container_state(&c.name, essential, statuses.iter().find(|s| s.name == c.name), rules.get(&c.name))
        })
        .collect();
    let recorded = recorded_stop(pod).or_else(|| stop.cloned());
    let is_recorded = recorded.is_some();
    let phase = pod.phase().unwrap_or("Pending");
    let ready = pod.condition("Ready").is_some_and(|c| c.status == "True");
    let essential_running = containers.iter().filter(|c| c.essential).all(|c| c.started);
    let ever_running = containers.iter().any(|c| c.started) || phase == "Running";

    if pod.metadata.deletion_timestamp.is_some() {
        let stop = recorded.or_else(|| Some(disruption_stop(pod)));
        return TaskState { last_status: LastStatus::Stopping, stop, ready: false, ever_running, containers, recorded: is_recorded };
    }
    if phase == "Failed" || phase == "Succeeded" {
        let stop = recorded.unwrap_or_else(|| ended_stop(pod, &containers, ever_running));
        return TaskState { last_status: LastStatus::Stopped, stop: Some(stop), ready: false, ever_running, containers, recorded: is_recorded };
    }
    // Still alive: does something force a stop?
    let stop = recorded.or_else(|| {
        if containers.iter().any(|c| c.essential && c.exit_code.is_some()) {
            Some(Stop::new(StopCode::EssentialContainerExited, ESSENTIAL_EXITED))
        } else {
            start_failure(&containers)
        }
    });
    let last_status = if phase == "Running" && essential_running {
        LastStatus::Running
    } else if pod.node_name().is_none() {
        LastStatus::Provisioning
    } else {
        LastStatus::Pending
    };
    TaskState { last_status, stop, ready, ever_running, containers, recorded: is_recorded }
}

/// A container's state in ECS terms. Its last exit, when the kubelet restarted
/// it, is an exit unless its restart policy would have restarted it (ECS
/// container restart policy): then it is a restart, and the container lives on.
fn container_state(name: &str, essential: bool, status: Option<&TaskContainerStatus>, rule: Option<&RestartRule>) -> ContainerState {
    let state = status.and_then(|s| s.state.clone()).unwrap_or_default();
    let last = status.and_then(|s| s.last_state.clone()).unwrap_or_default();
    let ran = |t: &ContainerStateTerminated| t.finished_at.as_ref().zip(t.started_at.as_ref()).map_or(0, |(end, start)| end.0.as_second() - start.0.as_second());
    let restarted = state.terminated.is_none() && rule.is_some_and(|rule| last.terminated.as_ref().is_some_and(|t| rule.restarts(t.exit_code, ran(t))));
    let restarts = if restarted { status.map_or(0, |s| s.restart_count.max(0) as u32) } else { 0 };
    let terminated = if restarted { None } else { state.terminated.or(last.terminated) };
    let started = state.running.is_some() || terminated.as_ref().is_some_and(|t| t.started_at.is_some());
    let (exit_code, reason) = match (&terminated, &state.waiting) {
        (Some(t), _) => (Some(t.exit_code), Some(exit_reason(t.reason.as_deref(), t.message.as_deref(), t.exit_code))),
        (None, Some(w)) => (None, w.reason.as_deref().and_then(|r| start_failure_reason(r, w.message.as_deref()))),
        (None, None) => (None, None),
    };
    ContainerState { name: name.to_string(), essential, started, exit_code, restarts, reason }
}

fn exit_reason(reason: Option<&str>, message: Option<&str>, code: i32) -> String {
    match reason {
        Some("OOMKilled") => "OutOfMemoryError: Container killed due to memory usage".to_string(),
        Some(r) => match message {
            Some(m) if !m.is_empty() => format!("{r}: {m}"),
            _ => r.to_string(),
        },
        None => format!("Exit code {code}"),
    }
}

/// The ECS error a container waiting for this kubelet reason would report;
/// None for ordinary waits (ContainerCreating, PodInitializing).
fn start_failure_reason(reason: &str, message: Option<&str>) -> Option<String> {
    let ecs = match reason {
        "ErrImagePull" | "ImagePullBackOff" | "InvalidImageName" | "ErrImageNeverPull" => "CannotPullContainerError",
        "CreateContainerConfigError" => "ResourceInitializationError",
        "CreateContainerError" | "RunContainerError" => "CannotStartContainerError",
        _ => return None,
    };
    Some(format!("{ecs}: {}", message.unwrap_or(reason)))
}

fn start_failure(containers: &[ContainerState]) -> Option<Stop> {
    containers
        .iter()
        .find(|c| !c.started && c.exit_code.is_none() && c.reason.is_some())
        .map(|c| Stop::new(StopCode::TaskFailedToStart, c.reason.clone().unwrap_or_default()))
}

fn ended_stop(pod: &TaskPod, containers: &[ContainerState], ever_running: bool) -> Stop {
    if let Some(status) = pod.status.as_ref().filter(|s| s.reason.as_deref() == Some("Evicted")) {
        return Stop::new(StopCode::TerminationNotice, status.message.clone().unwrap_or_else(|| "Task evicted from its node".into()));
    }
    if !ever_running {
        let reason = start_failure(containers).map(|s| s.reason).unwrap_or_else(|| "Task failed to start".into());
        return Stop::new(StopCode::TaskFailedToStart, reason);
    }
    // A pod ends only when its containers have: an essential one among them.
    Stop::new(StopCode::EssentialContainerExited, ESSENTIAL_EXITED)
}

/// A pod being deleted that Berth did not stop: who did (DisruptionTarget, §4.9)?
fn disruption_stop(pod: &TaskPod) -> Stop {
    let disruption = pod.condition("DisruptionTarget").filter(|c| c.status == "True");
    match disruption.and_then(|c| c.reason.clone()) {
        Some(r) if r == "EvictionByEvictionAPI" => {
            Stop::new(StopCode::ServiceSchedulerInitiated, "Task evicted: container instance is in DRAINING state")
        }
        Some(r) if r == "DeletionByTaintManager" || r == "TerminationByKubelet" => {
            Stop::new(StopCode::TerminationNotice, "Task stopped: its node is being terminated")
        }
        Some(r) if r == "DeletionByPodGC" => Stop::new(StopCode::InfrastructureHealth, "Task stopped: its node is gone"),
        _ => Stop::new(StopCode::UserInitiated, "Task stopped by user"),
    }
}

fn recorded_stop(pod: &TaskPod) -> Option<Stop> {
    let annotations = pod.metadata.annotations.as_ref()?;
    let code = parse_stop_code(annotations.get(labels::STOP_CODE)?)?;
    Some(Stop::new(code, annotations.get(labels::STOPPED_REASON).cloned().unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(value: serde_json::Value) -> TaskPod {
        serde_json::from_value(value).unwrap()
    }

    fn running(name: &str) -> serde_json::Value {
        json!({"name": name, "image": "i", "imageID": "", "ready": true, "restartCount": 0,
               "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}})
    }

    fn exited(name: &str, code: i32, reason: &str) -> serde_json::Value {
        json!({"name": name, "image": "i", "imageID": "", "ready": false, "restartCount": 0,
               "state": {"terminated": {"exitCode": code, "reason": reason,
                   "startedAt": "2026-01-01T00:00:00Z", "finishedAt": "2026-01-01T00:01:00Z"}}})
    }

    fn two_container_pod(phase: &str, statuses: Vec<serde_json::Value>, essential: &str) -> TaskPod {
        pod(json!({
            "metadata": {"name": "t", "annotations": {labels::ESSENTIAL_CONTAINERS: essential}},
            "spec": {"nodeName": "n1", "containers": [{"name": "app"}, {"name": "log-router"}]},
            "status": {"phase": phase, "containerStatuses": statuses,
                       "conditions": [{"type": "Ready", "status": "True"}]},
        }))
    }

    #[test]
    fn all_running_is_running_and_ready() {
        let t = observe(&two_container_pod("Running", vec![running("app"), running("log-router")], "app"));
        assert_eq!(t.last_status, LastStatus::Running);
        assert!(t.ready && t.is_active() && t.stop.is_none());
    }

    #[test]
    fn essential_exit_stops_the_task_while_another_container_runs() {
        let t = observe(&two_container_pod("Running", vec![exited("app", 1, "Error"), running("log-router")], "app"));
        assert_eq!(t.stop, Some(Stop::new(StopCode::EssentialContainerExited, ESSENTIAL_EXITED)));
        assert!(!t.is_active(), "a task that must stop no longer counts toward desiredCount");
        assert_eq!(t.containers[0].exit_code, Some(1));
    }

    #[test]
    fn non_essential_exit_leaves_the_task_running() {
        let t = observe(&two_container_pod("Running", vec![running("app"), exited("log-router", 2, "Error")], "app"));
        assert_eq!(t.last_status, LastStatus::Running);
        assert!(t.stop.is_none() && t.is_active());
        assert_eq!(t.containers[1].exit_code, Some(2));
    }

    #[test]
    fn without_the_annotation_every_container_is_essential() {
        let mut p = two_container_pod("Running", vec![running("app"), exited("log-router", 0, "Completed")], "");
        p.metadata.annotations = None;
        assert_eq!(observe(&p).stop.map(|s| s.code), Some(StopCode::EssentialContainerExited));
    }

    #[test]
    fn an_essential_sidecar_that_exited_stops_the_task_though_restarted() {
        // Envoy as a native sidecar the app depends on: the kubelet restarted it in place.
        let restarted = json!({"name": "envoy", "image": "i", "imageID": "", "ready": true, "restartCount": 1,
            "state": {"running": {"startedAt": "2026-01-01T00:02:00Z"}},
            "lastState": {"terminated": {"exitCode": 137, "reason": "Error", "startedAt": "2026-01-01T00:00:00Z", "finishedAt": "2026-01-01T00:01:00Z"}}});
        let sidecar_pod = |essential: &str| pod(json!({
            "metadata": {"name": "t", "annotations": {labels::ESSENTIAL_CONTAINERS: essential}},
            "spec": {"nodeName": "n1", "containers": [{"name": "app"}], "initContainers": [{"name": "envoy", "restartPolicy": "Always"}, {"name": "migrate"}]},
            "status": {"phase": "Running", "containerStatuses": [running("app")], "initContainerStatuses": [restarted.clone(), exited("migrate", 0, "Completed")],
                       "conditions": [{"type": "Ready", "status": "True"}]},
        }));
        let t = observe(&sidecar_pod("app,envoy"));
        assert_eq!(t.stop, Some(Stop::new(StopCode::EssentialContainerExited, ESSENTIAL_EXITED)));
        assert_eq!(t.containers.iter().map(|c| (c.name.as_str(), c.exit_code)).collect::<Vec<_>>(), [("app", None), ("envoy", Some(137))]);
        // A non-essential sidecar restarting changes nothing; run-to-completion init containers are not task containers.
        let t = observe(&sidecar_pod("app"));
        assert!(t.stop.is_none() && t.is_active(), "{t:?}");
    }

    #[test]
    fn failed_pod_is_stopped_with_exit_codes() {
        let t = observe(&two_container_pod("Failed", vec![exited("app", 3, "Error"), exited("log-router", 0, "Completed")], "app"));
        assert_eq!(t.last_status, LastStatus::Stopped);
        assert_eq!(t.stop.unwrap().code, StopCode::EssentialContainerExited);
        assert_eq!(t.containers.iter().map(|c| c.exit_code).collect::<Vec<_>>(), [Some(3), Some(0)]);
    }

    #[test]
    fn an_ended_task_is_recorded_by_its_pod_or_by_its_owner() {
        let mut p = two_container_pod("Failed", vec![exited("app", 3, "Error"), exited("log-router", 0, "Completed")], "app");
        let t = observe(&p);
        assert!(!t.recorded, "nothing recorded yet");
        let noted = observe_stopped(&p, t.stop.as_ref());
        assert!(noted.recorded && noted.stop == t.stop, "its owner keeps the record while the patch is on its way");
        let annotations = p.metadata.annotations.get_or_insert_with(Default::default);
        annotations.insert(labels::STOP_CODE.into(), "EssentialContainerExited".into());
        assert!(observe(&p).recorded, "the pod shows it");
    }

    #[test]
    fn oom_kill_reads_as_ecs_out_of_memory() {
        let t = observe(&two_container_pod("Failed", vec![exited("app", 137, "OOMKilled"), running("log-router")], "app"));
        assert_eq!(t.containers[0].reason.as_deref(), Some("OutOfMemoryError: Container killed due to memory usage"));
    }

    #[test]
    fn image_pull_failure_is_a_failed_start() {
        let p = pod(json!({
            "metadata": {"name": "t"},
            "spec": {"nodeName": "n1", "containers": [{"name": "app"}]},
            "status": {"phase": "Pending", "containerStatuses": [{"name": "app", "image": "i", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff", "message": "pull access denied"}}}]},
        }));
        let t = observe(&p);
        assert_eq!(t.last_status, LastStatus::Pending);
        assert!(!t.ever_running);
        assert_eq!(t.stop, Some(Stop::new(StopCode::TaskFailedToStart, "CannotPullContainerError: pull access denied")));
    }

    #[test]
    fn unscheduled_pod_is_provisioning() {
        let p = pod(json!({"metadata": {"name": "t"}, "spec": {"containers": [{"name": "app"}]}, "status": {"phase": "Pending"}}));
        let t = observe(&p);
        assert_eq!(t.last_status, LastStatus::Provisioning);
        assert!(t.is_active());
    }

    #[test]
    fn a_recorded_stop_wins() {
        let mut p = two_container_pod("Running", vec![running("app"), running("log-router")], "app");
        p.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Default::default()));
        let annotations = p.metadata.annotations.get_or_insert_with(Default::default);
        annotations.insert(labels::STOP_CODE.into(), "ServiceSchedulerInitiated".into());
        annotations.insert(labels::STOPPED_REASON.into(), "Scaling activity initiated by (deployment ecs-svc/1)".into());
        let t = observe(&p);
        assert_eq!(t.last_status, LastStatus::Stopping);
        assert_eq!(t.stop.unwrap().code, StopCode::ServiceSchedulerInitiated);
    }

    #[test]
    fn foreign_deletion_is_user_initiated_and_eviction_is_the_scheduler() {
        let mut p = two_container_pod("Running", vec![running("app"), running("log-router")], "app");
        p.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Default::default()));
        assert_eq!(observe(&p).stop.unwrap().code, StopCode::UserInitiated);
        p.status.as_mut().unwrap().conditions.push(serde_json::from_value(
            json!({"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI"})).unwrap());
        assert_eq!(observe(&p).stop.unwrap().code, StopCode::ServiceSchedulerInitiated);
    }

    #[test]
    fn stop_codes_round_trip_through_their_names() {
        for code in [StopCode::TaskFailedToStart, StopCode::InfrastructureHealth, StopCode::SpotInterruption] {
            assert_eq!(parse_stop_code(&crate::api::wire_name(&code)), Some(code));
        }
        assert_eq!(crate::api::wire_name(&StopCode::EssentialContainerExited), "EssentialContainerExited");
        assert_eq!(parse_stop_code("Nope"), None);
    }

    /// ECS container restart policy (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/container-restart-policy.html):
    /// an exit is restarted in place unless its code is in ignoredExitCodes or the
    /// container ran less than restartAttemptPeriod; only an exit ECS would not
    /// restart stops the task.
    #[test]
    fn a_restart_the_policy_allows_keeps_the_task_others_stop_it() {
        let restarted = |code: i32, ran: i64| {
            let started = k8s_openapi::jiff::Timestamp::from_second(1_000).unwrap().to_string();
            let finished = k8s_openapi::jiff::Timestamp::from_second(1_000 + ran).unwrap().to_string();
            let mut p = two_container_pod("Running", vec![json!({"name": "app", "image": "i", "imageID": "", "ready": true, "restartCount": 1,
                "lastState": {"terminated": {"exitCode": code, "reason": "Error", "startedAt": started, "finishedAt": finished}},
                "state": {"running": {"startedAt": finished}}}), running("log-router")], "app");
            p.metadata.annotations.as_mut().unwrap().insert(crate::ecs::render::RESTART_POLICIES_ANNOTATION.into(),
                json!({"app": {"ignoredExitCodes": [0], "restartAttemptPeriod": 60}}).to_string());
            observe(&p)
        };
        let kept = restarted(1, 60);
        assert_eq!((kept.stop.clone(), kept.last_status, kept.containers[0].restarts, kept.containers[0].exit_code), (None, LastStatus::Running, 1, None));
        for (code, ran) in [(0, 600), (1, 59)] {
            let stopped = restarted(code, ran);
            assert_eq!(stopped.stop.map(|s| s.code), Some(StopCode::EssentialContainerExited), "exit {code} after {ran}s");
            assert_eq!(stopped.containers[0].exit_code, Some(code));
        }
    }
}
