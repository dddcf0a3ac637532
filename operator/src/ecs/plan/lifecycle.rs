//! A service pass's side of the blue/green family of deployments (BLUE_GREEN, LINEAR,
//! CANARY; ecs-2025 §2-4), decided purely: whether a deployment's lifecycle applies, one
//! step of it (`ecs::rollout::strategy`), the task counts of green (the spec's revision)
//! and blue (the revision production ran), which tasks carry production traffic, the hooks
//! to call, and the deployment's record for `status.serviceDeployments`.
//!
//! Traffic moves by endpoints: the production Kubernetes Services select the tasks of one
//! deployment (its label in their selector, so a switch is one change of one selector), and
//! for a share in between they select the tasks labelled `berth.dev/traffic=serve`, as many ready
//! tasks of each deployment as come closest to the share. Test Services select green from
//! TEST_TRAFFIC_SHIFT on. Where the Gateway API is served, HTTPRoutes also carry the exact
//! weights (`ecs::traffic::gateway`).

use std::collections::BTreeMap;

use serde_json::json;

use super::conditions;
use super::{Event, Problem};
use crate::api::{
    DeploymentControllerType, DeploymentStrategy, HookInvocation, HookStatus, HookTargetType, RevisionTasks, ServiceDeploymentRecord,
    ServiceSpec, TrafficShift,
};
use crate::ecs::arn::Arns;
use crate::ecs::plan::deployment::Deployment;
use crate::ecs::rollout::DeploymentTasks;
use crate::ecs::rollout::strategy::{
    self, Action, DeploymentEvent, DeploymentPolicy, DeploymentState, DeploymentStatus, HookResult, HookSpec, HookTarget,
    HookTimeoutAction, Observation, Stage,
};
pub use crate::ecs::rollout::strategy::DeploymentStatus as LifecycleStatus;

/// Annotation continuing a PAUSE hook: `<hookId>` or `<hookId>=CONTINUE|ROLLBACK`
/// (ECS `ContinueServiceDeployment`).
pub const CONTINUE_DEPLOYMENT: &str = "berth.dev/continue-deployment";
/// Annotation stopping a deployment and rolling it back: its id
/// (ECS `StopServiceDeployment` with `stopType` ROLLBACK).
pub const STOP_DEPLOYMENT: &str = "berth.dev/stop-deployment";
/// Records kept in `status.serviceDeployments`, newest first.
pub const HISTORY: usize = 10;
/// A `taskrun:` hook's TaskRun is looked at again this often until its task stops.
pub const TASK_RUN_HOOK_POLL_SECONDS: u64 = 5;
/// ECS calls an IN_PROGRESS hook again after 30 s unless it gave a `callBackDelay`.
pub const DEFAULT_CALL_BACK_SECONDS: u64 = 30;
/// Alarms are read again this often while a deployment that watches them is under way.
pub const ALARM_POLL_SECONDS: i64 = 5;
/// A pass walks through stages with nothing to wait for, at most this many.
const STEPS_PER_PASS: usize = 32;

/// The hookId of the PAUSE hooks of one stage invocation.
pub fn pause_hook_id(invocation: u32) -> String {
    format!("ecs-pause-{invocation}")
}

/// The deployment strategy a service's spec asks for: CODE_DEPLOY runs as BLUE_GREEN.
pub fn strategy_of(spec: &ServiceSpec) -> DeploymentStrategy {
    let code_deploy = spec.deployment_controller.as_ref().is_some_and(|c| c.type_ == DeploymentControllerType::CodeDeploy);
    let configured = spec.deployment_configuration.as_ref().and_then(|c| c.strategy);
    match configured {
        Some(DeploymentStrategy::Rolling) | None if code_deploy => DeploymentStrategy::BlueGreen,
        other => other.unwrap_or(DeploymentStrategy::Rolling),
    }
}

/// Whether the service deploys with the blue/green family (and so has test Services and a
/// production selector naming one deployment).
pub fn shifts_traffic(spec: &ServiceSpec) -> bool {
    strategy_of(spec) != DeploymentStrategy::Rolling
}

/// Whether a hook target can be called by Berth: an HTTP(S) URL, or `taskrun:FAMILY[:REVISION]`
/// (a TaskRun of one task; a Lambda ARN cannot be called).
pub fn callable(target: Option<&str>) -> bool {
    target.is_some_and(|t| t.starts_with("http://") || t.starts_with("https://") || task_run_target(t).is_some())
}

