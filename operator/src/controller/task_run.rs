//! The TaskRun controller (ECS RunTask): observe the run's tasks, validate
//! the tasks it would start, let the pure planner (`ecs::plan::task_run`)
//! decide, act, and write the status and events it computed.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use super::error::{Error, Result};
use super::observe::{self, Observed};
use super::task_cache::OwnerLabel;
use super::{Context, pods, revisions, scheduling, task_roles};
use crate::api::{CapacityProviderSpec, TaskRun};
use crate::ecs::capacity::launch::{self, Launch};
use crate::ecs::placement::Resources;
use crate::ecs::plan::task_run::{self as planner, TaskRunInput};
use crate::ecs::plan::{Launched, Problem};
use crate::ecs::render::names::label_value;
use crate::ecs::task::labels;
use crate::ecs::task::reference::Resolved;

#[tracing::instrument(skip_all, fields(namespace = run.namespace().unwrap_or_default(), task_run = run.name_any()))]
pub async fn reconcile(run: Arc<TaskRun>, ctx: Arc<Context>) -> Result<Action> {
    if !ctx.synced() {
        return Ok(Action::requeue(Duration::from_millis(500)));
    }
    let _timer = ctx.health.metrics.reconcile("taskrun");
    // The one reading of the clock in this pass.
    let now = k8s_openapi::jiff::Timestamp::now().as_second();
    let ns = run.namespace().unwrap_or_default();
    let name = run.name_any();
    let owner = format!("taskrun/{ns}/{name}");
    let Observed { tasks, .. } = observe::observe(&ctx, &ns, OwnerLabel::TaskRun, &label_value(&name), &owner);

    // Validate what the run would start (once started, nothing is started again).
    let starting = run.status.as_ref().is_none_or(|s| s.tasks.is_none());
    let mut problem = None;
    let mut ready: Option<(Resolved, Option<Launch>)> = None;
    if starting {
        match revisions::resolve(&ctx, &ns, &run.spec.task_definition) {
            Err(why) => problem = Some(Problem::new("TaskDefinitionUnavailable", format!("(task run {name}) cannot run task definition {}: {why}", run.spec.task_definition))),
            Ok(resolved) => match launch::resolve(&run.spec.placement, &resolved.spec, false, |p| ctx.capacity_provider(p)) {
                Err(e) => problem = Some(Problem::new(e.reason(), format!("(task run {name}) cannot run task definition {}: {e}", resolved.reference()))),
                Ok(launch) => {
                    let provider = launch.as_ref().and_then(|l| l.providers.iter().next()).map(|(n, p)| (n.as_str(), p));
                    let constraints = scheduling::constraints(&resolved.spec, run.spec.placement.placement_constraints.as_ref());
                    let berth_places = scheduling::strategies(run.spec.placement.placement_strategy.as_ref()).is_ok_and(|s| scheduling::berth_places(&s, &constraints));
                    match run_task(&run, &ctx, &resolved, 1, provider, None, berth_places) {
                        Err(e) => problem = Some(Problem::new(e.reason(), format!("(task run {name}) cannot run task definition {}: {e}", resolved.reference()))),
                        Ok(_) => ready = Some((resolved, launch)),
                    }
                }
            },
        }
    }

    // Plan.
    let unsupported: Vec<String> = crate::ecs::unsupported::task_run_unsupported_fields(&run.spec, &ns).iter().map(|u| format!("{}: {}", u.field, u.reason)).collect();
    let input = TaskRunInput {
        run: &run,
        tasks: &tasks,
        strategy: ready.as_ref().and_then(|(_, l)| l.as_ref()).map(|l| &l.strategy),
        problem,
        unsupported: &unsupported,
        now,
    };
    let plan = planner::plan(&input);

    // Act: stop the tasks whose essential container exited, create the new ones.
    let pods_api: Api<Pod> = Api::namespaced(ctx.tasks.clone(), &ns);
    let api = &pods_api;
    pods::concurrently(plan.stops.clone(), |(pod, stop)| async move { pods::stop_recorded(api, &pod, &stop).await }).await?;
    let launched = match &ready {
        Some((resolved, launch)) if !plan.starts.is_empty() => {
            // The overriding role's ServiceAccount first, or its tasks would be refused.
            let role = run.spec.overrides.as_ref().and_then(|o| o.task_role_arn.as_deref()).filter(|r| !r.is_empty());
            task_roles::reconcile(&ctx, run.as_ref(), role).await?;
            let provider = |name: &Option<String>| name.as_ref().and_then(|n| launch.as_ref()?.providers.get_key_value(n)).map(|(n, p)| (n.as_str(), p));
            let nodes = berth_placed_nodes(&run, &ctx, resolved, launch.as_ref(), plan.starts.len())?;
            let new_pods = plan.starts.iter().zip(nodes).map(|(s, node)| run_task(&run, &ctx, resolved, s.index, provider(&s.provider), node.as_deref(), node.is_some())).collect::<Result<Vec<Pod>>>();
            match new_pods {
                Ok(new_pods) => pods::create_in_batches(api, new_pods).await,
                Err(e) => Launched { refused: Some(e.to_string()), ..Default::default() },
            }
        }
        _ => Launched::default(),
    };
    ctx.health.metrics.tasks_started("taskrun", launched.created.len());

    // Status and events, as the planner computed them.
    let outcome = plan.outcome(&input, &launched);
    ctx.publish_all(run.as_ref(), &outcome.events);
    if run.status.as_ref() != Some(&outcome.status) {
        super::apply_status(&ctx.client, run.as_ref(), &outcome.status).await?;
    }
    match (launched.refused, &input.problem) {
        (Some(refusal), _) => Err(Error::LaunchRefused(refusal)),
        // A run waiting for its task definition or capacity provider is woken by their watches.
        (None, Some(_)) => Ok(Action::requeue(Duration::from_secs(60))),
        (None, None) => Ok(plan.look_again.map_or_else(Action::await_change, Action::requeue)),
    }
}

