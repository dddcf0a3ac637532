//! A service's deployments (ecs-semantics §2.6-2.8): which one is PRIMARY
//! (the spec's, or a rollback after the circuit breaker tripped), how healthy
//! each task is, and what the breaker makes of the tasks that stopped.
use std::time::Duration;

use crate::ecs::task::pod::{HealthCheckTiming, TaskContainerStatus};
use serde_json::json;

use crate::api::{CircuitBreakerProgress, DeploymentConfiguration, RolloutState, ServiceDeployment, ServiceSpec, ThresholdType};
use crate::ecs::task::observed::Task;
use crate::ecs::task::reference::Resolved;
use crate::ecs::rollout::{self, CircuitBreakerPolicy, FailureThreshold, HealthCheckStatus, TaskEvent, TaskHealth, TaskHealthInput};
use crate::ecs::render::health_start_periods;
use crate::ecs::task::labels;
use crate::ecs::task::lifecycle::{LastStatus, StopCode};

/// A task that stops this soon after RUNNING failed to start, for the start
/// throttle and the circuit breaker: with no image pull to slow it down, a
/// crashing container on Kubernetes reaches RUNNING for an instant first.
pub const QUICK_EXIT: Duration = Duration::from_secs(10);

/// One deployment: its ECS id (`ecs-svc/<number>`) and its label-safe form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deployment {
    pub id: String,
    pub label: String,
}

impl Deployment {
    /// The deployment the spec asks for: its id changes whenever a field that
    /// starts an ECS deployment changes (§2.1).
    pub fn of(spec: &ServiceSpec, resolved: &Resolved) -> Deployment {
        // launchType and capacityProviderStrategy are not among them: they
        // apply in place, to the tasks started afterwards (API_UpdateService).
        let triggers = json!({
            "taskDefinition": resolved.reference(),
            "forceNewDeployment": spec.force_new_deployment,
            "networkConfiguration": spec.placement.network_configuration,
            "loadBalancers": spec.load_balancers,
            "serviceRegistries": spec.service_registries,
            "serviceConnectConfiguration": spec.service_connect_configuration,
            "volumeConfigurations": spec.volume_configurations,
            "platformVersion": spec.platform_version,
        });
        Deployment::from_number(crate::ecs::render::names::fnv1a(&triggers.to_string()) % 10_000_000_000_000_000_000)
    }

    fn from_number(number: u64) -> Deployment {
        Deployment { id: format!("ecs-svc/{number:019}"), label: format!("ecs-svc-{number:019}") }
    }

    pub fn from_id(id: &str) -> Deployment {
        Deployment { id: id.to_string(), label: id.replace('/', "-") }
    }

    /// The last 8 digits of a deployment's label (`ecs-svc-<19 digits>`): what names the
    /// objects that belong to one deployment apart in a short name.
    pub fn digits(label: &str) -> &str {
        &label[label.len().saturating_sub(8)..]
    }
}

/// The deployment that gets new tasks.
#[derive(Clone, Debug)]
pub struct Primary {
    pub deployment: Deployment,
    pub resolved: Resolved,
    /// The spec's deployment failed and there is nothing to roll back to (or
    /// rollback is off): a FAILED deployment launches no more tasks.
    pub launches: bool,
    /// The spec's deployment, when it failed (PRIMARY is then a rollback).
    pub failed: Option<Deployment>,
}

/// The spec's deployment, unless the circuit breaker failed it: then the last
/// COMPLETED deployment again (rollback), or the failed one, launching nothing.
/// The user's spec is never changed; status says what runs and why.
/// `revisions` are the revisions the previous deployments ran, as resolved now.
pub fn primary(spec: &ServiceSpec, resolved: Resolved, previous: &[ServiceDeployment], revisions: &[Resolved]) -> Primary {
    let wanted = Deployment::of(spec, &resolved);
    let failed = previous.iter().any(|d| d.id == wanted.id && d.rollout_state == RolloutState::Failed);
    if !failed {
        return Primary { deployment: wanted, resolved, launches: true, failed: None };
    }
    // A BLUE_GREEN, LINEAR or CANARY deployment fails by rolling back: production is already
    // back on the last completed deployment, which stays PRIMARY.
    let rollback = breaker_config(spec).is_some_and(|b| b.rollback) || super::lifecycle::shifts_traffic(spec);
    let target = previous.iter().find(|d| d.id != wanted.id && d.rollout_state == RolloutState::Completed);
    let target = target.filter(|_| rollback).and_then(|t| Some((Deployment::from_id(&t.id), revisions.iter().find(|r| r.reference() == t.task_definition)?.clone())));
    match target {
        Some((deployment, target)) => Primary { deployment, resolved: target, launches: true, failed: Some(wanted) },
        None => Primary { deployment: wanted.clone(), resolved, launches: false, failed: Some(wanted) },
    }
}