/// The task definition a `taskrun:` hook target runs.
pub fn task_run_target(target: &str) -> Option<&str> {
    target.strip_prefix("taskrun:").filter(|td| !td.is_empty())
}

/// The name of the TaskRun of one invocation of a `taskrun:` hook: invocations are numbered
/// per deployment, so the deployment's last digits make it unique to this deployment.
pub fn hook_run_name(service: &str, call: &HookCall) -> String {
    let digits = Deployment::digits(&call.deployment);
    crate::ecs::render::names::dns_label(&format!("{service}-{digits}-hook-{}-{}", call.invocation, call.hook))
}

/// The hook TaskRuns (name, the deployment label of their `berth.dev/hook-deployment`) to
/// delete: those of every deployment but the one whose lifecycle is under way, once their
/// answers are in its record or it is over.
pub fn stale_hook_runs(runs: &[(String, String)], under_way: Option<&str>) -> Vec<String> {
    runs.iter().filter(|(_, deployment)| Some(deployment.as_str()) != under_way).map(|(name, _)| name.clone()).collect()
}

/// Reads a `taskrun:` hook's TaskRun as ECS reads a Lambda's answer: its task stopped with
/// every container's exit code 0 is SUCCEEDED, any other stop FAILED, anything else
/// IN_PROGRESS (looked at again shortly).
pub fn task_run_answer(call: &HookCall, task: Option<&crate::api::TaskSummary>, now: i64) -> HookInvocation {
    let answer = |status: HookStatus, reason: Option<String>| HookInvocation {
        hook: call.hook, invocation: call.invocation, status, reason,
        next_call_at: (status == HookStatus::InProgress).then(|| now.max(0) as u64 + TASK_RUN_HOOK_POLL_SECONDS),
        hook_details: None,
    };
    let Some(task) = task.filter(|t| t.last_status == Some(crate::api::TaskLastStatus::Stopped)) else {
        return answer(HookStatus::InProgress, None);
    };
    let exits: Vec<(String, i32)> = task.containers.iter().flatten().filter_map(|c| Some((c.name.clone(), c.exit_code?))).collect();
    if !exits.is_empty() && exits.iter().all(|(_, code)| *code == 0) {
        return answer(HookStatus::Succeeded, None);
    }
    let codes: Vec<String> = exits.iter().map(|(name, code)| format!("{name} exited {code}")).collect();
    let why = task.stopped_reason.clone().unwrap_or_default();
    answer(HookStatus::Failed, Some(format!("{} (task {}) stopped: {why} {}", call.url, task.task_id, codes.join(", ")).trim_end().to_string()))
}

/// A service's deployment policy, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct LifecyclePolicy {
    pub policy: DeploymentPolicy,
    /// For each of the policy's hooks, the index of the `lifecycleHooks` entry it came from
    /// (hooks Berth cannot call are left out, and listed as unsupported).
    pub hooks: Vec<usize>,
}

/// The policy of the spec's deployments. `minute`: seconds in a minute (60; fewer under a
/// test knob).
pub fn policy(spec: &ServiceSpec, minute: u64) -> Result<LifecyclePolicy, Problem> {
    let invalid = |e: strategy::InvalidField| Problem::new("InvalidParameterException", e.to_string());
    let mut config = spec.deployment_configuration.clone().unwrap_or_default();
    config.strategy = Some(strategy_of(spec));
    // CodeDeploy's blue/green bakes for its own termination wait, not read here: none.
    if config.strategy == Some(DeploymentStrategy::BlueGreen) && config.bake_time_in_minutes.is_none()
        && spec.deployment_controller.as_ref().is_some_and(|c| c.type_ == DeploymentControllerType::CodeDeploy) {
        config.bake_time_in_minutes = Some(0);
    }
    let (mut hooks, mut indexes) = (vec![], vec![]);
    for (index, hook) in config.lifecycle_hooks.iter().flatten().enumerate() {
        let target = match hook.target_type {
            Some(HookTargetType::Pause) => HookTarget::Pause,
            _ if callable(hook.hook_target_arn.as_deref()) => HookTarget::Invoke,
            _ => continue,
        };
        let timeout = hook.timeout_configuration.as_ref();
        let minutes = timeout.and_then(|t| t.timeout_in_minutes).map(|m| u32::try_from(m).unwrap_or(0));
        hooks.push(HookSpec::new(target, hook.lifecycle_stages.as_deref().unwrap_or_default(), minutes, timeout.and_then(|t| t.action)).map_err(invalid)?);
        indexes.push(index);
    }
    let policy = DeploymentPolicy::from_config(&config, hooks).map_err(invalid)?;
    Ok(LifecyclePolicy { policy: policy.with_minute(minute), hooks: indexes })
}

