//! The TaskSchedule controller (EventBridge Scheduler with an ECS RunTask target): observe the
//! schedule's TaskRuns, validate the RunTask its target would make, let the pure planner
//! (`ecs::schedule::plan`) decide, create the due TaskRuns and trim the finished ones, write
//! the status and events it computed, and come back when the next time is due.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, DeleteParams, PostParams, PropagationPolicy};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use super::error::Result;
use super::{Context, MANAGER, revisions};
use crate::api::{TaskRun, TaskRunSpec, TaskSchedule};
use crate::ecs::capacity::launch;
use crate::ecs::plan::Problem;
use crate::ecs::render::names::label_value;
use crate::ecs::schedule::plan::{self as planner, Clock, Invocation, Invoked, OwnedRun, ScheduleInput};
use crate::ecs::schedule::target;
use crate::ecs::task::labels;

/// A pass waiting for a time further off still comes back this often, so a changed clock or
/// a lost wake-up costs at most this much.
const LONGEST_WAIT: Duration = Duration::from_secs(3600);

#[tracing::instrument(skip_all, fields(namespace = schedule.namespace().unwrap_or_default(), task_schedule = schedule.name_any()))]
pub async fn reconcile(schedule: Arc<TaskSchedule>, ctx: Arc<Context>) -> Result<Action> {
    if !ctx.synced() {
        return Ok(Action::requeue(Duration::from_millis(500)));
    }
    let _timer = ctx.health.metrics.reconcile("taskschedule");
    // The one reading of the clock in this pass.
    let now_ms = k8s_openapi::jiff::Timestamp::now().as_millisecond();
    let ns = schedule.namespace().unwrap_or_default();
    let runs = owned_runs(&ctx, &schedule);
    let (run_spec, problem) = match validate(&ctx, &schedule, &ns) {
        Ok(spec) => (Some(spec), None),
        Err(problem) => (None, Some(problem)),
    };
    let unsupported: Vec<String> = crate::ecs::unsupported::task_schedule_unsupported_fields(&schedule.spec, &ns)
        .iter().map(|u| format!("{}: {}", u.field, u.reason)).collect();
    let created_ms = schedule.metadata.creation_timestamp.as_ref().map_or(now_ms, |t| t.0.as_millisecond());
    let input = ScheduleInput {
        schedule: &schedule,
        runs: &runs,
        problem,
        unsupported: &unsupported,
        clock: Clock { origin_ms: created_ms, scale: ctx.config.schedule_time_scale },
        now_ms,
    };
    let plan = planner::plan(&input);

    // Act: the history first (a failure there delays nothing), then the due runs in order.
    let api: Api<TaskRun> = Api::namespaced(ctx.client.clone(), &ns);
    for name in &plan.trims {
        match api.delete(name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.is_not_found() => {}
            Err(e) => tracing::warn!(task_run = name, "trimming the schedule's history: {e}"),
        }
    }
    let mut invoked = Invoked::default();
    if let Some(spec) = &run_spec {
        let params = PostParams { field_manager: Some(MANAGER.into()), ..Default::default() };
        for start in &plan.starts {
            match api.create(&params, &task_run(&schedule, spec.clone(), start)).await {
                Ok(_) => invoked.started += 1,
                // Made by a pass whose status write was lost: this time has its run.
                Err(kube::Error::Api(status)) if status.is_already_exists() => invoked.started += 1,
                Err(e) => {
                    invoked.refused = Some(e.to_string());
                    break;
                }
            }
        }
    }

    // Status and events, as the planner computed them.
    let outcome = plan.outcome(&input, &invoked);
    ctx.publish_all(schedule.as_ref(), &outcome.events);
    if schedule.status.as_ref() != Some(&outcome.status) {
        super::apply_status(&ctx.client, schedule.as_ref(), &outcome.status).await?;
    }
    if outcome.delete_schedule {
        // EventBridge Scheduler deletes a completed schedule; the tasks it started stay.
        let schedules: Api<TaskSchedule> = Api::namespaced(ctx.client.clone(), &ns);
        let orphan = DeleteParams { propagation_policy: Some(PropagationPolicy::Orphan), ..Default::default() };
        schedules.delete(&schedule.name_any(), &orphan).await?;
        return Ok(Action::await_change());
    }
    Ok(match outcome.wake_at_ms {
        Some(wake) => Action::requeue(Duration::from_millis(wake.saturating_sub(now_ms).max(0) as u64).min(LONGEST_WAIT)),
        None => Action::await_change(),
    })
}

/// The RunTask each invocation makes, or why it cannot be made, naming the field: the
/// target's input, its task definition, its launch type or capacity providers.
fn validate(ctx: &Context, schedule: &TaskSchedule, ns: &str) -> std::result::Result<TaskRunSpec, Problem> {
    let name = schedule.name_any();
    let spec = target::task_run_spec(&schedule.spec.target).map_err(|why| Problem::new("InvalidTarget", format!("(schedule {name}) {why}")))?;
    let resolved = revisions::resolve(ctx, ns, &spec.task_definition).map_err(|why| {
        Problem::new("TaskDefinitionUnavailable", format!("(schedule {name}) target.ecsParameters.taskDefinitionArn: cannot run task definition {}: {why}", spec.task_definition))
    })?;
    launch::resolve(&spec.placement, &resolved.spec, false, |p| ctx.capacity_provider(p)).map_err(|e| {
        Problem::new(e.reason(), format!("(schedule {name}) target.ecsParameters: cannot run task definition {}: {e}", resolved.reference()))
    })?;
    Ok(spec)
}

/// The schedule's TaskRuns (controlled by it) with the times they were scheduled for.
fn owned_runs(ctx: &Context, schedule: &TaskSchedule) -> Vec<OwnedRun> {
    let uid = schedule.metadata.uid.as_deref();
    ctx.task_runs.state().iter()
        .filter(|run| run.namespace() == schedule.namespace() && run.owner_references().iter().any(|o| o.controller == Some(true) && Some(o.uid.as_str()) == uid))
        .filter_map(|run| {
            let scheduled = run.annotations().get(labels::SCHEDULED_TIME)?.parse::<k8s_openapi::jiff::Timestamp>().ok()?.as_second();
            Some(OwnedRun { name: run.name_any(), scheduled, outcome: planner::run_outcome(run) })
        })
        .collect()
}

/// The TaskRun of one invocation: owned by the schedule (gone with it), labelled with it, and
/// annotated with the time it was scheduled for.
fn task_run(schedule: &TaskSchedule, spec: TaskRunSpec, start: &Invocation) -> TaskRun {
    let mut run = TaskRun::new(&start.task_run, spec);
    run.metadata.namespace = schedule.namespace();
    run.metadata.labels = Some(BTreeMap::from([
        (labels::MANAGED_BY.to_string(), labels::MANAGED_BY_VALUE.to_string()),
        (labels::TASK_SCHEDULE.to_string(), label_value(&schedule.name_any())),
    ]));
    let scheduled = k8s_openapi::jiff::Timestamp::from_second(start.scheduled).unwrap_or_default();
    run.metadata.annotations = Some(BTreeMap::from([(labels::SCHEDULED_TIME.to_string(), scheduled.to_string())]));
    run.metadata.owner_references = schedule.controller_owner_ref(&()).map(|owner| vec![owner]);
    run
}
