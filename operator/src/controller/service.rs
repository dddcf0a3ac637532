//! The Service controller: observe the service's task pods, let the pure
//! scheduler plan, act on the plan, write status and ECS-worded events.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};

use super::conditions::{self, Want};
use super::error::{Error, Result};
use super::revisions;
use super::observe::{self, Observed, Task};
use super::{Context, deployments, kube_services, pods, scheduling, unplaced};
use crate::api::{
    CapacityProviderSpec, DeploymentStatus, PlacementStrategyType, RolloutState, SchedulingStrategy, Service, ServiceDeployment, ServiceSpec, ServiceStatus, TaskStopCode,
};
use crate::ecs::capacity::{self, CapacityStrategy};
use crate::ecs::rollout::{self, CircuitBreakerState, DeploymentTasks, TaskEvent, TaskHealth};
use crate::ecs::scheduler::{TaskView, backoff, daemon, replica};
use crate::ecs::render::names::label_value;
use crate::ecs::task::labels;
use crate::ecs::task::lifecycle::{LastStatus, Stop, StopCode};

pub async fn reconcile(service: Arc<Service>, ctx: Arc<Context>) -> Result<Action> {
    if !ctx.synced() {
        return Ok(Action::requeue(Duration::from_millis(500)));
    }
    let _timer = ctx.health.metrics.reconcile("service");
    let service = ctx.written.latest(service);
    let ns = service.namespace().unwrap_or_default();
    let name = service.name_any();
    let spec_revision = match revisions::resolve(&ctx, &ns, &service.spec.task_definition) {
        Ok(resolved) => resolved,
        Err(problem) => {
            let message = format!("(service {name}) cannot use task definition {}: {problem}", service.spec.task_definition);
            return blocked(&service, &ctx, "TaskDefinitionUnavailable", message).await;
        }
    };
    let previous = service.status.as_ref().and_then(|s| s.deployments.clone()).unwrap_or_default();
    let primary = deployments::primary(&ctx, &ns, &service.spec, spec_revision, &previous);
    let daemon = service.spec.scheduling_strategy == Some(SchedulingStrategy::Daemon);
    let launch = match capacity::launch::resolve(&service.spec.placement, &primary.resolved.spec, daemon, |p| ctx.capacity_provider(p)) {
        Ok(launch) => launch,
        Err(e) => {
            let message = format!("(service {name}) cannot launch tasks of {}: {e}", primary.resolved.reference());
            return blocked(&service, &ctx, e.reason(), message).await;
        }
    };
    let group = format!("service:{name}");
    let constraints = scheduling::constraints(&primary.resolved.spec, service.spec.placement.placement_constraints.as_ref());
    let owner = format!("service/{ns}/{name}");
    let observed = observe::observe(&ctx, &ns, labels::SERVICE, &label_value(&name), &owner);
    let mut traffic = kube_services::sync(&service, &ctx, &primary.resolved.spec).await?;
    let pods_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let mut report = Report::default();

    // Tasks that stop now: an essential container exited, a start failed, their
    // node is lost, or they ended by themselves (recorded, the pod kept).
    let lost = Stop::new(StopCode::InfrastructureHealth, "Task stopped: its container instance is not ready");
    let stopping: Vec<(&Task, Stop)> = observed.needing_stop().map(|t| (t, t.state.stop.clone().expect("needing_stop has a stop")))
        .chain(observed.on_lost_nodes(&ctx, ctx.config.node_lost_grace).map(|t| (t, lost.clone())))
        .collect();
    let stops: Vec<(String, Stop)> = stopping.iter().map(|(task, stop)| (task.pod.name_any(), stop.clone())).collect();
    traffic.stop(&ctx, &pods_api, &observed, &owner, &stops).await?;
    report.stopped.extend(stops);
    let ended: Vec<&Task> = observed.ended_unrecorded().collect();
    let records: Vec<(String, Stop)> = ended.iter().map(|t| (t.pod.name_any(), t.state.stop.clone().expect("ended tasks have a stop"))).collect();
    let pods_ref = &pods_api;
    pods::concurrently(records.clone(), |(pod, stop)| async move { pods::record(pods_ref, &pod, &stop).await }).await?;
    report.stopped.extend(records);
    let stopped_now: BTreeSet<String> = report.stopped.iter().map(|(p, _)| p.clone()).collect();
    let active: Vec<&Task> = observed.active().filter(|t| !stopped_now.contains(&t.pod.name_any())).collect();

    // The circuit breaker watches the spec's deployment while it rolls out.
    let desired = if daemon { 0 } else { service.spec.desired_count.unwrap_or(0).max(0) as usize };
    let now = k8s_openapi::jiff::Timestamp::now().as_second();
    let grace = Duration::from_secs(service.spec.health_check_grace_period_seconds.unwrap_or(0).max(0) as u64);
    let of_primary = |t: &Task| t.label(labels::DEPLOYMENT) == Some(primary.deployment.label.as_str());
    let previous_primary = previous.iter().find(|d| d.id == primary.deployment.id);
    let monitored = primary.failed.is_none() && previous_primary.is_none_or(|d| d.rollout_state != RolloutState::Completed);
    let breaker = deployments::breaker_policy(&service.spec).filter(|_| monitored && !daemon).map(|policy| {
        let stops = stopping.iter().map(|(t, s)| (*t, s.code)).chain(ended.iter().map(|t| (*t, t.state.stop.as_ref().map_or(StopCode::UserInitiated, |s| s.code))));
        let mut events: Vec<TaskEvent> = stops.filter(|(t, _)| of_primary(t)).filter_map(|(t, code)| deployments::stop_event(t, code)).collect();
        if active.iter().any(|t| of_primary(t) && deployments::health(t, grace, now) == TaskHealth::Healthy) {
            events.push(TaskEvent::BecameHealthy);
        }
        let reached_running = active.iter().any(|t| of_primary(t) && t.state.last_status == LastStatus::Running && !t.lived_less_than(deployments::QUICK_EXIT));
        deployments::breaker_after(&policy, previous_primary, desired as u32, reached_running, events)
    });
    let tripped = breaker.is_some_and(|b| b.tripped);
    let launches = primary.launches && !tripped;

    // Plan: how many to start (or where, for DAEMON) and which to stop.
    let views: Vec<TaskView> = active.iter().map(|t| t.view(&ctx)).collect();
    let scale_in = Stop::new(StopCode::ServiceSchedulerInitiated, format!("Scaling activity initiated by (deployment {})", primary.deployment.id));
    let mut stuck = false;
    let (desired, mut starts, victims): (usize, Vec<Option<String>>, Vec<String>) = if daemon {
        let pool = launch.as_ref().and_then(|l| l.providers.values().next());
        let eligible = match scheduling::daemon_nodes(&ctx, &group, &constraints, pool) {
            Ok(nodes) => nodes,
            Err(e) => return blocked(&service, &ctx, "PlacementInvalid", format!("(service {name}) placement: {e}")).await,
        };
        let plan = daemon::plan(&eligible, &views);
        (eligible.len(), plan.start_on.iter().map(|n| Some(n.to_string())).collect(), plan.stop.iter().map(|t| t.name.clone()).collect())
    } else {
        let strategy = launch.as_ref().map(|l| &l.strategy);
        let plan = plan_replicas(&service.spec, &primary.deployment, strategy, &active, &views, observed.in_flight.creates.len(), desired, grace, now);
        stuck = plan.stuck;
        (desired, vec![None; if launches { plan.starts } else { 0 }], plan.victims)
    };
    let scale_ins: Vec<(String, Stop)> = victims.iter().map(|victim| (victim.clone(), scale_in.clone())).collect();
    traffic.stop(&ctx, &pods_api, &observed, &owner, &scale_ins).await?;
    report.stopped.extend(scale_ins);

    // Start-failure throttle (§2.5).
    let throttle = throttle(&observed, &primary.deployment.label);
    let mut requeue = Duration::from_secs(300);
    if let Some(wait) = throttle.wait.filter(|_| !starts.is_empty()) {
        starts.clear();
        requeue = requeue.min(wait);
    }
    // Under a strategy each new task's provider depends on the providers of
    // the tasks before it: start more only once the cache shows the tasks
    // still being created (the pass requeues soon, as they are in flight).
    if launch.is_some() && !observed.in_flight.creates.is_empty() {
        starts.clear();
    }
    if !starts.is_empty() {
        // §4.7: Kubernetes has no per-pod bin-packing; say so rather than
        // pretend (a MostAllocated scheduler profile would be the way).
        let binpack = service.spec.placement.placement_strategy.iter().flatten().any(|s| s.type_ == PlacementStrategyType::Binpack);
        if binpack {
            ctx.publish(service.as_ref(), EventType::Warning, "PlacementStrategyIgnored", &format!(
                "(service {name}) placement strategy binpack is not applied: kube-scheduler spreads by default; \
                 a scheduler profile with NodeResourcesFit MostAllocated scoring packs nodes")).await;
        }
        let providers = observe::new_task_providers(launch.as_ref(), active.iter().filter(|t| of_primary(t)).copied(), starts.len());
        let new_pods = starts.iter().zip(&providers)
            .map(|(node, provider)| service_task(&service, &ctx, &primary, &constraints, node.as_deref(), *provider))
            .collect::<Result<Vec<Pod>>>();
        let new_pods = match new_pods {
            Ok(pods) => pods,
            Err(Error::Placement(e)) => return blocked(&service, &ctx, "PlacementInvalid", format!("(service {name}) placement: {e}")).await,
            Err(e) => return Err(e),
        };
        let (created, error) = pods::create_in_batches(&pods_api, new_pods).await;
        {
            let mut expectations = ctx.expectations.lock().unwrap();
            for pod in &created {
                expectations.created(&owner, pod, Instant::now());
            }
        }
        ctx.health.metrics.tasks_started("service", created.len());
        report.started = created;
        if let Some(e) = error {
            ctx.publish(service.as_ref(), EventType::Warning, "TaskPlacementFailed", &format!("(service {name}) was unable to place a task. Reason: {e}")).await;
        }
    }

    traffic.enlist(&pods_api, &observed).await?;
    let draining = traffic.finish_draining(&ctx, &pods_api, &observed, &owner).await?;
    unplaced::report(&service, &ctx, &observed).await;

    // Stopped task records: bounded in number and age.
    let expired = observed.expired_records(ctx.config.stopped_task_retention, ctx.config.stopped_task_ttl);
    pods::concurrently(expired, |pod| async move { pods::forget(pods_ref, &pod).await }).await?;

    for (_, stop) in &report.stopped {
        ctx.health.metrics.task_stopped(crate::api::wire_name(&stop.code));
    }
    publish_report(&service, &ctx, &report, &observed).await;
    traffic.publish(&service, &ctx, &primary.deployment.id).await;
    let outcome = Outcome { desired, throttle: &throttle, report: &report, breaker, stuck, grace, now, traffic: &traffic };
    let status = compute_status(&service, &primary, &previous, &observed, &active, &outcome);
    publish_transitions(&service, &ctx, &primary, &status).await;
    write_status(&service, &ctx, status).await?;
    for wait in [observed.next_node_loss(&ctx, ctx.config.node_lost_grace), draining].into_iter().flatten() {
        requeue = requeue.min(wait);
    }
    let busy = !report.started.is_empty() || !report.stopped.is_empty() || !observed.in_flight.creates.is_empty() || tripped;
    // Tasks without health checks count as healthy 40 s after RUNNING: look again then.
    let warming = active.iter().any(|t| deployments::health(t, grace, now) == TaskHealth::NotYetHealthy && t.state.last_status == LastStatus::Running);
    let requeue = if busy || warming { requeue.min(Duration::from_secs(5)) } else { requeue };
    Ok(Action::requeue(requeue))
}