/// The deployment production ran before green: the older deployment with the most tasks.
#[derive(Clone, Debug, PartialEq)]
pub struct Blue {
    pub id: String,
    pub label: String,
    pub task_definition: String,
}

/// What one step of a lifecycle reads.
pub struct LifecycleInput<'a> {
    pub spec: &'a ServiceSpec,
    pub namespace: &'a str,
    pub name: &'a str,
    pub annotations: &'a BTreeMap<String, String>,
    /// `status.serviceDeployments` as the last pass wrote it.
    pub history: &'a [ServiceDeploymentRecord],
    pub green_id: &'a str,
    pub green_task_definition: String,
    pub blue: Option<Blue>,
    pub green_tasks: DeploymentTasks,
    pub blue_tasks: DeploymentTasks,
    pub desired: u32,
    /// Alarms (Prometheus alerts) firing now.
    pub firing_alarms: &'a [String],
    /// How a new deployment's production weights are made.
    pub traffic_shift: TrafficShift,
    pub now: i64,
}

/// One HTTP hook to call now.
#[derive(Clone, Debug, PartialEq)]
pub struct HookCall {
    /// The deployment (label value) that calls it.
    pub deployment: String,
    /// Index into `lifecycleHooks`.
    pub hook: u32,
    pub invocation: u32,
    pub url: String,
    /// ECS's Lambda payload.
    pub payload: serde_json::Value,
}

/// A lifecycle's step: the counts and traffic it wants, and what to report.
#[derive(Clone, Debug, PartialEq)]
pub struct Lifecycle {
    pub record: ServiceDeploymentRecord,
    pub blue: Option<Blue>,
    pub green_target: u32,
    pub blue_target: u32,
    /// Green's share of production, percent.
    pub production_weight: f64,
    pub test_on_green: bool,
    pub calls: Vec<HookCall>,
    pub events: Vec<Event>,
    /// Look again at this time (unix seconds) at the latest.
    pub next_check: Option<i64>,
}