fn breaker_config(spec: &ServiceSpec) -> Option<&crate::api::DeploymentCircuitBreaker> {
    spec.deployment_configuration.as_ref().and_then(|c| c.deployment_circuit_breaker.as_ref()).filter(|b| b.enable)
}

/// The breaker's settings, or None when it is off (the ECS default).
pub fn breaker_policy(spec: &ServiceSpec) -> Option<CircuitBreakerPolicy> {
    let breaker = breaker_config(spec)?;
    let threshold = match breaker.threshold_configuration.as_ref() {
        Some(t) => match t.type_ {
            ThresholdType::Count => FailureThreshold::Count(t.value.max(0) as u32),
            ThresholdType::BoundedPercent => FailureThreshold::BoundedPercent(t.value.max(0) as u32),
            ThresholdType::UnboundedPercent => FailureThreshold::UnboundedPercent(t.value.max(0) as u32),
        },
        None => FailureThreshold::default(),
    };
    Some(CircuitBreakerPolicy { threshold, reset_on_healthy_task: breaker.reset_on_healthy_task.unwrap_or(true) })
}

/// minimumHealthyPercent and maximumPercent with the ECS defaults.
pub fn bounds(config: Option<&DeploymentConfiguration>, daemon: bool) -> rollout::DeploymentBounds {
    let strategy = if daemon { rollout::SchedulingStrategy::Daemon } else { rollout::SchedulingStrategy::Replica };
    let defaults = rollout::DeploymentBounds::defaults_for(strategy);
    rollout::DeploymentBounds {
        minimum_healthy_percent: config.and_then(|c| c.minimum_healthy_percent).map_or(defaults.minimum_healthy_percent, |p| p.max(0) as u32),
        maximum_percent: config.and_then(|c| c.maximum_percent).map_or(defaults.maximum_percent, |p| p.max(0) as u32),
    }
}

/// How ECS counts the task's health (§2.4, ecs-semantics 7.3): the health
/// checks of its *essential* containers (a non-essential container never makes
/// a task unhealthy), else 40 seconds of RUNNING; grace period honoured. A
/// task behind Kubernetes Services is healthy only when Ready, as an ECS task
/// behind a load balancer is only when its target is: so the ready endpoints
/// never fall below the healthy tasks a rollout counts on.
pub fn health(task: &Task, grace_period: Duration, now: i64) -> TaskHealth {
    let running_since = task.running_since();
    let seconds_since_running = running_since.map_or(0, |t| (now - t).max(0) as u64);
    let traffic = task.label(labels::TRAFFIC).is_some();
    // Out of the ready endpoints: as a target failing its load balancer's checks.
    let out_of_endpoints = || if failed_load_balancer_checks(task, now) { HealthCheckStatus::Unhealthy } else { HealthCheckStatus::Unknown };
    let checks = match (essential_checks(task, now), traffic) {
        (None, false) => None,
        (None, true) => Some(if task.state.ready { HealthCheckStatus::Healthy } else { out_of_endpoints() }),
        (Some(HealthCheckStatus::Healthy), true) if !task.state.ready => Some(out_of_endpoints()),
        (Some(status), _) => Some(status),
    };
    rollout::task_health(&TaskHealthInput {
        running: task.state.last_status == LastStatus::Running,
        essential_health_checks: checks,
        seconds_since_running,
        in_grace_period: seconds_since_running < grace_period.as_secs(),
    })
}

/// How long a task that takes traffic may stay out of its Services' ready
/// endpoints before it counts as failing its load balancer's health checks: an
/// ALB target group's defaults (2 failed checks, 30 s apart).
pub const LOAD_BALANCER_UNHEALTHY_AFTER: Duration = Duration::from_secs(60);