/// The replica plan: the rollout step of §2.6 across the deployments (which
/// is plain replacement and scaling when there is only one), with the stopped
/// tasks chosen to keep zones and nodes balanced.
struct ReplicaPlan {
    starts: usize,
    victims: Vec<String>,
    stuck: bool,
}

#[allow(clippy::too_many_arguments)]
fn plan_replicas(
    spec: &ServiceSpec,
    primary: &deployments::Deployment,
    strategy: Option<&CapacityStrategy>,
    active: &[&Task],
    views: &[TaskView],
    creations_in_flight: usize,
    desired: usize,
    grace: Duration,
    now: i64,
) -> ReplicaPlan {
    let healthy = |t: &Task| deployments::health(t, grace, now) == TaskHealth::Healthy;
    let counts = |tasks: &[(usize, &&Task)]| DeploymentTasks {
        running: tasks.iter().filter(|(_, t)| t.state.last_status == LastStatus::Running).count() as u32,
        pending: tasks.iter().filter(|(_, t)| t.state.last_status != LastStatus::Running).count() as u32,
        healthy: tasks.iter().filter(|(_, t)| healthy(t)).count() as u32,
    };
    // Group the active tasks by deployment, oldest deployment first.
    let mut groups: BTreeMap<&str, Vec<(usize, &&Task)>> = BTreeMap::new();
    for (i, task) in active.iter().enumerate() {
        groups.entry(task.label(labels::DEPLOYMENT).unwrap_or_default()).or_default().push((i, task));
    }
    let primary_tasks = groups.remove(primary.label.as_str()).unwrap_or_default();
    let mut old: Vec<Vec<(usize, &&Task)>> = groups.into_values().collect();
    old.sort_by_key(|tasks| tasks.iter().map(|(_, t)| t.created_seconds()).min());
    let mut primary_counts = counts(&primary_tasks);
    primary_counts.pending += creations_in_flight as u32;
    let old_counts: Vec<DeploymentTasks> = old.iter().map(|tasks| counts(tasks)).collect();
    let bounds = deployments::bounds(spec.deployment_configuration.as_ref(), false);
    let step = rollout::plan_rollout_step(desired as u32, bounds, primary_counts, &old_counts);

    let pick = |members: Vec<usize>, count: u32| -> Vec<String> {
        let candidates: Vec<TaskView> = members.into_iter().map(|i| views[i].clone()).collect();
        let victims = match strategy {
            Some(strategy) => capacity::split::scale_in_victims(strategy, &candidates, count as usize),
            None => replica::scale_in_victims(&candidates, count as usize),
        };
        victims.into_iter().map(|t| t.name.clone()).collect()
    };
    let mut victims = vec![];
    for (tasks, stops) in old.iter().zip(&step.stop_old) {
        let (fine, unwell): (Vec<_>, Vec<_>) = tasks.iter().map(|(i, t)| (*i, healthy(t))).partition(|(_, h)| *h);
        victims.extend(pick(unwell.into_iter().map(|(i, _)| i).collect(), stops.not_healthy));
        victims.extend(pick(fine.into_iter().map(|(i, _)| i).collect(), stops.healthy));
    }
    // Scale-in within the primary deployment.
    let primary_active = primary_tasks.len() + creations_in_flight;
    if primary_active > desired {
        victims.extend(pick(primary_tasks.iter().map(|(i, _)| *i).collect(), (primary_active - desired) as u32));
    }
    ReplicaPlan { starts: step.start_primary as usize, victims, stuck: step.stuck }
}