/// One step of the spec deployment's lifecycle, if one applies: it has a record that is
/// not final, or it just replaced a deployment that has tasks (a new deployment). None:
/// the pass is a plain one (ROLLING, or no deployment of the family under way).
pub fn decide(input: &LifecycleInput, checked: &LifecyclePolicy) -> Option<Lifecycle> {
    let strategy = strategy_of(input.spec);
    if strategy == DeploymentStrategy::Rolling {
        return None;
    }
    let (policy, hook_indexes) = (&checked.policy, &checked.hooks);
    let now = input.now.max(0) as u64;
    let record = match input.history.iter().find(|r| r.service_deployment_id == input.green_id) {
        Some(record) if record.lifecycle.status.is_final() => return None,
        Some(record) => record.clone(),
        None => {
            let Some(blue) = &input.blue else { return None };
            let several_active = input.history.iter().any(|r| !r.lifecycle.status.is_final());
            ServiceDeploymentRecord {
                service_deployment_id: input.green_id.to_string(),
                strategy,
                source_task_definition: Some(blue.task_definition.clone()),
                target_task_definition: input.green_task_definition.clone(),
                traffic_shift: input.traffic_shift,
                created_at: conditions::time(input.now),
                finished_at: None,
                status_reason: None,
                awaiting_action: None,
                lifecycle: DeploymentState::start(now, input.firing_alarms, several_active),
                target_tasks: RevisionTasks::default(),
                source_tasks: None,
                hook_results: vec![],
            }
        }
    };
    let observation = Observation {
        desired: input.desired,
        green: input.green_tasks,
        blue: input.blue_tasks,
        hook_results: record.hook_results.iter().filter_map(|r| {
            let succeeded = match r.status {
                HookStatus::Succeeded => true,
                HookStatus::Failed => false,
                HookStatus::InProgress => return None,
            };
            Some(HookResult { invocation: r.invocation, hook: hook_indexes.iter().position(|i| *i == r.hook as usize)?, succeeded })
        }).collect(),
        continue_request: continue_request(input.annotations, &record.lifecycle),
        firing_alarms: input.firing_alarms.to_vec(),
        stop_requested: input.annotations.get(STOP_DEPLOYMENT).is_some_and(|id| id.trim() == input.green_id),
    };
    let mut lifecycle = Lifecycle {
        record,
        blue: input.blue.clone(),
        green_target: 0,
        blue_target: 0,
        production_weight: 0.0,
        test_on_green: false,
        calls: vec![],
        events: vec![],
        next_check: None,
    };
    let (name, id) = (input.name, input.green_id);
    let mut observation = observation;
    for _ in 0..STEPS_PER_PASS {
        let before = lifecycle.record.lifecycle.clone();
        let step = strategy::advance(policy, &before, &observation, now);
        // The continue request is recorded by the step that sees it; it is not repeated.
        observation.continue_request = None;
        for action in &step.actions {
            if let Action::Emit { event, reason } = action {
                let warning = *event == DeploymentEvent::ServiceDeploymentFailed;
                let message = format!("(service {name}) (deployment {id}) {reason}.");
                lifecycle.events.push(Event { warning, reason: crate::api::wire_name(event), message });
            }
        }
        let state = &step.state;
        if state.stage != before.stage || state.step != before.step || state.shift_phase != before.shift_phase {
            let weight = if state.stage == Stage::ProductionTrafficShift { format!(", production traffic on the new revision {}%", state.production_weight) } else { String::new() };
            lifecycle.events.push(Event::normal("ServiceDeploymentLifecycleStage",
                format!("(service {name}) (deployment {id}) entered {}{weight}.", crate::api::wire_name(&state.stage))));
        }
        if let Some(wait) = state.hooks.as_ref().filter(|w| before.hooks.as_ref().is_none_or(|b| b.invocation != w.invocation))
            && policy.pauses_at(wait.stage)
        {
            let hook_id = pause_hook_id(wait.invocation);
            lifecycle.events.push(Event::normal("HOOK_AWAITING_ACTION", format!(
                "(service {name}) (deployment {id}) hook {hook_id} at {} awaits action: annotate the Service {CONTINUE_DEPLOYMENT}={hook_id} (or ={hook_id}=ROLLBACK).",
                crate::api::wire_name(&wait.stage))));
        }
        lifecycle.record.lifecycle = step.state.clone();
        lifecycle.next_check = step.next_check.map(|t| t as i64);
        if step.state == before || step.next_check != Some(now) || step.state.status.is_final() {
            break;
        }
    }
    let state = &lifecycle.record.lifecycle;
    lifecycle.record.awaiting_action = state.hooks.as_ref()
        .filter(|wait| policy.pauses_at(wait.stage))
        .map(|wait| pause_hook_id(wait.invocation));
    if state.status.is_final() && lifecycle.record.finished_at.is_none() {
        lifecycle.record.finished_at = Some(conditions::time(input.now));
        lifecycle.record.status_reason = match &state.rollback {
            Some(rollback) => Some(format!("(service {name}) (deployment {id}) rolled back: {}.", rollback.reason)),
            None => lifecycle.events.iter().rev().find(|e| e.reason != "ServiceDeploymentLifecycleStage").map(|e| e.message.clone()),
        };
    }
    let rolled_back = state.rollback.as_ref().is_some_and(|r| r.traffic_restored);
    let green_started = !matches!(state.stage, Stage::ReconcileService | Stage::PreScaleUp);
    lifecycle.green_target = if rolled_back || !green_started { 0 } else { input.desired };
    let blue_gone = state.rollback.is_none() && (state.stage == Stage::CleanUp || state.status == DeploymentStatus::Successful);
    lifecycle.blue_target = if blue_gone { 0 } else { input.desired };
    let counts = |requested: u32, tasks: DeploymentTasks| RevisionTasks { requested, running: tasks.running, pending: tasks.pending };
    lifecycle.record.target_tasks = counts(lifecycle.green_target, input.green_tasks);
    lifecycle.record.source_tasks = lifecycle.blue.as_ref().map(|_| counts(lifecycle.blue_target, input.blue_tasks));
    lifecycle.production_weight = state.production_weight;
    lifecycle.test_on_green = state.test_traffic_on_green;
    lifecycle.calls = hook_calls(input, policy, hook_indexes, &lifecycle.record, now);
    let next_calls = lifecycle.record.hook_results.iter().filter(|r| r.status == HookStatus::InProgress).filter_map(|r| r.next_call_at);
    let alarm_poll = (policy.alarms.is_some() && !lifecycle.record.lifecycle.status.is_final()).then_some(input.now + ALARM_POLL_SECONDS);
    for at in next_calls.map(|at| at as i64).chain(alarm_poll) {
        lifecycle.next_check = Some(lifecycle.next_check.map_or(at, |t| t.min(at)));
    }
    Some(lifecycle)
}