/// The stopped reasons of a task that failed its health checks (§2.4).
pub const FAILED_CONTAINER_HEALTH_CHECKS: &str = "Task failed container health checks";
pub const FAILED_ELB_HEALTH_CHECKS: &str = "Task failed ELB health checks";

/// A task that takes traffic has been out of its Services' ready endpoints
/// (not Ready) for [`LOAD_BALANCER_UNHEALTHY_AFTER`] while running.
fn failed_load_balancer_checks(task: &Task, now: i64) -> bool {
    let Some(running) = task.running_since() else { return false };
    let unready_since = task.unready_since().unwrap_or(running).max(running);
    task.label(labels::TRAFFIC).is_some() && !task.state.ready && now - unready_since >= LOAD_BALANCER_UNHEALTHY_AFTER.as_secs() as i64
}

/// Why an UNHEALTHY task is stopped: its essential containers' checks, else its load balancer's.
pub fn unhealthy_reason(task: &Task, now: i64) -> &'static str {
    if essential_checks(task, now) == Some(HealthCheckStatus::Unhealthy) { FAILED_CONTAINER_HEALTH_CHECKS } else { FAILED_ELB_HEALTH_CHECKS }
}

/// The combined status of the essential containers' health checks, None when
/// none has one: UNHEALTHY if any is, HEALTHY if all are, else UNKNOWN. The
/// task's containers and which are essential are as the lifecycle read them.
fn essential_checks(task: &Task, now: i64) -> Option<HealthCheckStatus> {
    let pod = &task.pod;
    let start_periods = pod.metadata.annotations.as_ref().map(health_start_periods).unwrap_or_default();
    let spec = pod.spec.as_ref()?;
    let statuses = pod.container_statuses();
    let checked: Vec<HealthCheckStatus> = task.state.containers.iter().filter(|c| c.essential)
        .filter_map(|c| {
            let probe = spec.containers.iter().find(|s| s.name == c.name)?.health_check.as_ref()?;
            let status = statuses.iter().find(|s| s.name == c.name);
            Some(container_health(probe, status, start_periods.get(&c.name).copied().unwrap_or(0), now))
        })
        .collect();
    if checked.is_empty() {
        None
    } else if checked.contains(&HealthCheckStatus::Unhealthy) {
        Some(HealthCheckStatus::Unhealthy)
    } else if checked.iter().all(|c| *c == HealthCheckStatus::Healthy) {
        Some(HealthCheckStatus::Healthy)
    } else {
        Some(HealthCheckStatus::Unknown)
    }
}

/// One container's health check status. The kubelet marks a container
/// unready only after `retries` (failureThreshold) failed checks, and ECS
/// counts no failure within `startPeriod`: so a container that is not ready
/// once startPeriod + interval × retries have passed since it started has
/// failed its check `retries` times outside the start period: UNHEALTHY.
fn container_health(probe: &HealthCheckTiming, status: Option<&TaskContainerStatus>, start_period: i64, now: i64) -> HealthCheckStatus {
    let Some(status) = status else { return HealthCheckStatus::Unknown };
    if status.ready {
        return HealthCheckStatus::Healthy;
    }
    let Some(started) = status.state.as_ref().and_then(|s| s.running.as_ref()).and_then(|r| r.started_at.as_ref()) else {
        return HealthCheckStatus::Unknown;
    };
    let checks = i64::from(probe.period_seconds) * i64::from(probe.failure_threshold);
    if now - started.0.as_second() >= start_period + checks { HealthCheckStatus::Unhealthy } else { HealthCheckStatus::Unknown }
}

/// The task has been RUNNING for [`QUICK_EXIT`]: it started. Until then a
/// task that reports RUNNING (and Ready, behind Services) may still be a
/// crashing container's instant of life, which must neither move the breaker
/// to its second stage, nor reset its count or the start throttle's.
pub fn established(task: &Task, now: i64) -> bool {
    established_at(task).is_some_and(|at| at <= now)
}

/// When a RUNNING task is (or was) [`established`].
pub fn established_at(task: &Task) -> Option<i64> {
    let since = task.running_since().filter(|_| task.state.last_status == LastStatus::Running)?;
    Some(since + QUICK_EXIT.as_secs() as i64)
}