/// A new task of the service, in `deployment`, on `provider`'s nodes when it
/// has one; for DAEMON bound to `node`, otherwise spread over zones then
/// nodes (ECS's default, §2.3).
fn service_task(
    service: &Service,
    ctx: &Context,
    primary: &deployments::Primary,
    constraints: &[crate::ecs::placement::PlacementConstraintItem],
    node: Option<&str>,
    provider: Option<(&str, &CapacityProviderSpec)>,
) -> Result<Pod> {
    let (resolved, deployment) = (&primary.resolved, &primary.deployment);
    let name = service.name_any();
    let group = format!("service:{name}");
    let mut task_labels = BTreeMap::from([
        (labels::SERVICE.to_string(), label_value(&name)),
        (labels::DEPLOYMENT.to_string(), deployment.label.clone()),
        (labels::TASK_GROUP.to_string(), label_value(&group)),
    ]);
    if let Some(node) = node {
        task_labels.insert(labels::NODE.to_string(), label_value(node));
    }
    if crate::ecs::traffic::routes_traffic(&service.spec) {
        task_labels.insert(labels::TRAFFIC.to_string(), labels::TRAFFIC_SERVE.to_string());
    }
    let mut pod = observe::render(resolved, observe::NewTask {
        namespace: service.namespace().unwrap_or_default(),
        name_prefix: &name,
        name_suffix: None,
        owner: service.controller_owner_ref(&()).expect("services have uids"),
        labels: task_labels,
        annotations: BTreeMap::from([
            (labels::GROUP.to_string(), group.clone()),
            (labels::DEPLOYMENT_ID.to_string(), deployment.id.clone()),
        ]),
        overrides: None,
    })?;
    let spec = pod.spec.get_or_insert_with(Default::default);
    scheduling::apply(spec, ctx, &group, constraints, service.spec.placement.placement_strategy.as_ref(), node.is_none())?;
    if let Some(node) = node {
        observe::pin_to_node(spec, node);
    }
    observe::place_on_provider(&mut pod, provider);
    Ok(pod)
}