/// The annotation's `ContinueServiceDeployment` for the PAUSE hooks awaiting action now.
fn continue_request(annotations: &BTreeMap<String, String>, state: &DeploymentState) -> Option<HookTimeoutAction> {
    let wait = state.hooks.as_ref()?;
    let value = annotations.get(CONTINUE_DEPLOYMENT)?;
    let (hook_id, action) = value.trim().split_once('=').unwrap_or((value.trim(), "CONTINUE"));
    if hook_id != pause_hook_id(wait.invocation) {
        return None;
    }
    match action {
        "ROLLBACK" => Some(HookTimeoutAction::Rollback),
        _ => Some(HookTimeoutAction::Continue),
    }
}

/// The HTTP hooks of the stage awaited that have no answer yet, or asked to be called again by now.
fn hook_calls(input: &LifecycleInput, policy: &DeploymentPolicy, indexes: &[usize], record: &ServiceDeploymentRecord, now: u64) -> Vec<HookCall> {
    let Some(wait) = &record.lifecycle.hooks else { return vec![] };
    let hooks = input.spec.deployment_configuration.as_ref().and_then(|c| c.lifecycle_hooks.as_deref()).unwrap_or_default();
    let arns = Arns { cluster: input.namespace.to_string() };
    let state = &record.lifecycle;
    let green_arn = arns.task_definition(&record.target_task_definition);
    let blue_arn = record.source_task_definition.as_deref().map(|td| arns.task_definition(td)).unwrap_or_default();
    let weights = |green: f64| json!({ green_arn.clone(): green, blue_arn.clone(): 100.0 - green });
    policy.hooks.iter().zip(indexes).filter(|(h, _)| h.target == HookTarget::Invoke && h.stages.contains(&wait.stage)).filter_map(|(_, index)| {
        let spec = hooks.get(*index)?;
        let earlier = record.hook_results.iter().find(|r| r.hook as usize == *index && r.invocation == wait.invocation);
        let due = match earlier {
            None => true,
            Some(r) => r.status == HookStatus::InProgress && r.next_call_at.is_none_or(|at| at <= now),
        };
        due.then(|| HookCall {
            deployment: Deployment::from_id(&record.service_deployment_id).label,
            hook: *index as u32,
            invocation: wait.invocation,
            url: spec.hook_target_arn.clone().unwrap_or_default(),
            payload: json!({
                "executionDetails": {
                    "serviceArn": arns.service(input.name),
                    "targetServiceRevisionArn": green_arn,
                    "serviceDeploymentId": record.service_deployment_id,
                    "lifecycleStage": crate::api::wire_name(&wait.stage),
                    "testTrafficWeights": weights(if state.test_traffic_on_green { 100.0 } else { 0.0 }),
                    "productionTrafficWeights": weights(state.production_weight),
                },
                "hookDetails": earlier.and_then(|r| r.hook_details.clone()).or_else(|| spec.hook_details.clone()),
            }),
        })
    }).collect()
}

/// Reads a hook's HTTP reply as ECS reads a Lambda's: `{hookStatus, callBackDelay, hookDetails}`.
/// Anything else (no reply, an error status, a missing or unknown hookStatus) fails the hook.
pub fn hook_answer(call: &HookCall, reply: Result<(u16, String), String>, now: i64) -> HookInvocation {
    let failed = |reason: String| HookInvocation {
        hook: call.hook, invocation: call.invocation, status: HookStatus::Failed, reason: Some(reason), next_call_at: None, hook_details: None,
    };
    let (code, body) = match reply {
        Ok(reply) => reply,
        Err(e) => return failed(format!("{} could not be called: {e}", call.url)),
    };
    if !(200..300).contains(&code) {
        return failed(format!("{} answered HTTP {code}", call.url));
    }
    let Ok(answer) = serde_json::from_str::<serde_json::Value>(&body) else {
        return failed(format!("{} answered no JSON", call.url));
    };
    let status = match answer.get("hookStatus").and_then(|s| s.as_str()) {
        Some("SUCCEEDED") => HookStatus::Succeeded,
        Some("FAILED") => HookStatus::Failed,
        Some("IN_PROGRESS") => HookStatus::InProgress,
        other => return failed(format!("{} answered hookStatus {other:?}, not SUCCEEDED, FAILED or IN_PROGRESS", call.url)),
    };
    let delay = answer.get("callBackDelay").and_then(|d| d.as_u64()).unwrap_or(DEFAULT_CALL_BACK_SECONDS);
    HookInvocation {
        hook: call.hook,
        invocation: call.invocation,
        status,
        reason: (status == HookStatus::Failed).then(|| format!("{} answered FAILED", call.url)),
        next_call_at: (status == HookStatus::InProgress).then(|| now.max(0) as u64 + delay),
        hook_details: answer.get("hookDetails").cloned(),
    }
}