/// What the breaker makes of a task of the primary deployment that stopped.
pub fn stop_event(task: &Task, code: StopCode) -> Option<TaskEvent> {
    match code {
        StopCode::TaskFailedToStart => Some(TaskEvent::FailedToStart),
        StopCode::EssentialContainerExited if task.lived_less_than(QUICK_EXIT) => Some(TaskEvent::FailedToStart),
        StopCode::EssentialContainerExited => Some(TaskEvent::FailedHealthChecks),
        _ => None,
    }
}

/// When the task became healthy, as the breaker counts it (a healthy task
/// only): when it turned Ready (health checks, or behind Services), else 40
/// seconds after RUNNING; never before it is [`established`].
pub fn became_healthy_at(task: &Task, now: i64) -> Option<i64> {
    let running = task.running_since()?;
    let checked = task.label(labels::TRAFFIC).is_some() || essential_checks(task, now).is_some();
    let healthy = if checked {
        task.ready_since().unwrap_or(running)
    } else {
        running + rollout::health::HEALTHY_AFTER_RUNNING_WITHOUT_CHECKS_SECONDS as i64
    };
    Some(healthy.max(running + QUICK_EXIT.as_secs() as i64))
}

/// The breaker after this pass's events, each at its time, from what the
/// previous status says it had counted. A task becoming healthy counts once:
/// only one that did so after the last one counted resets the count.
pub fn breaker_after(
    policy: &CircuitBreakerPolicy,
    previous: Option<&ServiceDeployment>,
    desired: u32,
    mut events: Vec<(i64, TaskEvent)>,
) -> (rollout::CircuitBreakerState, CircuitBreakerProgress) {
    let progress = previous.and_then(|d| d.circuit_breaker.clone()).unwrap_or_default();
    let counted_healthy = progress.last_healthy_task_at.as_ref().map(|t| t.0.as_second());
    events.retain(|(at, event)| *event != TaskEvent::BecameHealthy || counted_healthy.is_none_or(|counted| *at > counted));
    events.sort_by_key(|(at, _)| *at);
    let mut state = rollout::CircuitBreakerState {
        failed_tasks: previous.map_or(0, |d| d.failed_tasks.max(0) as u32),
        task_reached_running: progress.task_reached_running,
        tripped: previous.is_some_and(|d| d.rollout_state == RolloutState::Failed),
    };
    let mut last_healthy = counted_healthy;
    for (at, event) in events {
        state = state.record(event, policy, desired);
        if event == TaskEvent::BecameHealthy {
            last_healthy = last_healthy.max(Some(at));
        }
    }
    let progress = CircuitBreakerProgress {
        task_reached_running: state.task_reached_running,
        last_healthy_task_at: last_healthy.map(crate::ecs::plan::conditions::time),
    };
    (state, progress)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use k8s_openapi::api::core::v1::Pod;

    use super::*;

    /// A task running for 5 seconds, without health checks.
    fn task(ready: bool, traffic: bool) -> Task {
        let started = k8s_openapi::jiff::Timestamp::from_second(1000).unwrap().to_string();
        let labels = if traffic { json!({labels::TRAFFIC: labels::TRAFFIC_SERVE}) } else { json!({}) };
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "web-1", "labels": labels},
            "spec": {"nodeName": "n1", "containers": [{"name": "web", "image": "x"}]},
            "status": {"phase": "Running",
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
                "containerStatuses": [{"name": "web", "image": "x", "imageID": "", "ready": ready, "restartCount": 0,
                    "state": {"running": {"startedAt": started}}}]},
        })).unwrap();
        Task::of(pod)
    }

    #[test]
    fn a_task_behind_services_is_healthy_when_ready_not_after_forty_seconds() {
        let now = 1005;
        assert_eq!(health(&task(true, false), Duration::ZERO, now), TaskHealth::NotYetHealthy);
        assert_eq!(health(&task(true, false), Duration::ZERO, now + 40), TaskHealth::Healthy);
        assert_eq!(health(&task(true, true), Duration::ZERO, now), TaskHealth::Healthy);
        assert_eq!(health(&task(false, true), Duration::ZERO, now + 40), TaskHealth::NotYetHealthy);
    }

    fn deployment_of(service: &str) -> Deployment {
        let spec: ServiceSpec = serde_saphyr::from_str(service).expect("service fixture");
        let resolved = Resolved { family: "web".into(), revision: 1, spec: serde_saphyr::from_str("containerDefinitions: [{name: web, image: nginx}]").unwrap() };
        Deployment::of(&spec, &resolved)
    }

    /// API_UpdateService: "This parameter doesn't trigger a new service
    /// deployment" for capacityProviderStrategy, and a launch type <->
    /// capacity provider transition applies in place: only the tasks started
    /// afterwards follow it (ecs-semantics §2.1, fidelity audit N8).
    #[test]
    fn neither_scaling_nor_a_new_launch_type_or_strategy_is_a_new_deployment() {
        let base = deployment_of("{taskDefinition: web, desiredCount: 2}");
        for other in [
            "{taskDefinition: web, desiredCount: 9}",
            "{taskDefinition: web, desiredCount: 2, launchType: FARGATE}",
            "{taskDefinition: web, desiredCount: 2, launchType: EC2}",
            "{taskDefinition: web, desiredCount: 2, capacityProviderStrategy: [{capacityProvider: FARGATE, weight: 1}]}",
            "{taskDefinition: web, desiredCount: 2, capacityProviderStrategy: [{capacityProvider: FARGATE, weight: 2}]}",
        ] {
            assert_eq!(deployment_of(other), base, "{other}");
        }
        assert_ne!(deployment_of("{taskDefinition: web, desiredCount: 2, forceNewDeployment: true}"), base);
        assert_ne!(deployment_of("{taskDefinition: web, desiredCount: 2, platformVersion: '1.4.0'}"), base);
    }

    fn revision(n: i32) -> Resolved {
        Resolved { family: "web".into(), revision: n, spec: serde_saphyr::from_str("containerDefinitions: [{name: web, image: nginx}]").unwrap() }
    }

    fn entry(deployment: &Deployment, revision: i32, state: RolloutState) -> ServiceDeployment {
        let at = crate::ecs::plan::conditions::time(0);
        ServiceDeployment { id: deployment.id.clone(), status: crate::api::DeploymentStatus::Active, task_definition: format!("web:{revision}"),
            desired_count: 2, pending_count: 0, running_count: 0, failed_tasks: 0, rollout_state: state, rollout_state_reason: None, created_at: at.clone(), updated_at: at, circuit_breaker: None }
    }

    /// PRIMARY through the deployment state machine (§2.8): the spec's
    /// deployment until it FAILS, then the last COMPLETED one if rollback is on
    /// and its revision still resolves, else the failed one, launching nothing.
    #[test]
    fn primary_is_the_spec_until_it_fails_then_the_last_completed_deployment() {
        let spec = |rollback: bool| -> ServiceSpec {
            serde_json::from_value(json!({"taskDefinition": "web", "desiredCount": 2,
                "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": true, "rollback": rollback}}})).unwrap()
        };
        let (one, two) = (Deployment::of(&spec(true), &revision(1)), Deployment::of(&spec(true), &revision(2)));
        let completed_one = entry(&one, 1, RolloutState::Completed);

        // Rolling out: the spec's deployment.
        let p = primary(&spec(true), revision(2), &[entry(&two, 2, RolloutState::InProgress), completed_one.clone()], &[revision(1)]);
        assert_eq!((p.deployment.clone(), p.launches, p.failed.clone()), (two.clone(), true, None));

        // Failed with rollback on: back to the completed deployment, its id and revision.
        let failed = [entry(&two, 2, RolloutState::Failed), completed_one.clone()];
        let p = primary(&spec(true), revision(2), &failed, &[revision(1)]);
        assert_eq!((p.deployment.clone(), p.resolved.revision, p.launches, p.failed.clone()), (one.clone(), 1, true, Some(two.clone())));

        // Rollback off, no completed deployment, or its revision gone: the failed deployment, launching nothing.
        for (spec, previous, revisions) in [
            (spec(false), failed.to_vec(), vec![revision(1)]),
            (spec(true), vec![entry(&two, 2, RolloutState::Failed)], vec![revision(1)]),
            (spec(true), failed.to_vec(), vec![]),
        ] {
            let p = primary(&spec, revision(2), &previous, &revisions);
            assert_eq!((p.deployment.clone(), p.launches, p.failed.clone()), (two.clone(), false, Some(two.clone())));
        }

        // A new revision after the failure is a new deployment: PRIMARY again, launching.
        let p = primary(&spec(true), revision(3), &failed, &[revision(1)]);
        assert_eq!((p.resolved.revision, p.launches, p.failed), (3, true, None));
    }
}