#[derive(Default)]
struct Report {
    started: Vec<String>,
    stopped: Vec<(String, Stop)>,
}

async fn publish_report(service: &Service, ctx: &Context, report: &Report, observed: &Observed) {
    let name = service.name_any();
    let ids = |pods: &mut dyn Iterator<Item = &String>| pods.map(|p| format!("(task {})", observed.task_id(p))).collect::<Vec<_>>().join(" ");
    if !report.started.is_empty() {
        let message = format!("(service {name}) has started {} tasks: {}.", report.started.len(), ids(&mut report.started.iter()));
        ctx.publish(service, EventType::Normal, "TasksStarted", &message).await;
    }
    // One event per cause, not per task: a roll of 500 stops 500 tasks, and
    // each event is a request out of the same budget as the tasks' own.
    let mut causes: Vec<(&Stop, Vec<&String>)> = vec![];
    for (pod, stop) in &report.stopped {
        match causes.iter_mut().find(|(cause, _)| *cause == stop) {
            Some((_, pods)) => pods.push(pod),
            None => causes.push((stop, vec![pod])),
        }
    }
    for (stop, pods) in causes {
        let kind = if stop.code == TaskStopCode::ServiceSchedulerInitiated { EventType::Normal } else { EventType::Warning };
        let message = format!("(service {name}) has stopped {} running tasks: {}. Reason: {} ({})",
            pods.len(), ids(&mut pods.into_iter()), stop.reason, crate::api::wire_name(&stop.code));
        ctx.publish(service, kind, "TasksStopped", &message).await;
    }
}