/// The names of the firing alerts in a Prometheus `/api/v1/alerts` answer (an alert pending
/// its `for` is not firing, as an alarm in INSUFFICIENT_DATA or OK is not in ALARM).
pub fn firing_alert_names(body: &str) -> Result<Vec<String>, String> {
    let answer: serde_json::Value = serde_json::from_str(body).map_err(|e| format!("not Prometheus's alerts JSON: {e}"))?;
    let alerts = answer["data"]["alerts"].as_array().ok_or("no data.alerts in Prometheus's answer")?;
    let mut names: Vec<String> = alerts.iter().filter(|a| a["state"] == "firing")
        .filter_map(|a| a["labels"]["alertname"].as_str().map(str::to_string)).collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// The record with the hooks' answers, each replacing the earlier answer of its invocation.
pub fn with_answers(mut record: ServiceDeploymentRecord, answers: Vec<HookInvocation>) -> ServiceDeploymentRecord {
    for answer in answers {
        record.hook_results.retain(|r| (r.hook, r.invocation) != (answer.hook, answer.invocation));
        record.hook_results.push(answer);
    }
    record
}

/// `status.serviceDeployments` after this pass: `current` first; any other deployment not
/// yet final was superseded by it.
pub fn history(previous: &[ServiceDeploymentRecord], current: Option<&ServiceDeploymentRecord>, now: i64) -> Option<Vec<ServiceDeploymentRecord>> {
    let mut list: Vec<ServiceDeploymentRecord> = current.into_iter().cloned().collect();
    for record in previous.iter().filter(|r| current.is_none_or(|c| c.service_deployment_id != r.service_deployment_id)) {
        let mut record = record.clone();
        if !record.lifecycle.status.is_final() && current.is_some() {
            record.lifecycle.status = DeploymentStatus::Stopped;
            record.lifecycle.hooks = None;
            record.finished_at = Some(conditions::time(now));
            record.status_reason = current.map(|c| format!("superseded by deployment {}", c.service_deployment_id));
        }
        list.push(record);
    }
    list.truncate(HISTORY);
    (!list.is_empty()).then_some(list)
}

/// Which tasks carry production traffic for green's `weight` (percent).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Serving {
    /// Tasks to label `berth.dev/traffic=serve` before the Services change.
    pub enlist: Vec<String>,
    /// Tasks to hold out of production (`berth.dev/traffic=hold`) after the Services changed.
    pub delist: Vec<String>,
    /// The deployment label the production Services select, when one deployment has it all.
    pub production: Option<String>,
}

/// One task as the traffic split sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct ServingTask {
    pub name: String,
    pub serving: bool,
    pub ready: bool,
}

/// The tasks of each deployment that carry production: all of one deployment at 0 % or
/// 100 %, else the counts of ready tasks closest to the share of `desired` (at least one
/// each), preferring tasks already serving, then ready ones.
pub fn serving(weight: f64, desired: u32, green: &[ServingTask], blue: &[ServingTask], green_label: &str, blue_label: &str) -> Serving {
    let desired = desired.max(1) as usize;
    let (green_count, blue_count, production) = if weight >= 100.0 {
        (green.len(), 0, Some(green_label.to_string()))
    } else if weight <= 0.0 {
        (0, blue.len(), Some(blue_label.to_string()))
    } else {
        let green_count = ((weight / 100.0 * desired as f64).round() as usize).clamp(1, desired.saturating_sub(1).max(1));
        (green_count, desired.saturating_sub(green_count).max(1), None)
    };
    let mut serving = Serving { production, ..Serving::default() };
    for (tasks, count) in [(green, green_count), (blue, blue_count)] {
        let mut ranked: Vec<&ServingTask> = tasks.iter().collect();
        ranked.sort_by_key(|t| (!(t.serving && t.ready), !t.ready, t.name.clone()));
        for (rank, task) in ranked.iter().enumerate() {
            let chosen = rank < count;
            if chosen && !task.serving {
                serving.enlist.push(task.name.clone());
            } else if !chosen && task.serving {
                serving.delist.push(task.name.clone());
            }
        }
    }
    serving
}

#[cfg(test)]
mod tests;