/// The nodes Berth chooses for the run's new tasks where kube-scheduler
/// cannot honour its strategies (binpack, random, strategies in order), one
/// at a time over its task group's tasks; `None` leaves a task to
/// kube-scheduler, which sees pods Berth does not count and may find it room.
fn berth_placed_nodes(run: &TaskRun, ctx: &Context, resolved: &Resolved, launch: Option<&Launch>, count: usize) -> Result<Vec<Option<String>>> {
    let strategies = scheduling::strategies(run.spec.placement.placement_strategy.as_ref())?;
    let constraints = scheduling::constraints(&resolved.spec, run.spec.placement.placement_constraints.as_ref());
    let providers = launch.map_or(0, |l| l.providers.len());
    if !scheduling::berth_places(&strategies, &constraints) || providers > 1 {
        return Ok(vec![None; count]);
    }
    let group = task_group(run, resolved);
    let sample = run_task(run, ctx, resolved, 1, None, None, true)?;
    let request = sample.spec.as_ref().map(Resources::requested_by).unwrap_or_default();
    let pool = launch.and_then(|l| l.providers.values().next());
    let mut placement = scheduling::placement(ctx, &group, &constraints, pool, request)?;
    placement.strategies = strategies;
    placement.seed = k8s_openapi::jiff::Timestamp::now().as_nanosecond() as u64;
    Ok(placement.place(&scheduling::group_tasks_by_node(ctx, &group), count))
}

fn task_group(run: &TaskRun, resolved: &Resolved) -> String {
    run.spec.group.clone().unwrap_or_else(|| format!("family:{}", resolved.family))
}

fn run_task(run: &TaskRun, ctx: &Context, resolved: &Resolved, index: i32, provider: Option<(&str, &CapacityProviderSpec)>, node: Option<&str>, pinned: bool) -> Result<Pod> {
    let name = run.name_any();
    let group = task_group(run, resolved);
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
    let strategies = scheduling::strategies(run.spec.placement.placement_strategy.as_ref())?;
    scheduling::apply(pod.spec.get_or_insert_with(Default::default), ctx, &group, &constraints, &strategies, pinned)?;
    if let Some(node) = node {
        scheduling::pin(&mut pod, node);
    }
    observe::place_on_provider(&mut pod, provider);
    Ok(pod)
}
