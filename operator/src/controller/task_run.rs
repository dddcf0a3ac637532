//! The TaskRun controller (ECS RunTask): starts `count` tasks once, never
//! replaces them, and reports each task's lastStatus, stop code and exit
//! codes until all have stopped.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};

use super::conditions::{self, Want};
use super::error::{Error, Result};
use super::revisions;
use crate::ecs::task::reference::Resolved;
use super::observe::{self, Task};
use super::{Context, pods, scheduling};
use crate::api::{CapacityProviderSpec, ContainerOutcome, TaskRun, TaskRunStatus, TaskSummary};
use crate::ecs::render::names::label_value;
use crate::ecs::task::labels;
use crate::ecs::task::lifecycle::{LastStatus, Stop, StopCode};

pub async fn reconcile(run: Arc<TaskRun>, ctx: Arc<Context>) -> Result<Action> {
    if !ctx.synced() {
        return Ok(Action::requeue(Duration::from_millis(500)));
    }
    let _timer = ctx.health.metrics.reconcile("taskrun");
    let ns = run.namespace().unwrap_or_default();
    let name = run.name_any();
    let old = run.status.clone().unwrap_or_default();
    let pods_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let owner = format!("taskrun/{ns}/{name}");

    // Start the tasks, once: after the first status write lists them, never again.
    if old.tasks.is_none() {
        let resolved = match revisions::resolve(&ctx, &ns, &run.spec.task_definition) {
            Ok(resolved) => resolved,
            Err(problem) => {
                let message = format!("cannot run task definition {}: {problem}", run.spec.task_definition);
                return refused(&run, &ctx, "TaskDefinitionUnavailable", message).await;
            }
        };
        let launch = match crate::ecs::capacity::launch::resolve(&run.spec.placement, &resolved.spec, false, |p| ctx.capacity_provider(p)) {
            Ok(launch) => launch,
            Err(e) => return refused(&run, &ctx, e.reason(), format!("cannot run task definition {}: {e}", resolved.reference())).await,
        };
        let count = run.spec.count.unwrap_or(1).clamp(1, 10);
        let providers = observe::new_task_providers(launch.as_ref(), std::iter::empty(), count as usize);
        let new_pods = (1..=count).zip(providers).map(|(i, provider)| run_task(&run, &ctx, &resolved, i, provider)).collect::<Result<Vec<_>>>()?;
        let existing: Vec<String> = ctx.pods.state().iter().filter(|p| p.namespace().as_deref() == Some(&ns)).map(|p| p.name_any()).collect();
        let missing: Vec<Pod> = new_pods.into_iter().filter(|p| !existing.contains(&p.name_any())).collect();
        let (created, error) = pods::create_in_batches(&pods_api, missing).await;
        if let Some(e) = error.filter(|e| !matches!(e, kube::Error::Api(s) if s.is_already_exists())) {
            ctx.publish(run.as_ref(), EventType::Warning, "TaskPlacementFailed", &format!("unable to start tasks of {name}: {e}")).await;
            return Err(e.into());
        }
        ctx.health.metrics.tasks_started("taskrun", created.len());
        if !created.is_empty() {
            ctx.publish(run.as_ref(), EventType::Normal, "TasksStarted", &format!("(task run {name}) has started {} tasks.", created.len())).await;
        }
    }

    let observed = observe::observe(&ctx, &ns, labels::TASK_RUN, &label_value(&name), &owner);
    // A standalone task ends when an essential container exits (§1.7); health never stops it.
    let stops: Vec<(String, Stop)> = observed.needing_stop().map(|t| (t.pod.name_any(), t.state.stop.clone().expect("needing_stop has a stop"))).collect();
    let api = &pods_api;
    pods::concurrently(stops, |(pod, stop)| async move { pods::stop(api, &pod, &stop).await }).await?;
    let summaries = summarise(&observed.tasks, old.tasks.as_deref().unwrap_or_default());
    let status = compute_status(&run, &old, summaries);
    if run.status.as_ref() != Some(&status) {
        let done = |s: &TaskRunStatus| s.conditions.iter().flatten().any(|c| c.type_ == "Ready" && c.status == "True");
        if done(&status) && !done(&old) {
            ctx.publish(run.as_ref(), EventType::Normal, "TasksCompleted", &format!("(task run {name}) all tasks stopped.")).await;
        }
        super::apply_status(&ctx.client, run.as_ref(), &status).await?;
    }
    Ok(Action::await_change())
}

fn run_task(run: &TaskRun, ctx: &Context, resolved: &Resolved, index: i32, provider: Option<(&str, &CapacityProviderSpec)>) -> Result<Pod> {
    let name = run.name_any();
    let group = run.spec.group.clone().unwrap_or_else(|| format!("family:{}", resolved.family));
    let mut annotations = BTreeMap::from([(labels::GROUP.to_string(), group.clone())]);
    if let Some(started_by) = &run.spec.started_by {
        annotations.insert(labels::STARTED_BY.to_string(), started_by.clone());
    }
    let mut pod = observe::render(resolved, observe::NewTask {
        namespace: run.namespace().unwrap_or_default(),
        name_prefix: &name,
        name_suffix: Some(index.to_string()),
        owner: run.controller_owner_ref(&()).expect("task runs have uids"),
        labels: BTreeMap::from([
            (labels::TASK_RUN.to_string(), label_value(&name)),
            (labels::TASK_GROUP.to_string(), label_value(&group)),
        ]),
        annotations,
        overrides: run.spec.overrides.as_ref(),
    })?;
    // RunTask places randomly unless told otherwise: no default spread.
    let constraints = scheduling::constraints(&resolved.spec, run.spec.placement.placement_constraints.as_ref());
    scheduling::apply(pod.spec.get_or_insert_with(Default::default), ctx, &group, &constraints, run.spec.placement.placement_strategy.as_ref(), false)?;
    observe::place_on_provider(&mut pod, provider);
    Ok(pod)
}