/// Consecutive failed starts of this deployment's tasks, newest first, and
/// how long to wait before the next launch. ECS throttles only tasks that
/// never reached RUNNING; Berth also counts tasks that stop within
/// QUICK_EXIT of RUNNING, because with no image pull to slow it a crashing
/// container would otherwise be recreated in a hot loop on Kubernetes. As
/// ECS throttles only repeated failures, the first delay comes after
/// TOLERATED_FAILURES consecutive failed starts; single failures are
/// replaced at once.
struct Throttle {
    failures: u32,
    wait: Option<Duration>,
}

const TOLERATED_FAILURES: u32 = 2;

fn throttle(observed: &Observed, deployment: &str) -> Throttle {
    let mut outcomes: Vec<(i64, bool)> = observed
        .tasks
        .iter()
        .filter(|t| t.label(labels::DEPLOYMENT) == Some(deployment))
        .filter_map(|t| {
            let created = t.created_seconds();
            match (&t.state.stop, t.state.last_status) {
                (Some(stop), _) if stop.code == StopCode::TaskFailedToStart || t.lived_less_than(deployments::QUICK_EXIT) => Some((created, true)),
                (_, LastStatus::Running) if !t.lived_less_than(deployments::QUICK_EXIT) => Some((created, false)),
                _ => None,
            }
        })
        .collect();
    outcomes.sort_by_key(|(created, _)| std::cmp::Reverse(*created));
    let failures = outcomes.iter().take_while(|(_, failed)| *failed).count() as u32;
    let last_failure = outcomes.first().filter(|(_, failed)| *failed).map(|(created, _)| *created);
    let wait = last_failure.and_then(|at| {
        let next = at + backoff::start_delay(failures.saturating_sub(TOLERATED_FAILURES)).as_secs() as i64;
        let now = k8s_openapi::jiff::Timestamp::now().as_second();
        (next > now).then(|| Duration::from_secs((next - now) as u64))
    });
    Throttle { failures, wait }
}