/// One summary per task: from its pod while the pod exists, else the last
/// one recorded (a task whose pod vanished unrecorded was stopped by a user).
fn summarise(tasks: &[Task], previous: &[TaskSummary]) -> Vec<TaskSummary> {
    let mut summaries: Vec<TaskSummary> = tasks
        .iter()
        .map(|t| {
            let stopped = t.state.is_stopped();
            TaskSummary {
                task_id: t.label(labels::TASK_ID).unwrap_or_default().to_string(),
                pod_name: Some(t.pod.name_any()),
                last_status: Some(t.state.last_status),
                stop_code: t.state.stop.as_ref().filter(|_| stopped).map(|s| s.code),
                stopped_reason: t.state.stop.as_ref().filter(|_| stopped).map(|s| s.reason.clone()),
                stopped_at: None,
                containers: Some(t.state.containers.iter().map(|c| ContainerOutcome { name: c.name.clone(), exit_code: c.exit_code, reason: c.reason.clone() }).collect()),
            }
        })
        .collect();
    for old in previous {
        if !summaries.iter().any(|s| s.task_id == old.task_id) {
            let mut gone = old.clone();
            if gone.last_status != Some(LastStatus::Stopped) {
                gone.last_status = Some(LastStatus::Stopped);
                gone.stop_code = Some(StopCode::UserInitiated);
                gone.stopped_reason = Some("Task stopped by user".into());
            }
            summaries.push(gone);
        }
    }
    summaries.sort_by(|a, b| a.pod_name.cmp(&b.pod_name));
    summaries
}

fn compute_status(run: &TaskRun, old: &TaskRunStatus, tasks: Vec<TaskSummary>) -> TaskRunStatus {
    let count = |s: LastStatus| tasks.iter().filter(|t| t.last_status == Some(s)).count() as i32;
    let (running, stopped) = (count(LastStatus::Running), count(LastStatus::Stopped));
    let pending = tasks.len() as i32 - running - stopped;
    let all_stopped = !tasks.is_empty() && stopped == tasks.len() as i32;
    let failed = tasks.iter().filter(|t| {
        t.stop_code == Some(StopCode::TaskFailedToStart) || t.containers.iter().flatten().any(|c| c.exit_code.is_some_and(|code| code != 0))
    }).count();
    let wanted = vec![
        Want {
            type_: "Ready",
            status: all_stopped,
            reason: if all_stopped { "TasksCompleted" } else { "TasksRunning" },
            message: format!("{stopped} of {} tasks stopped", tasks.len()),
        },
        Want {
            type_: "Progressing",
            status: !all_stopped,
            reason: if all_stopped { "TasksCompleted" } else { "TasksRunning" },
            message: format!("{pending} pending, {running} running"),
        },
        Want {
            type_: "Degraded",
            status: failed > 0,
            reason: if failed > 0 { "TasksFailed" } else { "AsExpected" },
            message: if failed > 0 { format!("{failed} tasks failed to start or exited non-zero") } else { String::new() },
        },
    ];
    TaskRunStatus {
        observed_generation: run.metadata.generation,
        running_count: Some(running),
        pending_count: Some(pending),
        stopped_count: Some(stopped),
        tasks: Some(tasks),
        conditions: Some(conditions::merge(old.conditions.as_deref().unwrap_or_default(), wanted, run.metadata.generation, &conditions::now())),
        unsupported_fields: old.unsupported_fields.clone(),
    }
}

/// The tasks cannot start (no such task definition, no such capacity
/// provider, or one the task definition does not suit): say why.
async fn refused(run: &TaskRun, ctx: &Context, reason: &str, message: String) -> Result<Action> {
    let old = run.status.clone().unwrap_or_default();
    let wanted = vec![
        Want { type_: "Ready", status: false, reason, message: message.clone() },
        Want { type_: "Degraded", status: true, reason, message: message.clone() },
    ];
    let status = TaskRunStatus {
        observed_generation: run.metadata.generation,
        conditions: Some(conditions::merge(old.conditions.as_deref().unwrap_or_default(), wanted, run.metadata.generation, &conditions::now())),
        ..old.clone()
    };
    if run.status.as_ref() != Some(&status) {
        ctx.publish(run, EventType::Warning, reason, &message).await;
        super::apply_status(&ctx.client, run, &status).await?;
    }
    Ok(Action::requeue(Duration::from_secs(60)))
}

pub fn error_policy(_run: Arc<TaskRun>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.health.metrics.failed("taskrun", error.reason());
    tracing::warn!(reason = error.reason(), "task run reconcile failed: {error}");
    Action::requeue(Duration::from_secs(5))
}