/// What this pass decided, for the status.
struct Outcome<'a> {
    desired: usize,
    throttle: &'a Throttle,
    report: &'a Report,
    breaker: Option<CircuitBreakerState>,
    stuck: bool,
    grace: Duration,
    now: i64,
    traffic: &'a kube_services::Traffic,
}

/// The status, computed purely: PRIMARY and ACTIVE deployments with their
/// counts, and the conditions.
fn compute_status(
    service: &Service,
    primary: &deployments::Primary,
    previous: &[ServiceDeployment],
    observed: &Observed,
    active: &[&Task],
    o: &Outcome,
) -> ServiceStatus {
    let old = service.status.clone().unwrap_or_default();
    let now = conditions::now();
    let name = service.name_any();
    let of = |label: &str| active.iter().filter(move |t| t.label(labels::DEPLOYMENT) == Some(label)).copied().collect::<Vec<&Task>>();
    let counts = |tasks: &[&Task]| {
        let running = tasks.iter().filter(|t| t.state.last_status == LastStatus::Running).count() as i32;
        (running, tasks.len() as i32 - running)
    };
    let healthy = active.iter().filter(|t| deployments::health(t, o.grace, o.now) == TaskHealth::Healthy).count();
    let (running, pending) = counts(active);
    let pending = pending + o.report.started.len() as i32;
    let primary_tasks = of(&primary.deployment.label);
    let others: BTreeSet<&str> = active.iter().filter_map(|t| t.label(labels::DEPLOYMENT)).filter(|l| *l != primary.deployment.label).collect();
    let steady = others.is_empty() && primary_tasks.len() == o.desired && healthy == o.desired && pending == 0
        && o.report.stopped.is_empty() && observed.in_flight.creates.is_empty() && o.throttle.wait.is_none() && !o.stuck;

    let previous_primary = previous.iter().find(|d| d.id == primary.deployment.id);
    let tripped = o.breaker.is_some_and(|b| b.tripped);
    let rollout_state = if tripped || !primary.launches {
        RolloutState::Failed
    } else if steady || previous_primary.is_some_and(|d| d.rollout_state == RolloutState::Completed) {
        RolloutState::Completed
    } else {
        RolloutState::InProgress
    };
    let reason = match (rollout_state, &primary.failed) {
        (RolloutState::Failed, _) => "ECS deployment circuit breaker: task failed to start.".to_string(),
        (RolloutState::InProgress, Some(_)) => format!("ECS deployment circuit breaker: rolling back to deploymentId {}.", primary.deployment.id),
        (RolloutState::Completed, _) => format!("ECS deployment {} completed.", primary.deployment.id),
        (RolloutState::InProgress, None) => format!("ECS deployment {} in progress.", primary.deployment.id),
    };
    let (primary_running, primary_pending) = counts(&primary_tasks);
    let entry = |id: &str, status, task_definition: String, desired: usize, (running, pending): (i32, i32), state, reason: Option<String>, failed: i32| {
        let before = previous.iter().find(|d| d.id == id);
        let unchanged = before.is_some_and(|d| d.running_count == running && d.pending_count == pending && d.rollout_state == state && d.status == status);
        ServiceDeployment {
            id: id.to_string(),
            status,
            task_definition,
            desired_count: desired as i32,
            pending_count: pending,
            running_count: running,
            failed_tasks: failed,
            rollout_state: state,
            rollout_state_reason: reason,
            created_at: before.map(|d| d.created_at.clone()).unwrap_or_else(|| now.clone()),
            updated_at: before.filter(|_| unchanged).map(|d| d.updated_at.clone()).unwrap_or_else(|| now.clone()),
        }
    };
    let failed_tasks = o.breaker.map_or(o.throttle.failures, |b| b.failed_tasks) as i32;
    let mut list = vec![entry(&primary.deployment.id, DeploymentStatus::Primary, primary.resolved.reference(), o.desired,
        (primary_running, primary_pending + o.report.started.len() as i32), rollout_state, Some(reason), failed_tasks)];
    // Older deployments with tasks left, the failed deployment the spec still
    // names, and (until PRIMARY completes) the last completed one.
    for label in &others {
        let tasks = of(label);
        let sample = tasks[0];
        let id = sample.pod.annotations().get(labels::DEPLOYMENT_ID).cloned().unwrap_or_else(|| label.to_string());
        let task_definition = sample.pod.annotations().get(labels::TASK_DEFINITION).cloned().unwrap_or_default();
        let before = previous.iter().find(|d| d.id == id);
        let state = before.map_or(RolloutState::Completed, |d| d.rollout_state);
        list.push(entry(&id, DeploymentStatus::Active, task_definition, 0, counts(&tasks), state, before.and_then(|d| d.rollout_state_reason.clone()), before.map_or(0, |d| d.failed_tasks)));
    }
    for d in previous {
        let listed = list.iter().any(|l| l.id == d.id);
        let failed_by_spec = primary.failed.as_ref().is_some_and(|f| f.id == d.id);
        let rollback_memory = rollout_state != RolloutState::Completed && d.rollout_state == RolloutState::Completed;
        if !listed && (failed_by_spec || rollback_memory) {
            list.push(entry(&d.id, DeploymentStatus::Active, d.task_definition.clone(), 0, (0, 0), d.rollout_state, d.rollout_state_reason.clone(), d.failed_tasks));
        }
    }

    let failed = list.iter().find(|d| d.rollout_state == RolloutState::Failed && primary.failed.as_ref().is_none_or(|f| f.id == d.id));
    let degraded = failed.map(|d| ("DeploymentFailed", format!("(service {name}) (deployment {}) deployment failed: tasks failed to start. {}", d.id,
        if primary.failed.is_some() && primary.launches { format!("Running {} instead.", primary.resolved.reference()) } else { String::new() })))
        .or_else(|| o.throttle.wait.map(|_| ("TaskStartThrottled", format!("(service {name}) is unable to consistently start tasks successfully."))));
    let progressing = match () {
        _ if o.stuck => Want { type_: "Progressing", status: false, reason: "DeploymentStuck", message: rollout::stuck_message(&name) },
        _ if o.throttle.wait.is_some() => Want { type_: "Progressing", status: false, reason: "TaskStartThrottled",
            message: format!("{} consecutive failed starts, next attempt in {}s", o.throttle.failures, o.throttle.wait.unwrap_or_default().as_secs()) },
        _ if steady => Want { type_: "Progressing", status: false, reason: "SteadyState", message: format!("{running} of {} tasks running", o.desired) },
        _ => Want { type_: "Progressing", status: true, reason: if others.is_empty() { "TasksStarting" } else { "DeploymentInProgress" },
            message: format!("{pending} pending, {running} running, {} desired", o.desired) },
    };
    let mut wanted = vec![
        Want {
            type_: "Ready",
            status: steady,
            reason: if steady { "SteadyState" } else { "Reconciling" },
            message: if steady { format!("(service {name}) has reached a steady state.") } else { format!("{running} of {} tasks running", o.desired) },
        },
        progressing,
        Want {
            type_: "Degraded",
            status: degraded.is_some(),
            reason: degraded.as_ref().map_or("AsExpected", |d| d.0),
            message: degraded.map(|d| d.1).unwrap_or_default(),
        },
    ];
    wanted.extend(o.traffic.condition());
    let selector = format!("{}={},{}={}", labels::MANAGED_BY, labels::MANAGED_BY_VALUE, labels::SERVICE, label_value(&name));
    ServiceStatus {
        observed_generation: service.metadata.generation,
        desired_count: Some(o.desired as i32),
        running_count: Some(running),
        pending_count: Some(pending),
        task_definition: Some(primary.resolved.reference()),
        rollout_state: Some(rollout_state),
        selector: Some(selector),
        deployments: Some(list),
        stopped_tasks: Some(observed.stopped_summaries(&old.stopped_tasks.unwrap_or_default(), &o.report.stopped, 10)),
        kubernetes_services: o.traffic.status(),
        conditions: Some(conditions::merge(old.conditions.as_deref().unwrap_or_default(), wanted, service.metadata.generation, &now)),
        unsupported_fields: old.unsupported_fields.clone(),
    }
}

/// ECS-worded events for what changed between the old status and the new.
async fn publish_transitions(service: &Service, ctx: &Context, primary: &deployments::Primary, new: &ServiceStatus) {
    let name = service.name_any();
    let old = service.status.as_ref();
    let condition = |status: Option<&ServiceStatus>, type_: &str, reason: &str| {
        status.and_then(|s| s.conditions.as_ref()).is_some_and(|cs| cs.iter().any(|c| c.type_ == type_ && c.reason == reason))
    };
    let became = |type_: &str, reason: &str| condition(Some(new), type_, reason) && !condition(old, type_, reason);
    let deployment = |status: Option<&ServiceStatus>, id: &str| status.and_then(|s| s.deployments.as_ref()).and_then(|ds| ds.iter().find(|d| d.id == id).cloned());
    let state = |status: Option<&ServiceStatus>, id: &str| deployment(status, id).map(|d| d.rollout_state);
    let old_primary = old.and_then(|s| s.deployments.as_ref()).and_then(|ds| ds.iter().find(|d| d.status == DeploymentStatus::Primary).cloned());

    for d in new.deployments.iter().flatten() {
        if d.rollout_state == RolloutState::Failed && state(old, &d.id) != Some(RolloutState::Failed) {
            ctx.publish(service, EventType::Warning, "ServiceDeploymentFailed", &rollout::deployment_failed_message(&name, &d.id)).await;
        }
    }
    if primary.failed.is_some() && primary.launches && old_primary.as_ref().is_some_and(|p| p.id != primary.deployment.id) {
        ctx.publish(service, EventType::Warning, "ServiceDeploymentRollback", &format!("(service {name}) rolling back to deployment {}.", primary.deployment.id)).await;
    }
    if state(Some(new), &primary.deployment.id) == Some(RolloutState::Completed) && state(old, &primary.deployment.id) != Some(RolloutState::Completed) {
        ctx.publish(service, EventType::Normal, "ServiceDeploymentCompleted", &format!("(service {name}) (deployment {}) deployment completed.", primary.deployment.id)).await;
    }
    if became("Ready", "SteadyState") {
        ctx.publish(service, EventType::Normal, "SteadyState", &format!("(service {name}) has reached a steady state.")).await;
    }
    if became("Degraded", "TaskStartThrottled") {
        ctx.publish(service, EventType::Warning, "ServiceTaskStartImpaired", &format!("(service {name}) is unable to consistently start tasks successfully.")).await;
    }
    if became("Progressing", "DeploymentStuck") {
        ctx.publish(service, EventType::Warning, "ServiceDeploymentStuck", &rollout::stuck_message(&name)).await;
    }
}

async fn write_status(service: &Service, ctx: &Context, status: ServiceStatus) -> Result<()> {
    if service.status.as_ref() == Some(&status) {
        return Ok(());
    }
    super::apply_status(&ctx.client, service, &status).await?;
    ctx.written.wrote(service, status);
    Ok(())
}

/// The service cannot start tasks (its task definition is missing, its
/// placement is invalid): say so on the status and in a Warning event.
async fn blocked(service: &Service, ctx: &Context, reason: &str, message: String) -> Result<Action> {
    let old = service.status.clone().unwrap_or_default();
    let wanted = vec![
        Want { type_: "Ready", status: false, reason, message: message.clone() },
        Want { type_: "Progressing", status: false, reason, message: message.clone() },
        Want { type_: "Degraded", status: true, reason, message: message.clone() },
    ];
    let status = ServiceStatus {
        observed_generation: service.metadata.generation,
        conditions: Some(conditions::merge(old.conditions.as_deref().unwrap_or_default(), wanted, service.metadata.generation, &conditions::now())),
        ..old.clone()
    };
    if service.status.as_ref() != Some(&status) {
        ctx.publish(service, EventType::Warning, reason, &message).await;
        write_status(service, ctx, status).await?;
    }
    Ok(Action::requeue(Duration::from_secs(60)))
}

pub fn error_policy(_service: Arc<Service>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.health.metrics.failed("service", error.reason());
    tracing::warn!(reason = error.reason(), "service reconcile failed: {error}");
    Action::requeue(Duration::from_secs(5))
}
