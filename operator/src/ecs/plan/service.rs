//! One pass of the ECS service scheduler (ecs-semantics §2), decided purely:
//! which tasks stop (with their stop codes), how many start in the PRIMARY
//! deployment and on which provider or node, which records expire, and then
//! (once the starts are sent) the next status and the events.
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kube::ResourceExt;

use super::conditions::{self, Want};
use super::deployment::{self, FAILED_CONTAINER_HEALTH_CHECKS, FAILED_ELB_HEALTH_CHECKS, Primary};
use super::lifecycle::{self, Lifecycle, LifecycleInput, LifecyclePolicy, ServingTask};
use super::throttle::{self, Throttle};
use super::{Event, Launched, Limits, Problem};
use crate::api::{CircuitBreakerProgress, DeploymentStatus, RebalancingStatus, RolloutState, Service, ServiceDeployment, ServiceStatus, TaskStopCode, TaskSummary, TrafficRoute, TrafficShift, wire_name};
use crate::ecs::capacity::CapacityStrategy;
use crate::ecs::placement::node_labels::ZONE_LABEL;
use crate::ecs::placement::{Placement, Strategy, Unplaced};
use crate::ecs::rollout::{self, CircuitBreakerState, DeploymentTasks, TaskEvent, TaskHealth};
use crate::ecs::scheduler::{TaskView, daemon, rebalance};
use crate::ecs::task::labels;
use crate::ecs::task::lifecycle::{LastStatus, Stop, StopCode};
use crate::ecs::task::observed::Task;
use crate::ecs::traffic::{Selection, gateway};

/// How the service's tasks are placed.
#[derive(Clone, Copy, Debug)]
pub enum Scheduling<'a> {
    /// `desiredCount` tasks, on the capacity providers of a strategy if it has one.
    Replica { strategy: Option<&'a CapacityStrategy> },
    /// One task on each of these nodes (of the strategy's provider, if it has one).
    Daemon { nodes: &'a BTreeSet<String>, strategy: Option<&'a CapacityStrategy> },
}

/// The service's traffic, as far as its tasks' stops are concerned.
#[derive(Clone, Debug, Default)]
pub struct Traffic {
    /// Its tasks take traffic: a running one drains before it stops.
    pub serves: bool,
    pub deregistration_delay: Duration,
    /// The status's routes and the `TrafficRouted` condition, from the traffic sync.
    pub routes: Option<Vec<TrafficRoute>>,
    pub condition: Option<(bool, String, String)>,
    /// Production weights are also given exactly by Gateway API HTTPRoutes.
    pub http_routes: bool,
}

/// Everything one pass decides from.
pub struct ServiceInput<'a> {
    /// The Service as the cache shows it, with the status the last pass wrote.
    pub service: &'a Service,
    pub primary: &'a Primary,
    /// Every task pod of the service.
    pub tasks: &'a [Task],
    /// Creates sent that the cache does not show yet.
    pub creations_in_flight: usize,
    pub scheduling: Scheduling<'a>,
    pub traffic: &'a Traffic,
    /// The nodes, the strategies and what a task requests: where Berth puts
    /// new tasks when it places them itself, and which tasks scale-in stops.
    pub placement: &'a Placement,
    /// Older deployments whose revision still resolves: their lost tasks can
    /// be replaced with their own revision.
    pub old_revisions: &'a BTreeSet<String>,
    /// The checked policy of a BLUE_GREEN, LINEAR or CANARY service.
    pub lifecycle: Option<&'a LifecyclePolicy>,
    /// The deployment alarms (Prometheus alerts) firing now.
    pub firing_alarms: &'a [String],
    /// The pass cannot render or place what it would start.
    pub problem: Option<Problem>,
    /// Fields accepted but not honoured.
    pub unsupported: &'a [String],
    pub limits: &'a Limits,
    pub now: i64,
}

/// A task to stop: a running task that takes traffic drains first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskStop {
    pub pod: String,
    pub stop: Stop,
    pub drain: bool,
    /// Recorded on the pod before it goes: a stop for the task's failure (exited, unhealthy,
    /// unplaced, its node lost), kept with the task for whoever reads it. The scheduler's own
    /// choices (a scale-in, a deployment's replacements, a rebalance) are a delete each, as
    /// the ReplicaSet controller's, their cause in the status.
    pub record: bool,
}

/// A task to start: bound to a node (DAEMON), on a capacity provider
/// (strategy), in PRIMARY or, replacing one of its lost tasks, an older deployment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskStart {
    pub node: Option<String>,
    pub provider: Option<String>,
    /// The older deployment's id; None for PRIMARY.
    pub deployment: Option<String>,
}

/// What the pass does.
#[derive(Clone, Debug)]
pub struct ServicePlan {
    pub stops: Vec<TaskStop>,
    /// Tasks that ended by themselves, seen ended for the first time: the pass counts their
    /// stops and reports them in `stoppedTasks`, which records them (see [`reported_stopped`]).
    pub records: Vec<(String, Stop)>,
    pub starts: Vec<TaskStart>,
    /// Tasks that take traffic but lack the label their Services select.
    pub enlist: Vec<String>,
    /// Tasks to take out of production once the Services select as [`Self::selection`] says.
    pub delist: Vec<String>,
    /// The deployments the Services select.
    pub selection: Selection,
    /// New tasks start out of production: the lifecycle puts them in.
    pub hold_traffic: bool,
    /// The step of a BLUE_GREEN, LINEAR or CANARY deployment under way.
    pub lifecycle: Option<Lifecycle>,
    /// Pods to delete: expired stop records, and drained tasks out of every endpoint. A pass
    /// that starts tasks leaves expired records to one that starts none: a burst of failures
    /// is replaced before the API server is asked to delete its records.
    pub forget: Vec<String>,
    /// When to look again at the latest, if nothing wakes the service before.
    pub requeue: Duration,
    desired: usize,
    breaker: Option<Breaker>,
    /// Each older deployment's task count: what it had, less what the roll stopped.
    old_targets: BTreeMap<String, usize>,
    throttle: Throttle,
    stuck: bool,
    /// The healthy tasks among the active ones the pass found (the status counts them only
    /// when the pass stops none, when they are the active ones it leaves).
    healthy: usize,
    /// Why the tasks Berth could not place were left unplaced, in ECS's words.
    unplaced: Option<Unplaced>,
    /// The Availability Zone rebalancing as this pass leaves it, if one applies.
    rebalancing: Option<RebalancingStatus>,
    rebalance_events: Vec<Event>,
}

/// The circuit breaker as this pass leaves it.
#[derive(Clone, Debug)]
struct Breaker {
    state: CircuitBreakerState,
    policy: rollout::CircuitBreakerPolicy,
    progress: CircuitBreakerProgress,
}

/// A pass that needs nothing new looks again after this long.
const IDLE_REQUEUE: Duration = Duration::from_secs(300);
/// A pass that acted, or waits on tasks warming up, looks again this soon.
const BUSY_REQUEUE: Duration = Duration::from_secs(5);

pub fn plan(input: &ServiceInput) -> ServicePlan {
    let spec = &input.service.spec;
    let primary = input.primary;
    let now = input.now;
    let grace = Duration::from_secs(spec.health_check_grace_period_seconds.unwrap_or(0).max(0) as u64);
    let previous = previous_deployments(input.service);
    let health = |t: &Task| deployment::health(t, grace, now);
    let of_primary = |t: &Task| t.label(labels::DEPLOYMENT) == Some(primary.deployment.label.as_str());

    // Records and expiry are safe whatever the pass can start: they stop nothing.
    let reported = reported_stopped(input.service);
    let mut ended: Vec<(&Task, &Stop)> = input.tasks.iter().filter(|t| t.ended_unrecorded() && !reported.contains(t.name()))
        .map(|t| (t, t.state.stop.as_ref().expect("ended tasks have a stop"))).collect();
    // Newest first, as the records kept (`expired_records`) and so `stoppedTasks` names them.
    ended.sort_by_key(|(t, _)| std::cmp::Reverse(t.created_seconds()));
    let records = ended.iter().map(|(t, stop)| (t.name().to_string(), (*stop).clone())).collect();
    let expired = expired_records(input.tasks, input.limits, now);

    let mut plan = ServicePlan {
        stops: vec![],
        records,
        starts: vec![],
        enlist: vec![],
        delist: vec![],
        selection: Selection::default(),
        hold_traffic: false,
        lifecycle: None,
        forget: vec![],
        requeue: IDLE_REQUEUE,
        desired: 0,
        breaker: None,
        old_targets: BTreeMap::new(),
        throttle: throttle::throttle(input.tasks.iter().filter(|t| of_primary(t)), now),
        stuck: false,
        healthy: 0,
        unplaced: None,
        rebalancing: None,
        rebalance_events: vec![],
    };

    // Tasks that stop now: an essential container exited, a start failed, their node is lost.
    let lost = Stop::new(StopCode::InfrastructureHealth, "Task stopped: its container instance is not ready");
    let mut stopping: Vec<(&Task, Stop)> = input.tasks.iter().filter(|t| t.needs_stop())
        .map(|t| (t, t.state.stop.clone().expect("a task that needs a stop has one"))).collect();
    stopping.extend(input.tasks.iter().filter(|t| t.is_active() && t.node_lost_for(now).is_some_and(|lost| lost > input.limits.node_lost_grace))
        .map(|t| (t, lost.clone())));
    // A task kube-scheduler cannot place fails to start once the placement timeout passes.
    let timeout = input.limits.placement_timeout.as_secs() as i64;
    let unplaced: Vec<(&Task, String)> = input.tasks.iter()
        .filter(|t| t.is_active() && t.state.last_status == LastStatus::Provisioning && !stopping.iter().any(|(s, _)| s.name() == t.name()))
        .filter_map(|t| Some((t, t.unschedulable()?))).collect();
    let placement_deadlines: Vec<i64> = unplaced.iter().map(|(t, _)| t.created_seconds() + timeout).collect();
    stopping.extend(unplaced.iter().zip(&placement_deadlines).filter(|(_, deadline)| **deadline <= now).map(|((t, why), _)| {
        (*t, Stop::new(StopCode::TaskFailedToStart, format!("Task could not be placed within {timeout} seconds. (kube-scheduler: {why})")))
    }));
    // A task whose containers wait on a dependency past its startTimeout fails to start.
    let start_deadlines: Vec<(&Task, i64)> = input.tasks.iter().filter_map(|t| Some((t, t.start_deadline()?))).collect();
    let timed_out: Vec<&Task> = start_deadlines.iter().filter(|(t, d)| *d <= now && !stopping.iter().any(|(s, _)| s.name() == t.name())).map(|(t, _)| *t).collect();
    stopping.extend(timed_out.into_iter()
        .map(|t| (t, Stop::new(StopCode::TaskFailedToStart, super::START_TIMEOUT_REASON))));
    let stopped_now: BTreeSet<&str> = stopping.iter().map(|(t, _)| t.name()).collect();
    let active: Vec<&Task> = input.tasks.iter().filter(|t| t.is_active() && !stopped_now.contains(t.name())).collect();
    // Each active task's health, read once: the breaker, the views and the rollout step all use it.
    let healths: Vec<TaskHealth> = active.iter().map(|t| health(t)).collect();
    plan.healthy = healths.iter().filter(|h| **h == TaskHealth::Healthy).count();
    // And until when each is protected from scale-in and deployments, if it is.
    let protected: Vec<Option<i64>> = active.iter().map(|t| t.protected_until(now)).collect();

    let desired = match input.scheduling {
        Scheduling::Daemon { nodes, .. } => nodes.len(),
        Scheduling::Replica { .. } => spec.desired_count.unwrap_or(0).max(0) as usize,
    };
    plan.desired = desired;
    let previous_primary = previous.iter().find(|d| d.id == primary.deployment.id);
    // The circuit breaker watches the spec's deployment while it rolls out.
    let monitored = primary.failed.is_none() && previous_primary.is_none_or(|d| d.rollout_state != RolloutState::Completed);
    // The breaker's events, each at its time: a stop when its containers
    // ended (else now), a task established or healthy when it became so.
    let breaker = |health_stops: &[&Task]| deployment::breaker_policy(spec).filter(|_| monitored).map(|policy| {
        let stops = stopping.iter().map(|(t, s)| (*t, s.code)).chain(ended.iter().map(|(t, s)| (*t, s.code)));
        let mut events: Vec<(i64, TaskEvent)> = stops.filter(|(t, _)| of_primary(t))
            .filter_map(|(t, code)| Some((t.finished_at().map_or(now, |at| at.0.as_second()), deployment::stop_event(t, code)?))).collect();
        events.extend(health_stops.iter().filter(|t| of_primary(t)).map(|_| (now, TaskEvent::FailedHealthChecks)));
        for (task, health) in active.iter().zip(&healths).filter(|(t, _)| of_primary(t) && deployment::established(t, now)) {
            events.push((deployment::established_at(task).unwrap_or(now), TaskEvent::ReachedRunning));
            if let Some(at) = deployment::became_healthy_at(task, now).filter(|_| *health == TaskHealth::Healthy) {
                events.push((at, TaskEvent::BecameHealthy));
            }
        }
        let (state, progress) = deployment::breaker_after(&policy, previous_primary, desired as u32, events);
        Breaker { state, policy, progress }
    });

    if input.problem.is_some() {
        // Validate before acting: a pass that cannot start what it would start stops nothing.
        plan.breaker = breaker(&[]);
        plan.forget = expired;
        plan.requeue = Duration::from_secs(60);
        return plan;
    }

    let views: Vec<TaskView> = active.iter().zip(&healths).map(|(t, h)| view(t, *h)).collect();
    plan.lifecycle = match (input.lifecycle, input.scheduling) {
        (Some(policy), Scheduling::Replica { .. }) if primary.failed.is_none() => lifecycle_step(input, policy, &active, &healths, desired),
        _ => None,
    };
    let rebalancing = rebalance_step(input, previous_primary, &active, &views, desired);
    if let Some(rebalance) = &rebalancing {
        plan.rebalancing = Some(rebalancing_status(input, rebalance, &mut plan.rebalance_events));
    }
    let scale_in = Stop::new(StopCode::ServiceSchedulerInitiated, format!("Scaling activity initiated by (deployment {})", primary.deployment.id));
    let (mut starts, victims, unhealthy): (Vec<TaskStart>, Vec<String>, Vec<String>) = match input.scheduling {
        Scheduling::Daemon { nodes, strategy } => {
            let current: BTreeSet<&str> = views.iter().zip(&active).filter(|(_, t)| of_primary(t)).map(|(v, _)| v.name.as_str()).collect();
            let bounds = deployment::bounds(spec.deployment_configuration.as_ref(), true);
            let daemon_plan = daemon::plan(nodes, &views, &current, bounds);
            let daemon_plan = if primary.launches { daemon_plan } else { daemon::DaemonPlan { start_on: vec![], ..daemon_plan } };
            let providers = new_task_providers(strategy, active.iter().filter(|t| of_primary(t)).copied(), daemon_plan.start_on.len());
            let starts = daemon_plan.start_on.iter().zip(providers).map(|(n, provider)| TaskStart { node: Some(n.to_string()), provider, deployment: None }).collect();
            let protected_names: BTreeSet<&str> = views.iter().zip(&protected).filter(|(_, p)| p.is_some()).map(|(v, _)| v.name.as_str()).collect();
            let stops = daemon_plan.stop.iter().filter(|v| !protected_names.contains(v.name.as_str()));
            (starts, stops.map(|t| t.name.clone()).collect(), vec![])
        }
        Scheduling::Replica { strategy: None } if rebalancing.as_ref().is_some_and(|r| r.step != rebalance::Step::None) => {
            rebalance_moves(input, rebalancing.as_ref().expect("checked"), &views, &protected)
        }
        Scheduling::Replica { strategy } => {
            let replicas = match &plan.lifecycle {
                Some(lifecycle) => plan_lifecycle(input, lifecycle, &active, &healths, &protected, &views, strategy),
                None => plan_replicas(input, &previous, &active, &healths, &protected, &views, strategy, desired),
            };
            plan.stuck = replicas.stuck;
            let count = if primary.launches { replicas.starts } else { 0 };
            let providers = new_task_providers(strategy, active.iter().filter(|t| of_primary(t)).copied(), count);
            plan.old_targets = replicas.old_targets;
            let old_starts = replicas.old_starts.into_iter().map(|id| TaskStart { node: None, provider: None, deployment: Some(id) });
            (providers.into_iter().map(|provider| TaskStart { node: None, provider, deployment: None }).chain(old_starts).collect(), replicas.victims, replicas.unhealthy)
        }
    };
    let by_name: BTreeMap<&str, &Task> = if victims.is_empty() && unhealthy.is_empty() { BTreeMap::new() } else { active.iter().map(|t| (t.name(), *t)).collect() };
    let health_stops: Vec<&Task> = unhealthy.iter().filter_map(|v| by_name.get(v.as_str())).copied().collect();
    plan.breaker = breaker(&health_stops);
    let tripped = plan.breaker.as_ref().is_some_and(|b| b.state.tripped);
    if tripped {
        starts.clear();
    }
    stopping.extend(health_stops.iter().map(|t| (*t, Stop::new(StopCode::ServiceSchedulerInitiated, deployment::unhealthy_reason(t, now)))));
    stopping.extend(victims.iter().filter_map(|v| by_name.get(v.as_str())).map(|t| (*t, scale_in.clone())));
    let scaled_in: BTreeSet<&str> = victims.iter().map(String::as_str).collect();
    plan.stops = stopping.iter().map(|(t, stop)| TaskStop {
        record: !scaled_in.contains(t.name()),
        pod: t.name().to_string(),
        stop: stop.clone(),
        drain: input.traffic.serves && t.label(labels::TRAFFIC).is_some() && t.state.last_status == LastStatus::Running,
    }).collect();

    // Start-failure throttle (§2.5); under a capacity provider strategy each new
    // task's provider depends on those before it, so more start only once the
    // cache shows the tasks still being created (the pass requeues soon).
    if let Some(wait) = plan.throttle.wait.filter(|_| !starts.is_empty()) {
        starts.clear();
        plan.requeue = plan.requeue.min(wait);
    }
    if matches!(input.scheduling, Scheduling::Replica { strategy: Some(_) }) && input.creations_in_flight > 0 {
        starts.clear();
    }
    let capped = starts.len() > input.limits.max_starts_per_pass;
    starts.truncate(input.limits.max_starts_per_pass);
    if input.placement.berth_places && matches!(input.scheduling, Scheduling::Replica { .. }) {
        starts = place(input, &active, &views, starts, &mut plan);
    }
    plan.starts = starts;

    // Traffic: tasks to put behind the Services (or, under a lifecycle, to take out), drained tasks to delete.
    let stopped: BTreeSet<&str> = plan.stops.iter().map(|s| s.pod.as_str()).collect();
    let serving: Vec<&Task> = active.iter().filter(|t| !stopped.contains(t.name())).copied().collect();
    if let Some(lifecycle) = &plan.lifecycle {
        let blue_label = lifecycle.blue.as_ref().map_or(primary.deployment.label.as_str(), |b| b.label.as_str());
        let (green, blue): (Vec<&Task>, Vec<&Task>) = serving.iter().partition(|t| of_primary(t));
        let split = |tasks: Vec<&Task>| tasks.iter().map(|t| ServingTask { name: t.name().to_string(), serving: t.label(labels::TRAFFIC) == Some(labels::TRAFFIC_SERVE), ready: t.state.ready }).collect::<Vec<_>>();
        let split = lifecycle::serving(lifecycle.production_weight, desired as u32, &split(green), &split(blue), &primary.deployment.label, blue_label);
        plan.selection = Selection {
            production: split.production,
            test: Some(if lifecycle.test_on_green { primary.deployment.label.clone() } else { blue_label.to_string() }),
            backends: if input.traffic.http_routes {
                gateway::split(&primary.deployment.label, Some(blue_label), lifecycle.production_weight)
            } else {
                vec![]
            },
        };
        plan.hold_traffic = true;
        if input.traffic.serves {
            (plan.enlist, plan.delist) = (split.enlist, split.delist);
        }
        let due = lifecycle.next_check.map(|at| Duration::from_secs((at - now).max(1) as u64));
        let calling = (!lifecycle.calls.is_empty()).then_some(Duration::from_secs(1));
        for wait in due.into_iter().chain(calling) {
            plan.requeue = plan.requeue.min(wait);
        }
    } else {
        if lifecycle::shifts_traffic(spec) {
            let label = &primary.deployment.label;
            let backends = if input.traffic.http_routes { gateway::split(label, None, 100.0) } else { vec![] };
            plan.selection = Selection { production: Some(label.clone()), test: Some(label.clone()), backends };
        }
        if input.traffic.serves {
            plan.enlist = serving.iter().filter(|t| t.label(labels::TRAFFIC) != Some(labels::TRAFFIC_SERVE)).map(|t| t.name().to_string()).collect();
        }
    }
    let delay = input.traffic.deregistration_delay.as_secs() as i64;
    // A drained task is expected deleted from the moment it drains, so `deleting` says nothing here.
    let mut forget = vec![];
    for task in input.tasks.iter().filter(|t| t.pod.metadata.deletion_timestamp.is_none()) {
        let Some(since) = task.draining_since() else { continue };
        if since + delay > now {
            plan.requeue = plan.requeue.min(Duration::from_secs((since + delay - now) as u64));
        } else if !task.in_endpoints {
            forget.push(task.name().to_string());
        }
    }
    if plan.starts.is_empty() {
        forget.extend(expired);
    }
    plan.forget = forget;

    // When to look again: a node loss coming due, tasks warming up, work under way.
    let node_losses = active.iter().filter_map(|t| t.node_lost_for(now)).filter(|lost| *lost <= input.limits.node_lost_grace)
        .map(|lost| input.limits.node_lost_grace - lost + Duration::from_secs(1));
    let placements = placement_deadlines.iter().chain(start_deadlines.iter().map(|(_, d)| d)).filter(|d| **d > now).map(|d| Duration::from_secs((d - now) as u64));
    let protections = protected.iter().flatten().map(|until| Duration::from_secs((until - now) as u64 + 1));
    for wait in node_losses.chain(placements).chain(protections) {
        plan.requeue = plan.requeue.min(wait);
    }
    let busy = !plan.starts.is_empty() || !plan.stops.is_empty() || input.creations_in_flight > 0 || tripped || capped;
    let warming = active.iter().zip(&healths).any(|(t, h)| *h == TaskHealth::NotYetHealthy && t.state.last_status == LastStatus::Running);
    if busy || warming {
        plan.requeue = plan.requeue.min(BUSY_REQUEUE);
    }
    // The breaker's deployment completes once its tasks are established (`outcome`): look again then.
    if plan.breaker.is_some() {
        let establishing = active.iter().filter(|t| of_primary(t)).filter_map(|t| deployment::established_at(t)).map(|at| at - now).filter(|due| *due > 0);
        for due in establishing {
            plan.requeue = plan.requeue.min(Duration::from_secs(due as u64));
        }
    }
    plan
}

/// Berth's choice of node for each new task (the strategies need it): one
/// at a time over the nodes, counting the group's tasks where they are. A
/// task no node has room for is not started, and the pass says why.
fn place(input: &ServiceInput, active: &[&Task], views: &[TaskView], starts: Vec<TaskStart>, plan: &mut ServicePlan) -> Vec<TaskStart> {
    // Unseen creates have nodes the counts would miss: wait until the cache shows them.
    if input.creations_in_flight > 0 || starts.is_empty() {
        return vec![];
    }
    let group = tasks_by_node(views);
    // A node that refused a task pinned to it (its room was taken by pods Berth
    // does not count) gets no more until that task is placed or stopped.
    let refused: BTreeSet<&str> = active.iter().zip(views).filter(|(t, _)| t.unschedulable().is_some()).filter_map(|(_, v)| v.node.as_deref()).collect();
    let mut placement = input.placement.clone();
    for node in placement.nodes.iter_mut().filter(|n| refused.contains(n.name.as_str())) {
        node.eligible = false;
    }
    // Rebalancing moves come with their node already chosen.
    let (chosen, open): (Vec<TaskStart>, Vec<TaskStart>) = starts.into_iter().partition(|s| s.node.is_some());
    let nodes = placement.place(&group, open.len());
    if nodes.iter().any(Option::is_none) {
        plan.unplaced = Some(placement.why_unplaced());
    }
    chosen.into_iter().chain(open.into_iter().zip(nodes).filter_map(|(start, node)| Some(TaskStart { node: Some(node?), ..start }))).collect()
}

fn tasks_by_node(views: &[TaskView]) -> BTreeMap<String, usize> {
    let mut group: BTreeMap<String, usize> = BTreeMap::new();
    for node in views.iter().filter_map(|v| v.node.clone()) {
        *group.entry(node).or_default() += 1;
    }
    group
}

/// The rebalancing step of a service whose deployment completed, when it
/// has Availability Zone rebalancing on (or balances other attributes) and
/// no capacity provider strategy (which splits tasks by provider, not zone):
/// the attribute balanced, the step, and the tasks per value. A rebalancing
/// under way goes on over its attribute; otherwise zones come first.
fn rebalance_step(input: &ServiceInput, previous_primary: Option<&ServiceDeployment>, active: &[&Task], views: &[TaskView], desired: usize)
    -> Option<Rebalance> {
    let status = input.service.status.as_ref().and_then(|s| s.availability_zone_rebalancing.clone()).unwrap_or_default();
    let steady = previous_primary.is_some_and(|d| d.rollout_state == RolloutState::Completed) && input.primary.launches
        && active.iter().all(|t| t.label(labels::DEPLOYMENT) == Some(input.primary.deployment.label.as_str()));
    if !steady || input.creations_in_flight > 0 || !matches!(input.scheduling, Scheduling::Replica { strategy: None }) {
        return None;
    }
    let placement = input.placement;
    let mut keys: Vec<String> = placement.zone_rebalancing.then(|| ZONE_LABEL.to_string()).into_iter().chain(placement.rebalance_across.iter().cloned()).collect();
    if status.in_progress {
        keys.retain(|k| Some(k.as_str()) == status.attribute.as_deref().or(Some(ZONE_LABEL)));
    }
    let admitting = placement.admitting().unwrap_or_default();
    let bounds = deployment::bounds(input.service.spec.deployment_configuration.as_ref(), false);
    for key in keys {
        let values: BTreeSet<String> = admitting.iter().map(|n| n.value(&key)).filter(|v| !v.is_empty()).collect();
        let task_values: Vec<Option<String>> = views.iter().map(|v| placement.value_of(v, &key).filter(|v| !v.is_empty())).collect();
        let balance = rebalance::Balance {
            tasks: views,
            values: &task_values,
            desired,
            max_tasks: bounds.max_tasks(desired as u32) as usize,
            zones: &values,
            in_progress: status.in_progress,
            completed_at: status.completed_at.as_ref().map(|t| t.0.as_second()),
            now: input.now,
        };
        let step = rebalance::step(&balance);
        if step != rebalance::Step::None || status.in_progress {
            return Some(Rebalance { counts: rebalance::zone_counts(&task_values, &values), key, step });
        }
    }
    None
}

/// A rebalancing step over one attribute (a node label key, zones first).
struct Rebalance {
    key: String,
    step: rebalance::Step,
    counts: BTreeMap<String, usize>,
}

/// The starts and stops of a rebalancing step: new tasks pinned to a node of
/// each light value, or the surplus stopped from the heaviest values first.
fn rebalance_moves(input: &ServiceInput, rebalance: &Rebalance, views: &[TaskView], protected: &[Option<i64>]) -> (Vec<TaskStart>, Vec<String>, Vec<String>) {
    let key = &rebalance.key;
    match &rebalance.step {
        rebalance::Step::Start(values) => {
            let mut group = tasks_by_node(views);
            let starts = values.iter().filter_map(|value| {
                let mut there = input.placement.clone();
                for node in there.nodes.iter_mut() {
                    node.eligible &= node.value(key) == *value;
                }
                let node = there.place(&group, 1).pop().flatten()?;
                *group.entry(node.clone()).or_default() += 1;
                Some(TaskStart { node: Some(node), provider: None, deployment: None })
            }).collect();
            (starts, vec![], vec![])
        }
        rebalance::Step::Stop(count) => {
            let mut heaviest_first = input.placement.clone();
            heaviest_first.strategies.retain(|s| *s != Strategy::Spread(key.clone()));
            heaviest_first.strategies.insert(0, Strategy::Spread(key.clone()));
            let candidates: Vec<TaskView> = views.iter().zip(protected).filter(|(_, p)| p.is_none()).map(|(v, _)| v.clone()).collect();
            let victims = heaviest_first.scale_in_victims(&candidates, *count).into_iter().map(|v| v.name.clone()).collect();
            (vec![], victims, vec![])
        }
        rebalance::Step::Hold | rebalance::Step::Complete | rebalance::Step::None => (vec![], vec![], vec![]),
    }
}

/// The rebalancing status after this step, with ECS's STARTED / COMPLETED events.
fn rebalancing_status(input: &ServiceInput, rebalance: &Rebalance, events: &mut Vec<Event>) -> RebalancingStatus {
    let (step, counts) = (&rebalance.step, &rebalance.counts);
    let attribute = (rebalance.key != ZONE_LABEL).then(|| rebalance.key.clone());
    let over = attribute.as_deref().map(|key| if key == crate::ecs::placement::node_labels::HOSTNAME_LABEL { "instanceId" } else { key });
    let name = input.service.name_any();
    let mut status = input.service.status.as_ref().and_then(|s| s.availability_zone_rebalancing.clone()).unwrap_or_default();
    let now = conditions::time(input.now);
    match step {
        rebalance::Step::Start(_) if !status.in_progress => {
            events.push(Event::normal("ServiceRebalancingStarted", rebalance::message(&name, counts, false, over)));
            status = RebalancingStatus { in_progress: true, attribute, started_at: Some(now), completed_at: status.completed_at };
        }
        rebalance::Step::Complete => {
            events.push(Event::normal("ServiceRebalancingCompleted", rebalance::message(&name, counts, true, over)));
            status = RebalancingStatus { in_progress: false, attribute, started_at: status.started_at, completed_at: Some(now) };
        }
        // A rebalancing the service left (a deployment, a scale change) ends without its event.
        rebalance::Step::None => status.in_progress = false,
        _ => {}
    }
    status
}

/// The scheduler's view of an active task, with health as ECS counts it.
fn view(task: &Task, health: TaskHealth) -> TaskView {
    TaskView {
        name: task.name().to_string(),
        // Daemon tasks are bound to their node before they are scheduled.
        node: task.node().map(str::to_string).or_else(|| task.label(labels::NODE).map(str::to_string)),
        zone: task.zone.clone(),
        provider: task.label(labels::CAPACITY_PROVIDER).map(str::to_string),
        pending: task.state.last_status != LastStatus::Running,
        healthy: health == TaskHealth::Healthy,
        created: task.created_seconds(),
    }
}

/// The capacity provider of each of `count` new tasks, so that with the
/// deployment's current tasks they follow the strategy's split.
fn new_task_providers<'a>(strategy: Option<&CapacityStrategy>, current: impl Iterator<Item = &'a Task>, count: usize) -> Vec<Option<String>> {
    let Some(strategy) = strategy else { return vec![None; count] };
    let current = crate::ecs::capacity::split::provider_counts(current.map(|t| t.label(labels::CAPACITY_PROVIDER)));
    crate::ecs::capacity::split::providers_for_new_tasks(strategy, &current, count).into_iter().map(Some).collect()
}

struct ReplicaPlan {
    starts: usize,
    /// Replacements of older deployments' lost tasks, by deployment id.
    old_starts: Vec<String>,
    old_targets: BTreeMap<String, usize>,
    victims: Vec<String>,
    /// Unhealthy tasks to stop now (their replacements are among the starts, or healthy).
    unhealthy: Vec<String>,
    stuck: bool,
}

/// The rollout step of §2.6 across the deployments (plain replacement and
/// scaling when there is only one), with the stopped tasks chosen to keep
/// zones and nodes balanced.
#[allow(clippy::too_many_arguments)]
fn plan_replicas(input: &ServiceInput, previous: &[ServiceDeployment], active: &[&Task], healths: &[TaskHealth], protected: &[Option<i64>], views: &[TaskView],
    strategy: Option<&CapacityStrategy>, desired: usize) -> ReplicaPlan {
    let healthy = |i: usize| healths[i] == TaskHealth::Healthy;
    let counts = |tasks: &[usize]| DeploymentTasks {
        running: tasks.iter().filter(|i| active[**i].state.last_status == LastStatus::Running).count() as u32,
        pending: tasks.iter().filter(|i| active[**i].state.last_status != LastStatus::Running).count() as u32,
        healthy: tasks.iter().filter(|i| healthy(**i)).count() as u32,
    };
    // Unhealthy tasks are replaced (§2.4, since Oct 2023): they count toward
    // maximumPercent but not toward their deployment, so the step starts their
    // replacements where there is room. The active tasks by deployment, oldest
    // deployment first.
    let unhealthy: Vec<usize> = (0..active.len()).filter(|i| healths[*i] == TaskHealth::Unhealthy).collect();
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, task) in active.iter().enumerate().filter(|(i, _)| !unhealthy.contains(i)) {
        groups.entry(task.label(labels::DEPLOYMENT).unwrap_or_default()).or_default().push(i);
    }
    let primary_tasks = groups.remove(input.primary.deployment.label.as_str()).unwrap_or_default();
    let mut old: Vec<Vec<usize>> = groups.into_values().collect();
    old.sort_by_key(|tasks| tasks.iter().map(|i| active[*i].created_seconds()).min());
    let mut primary_counts = counts(&primary_tasks);
    primary_counts.pending += input.creations_in_flight as u32;
    let mut old_counts: Vec<DeploymentTasks> = old.iter().map(|tasks| counts(tasks)).collect();
    old_counts.push(counts(&unhealthy));
    let bounds = deployment::bounds(input.service.spec.deployment_configuration.as_ref(), false);
    let step = rollout::plan_rollout_step(desired as u32, bounds, primary_counts, &old_counts);
    // An unhealthy task stops once the service is healthy without it (its
    // replacement is); when maximumPercent leaves no room for a replacement,
    // one at a time. Either way no healthy task is lost.
    let healthy_total = (0..active.len()).filter(|i| healthy(*i)).count();
    let no_room = step.start_primary == 0 && input.creations_in_flight == 0 && active.len() as u32 >= bounds.max_tasks(desired as u32);
    let unhealthy_stops = if healthy_total >= desired { unhealthy.len() } else if no_room { 1.min(unhealthy.len()) } else { 0 };

    let pick = |members: Vec<usize>, count: u32| -> Vec<String> {
        let candidates: Vec<TaskView> = members.into_iter().map(|i| views[i].clone()).collect();
        let victims = match strategy {
            Some(strategy) => crate::ecs::capacity::split::scale_in_victims(strategy, &candidates, count as usize),
            None => input.placement.scale_in_victims(&candidates, count as usize),
        };
        victims.into_iter().map(|t| t.name.clone()).collect()
    };
    // Scale-in and deployments never stop a protected task: they wait for its
    // protection to end (unhealthy tasks are replaced all the same).
    let unprotected = |members: &[usize]| -> Vec<usize> { members.iter().copied().filter(|i| protected[*i].is_none()).collect() };
    let mut victims = vec![];
    let mut old_victims = vec![];
    for (tasks, stops) in old.iter().zip(&step.stop_old) {
        let (fine, unwell): (Vec<usize>, Vec<usize>) = unprotected(tasks).into_iter().partition(|i| healthy(*i));
        let before = victims.len();
        victims.extend(pick(unwell, stops.not_healthy));
        victims.extend(pick(fine, stops.healthy));
        old_victims.push(victims.len() - before);
    }
    // Scale-in within the primary deployment, only once the cache shows every create, as the
    // ReplicaSet controller scales in only once its expectations are met: a create not seen yet
    // (a rebalancing's start-first move, one made before desired fell) is never paid for with a
    // task that runs, nor are the moves the cache shows before the others.
    if input.creations_in_flight == 0 && primary_tasks.len() > desired {
        victims.extend(pick(unprotected(&primary_tasks), (primary_tasks.len() - desired) as u32));
    }
    // Since Nov 2025 a rolling deployment replaces an older revision's
    // unhealthy or lost tasks with that revision, and scale-out goes to both
    // (https://aws.amazon.com/about-aws/whats-new/2025/11/amazon-ecs-service-availability-rolling-deployments):
    // a COMPLETED older deployment keeps a target (the tasks it had, less those
    // the roll stopped, plus a scale-out made while it was being replaced) and
    // is refilled first, within maximumPercent.
    let scale_out = input.service.status.as_ref().and_then(|s| s.desired_count).map_or(0, |before| desired.saturating_sub(before.max(0) as usize));
    let mut room = (bounds.max_tasks(desired as u32) as usize).saturating_sub(active.len() + input.creations_in_flight);
    let (mut old_targets, mut old_starts) = (BTreeMap::new(), vec![]);
    for (tasks, stopped) in old.iter().zip(&old_victims) {
        let id = deployment_id(active[tasks[0]]);
        let Some(before) = previous.iter().find(|d| d.id == id && d.rollout_state == RolloutState::Completed) else { continue };
        let grown = if before.status == DeploymentStatus::Active { scale_out } else { 0 };
        let target = ((before.desired_count.max(0) as usize + grown).saturating_sub(*stopped)).min(desired);
        // Replacements wait until the cache shows earlier creates: which deployment an unseen create is in is not known.
        if input.creations_in_flight == 0 && input.old_revisions.contains(&id) {
            let missing = target.saturating_sub(tasks.len() - stopped).min(room);
            room -= missing;
            old_starts.extend(std::iter::repeat_n(id.clone(), missing));
        }
        old_targets.insert(id, target);
    }
    let only_unhealthy_left = old.is_empty();
    ReplicaPlan {
        starts: (step.start_primary as usize).min(room),
        old_starts,
        old_targets,
        victims,
        unhealthy: pick(unhealthy, unhealthy_stops as u32),
        stuck: step.stuck && !only_unhealthy_left,
    }
}

/// The step of the spec deployment's BLUE_GREEN, LINEAR or CANARY lifecycle, if one
/// applies: green is PRIMARY, blue the older deployment with the most tasks.
fn lifecycle_step(input: &ServiceInput, policy: &LifecyclePolicy, active: &[&Task], healths: &[TaskHealth], desired: usize) -> Option<Lifecycle> {
    let primary = input.primary;
    let counts = |of_green: bool| {
        let tasks = active.iter().zip(healths).filter(|(t, _)| (t.label(labels::DEPLOYMENT) == Some(primary.deployment.label.as_str())) == of_green);
        tasks.fold(DeploymentTasks::default(), |mut c, (t, h)| {
            if t.state.last_status == LastStatus::Running { c.running += 1 } else { c.pending += 1 }
            c.healthy += u32::from(*h == TaskHealth::Healthy);
            c
        })
    };
    let mut older: BTreeMap<&str, (usize, &Task)> = BTreeMap::new();
    for task in active.iter().filter(|t| t.label(labels::DEPLOYMENT) != Some(primary.deployment.label.as_str())) {
        older.entry(task.label(labels::DEPLOYMENT).unwrap_or_default()).or_insert((0, task)).0 += 1;
    }
    let blue = older.into_iter().max_by_key(|(label, (count, _))| (*count, std::cmp::Reverse(*label))).map(|(label, (_, task))| lifecycle::Blue {
        id: deployment_id(task),
        label: label.to_string(),
        task_definition: task.annotation(labels::TASK_DEFINITION).unwrap_or_default().to_string(),
    });
    let service = input.service;
    let history = service.status.as_ref().and_then(|s| s.service_deployments.as_deref()).unwrap_or_default();
    let (namespace, name) = (service.metadata.namespace.clone().unwrap_or_default(), service.name_any());
    let lifecycle_input = LifecycleInput {
        spec: &service.spec,
        namespace: &namespace,
        name: &name,
        annotations: service.annotations(),
        history,
        green_id: &primary.deployment.id,
        green_task_definition: primary.resolved.reference(),
        blue,
        green_tasks: counts(true),
        blue_tasks: counts(false),
        desired: desired as u32,
        firing_alarms: input.firing_alarms,
        traffic_shift: if input.traffic.http_routes { TrafficShift::HttpRoute } else { TrafficShift::EndpointRatio },
        now: input.now,
    };
    lifecycle::decide(&lifecycle_input, policy)
}

/// The starts and stops that bring green and blue to the lifecycle's counts: unhealthy
/// tasks stop (and are replaced in their deployment), blue's lost tasks are replaced with
/// blue's revision, surplus tasks stop as scale-in would choose them.
fn plan_lifecycle(input: &ServiceInput, lifecycle: &Lifecycle, active: &[&Task], healths: &[TaskHealth], protected: &[Option<i64>], views: &[TaskView],
    strategy: Option<&CapacityStrategy>) -> ReplicaPlan {
    let primary_label = input.primary.deployment.label.as_str();
    let unhealthy: Vec<usize> = (0..active.len()).filter(|i| healths[*i] == TaskHealth::Unhealthy).collect();
    let (green, blue): (Vec<usize>, Vec<usize>) = (0..active.len()).filter(|i| !unhealthy.contains(i))
        .partition(|i| active[*i].label(labels::DEPLOYMENT) == Some(primary_label));
    let pick = |members: Vec<usize>, count: usize| -> Vec<String> {
        let candidates: Vec<TaskView> = members.into_iter().filter(|i| protected[*i].is_none()).map(|i| views[i].clone()).collect();
        let victims = match strategy {
            Some(strategy) => crate::ecs::capacity::split::scale_in_victims(strategy, &candidates, count),
            None => input.placement.scale_in_victims(&candidates, count),
        };
        victims.into_iter().map(|t| t.name.clone()).collect()
    };
    let green_now = green.len() + input.creations_in_flight;
    let (green_target, blue_target) = (lifecycle.green_target as usize, lifecycle.blue_target as usize);
    // Scale-in waits until the cache shows every create (see `plan_replicas`).
    let surplus = if input.creations_in_flight == 0 { green.len().saturating_sub(green_target) } else { 0 };
    let mut victims = pick(green.clone(), surplus);
    victims.extend(pick(blue.clone(), blue.len().saturating_sub(blue_target)));
    let mut old_targets = BTreeMap::new();
    let mut old_starts = vec![];
    if let Some(main) = &lifecycle.blue {
        for task in blue.iter().map(|i| active[*i]) {
            old_targets.entry(deployment_id(task)).or_insert(0);
        }
        old_targets.insert(main.id.clone(), blue_target);
        // Replacements wait until the cache shows earlier creates: which deployment an unseen create is in is not known.
        if input.creations_in_flight == 0 && input.old_revisions.contains(&main.id) {
            old_starts = vec![main.id.clone(); blue_target.saturating_sub(blue.len())];
        }
    }
    let unhealthy_count = unhealthy.len();
    ReplicaPlan {
        starts: green_target.saturating_sub(green_now),
        old_starts,
        old_targets,
        victims,
        unhealthy: pick(unhealthy, unhealthy_count),
        stuck: false,
    }
}

/// The pods whose stops the service's status reports: each was counted by the pass that
/// first reported it. So a task that ended by itself is counted once (by the circuit breaker,
/// in the `TasksStopped` event and `stoppedTasks`) without a request of its own: the status
/// write that carries the count also names the task, so an operator that restarts finds both
/// or neither. Until that write is in the cache, passes build on the status handed to the
/// writer (`controller::written`); the owner also keeps the stop (`controller::stopping`)
/// until the pod goes, for a task `stoppedTasks` has no room for. Why the task stopped is
/// read from its pod (its containers' exit) on every pass alike. (A stop an older Berth
/// patched onto the pod still counts as recorded.) The ReplicaSet controller does not touch
/// a failed pod either.
fn reported_stopped(service: &Service) -> BTreeSet<&str> {
    service.status.as_ref().and_then(|s| s.stopped_tasks.as_deref()).unwrap_or_default().iter().filter_map(|t| t.pod_name.as_deref()).collect()
}

/// Pods of stopped tasks beyond the newest `stopped_task_retention`, or older than the TTL.
fn expired_records(tasks: &[Task], limits: &Limits, now: i64) -> Vec<String> {
    let mut stopped: Vec<&Task> = tasks.iter().filter(|t| t.state.last_status == LastStatus::Stopped && !t.deleting).collect();
    stopped.sort_by_key(|t| std::cmp::Reverse(t.created_seconds()));
    stopped.iter().enumerate()
        .filter(|(i, t)| *i >= limits.stopped_task_retention || now - t.created_seconds() > limits.stopped_task_ttl.as_secs() as i64)
        .map(|(_, t)| t.name().to_string())
        .collect()
}

/// The id of the deployment a task belongs to (its label's form when it has no annotation).
fn deployment_id(task: &Task) -> String {
    task.annotation(labels::DEPLOYMENT_ID).or(task.label(labels::DEPLOYMENT)).unwrap_or_default().to_string()
}

fn previous_deployments(service: &Service) -> Vec<ServiceDeployment> {
    service.status.as_ref().and_then(|s| s.deployments.clone()).unwrap_or_default()
}

/// The status and events of a pass, once its creates are done.
pub struct Outcome {
    pub status: ServiceStatus,
    pub events: Vec<Event>,
}

impl ServicePlan {
    /// Why the tasks Berth had to place found no node, if some did not. Said as a
    /// ServiceTaskPlacementFailure event once while the cause stands, as kube-scheduler's
    /// causes are (`controller::unplaced`), not by every pass that meets it.
    pub fn unplaced(&self) -> Option<&Unplaced> {
        self.unplaced.as_ref()
    }

    /// The next status and the pass's events, from the plan and what its creates came to.
    pub fn outcome(&self, input: &ServiceInput, launched: &Launched) -> Outcome {
        let service = input.service;
        let name = service.name_any();
        let primary = input.primary;
        let previous = previous_deployments(service);
        let old = service.status.clone().unwrap_or_default();
        let now = conditions::time(input.now);
        let stopped_pods: BTreeSet<&str> = self.stops.iter().map(|s| s.pod.as_str()).collect();
        let active: Vec<&Task> = input.tasks.iter().filter(|t| t.is_active() && !stopped_pods.contains(t.name())).collect();
        let of = |label: &str| active.iter().filter(move |t| t.label(labels::DEPLOYMENT) == Some(label)).copied().collect::<Vec<&Task>>();
        let counts = |tasks: &[&Task]| {
            let running = tasks.iter().filter(|t| t.state.last_status == LastStatus::Running).count() as i32;
            (running, tasks.len() as i32 - running)
        };
        let started = launched.created.len() as i32;
        let (running, pending) = counts(&active);
        let pending = pending + started;
        let primary_tasks = of(&primary.deployment.label);
        let others: BTreeSet<&str> = active.iter().filter_map(|t| t.label(labels::DEPLOYMENT)).filter(|l| *l != primary.deployment.label).collect();

        // A refused create is a task that failed to launch, for the breaker too.
        let breaker = self.breaker.as_ref().map(|b| match launched.refused {
            Some(_) => b.state.record(TaskEvent::FailedToStart, &b.policy, self.desired as u32),
            None => b.state,
        });
        let tripped = breaker.is_some_and(|b| b.tripped);
        // While the breaker watches, a task RUNNING for less than QUICK_EXIT may be a crashing
        // container's instant of life (its stop would be a failed start): completing on it
        // would let a revision whose tasks all exit at once leave the breaker's watch.
        let established = self.breaker.is_none() || primary_tasks.iter().all(|t| deployment::established(t, input.now));
        let steady = input.problem.is_none() && launched.refused.is_none() && others.is_empty() && primary_tasks.len() == self.desired
            && self.healthy == self.desired && established && pending == 0 && self.stops.is_empty() && input.creations_in_flight == 0
            && self.throttle.wait.is_none() && !self.stuck;

        let previous_primary = previous.iter().find(|d| d.id == primary.deployment.id);
        // A lifecycle that ended without its deployment taking over failed it.
        let lifecycle_failed = self.lifecycle.as_ref().map(|l| &l.record).filter(|r| r.lifecycle.status.is_final() && r.lifecycle.status != lifecycle::LifecycleStatus::Successful);
        let rollout_state = if tripped || !primary.launches || lifecycle_failed.is_some() {
            RolloutState::Failed
        } else if steady || previous_primary.is_some_and(|d| d.rollout_state == RolloutState::Completed) {
            RolloutState::Completed
        } else {
            RolloutState::InProgress
        };
        let reason = match (rollout_state, &primary.failed) {
            (RolloutState::Failed, _) if lifecycle_failed.is_some() => lifecycle_failed.and_then(|r| r.status_reason.clone()).unwrap_or_default(),
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
                circuit_breaker: before.and_then(|d| d.circuit_breaker.clone()),
            }
        };
        // A FAILED deployment keeps the count that failed it.
        let failed_tasks = match (breaker, previous_primary.filter(|d| d.rollout_state == RolloutState::Failed)) {
            (Some(b), _) => b.failed_tasks as i32,
            (None, Some(failed)) => failed.failed_tasks,
            (None, None) => self.throttle.failures as i32,
        };
        let mut primary_entry = entry(&primary.deployment.id, DeploymentStatus::Primary, primary.resolved.reference(), self.desired,
            (primary_running, primary_pending + started), rollout_state, Some(reason), failed_tasks);
        if let Some(b) = &self.breaker {
            primary_entry.circuit_breaker = Some(b.progress.clone());
        }
        let mut list = vec![primary_entry];
        // Older deployments with tasks left, the failed deployment the spec still
        // names, and (until PRIMARY completes) the last completed one.
        for label in &others {
            let tasks = of(label);
            let sample = tasks[0];
            let id = deployment_id(sample);
            let task_definition = sample.annotation(labels::TASK_DEFINITION).unwrap_or_default().to_string();
            let before = previous.iter().find(|d| d.id == id);
            let state = before.map_or(RolloutState::Completed, |d| d.rollout_state);
            let target = self.old_targets.get(&id).copied().unwrap_or(0);
            list.push(entry(&id, DeploymentStatus::Active, task_definition, target, counts(&tasks), state, before.and_then(|d| d.rollout_state_reason.clone()), before.map_or(0, |d| d.failed_tasks)));
        }
        for d in &previous {
            let listed = list.iter().any(|l| l.id == d.id);
            let failed_by_spec = primary.failed.as_ref().is_some_and(|f| f.id == d.id);
            let rollback_memory = rollout_state != RolloutState::Completed && d.rollout_state == RolloutState::Completed;
            if !listed && (failed_by_spec || rollback_memory) {
                list.push(entry(&d.id, DeploymentStatus::Active, d.task_definition.clone(), 0, (0, 0), d.rollout_state, d.rollout_state_reason.clone(), d.failed_tasks));
            }
        }

        let failed = list.iter().find(|d| d.rollout_state == RolloutState::Failed && primary.failed.as_ref().is_none_or(|f| f.id == d.id));
        // Why a BLUE_GREEN, LINEAR or CANARY deployment failed, from its record.
        let records: Vec<&crate::api::ServiceDeploymentRecord> = self.lifecycle.iter().map(|l| &l.record).chain(old.service_deployments.iter().flatten()).collect();
        let lifecycle_reason = |id: &str| records.iter().find(|r| r.service_deployment_id == id).and_then(|r| r.status_reason.clone());
        let launch_refused = launched.refused.as_ref().map(|e| format!("(service {name}) was unable to launch tasks: the API server refused the task: {e}"));
        let degraded: Option<(String, String)> = match () {
            _ if input.problem.is_some() => input.problem.as_ref().map(|p| (p.reason.clone(), p.message.clone())),
            _ if failed.and_then(|d| lifecycle_reason(&d.id)).is_some() => failed.and_then(|d| lifecycle_reason(&d.id)).map(|why| ("DeploymentFailed".to_string(), why)),
            _ if failed.is_some() => failed.map(|d| ("DeploymentFailed".to_string(), format!("(service {name}) (deployment {}) deployment failed: tasks failed to start. {}", d.id,
                if primary.failed.is_some() && primary.launches { format!("Running {} instead.", primary.resolved.reference()) } else { String::new() }))),
            _ if launch_refused.is_some() => launch_refused.clone().map(|m| ("TaskLaunchRefused".to_string(), m)),
            _ => self.throttle.wait.map(|_| ("TaskStartThrottled".to_string(), format!("(service {name}) is unable to consistently start tasks successfully."))),
        };
        let progressing = match () {
            _ if input.problem.is_some() => {
                let p = input.problem.as_ref().expect("checked");
                Want { type_: "Progressing", status: false, reason: &p.reason, message: p.message.clone() }
            }
            _ if launch_refused.is_some() => Want { type_: "Progressing", status: false, reason: "TaskLaunchRefused", message: launch_refused.clone().unwrap_or_default() },
            _ if self.stuck => Want { type_: "Progressing", status: false, reason: "DeploymentStuck", message: rollout::stuck_message(&name) },
            _ if self.throttle.wait.is_some() => Want { type_: "Progressing", status: false, reason: "TaskStartThrottled",
                message: format!("{} consecutive failed starts, next attempt in {}s", self.throttle.failures, self.throttle.wait.unwrap_or_default().as_secs()) },
            _ if steady => Want { type_: "Progressing", status: false, reason: "SteadyState", message: format!("{running} of {} tasks running", self.desired) },
            _ => Want { type_: "Progressing", status: true, reason: if others.is_empty() { "TasksStarting" } else { "DeploymentInProgress" },
                message: format!("{pending} pending, {running} running, {} desired", self.desired) },
        };
        let (ready_reason, ready_message) = match &input.problem {
            Some(p) => (p.reason.as_str(), p.message.clone()),
            None if steady => ("SteadyState", format!("(service {name}) has reached a steady state.")),
            None => ("Reconciling", format!("{running} of {} tasks running", self.desired)),
        };
        let mut wanted = vec![
            Want { type_: "Ready", status: steady, reason: ready_reason, message: ready_message },
            progressing,
            Want {
                type_: "Degraded",
                status: degraded.is_some(),
                reason: degraded.as_ref().map_or("AsExpected", |d| d.0.as_str()),
                message: degraded.as_ref().map(|d| d.1.clone()).unwrap_or_default(),
            },
        ];
        if let Some((status, reason, message)) = &input.traffic.condition {
            wanted.push(Want { type_: "TrafficRouted", status: *status, reason, message: message.clone() });
        }
        let selector = format!("{}={},{}={}", labels::MANAGED_BY, labels::MANAGED_BY_VALUE, labels::SERVICE, crate::ecs::render::names::label_value(&name));
        // The failures counted now first: `stoppedTasks` is what records them (`reported_stopped`).
        let stops: Vec<(String, Stop)> = self.records.iter().cloned().chain(self.stops.iter().map(|s| (s.pod.clone(), s.stop.clone()))).collect();
        let status = ServiceStatus {
            observed_generation: service.metadata.generation,
            desired_count: Some(self.desired as i32),
            running_count: Some(running),
            pending_count: Some(pending),
            task_definition: Some(primary.resolved.reference()),
            rollout_state: Some(rollout_state),
            selector: Some(selector),
            deployments: Some(list),
            stopped_tasks: Some(stopped_summaries(input.tasks, old.stopped_tasks.as_deref().unwrap_or_default(), &stops, &now, input.limits.stopped_task_retention)),
            kubernetes_services: input.traffic.routes.clone(),
            service_deployments: lifecycle::history(old.service_deployments.as_deref().unwrap_or_default(), self.lifecycle.as_ref().map(|l| &l.record), input.now),
            protected_tasks: Some(active.iter().filter(|t| t.protected_until(input.now).is_some()).count() as i32).filter(|n| *n > 0),
            availability_zone_rebalancing: self.rebalancing.clone().or_else(|| old.availability_zone_rebalancing.clone()),
            container_restarts: Some(active.iter().flat_map(|t| &t.state.containers).map(|c| c.restarts as i32).sum()).filter(|n: &i32| *n > 0),
            unsupported_fields: (!input.unsupported.is_empty()).then(|| input.unsupported.to_vec()),
            conditions: Some(conditions::merge(old.conditions.as_deref().unwrap_or_default(), wanted, service.metadata.generation, &now)),
        };
        let mut events = self.report(input, launched, &stops);
        events.extend(self.rebalance_events.iter().cloned());
        events.extend(self.lifecycle.iter().flat_map(|l| l.events.iter().cloned()));
        events.extend(transitions(input, &status));
        Outcome { status, events }
    }

    /// ECS-worded events for the tasks this pass started and stopped, and its problems.
    fn report(&self, input: &ServiceInput, launched: &Launched, stops: &[(String, Stop)]) -> Vec<Event> {
        let name = input.service.name_any();
        let task_id = |pod: &str| input.tasks.iter().find(|t| t.name() == pod).map_or_else(|| pod.to_string(), Task::task_id);
        let mut events = vec![];
        if !launched.created.is_empty() {
            let ids: Vec<String> = launched.created.iter().map(|(_, id)| format!("(task {id})")).collect();
            events.push(Event::normal("TasksStarted", format!("(service {name}) has started {} tasks: {}.", ids.len(), ids.join(" "))));
        }
        // One event per cause, not per task: a roll of 500 stops 500 tasks, and
        // each event is a request out of the same budget as the tasks' own.
        let mut causes: Vec<(&Stop, Vec<String>)> = vec![];
        for (pod, stop) in stops {
            match causes.iter_mut().find(|(cause, _)| *cause == stop) {
                Some((_, ids)) => ids.push(format!("(task {})", task_id(pod))),
                None => causes.push((stop, vec![format!("(task {})", task_id(pod))])),
            }
        }
        for (stop, ids) in causes {
            let message = format!("(service {name}) has stopped {} running tasks: {}. Reason: {} ({})", ids.len(), ids.join(" "), stop.reason, wire_name(&stop.code));
            events.push(Event { warning: stop.code != TaskStopCode::ServiceSchedulerInitiated, reason: "TasksStopped".into(), message });
        }
        for stop in &self.stops {
            let checks = match stop.stop.reason.as_str() {
                FAILED_CONTAINER_HEALTH_CHECKS => "container",
                FAILED_ELB_HEALTH_CHECKS => "ELB",
                _ => continue,
            };
            events.push(Event::warning("TaskFailedHealthChecks", format!("(service {name}) (task {}) failed {checks} health checks.", task_id(&stop.pod))));
        }
        if let Some(refusal) = &launched.refused {
            events.push(Event::warning("TaskLaunchRefused", format!("(service {name}) was unable to launch tasks: the API server refused the task: {refusal}")));
        }
        events
    }
}

/// Recently stopped tasks, newest first, at most `limit`: those stopped now,
/// those whose pods ended by themselves, and older records.
///
/// A task that ended by itself stopped when its containers did (ECS's `stoppedAt`), or, if
/// its pod does not say, when a pass first reported it: the same time in the pass that
/// records its stop and in every pass after, so recording it does not change the status
/// again (a second status write per failed task).
fn stopped_summaries(tasks: &[Task], previous: &[TaskSummary], stopped_now: &[(String, Stop)], now: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time, limit: usize) -> Vec<TaskSummary> {
    let ended_at = |task: &Task| task.finished_at()
        .or_else(|| previous.iter().find(|p| p.task_id == task.task_id()).and_then(|p| p.stopped_at.clone()))
        .unwrap_or_else(|| now.clone());
    let mut summaries: Vec<TaskSummary> = vec![];
    let mut push = |s: TaskSummary| {
        if !summaries.iter().any(|e| e.task_id == s.task_id) {
            summaries.push(s);
        }
    };
    for (pod, stop) in stopped_now {
        match tasks.iter().find(|t| t.name() == pod) {
            Some(task) if task.state.last_status == LastStatus::Stopped => push(task.stopped_summary(stop, Some(ended_at(task)))),
            Some(task) => push(task.stopped_summary(stop, Some(now.clone()))),
            None => push(TaskSummary { task_id: pod.clone(), pod_name: Some(pod.clone()), last_status: Some(LastStatus::Stopped), stop_code: Some(stop.code),
                stopped_reason: Some(stop.reason.clone()), stopped_at: Some(now.clone()), containers: None }),
        }
    }
    let mut ended: Vec<&Task> = tasks.iter().filter(|t| t.state.last_status == LastStatus::Stopped).collect();
    ended.sort_by_key(|t| std::cmp::Reverse(t.created_seconds()));
    for task in ended {
        let stop = task.state.stop.clone().expect("stopped tasks have a stop");
        push(task.stopped_summary(&stop, Some(ended_at(task))));
    }
    for old in previous {
        push(old.clone());
    }
    summaries.truncate(limit);
    summaries
}

/// ECS-worded events for what changed between the old status and the new.
fn transitions(input: &ServiceInput, new: &ServiceStatus) -> Vec<Event> {
    let service = input.service;
    let primary = input.primary;
    let name = service.name_any();
    let old = service.status.as_ref();
    let condition = |status: Option<&ServiceStatus>, type_: &str, reason: &str| {
        status.and_then(|s| s.conditions.as_ref()).is_some_and(|cs| cs.iter().any(|c| c.type_ == type_ && c.reason == reason))
    };
    let became = |type_: &str, reason: &str| condition(Some(new), type_, reason) && !condition(old, type_, reason);
    let state = |status: Option<&ServiceStatus>, id: &str| status.and_then(|s| s.deployments.as_ref()).and_then(|ds| ds.iter().find(|d| d.id == id)).map(|d| d.rollout_state);
    let old_primary = old.and_then(|s| s.deployments.as_ref()).and_then(|ds| ds.iter().find(|d| d.status == DeploymentStatus::Primary));
    let mut events = vec![];
    // A lifecycle's failure has its own SERVICE_DEPLOYMENT_FAILED event.
    let lifecycle_owned = |id: &str| new.service_deployments.iter().flatten().any(|r| r.service_deployment_id == id);
    for d in new.deployments.iter().flatten() {
        if d.rollout_state == RolloutState::Failed && state(old, &d.id) != Some(RolloutState::Failed) && !lifecycle_owned(&d.id) {
            events.push(Event::warning("ServiceDeploymentFailed", rollout::deployment_failed_message(&name, &d.id)));
        }
    }
    if primary.failed.is_some() && primary.launches && old_primary.is_some_and(|p| p.id != primary.deployment.id) {
        events.push(Event::warning("ServiceDeploymentRollback", format!("(service {name}) rolling back to deployment {}.", primary.deployment.id)));
    }
    if state(Some(new), &primary.deployment.id) == Some(RolloutState::Completed) && state(old, &primary.deployment.id) != Some(RolloutState::Completed) {
        events.push(Event::normal("ServiceDeploymentCompleted", format!("(service {name}) (deployment {}) deployment completed.", primary.deployment.id)));
    }
    if became("Ready", "SteadyState") {
        events.push(Event::normal("SteadyState", format!("(service {name}) has reached a steady state.")));
    }
    if became("Degraded", "TaskStartThrottled") {
        events.push(Event::warning("ServiceTaskStartImpaired", format!("(service {name}) is unable to consistently start tasks successfully.")));
    }
    if became("Progressing", "DeploymentStuck") {
        events.push(Event::warning("ServiceDeploymentStuck", rollout::stuck_message(&name)));
    }
    if let Some(problem) = &input.problem {
        let said = old.and_then(|s| s.conditions.as_ref()).is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.reason == problem.reason && c.message == problem.message));
        if !said {
            events.push(Event::warning(&problem.reason, problem.message.clone()));
        }
    }
    let old_unsupported = old.and_then(|s| s.unsupported_fields.clone()).unwrap_or_default();
    if !input.unsupported.is_empty() && old_unsupported != input.unsupported {
        events.push(Event::warning("UnsupportedFields", format!("(service {name}) Berth accepts but does not act on: {}", input.unsupported.join("; "))));
    }
    events
}

/// The status of a service that cannot be planned at all (its task
/// definition cannot be resolved): the problem on the conditions, the rest as it was.
pub fn blocked(service: &Service, problem: &Problem, now: i64) -> Outcome {
    let old = service.status.clone().unwrap_or_default();
    let wanted = ["Ready", "Progressing"].into_iter()
        .map(|type_| Want { type_, status: false, reason: &problem.reason, message: problem.message.clone() })
        .chain([Want { type_: "Degraded", status: true, reason: &problem.reason, message: problem.message.clone() }])
        .collect();
    let status = ServiceStatus {
        observed_generation: service.metadata.generation,
        conditions: Some(conditions::merge(old.conditions.as_deref().unwrap_or_default(), wanted, service.metadata.generation, &conditions::time(now))),
        ..old.clone()
    };
    let events = if service.status.as_ref() == Some(&status) { vec![] } else { vec![Event::warning(&problem.reason, problem.message.clone())] };
    Outcome { status, events }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecs::plan::deployment::{Deployment, QUICK_EXIT};
    use crate::ecs::plan::testing::TaskBuilder;
    use crate::ecs::task::reference::Resolved;

    struct Fixture {
        service: Service,
        primary: Primary,
        traffic: Traffic,
        limits: Limits,
        old_revisions: BTreeSet<String>,
        placement: Placement,
    }

    fn default_placement() -> Placement {
        Placement { strategies: crate::ecs::placement::place::default_spread(), ..Placement::default() }
    }

    fn fixture(spec: serde_json::Value) -> Fixture {
        let service: Service = serde_json::from_value(serde_json::json!({
            "apiVersion": "berth.dev/v1alpha1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "ns", "generation": 1}, "spec": spec})).unwrap();
        let resolved = Resolved { family: "web".into(), revision: 2, spec: serde_json::from_value(serde_json::json!({"containerDefinitions": [{"name": "app", "image": "x"}]})).unwrap() };
        let primary = Primary { deployment: Deployment::of(&service.spec, &resolved), resolved, launches: true, failed: None };
        Fixture { service, primary, traffic: Traffic::default(), limits: Limits::default(), old_revisions: BTreeSet::new(), placement: default_placement() }
    }

    impl Fixture {
        fn input<'a>(&'a self, tasks: &'a [Task], problem: Option<Problem>, now: i64) -> ServiceInput<'a> {
            ServiceInput {
                service: &self.service,
                primary: &self.primary,
                tasks,
                creations_in_flight: 0,
                scheduling: Scheduling::Replica { strategy: None },
                traffic: &self.traffic,
                placement: &self.placement,
                old_revisions: &self.old_revisions,
                lifecycle: None,
                firing_alarms: &[],
                problem,
                unsupported: &[],
                limits: &self.limits,
                now,
            }
        }

        fn label(&self) -> &str {
            &self.primary.deployment.label
        }
    }

    fn condition<'a>(status: &'a ServiceStatus, type_: &str) -> &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
        status.conditions.iter().flatten().find(|c| c.type_ == type_).unwrap()
    }

    #[test]
    fn a_pass_that_cannot_render_stops_nothing_and_says_why() {
        let f = fixture(serde_json::json!({"taskDefinition": "web:2", "desiredCount": 2, "deploymentConfiguration": {"minimumHealthyPercent": 50}}));
        // Two healthy tasks of an old deployment: a roll would stop one of them at once.
        let tasks = [
            TaskBuilder::new("old-1", 0).deployment("ecs-svc-old").on("n1", "a").running_since(10).build(),
            TaskBuilder::new("old-2", 0).deployment("ecs-svc-old").on("n2", "b").running_since(10).build(),
        ];
        let problem = Problem::new("InvalidTaskDefinition", "containerDefinitions[0].dependsOn: cycle app -> app");
        let input = f.input(&tasks, Some(problem.clone()), 1000);
        let plan = plan(&input);
        assert!(plan.stops.is_empty() && plan.starts.is_empty(), "{plan:?}");
        let outcome = plan.outcome(&input, &Launched::default());
        let ready = condition(&outcome.status, "Ready");
        assert_eq!((ready.status.as_str(), ready.reason.as_str(), ready.message.as_str()), ("False", "InvalidTaskDefinition", problem.message.as_str()));
        assert_eq!(outcome.status.running_count, Some(2), "counts stay current while blocked");
        assert!(outcome.events.iter().any(|e| e.warning && e.message.contains("dependsOn")), "{:?}", outcome.events);
        // Without the problem the same pass starts the roll.
        let plan = super::plan(&f.input(&tasks, None, 1000));
        assert_eq!((plan.starts.len(), plan.stops.len()), (2, 1));
    }

    #[test]
    fn one_pass_starts_at_most_the_limit() {
        let mut f = fixture(serde_json::json!({"taskDefinition": "web:2", "desiredCount": 20000}));
        f.limits.max_starts_per_pass = 500;
        let plan = plan(&f.input(&[], None, 1000));
        assert_eq!(plan.starts.len(), 500);
        assert_eq!(plan.requeue, BUSY_REQUEUE);
    }

    #[test]
    fn a_refused_create_is_degraded_and_counts_for_the_breaker() {
        let f = fixture(serde_json::json!({"taskDefinition": "web:2", "desiredCount": 2,
            "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": true, "rollback": false}}}));
        let input = f.input(&[], None, 1000);
        let plan = plan(&input);
        assert_eq!(plan.starts.len(), 2);
        let refusal = "pods \"web-1\" is forbidden: exceeded quota: pods (Forbidden)".to_string();
        let outcome = plan.outcome(&input, &Launched { created: vec![], refused: Some(refusal.clone()) });
        let degraded = condition(&outcome.status, "Degraded");
        assert_eq!((degraded.status.as_str(), degraded.reason.as_str()), ("True", "TaskLaunchRefused"));
        assert!(degraded.message.contains("exceeded quota"), "{}", degraded.message);
        assert_eq!(condition(&outcome.status, "Progressing").reason, "TaskLaunchRefused");
        assert_eq!(outcome.status.deployments.as_ref().unwrap()[0].failed_tasks, 1);
        assert!(outcome.events.iter().any(|e| e.warning && e.reason == "TaskLaunchRefused"));
    }

    #[test]
    fn an_essential_exit_is_stopped_with_its_code_and_replaced() {
        let f = fixture(serde_json::json!({"taskDefinition": "web:2", "desiredCount": 2}));
        let label = f.label().to_string();
        let tasks = [
            TaskBuilder::new("a", 0).deployment(&label).on("n1", "a").running_since(10).build(),
            TaskBuilder::new("b", 0).deployment(&label).on("n2", "b").exited(1, 10, 500).build(),
        ];
        let input = f.input(&tasks, None, 1000);
        let plan = plan(&input);
        assert_eq!(plan.stops, vec![TaskStop { pod: "b".into(), stop: Stop::new(StopCode::EssentialContainerExited, "Essential container in task exited"), drain: false, record: true }]);
        assert_eq!(plan.starts.len(), 1);
        let outcome = plan.outcome(&input, &Launched { created: vec![("web-x".into(), "x".into())], ..Default::default() });
        let stopped = outcome.events.iter().find(|e| e.reason == "TasksStopped").unwrap();
        assert_eq!(stopped.message, "(service web) has stopped 1 running tasks: (task b). Reason: Essential container in task exited (EssentialContainerExited)");
        assert_eq!(outcome.status.stopped_tasks.as_ref().unwrap()[0].task_id, "b");
    }

    #[test]
    fn a_task_that_ended_by_itself_is_reported_stopped_when_its_container_exited_before_and_after_its_record() {
        // ECS's stoppedAt is when the task stopped. The pass that records the stop and the
        // passes after it (the record on the pod) report the same time, so writing the record
        // leaves the stopped tasks as they were: no second status write per failure.
        let f = fixture(serde_json::json!({"taskDefinition": "web:2", "desiredCount": 1}));
        let label = f.label().to_string();
        let ended = || TaskBuilder::new("b", 0).deployment(&label).on("n2", "b").ended(1, 10, 500).build();
        let tasks = [ended()];
        let input = f.input(&tasks, None, 1000);
        let first = plan(&input);
        assert_eq!(first.records.len(), 1);
        let (pod, stop) = first.records[0].clone();
        let status = first.outcome(&input, &Launched { created: vec![("web-r".into(), "r".into())], ..Default::default() }).status;
        let reported = status.stopped_tasks.clone().unwrap();
        assert_eq!(reported[0].stopped_at, Some(conditions::time(500)), "the container's exit, not the pass's time");

        let mut service = f.service.clone();
        service.status = Some(status);
        let mut recorded = (*ended().pod).clone();
        recorded.annotations_mut().extend([(labels::STOP_CODE.to_string(), wire_name(&stop.code).to_string()), (labels::STOPPED_REASON.to_string(), stop.reason.clone())]);
        let next = [Task::of(recorded), TaskBuilder::new("web-r", 1000).deployment(&label).running_since(1001).build()];
        let input = ServiceInput { service: &service, ..f.input(&next, None, 1003) };
        let second = plan(&input);
        assert!(second.records.is_empty() && second.starts.is_empty(), "{pod} is recorded and replaced");
        assert_eq!(second.outcome(&input, &Launched::default()).status.stopped_tasks, Some(reported));
    }

    #[test]
    fn failures_are_counted_once_by_the_status_that_reports_them_and_expired_records_wait_for_the_replacements() {
        // Retention 1: two tasks end in one pass. Both count for the breaker and the
        // TasksStopped event; stoppedTasks, as long as the retention, names the newer, whose
        // pod stays. The pass starts their replacements, so the older (an expired record)
        // waits for a pass that starts nothing: that one, with the newer named by the status
        // and the older kept by its owner, deletes the older and counts neither again.
        let mut f = fixture(serde_json::json!({"taskDefinition": "web:2", "desiredCount": 2,
            "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": true, "rollback": false}}}));
        f.limits.stopped_task_retention = 1;
        let label = f.label().to_string();
        let ended = |name: &str, created: i64| TaskBuilder::new(name, created).deployment(&label).ended(1, created + 1, created + 2);
        let tasks = vec![ended("old", 10).build(), ended("new", 20).build()];
        let input = f.input(&tasks, None, 100);
        let first = plan(&input);
        assert_eq!(first.starts.len(), 2);
        assert_eq!(first.records.iter().map(|(pod, _)| pod.as_str()).collect::<Vec<_>>(), vec!["new", "old"]);
        assert!(first.forget.is_empty(), "cleanup yields to the replacements: {:?}", first.forget);
        let Outcome { status, events } = first.outcome(&input, &Launched::default());
        assert_eq!(status.deployments.as_ref().unwrap()[0].failed_tasks, 2);
        let stopped = events.iter().find(|e| e.reason == "TasksStopped").expect("a TasksStopped event");
        assert!(stopped.message.starts_with("(service web) has stopped 2 running tasks"), "{}", stopped.message);
        let reported: Vec<&str> = status.stopped_tasks.iter().flatten().map(|t| t.task_id.as_str()).collect();
        assert_eq!(reported, vec!["new"]);

        let mut service = f.service.clone();
        service.status = Some(status);
        let mut kept = ended("old", 10).build();
        std::sync::Arc::make_mut(&mut kept.state).recorded = true;
        let replacement = |name: &str| TaskBuilder::new(name, 100).deployment(&label).running_since(100).build();
        let next = [kept, ended("new", 20).build(), replacement("r1"), replacement("r2")];
        let input = ServiceInput { service: &service, ..f.input(&next, None, 101) };
        let second = plan(&input);
        assert!(second.starts.is_empty() && second.records.is_empty(), "{:?} {:?}", second.starts, second.records);
        assert_eq!(second.forget, vec!["old".to_string()]);
        assert_eq!(second.outcome(&input, &Launched::default()).status.deployments.unwrap()[0].failed_tasks, 2);
    }

    #[test]
    fn a_failure_the_status_reports_is_not_counted_again_by_a_restarted_operator() {
        // A restarted operator has no memory of the stops it counted: the status that counted
        // a failure names it, and the failed pod carries nothing of Berth's.
        let f = fixture(serde_json::json!({"taskDefinition": "web:2", "desiredCount": 1,
            "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": true, "rollback": false}}}));
        let label = f.label().to_string();
        let failed = TaskBuilder::new("b", 10).deployment(&label).ended(1, 11, 12).build();
        // Its replacement runs, not yet long enough to reset the breaker's count.
        let tasks = [failed, TaskBuilder::new("r", 95).deployment(&label).running_since(96).build()];
        let input = f.input(&tasks, None, 100);
        let counted = plan(&input);
        assert_eq!(counted.records.len(), 1, "not reported yet: counted");
        let mut service = f.service.clone();
        service.status = Some(counted.outcome(&input, &Launched::default()).status);
        assert_eq!(service.status.as_ref().unwrap().deployments.as_ref().unwrap()[0].failed_tasks, 1);

        let after_restart = ServiceInput { service: &service, ..f.input(&tasks, None, 101) };
        let again = plan(&after_restart);
        assert!(again.records.is_empty(), "{:?}", again.records);
        let status = again.outcome(&after_restart, &Launched::default()).status;
        assert_eq!(status.deployments.as_ref().unwrap()[0].failed_tasks, 1);
        assert_eq!(Some(&status), service.status.as_ref(), "nothing to write again");
    }

    #[test]
    fn with_the_breaker_on_a_deployment_completes_once_its_tasks_are_established() {
        // A task RUNNING for less than QUICK_EXIT may be a crashing container's instant of
        // life. CI at 8412ccb: a revision whose containers exit 1 right after RUNNING completed
        // on its two replacements' 40 ms of RUNNING, and its failures after that, throttled,
        // never tripped the breaker, which watches only a deployment IN_PROGRESS (API_Deployment
        // rolloutState: COMPLETED when the service reaches a steady state).
        let state = |f: &Fixture, tasks: &[Task], now: i64| {
            let input = f.input(tasks, None, now);
            let plan = plan(&input);
            (plan.outcome(&input, &Launched::default()).status.deployments.unwrap()[0].rollout_state, plan.requeue)
        };
        let breaker = fixture(serde_json::json!({"taskDefinition": "web:2", "desiredCount": 2,
            "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": true, "rollback": false}}}));
        // Behind their Services and Ready: healthy as soon as they run.
        let serving_pair = |f: &Fixture| {
            let label = f.label().to_string();
            [TaskBuilder::new("a", 100).deployment(&label).running_since(101).serving().build(),
                TaskBuilder::new("b", 100).deployment(&label).running_since(102).serving().build()]
        };
        let tasks = serving_pair(&breaker);
        let (rollout, requeue) = state(&breaker, &tasks, 103);
        assert!(rollout == RolloutState::InProgress && requeue <= Duration::from_secs(8), "{rollout:?}, look again by the first's establishment: {requeue:?}");
        assert_eq!(state(&breaker, &tasks, 111).0, RolloutState::InProgress);
        assert_eq!(state(&breaker, &tasks, 112).0, RolloutState::Completed);
        // Without the breaker nothing watches the deployment: it completes at once.
        let plain = fixture(serde_json::json!({"taskDefinition": "web:2", "desiredCount": 2}));
        assert_eq!(state(&plain, &serving_pair(&plain), 103).0, RolloutState::Completed);
    }

    #[test]
    fn the_breaker_trips_after_its_threshold_of_failed_starts() {
        // desiredCount 2: the threshold is max(3, min(200, 2 * 0.5)) = 3 (§2.8).
        let f = fixture(serde_json::json!({"taskDefinition": "web:2", "desiredCount": 2,
            "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": true, "rollback": false}}}));
        let label = f.label().to_string();
        let mut service = f.service.clone();
        let mut failures = 0;
        for pass in 0..3 {
            let tasks = [TaskBuilder::new(&format!("t{pass}"), 100 * pass).deployment(&label).failed_to_start().build()];
            let input = ServiceInput { service: &service, ..f.input(&tasks, None, 100 * pass + 5) };
            let plan = plan(&input);
            let outcome = plan.outcome(&input, &Launched::default());
            failures = outcome.status.deployments.as_ref().unwrap()[0].failed_tasks;
            service.status = Some(outcome.status);
        }
        assert_eq!(failures, 3);
        let status = service.status.as_ref().unwrap();
        assert_eq!(status.rollout_state, Some(RolloutState::Failed));
        assert_eq!(condition(status, "Degraded").reason, "DeploymentFailed");
        // A FAILED deployment without rollback launches nothing more, and keeps its count.
        let failed = deployment::primary(&service.spec, f.primary.resolved.clone(), status.deployments.as_deref().unwrap(), &[]);
        let input = ServiceInput { service: &service, primary: &failed, ..f.input(&[], None, 1000) };
        let plan = plan(&input);
        assert!(plan.starts.is_empty());
        assert_eq!(plan.outcome(&input, &Launched::default()).status.deployments.unwrap()[0].failed_tasks, 3);
    }

    #[test]
    fn a_crashing_task_ready_for_an_instant_neither_resets_nor_stages_the_breaker() {
        // Behind a Service a task is healthy once Ready; a crashing container is
        // Ready for an instant before it exits. Only a task RUNNING for QUICK_EXIT
        // moves the breaker to stage 2 or resets its count.
        let f = fixture(serde_json::json!({"taskDefinition": "web:2", "desiredCount": 4,
            "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": true, "rollback": false}}}));
        let label = f.label().to_string();
        let tasks = [
            TaskBuilder::new("a", 90).deployment(&label).exited(1, 95, 96).build(),
            TaskBuilder::new("b", 90).deployment(&label).running_since(99).health_check(true).build(),
        ];
        let input = f.input(&tasks, None, 100);
        let outcome = plan(&input).outcome(&input, &Launched::default());
        assert_eq!(outcome.status.deployments.as_ref().unwrap()[0].failed_tasks, 1);
        // The same task, established: it resets the count (resetOnHealthyTask defaults to true).
        let input = f.input(&tasks, None, 99 + QUICK_EXIT.as_secs() as i64);
        let outcome = plan(&input).outcome(&input, &Launched::default());
        assert_eq!(outcome.status.deployments.as_ref().unwrap()[0].failed_tasks, 0);
    }

    /// Runs one pass per entry of `passes` (the tasks the cache shows, and
    /// when), each from the status the pass before wrote; the failed task
    /// counts of the spec's deployment after each.
    fn failed_tasks_by_pass(f: &Fixture, passes: &[(Vec<Task>, i64)]) -> (Vec<i32>, ServiceStatus) {
        let mut service = f.service.clone();
        let counts = passes.iter().map(|(tasks, now)| {
            let input = ServiceInput { service: &service, ..f.input(tasks, None, *now) };
            let status = plan(&input).outcome(&input, &Launched::default()).status;
            let failed = status.deployments.as_ref().unwrap()[0].failed_tasks;
            service.status = Some(status);
            failed
        }).collect();
        (counts, service.status.expect("a pass ran"))
    }

    /// API_DeploymentCircuitBreaker: with resetOnHealthyTask (default true) "a
    /// task that reaches a healthy state resets the failure count to 0": the
    /// transition, once, not every pass while a task stays healthy (fidelity
    /// audit N3a). D=10: threshold max(3, ceil(50% of 10)) = 5.
    #[test]
    fn a_task_that_stays_healthy_resets_the_breaker_once_not_every_pass() {
        let f = fixture(serde_json::json!({"taskDefinition": "web:2", "desiredCount": 10,
            "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": true, "rollback": false}}}));
        let label = f.label().to_string();
        let steady = TaskBuilder::new("steady", 0).deployment(&label).on("n1", "a").running_since(10).build();
        // Each pass finds one more task that ran 15 s and exited (a stage-2 failure).
        let passes: Vec<(Vec<Task>, i64)> = (0..5).map(|i| {
            let start = 100 + 30 * i;
            let dead = TaskBuilder::new(&format!("dead-{i}"), start).deployment(&label).exited(1, start, start + 15).build();
            (vec![steady.clone(), dead], start + 20)
        }).collect();
        let (counts, status) = failed_tasks_by_pass(&f, &passes);
        assert_eq!(counts, vec![1, 2, 3, 4, 5]);
        assert_eq!(status.rollout_state, Some(RolloutState::Failed));
    }

    #[test]
    fn a_task_becoming_healthy_after_failures_resets_the_count_once() {
        let f = fixture(serde_json::json!({"taskDefinition": "web:2", "desiredCount": 10,
            "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": true, "rollback": false}}}));
        let label = f.label().to_string();
        let dead = |i: i64| TaskBuilder::new(&format!("dead-{i}"), 100 + 30 * i).deployment(&label).exited(1, 100 + 30 * i, 115 + 30 * i).build();
        // Healthy 40 s after RUNNING at 150, so at 190: after dead-0 and dead-1, before dead-3.
        let late = TaskBuilder::new("late", 140).deployment(&label).on("n1", "a").running_since(150).build();
        let passes = vec![
            (vec![dead(0)], 120),
            (vec![dead(1), late.clone()], 180),
            (vec![dead(2), late.clone()], 200),
            (vec![dead(3), late.clone()], 215),
        ];
        // dead-2 ended at 175, before the transition at 190 that the same pass saw: the reset comes after it.
        assert_eq!(failed_tasks_by_pass(&f, &passes).0, vec![1, 2, 0, 1]);
    }

    /// §2.8: stage 1 counts start failures only until some task reaches
    /// RUNNING; the stage is kept, so once a task ran, later start failures
    /// do not count even when that task is gone (fidelity audit N3d).
    #[test]
    fn the_breaker_stays_in_its_second_stage_once_a_task_ran() {
        let f = fixture(serde_json::json!({"taskDefinition": "web:2", "desiredCount": 1,
            "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": true, "rollback": false}}}));
        let label = f.label().to_string();
        let ran = TaskBuilder::new("ran", 0).deployment(&label).on("n1", "a").running_since(10).health_check(false).build();
        let pull = |i: i64| TaskBuilder::new(&format!("pull-{i}"), 100 + i).deployment(&label).failed_to_start().build();
        let passes = vec![(vec![ran], 30), (vec![pull(0)], 100), (vec![pull(1)], 110), (vec![pull(2)], 120)];
        assert_eq!(failed_tasks_by_pass(&f, &passes).0, vec![0, 0, 0, 0]);
    }

    /// ContainerDefinition `startTimeout`: "If a startTimeout value is specified
    /// for containerB and it doesn't reach the desired status within that time then
    /// containerA gives up and not start. This results in the task transitioning to
    /// a STOPPED state" (API_ContainerDefinition).
    #[test]
    fn a_task_waiting_on_a_dependency_past_its_start_timeout_fails_to_start() {
        let f = fixture(serde_json::json!({"taskDefinition": "web:2", "desiredCount": 1}));
        let label = f.label().to_string();
        let tasks = [TaskBuilder::new("waiting", 100).deployment(&label).on("n1", "a").start_timeout(120, 100).build()];
        let before = plan(&f.input(&tasks, None, 219));
        assert!(before.stops.is_empty() && before.requeue <= Duration::from_secs(1), "{before:?}");
        let after = plan(&f.input(&tasks, None, 220));
        assert_eq!(after.stops.iter().map(|s| s.stop.code).collect::<Vec<_>>(), [StopCode::TaskFailedToStart]);
    }

    /// API_Deployment `failedTasks`: "a task is considered a failure if the
    /// service scheduler can't launch the task". A task kube-scheduler cannot
    /// place is stopped as a failed start once the placement timeout passes,
    /// so such a deployment fails instead of staying IN_PROGRESS for ever.
    #[test]
    fn a_task_that_cannot_be_placed_in_time_fails_to_start_and_counts() {
        let f = fixture(serde_json::json!({"taskDefinition": "web:2", "desiredCount": 1,
            "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": true, "rollback": false}}}));
        let label = f.label().to_string();
        let unplaced = [TaskBuilder::new("stuck", 100).deployment(&label).unschedulable("0/3 nodes are available: 3 Insufficient memory.").build()];
        let timeout = f.limits.placement_timeout.as_secs() as i64;
        let waiting = plan(&f.input(&unplaced, None, 100 + timeout - 1));
        assert!(waiting.stops.is_empty() && waiting.starts.is_empty(), "{waiting:?}");
        assert!(waiting.requeue <= Duration::from_secs(2), "{:?}", waiting.requeue);
        let input = f.input(&unplaced, None, 100 + timeout);
        let timed_out = plan(&input);
        assert_eq!(timed_out.stops.len(), 1);
        let stop = &timed_out.stops[0].stop;
        assert_eq!(stop.code, StopCode::TaskFailedToStart);
        assert!(stop.reason.contains("could not be placed") && stop.reason.contains("Insufficient memory"), "{}", stop.reason);
        assert_eq!(timed_out.outcome(&input, &Launched::default()).status.deployments.unwrap()[0].failed_tasks, 1);
    }

    /// https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-scale-in-protection.html:
    /// a protected task is not "terminated by scale-in events from either
    /// service auto scaling or deployments" until its protection expires.
    #[test]
    fn protected_tasks_survive_scale_in_and_deployments_until_protection_expires() {
        let f = fixture(serde_json::json!({"taskDefinition": "web:2", "desiredCount": 1,
            "deploymentConfiguration": {"minimumHealthyPercent": 0, "maximumPercent": 100}}));
        let label = f.label().to_string();
        let protected = |name: &str, deployment: &str, node: &str| TaskBuilder::new(name, 0).deployment(deployment).on(node, "a").running_since(10)
            .protected_until(1060).build();
        // Scale-in from 3 to 1: the protected task stays, an unprotected one goes in its place.
        let tasks = [protected("keep", &label, "n1"), TaskBuilder::new("b", 0).deployment(&label).on("n2", "a").running_since(10).build(),
            TaskBuilder::new("c", 0).deployment(&label).on("n3", "a").running_since(10).build()];
        let input = f.input(&tasks, None, 1000);
        let plan = plan(&input);
        let mut stopped: Vec<&str> = plan.stops.iter().map(|s| s.pod.as_str()).collect();
        stopped.sort();
        assert_eq!(stopped, ["b", "c"]);
        assert_eq!(plan.outcome(&input, &Launched::default()).status.protected_tasks, Some(1));
        // A deployment waits for it, then stops it once protection has expired.
        let old = [protected("old", "ecs-svc-old", "n1")];
        let waiting = super::plan(&f.input(&old, None, 1000));
        assert!(waiting.stops.is_empty() && waiting.starts.is_empty(), "{waiting:?}");
        assert_eq!(waiting.requeue, Duration::from_secs(61), "look again when the protection ends");
        let expired = super::plan(&f.input(&old, None, 1060));
        assert_eq!(expired.stops.iter().map(|s| s.pod.as_str()).collect::<Vec<_>>(), ["old"]);
    }

    #[test]
    fn an_unhealthy_protected_task_is_replaced_all_the_same() {
        let f = fixture(serde_json::json!({"taskDefinition": "web:2", "desiredCount": 1, "deploymentConfiguration": {"maximumPercent": 100}}));
        let label = f.label().to_string();
        let tasks = [TaskBuilder::new("sick", 0).deployment(&label).on("n1", "a").running_since(10).health_check(false).protected_until(5000).build()];
        let plan = plan(&f.input(&tasks, None, 1000));
        assert_eq!(plan.stops.iter().map(|s| s.stop.reason.as_str()).collect::<Vec<_>>(), [FAILED_CONTAINER_HEALTH_CHECKS]);
    }

    /// A service rolling from the COMPLETED deployment `ecs-svc-old` (which ran
    /// `old_target` tasks) to web:2, as the last status says.
    fn rolling(desired: i32, min: i32, max: i32, old_target: i32, old_state: &str, status_desired: i32) -> Fixture {
        let mut f = fixture(serde_json::json!({"taskDefinition": "web:2", "desiredCount": desired,
            "deploymentConfiguration": {"minimumHealthyPercent": min, "maximumPercent": max}}));
        let at = "2026-01-01T00:00:00Z";
        f.service.status = Some(serde_json::from_value(serde_json::json!({"desiredCount": status_desired, "deployments": [
            {"id": f.primary.deployment.id, "status": "PRIMARY", "taskDefinition": "web:2", "desiredCount": status_desired, "pendingCount": 0,
                "runningCount": 0, "failedTasks": 0, "rolloutState": "IN_PROGRESS", "createdAt": at, "updatedAt": at},
            {"id": "ecs-svc-old", "status": "ACTIVE", "taskDefinition": "web:1", "desiredCount": old_target, "pendingCount": 0,
                "runningCount": old_target, "failedTasks": 0, "rolloutState": old_state, "createdAt": at, "updatedAt": at}]})).unwrap());
        f.old_revisions.insert("ecs-svc-old".into());
        f
    }

    fn healthy_old(count: usize) -> Vec<Task> {
        (0..count).map(|i| TaskBuilder::new(&format!("old-{i}"), 0).deployment("ecs-svc-old").on(&format!("n{i}"), "a").running_since(10).build()).collect()
    }

    fn old_starts(plan: &ServicePlan) -> usize {
        plan.starts.iter().filter(|s| s.deployment.as_deref() == Some("ecs-svc-old")).count()
    }

    /// Since Nov 2025 (https://aws.amazon.com/about-aws/whats-new/2025/11/amazon-ecs-service-availability-rolling-deployments):
    /// "ECS now replaces unhealthy or terminated tasks using the same service
    /// revision they belong to", within maximumPercent (fidelity audit N6).
    #[test]
    fn a_lost_task_of_the_running_revision_is_replaced_with_that_revision() {
        // desired 4, max 150 %: 6 tasks at most. The old deployment ran 4; one is gone.
        let f = rolling(4, 100, 150, 4, "COMPLETED", 4);
        let label = f.label().to_string();
        let mut tasks = healthy_old(3);
        tasks.push(TaskBuilder::new("new-0", 990).deployment(&label).on("n9", "b").build());
        let input = f.input(&tasks, None, 1000);
        let plan = plan(&input);
        assert_eq!((old_starts(&plan), plan.starts.len()), (1, 2), "{plan:?}");
        // The old deployment keeps its count of 4 in status.
        let status = plan.outcome(&input, &Launched::default()).status;
        assert_eq!(status.deployments.unwrap().iter().find(|d| d.id == "ecs-svc-old").unwrap().desired_count, 4);
        // An unhealthy old task is replaced with the old revision too.
        let mut tasks = healthy_old(3);
        tasks.push(TaskBuilder::new("sick", 0).deployment("ecs-svc-old").on("n5", "a").running_since(10).health_check(false).build());
        assert_eq!(old_starts(&super::plan(&f.input(&tasks, None, 1000))), 1);
    }

    #[test]
    fn the_roll_lowers_the_older_deployments_count_as_it_stops_its_tasks() {
        // An earlier pass stopped two of the old deployment's four tasks: its count is 2.
        let f = rolling(4, 50, 100, 2, "COMPLETED", 4);
        let label = f.label().to_string();
        let mut tasks = healthy_old(2);
        tasks.extend((0..2).map(|i| TaskBuilder::new(&format!("new-{i}"), 0).deployment(&label).on("n9", "b").running_since(10).build()));
        let input = f.input(&tasks, None, 1000);
        let plan = plan(&input);
        // min 50 %: both old tasks stop (2 healthy new ones stay); none is replaced.
        assert_eq!((plan.stops.len(), old_starts(&plan)), (2, 0), "{plan:?}");
        let status = plan.outcome(&input, &Launched::default()).status;
        let old = status.deployments.unwrap().into_iter().find(|d| d.id == "ecs-svc-old").unwrap();
        assert_eq!(old.desired_count, 0);
    }

    /// "When Application Auto Scaling triggers during a rolling deployment, ECS
    /// applies scale-out to both service revisions."
    #[test]
    fn a_scale_out_during_a_roll_goes_to_both_revisions() {
        let f = rolling(6, 100, 200, 4, "COMPLETED", 4);
        let tasks = healthy_old(4);
        let plan = plan(&f.input(&tasks, None, 1000));
        assert_eq!((old_starts(&plan), plan.starts.len() - old_starts(&plan)), (2, 6), "{plan:?}");
    }

    #[test]
    fn a_failed_deployments_lost_tasks_are_not_replaced() {
        let f = rolling(4, 100, 150, 4, "FAILED", 4);
        let plan = plan(&f.input(&healthy_old(3), None, 1000));
        assert_eq!(old_starts(&plan), 0, "{plan:?}");
    }

    /// AZ rebalancing across passes: 3/3/0 over three zones starts two tasks
    /// pinned to the empty zone (STARTED event), holds while they warm up,
    /// stops two from the full zones, and completes at 2/2/2, never above
    /// maximumPercent nor below desired.
    #[test]
    fn a_recovered_zone_is_rebalanced_start_first() {
        let mut f = fixture(serde_json::json!({"taskDefinition": "web", "desiredCount": 6,
            "deploymentConfiguration": {"minimumHealthyPercent": 100, "maximumPercent": 200}}));
        let node = |name: &str, zone: &str| crate::ecs::placement::NodeSlot {
            name: name.into(), labels: BTreeMap::from([(ZONE_LABEL.to_string(), zone.to_string())]),
            free: crate::ecs::placement::Resources { cpu: 8000, memory: 1 << 34 }, eligible: true, ..Default::default() };
        f.placement.nodes = vec![node("na", "a"), node("nb", "b"), node("nc", "c")];
        f.placement.zone_rebalancing = true;
        let deployment = f.primary.deployment.clone();
        let task = |name: &str, zone: &str, since: i64| TaskBuilder::new(name, since - 5).of_deployment(&deployment, "web:2").on(&format!("n{zone}"), zone).running_since(since).build();
        let mut tasks: Vec<Task> = ["a", "a", "a", "b", "b", "b"].iter().enumerate().map(|(i, z)| task(&format!("t{i}"), z, 10)).collect();
        let mut service = f.service.clone();
        let input = ServiceInput { service: &service, ..f.input(&tasks, None, 100) };
        service.status = Some(plan(&input).outcome(&input, &Launched::default()).status);

        let mut now = 200;
        let mut events = vec![];
        for pass in 0..4 {
            let input = ServiceInput { service: &service, ..f.input(&tasks, None, now) };
            let pass_plan = plan(&input);
            let started: Vec<Task> = pass_plan.starts.iter().enumerate().map(|(i, s)| {
                assert_eq!(s.node.as_deref(), Some("nc"), "moves go to the empty zone");
                task(&format!("new{pass}{i}"), "c", now + 20)
            }).collect();
            let launched = Launched { created: started.iter().map(|t| (t.name().to_string(), t.name().to_string())).collect(), refused: None };
            let outcome = pass_plan.outcome(&input, &launched);
            events.extend(outcome.events.iter().map(|e| e.message.clone()));
            service.status = Some(outcome.status);
            // A pass before the cache shows the moves' creates stops nothing for them (a healthy
            // task stopped for an unseen create left fewer healthy tasks than desired, in the chaos suite).
            // Nor a pass that sees some of them: a move is not a surplus (stopping one cost the
            // zone test a second 40-second round).
            for seen in 0..started.len() {
                let partly: Vec<Task> = tasks.iter().chain(&started[..seen]).cloned().collect();
                let unseen = ServiceInput { service: &service, creations_in_flight: started.len() - seen, ..f.input(&partly, None, now + 1) };
                let stops: Vec<String> = plan(&unseen).stops.into_iter().map(|s| s.pod).collect();
                assert!(stops.is_empty(), "stopped {stops:?} with {} of {} creates not seen yet", started.len() - seen, started.len());
            }
            tasks.retain(|t| !pass_plan.stops.iter().any(|s| s.pod == t.name()));
            tasks.extend(started);
            assert!(tasks.len() <= 12 && tasks.len() >= 6, "{} tasks", tasks.len());
            now += 30;
        }
        let zones: Vec<&str> = tasks.iter().filter_map(|t| t.zone.as_deref()).collect();
        for zone in ["a", "b", "c"] {
            assert_eq!(zones.iter().filter(|z| **z == zone).count(), 2, "{zones:?}");
        }
        assert!(events.iter().any(|e| e == "service (web) is not AZ balanced with 3 tasks in a, 3 tasks in b, and 0 tasks in c. AZ Rebalancing in progress."), "{events:?}");
        assert!(events.iter().any(|e| e == "service (web) is AZ balanced with 2 tasks in a, 2 tasks in b, and 2 tasks in c."), "{events:?}");
        let status = service.status.unwrap().availability_zone_rebalancing.unwrap();
        assert!(!status.in_progress && status.completed_at.is_some());
    }

    /// The rollback of §2.8 across passes, as the controller drives it (PRIMARY
    /// chosen from the last status before each pass): a revision whose tasks
    /// exit at once fails after 3 starts, PRIMARY goes back to the COMPLETED
    /// deployment, and the service ends steady on it, still saying the latest failed.
    #[test]
    fn a_failing_revision_trips_the_breaker_and_rolls_back_to_steady_state() {
        let spec = serde_json::json!({"taskDefinition": "web", "desiredCount": 2,
            "deploymentConfiguration": {"minimumHealthyPercent": 100, "maximumPercent": 200, "deploymentCircuitBreaker": {"enable": true, "rollback": true}}});
        let f = fixture(spec);
        let revision = |n| Resolved { family: "web".into(), revision: n, ..f.primary.resolved.clone() };
        let one = Deployment::of(&f.service.spec, &revision(1));
        let mut service = f.service.clone();
        // Revision 1 completed: two healthy tasks, and the status says so.
        let old = [
            TaskBuilder::new("one-a", 0).of_deployment(&one, "web:1").on("n1", "a").running_since(10).build(),
            TaskBuilder::new("one-b", 0).of_deployment(&one, "web:1").on("n2", "b").running_since(10).build(),
        ];
        let first = Primary { deployment: one.clone(), resolved: revision(1), launches: true, failed: None };
        let input = ServiceInput { service: &service, primary: &first, ..f.input(&old, None, 100) };
        service.status = Some(plan(&input).outcome(&input, &Launched::default()).status);
        assert_eq!(service.status.as_ref().unwrap().deployments.as_ref().unwrap()[0].rollout_state, RolloutState::Completed);

        // Revision 2: each pass finds the tasks it started exited at once.
        let mut tasks = old.to_vec();
        let mut events = vec![];
        let mut now = 200;
        for pass in 0..6 {
            let previous = service.status.as_ref().unwrap().deployments.clone().unwrap();
            let primary = deployment::primary(&service.spec, revision(2), &previous, &[revision(1), revision(2)]);
            let input = ServiceInput { service: &service, primary: &primary, ..f.input(&tasks, None, now) };
            let plan = plan(&input);
            let outcome = plan.outcome(&input, &Launched::default());
            events.extend(outcome.events.iter().map(|e| e.reason.clone()));
            service.status = Some(outcome.status);
            tasks.retain(|t| !plan.stops.iter().any(|s| s.pod == t.name()));
            for (i, _) in plan.starts.iter().enumerate() {
                let name = format!("p{pass}-{i}");
                let builder = TaskBuilder::new(&name, now).of_deployment(&primary.deployment, &primary.resolved.reference());
                let task = if primary.failed.is_some() { builder.on("n3", "c").running_since(now + 1) } else { builder.exited(1, now + 1, now + 2) };
                tasks.push(task.build());
            }
            now += 60;
        }
        let status = service.status.as_ref().unwrap();
        let deployments = status.deployments.as_ref().unwrap();
        assert_eq!((deployments[0].id.as_str(), deployments[0].status, deployments[0].rollout_state), (one.id.as_str(), DeploymentStatus::Primary, RolloutState::Completed));
        let failed = deployments.iter().find(|d| d.rollout_state == RolloutState::Failed).expect("the failed deployment stays listed");
        assert_eq!((failed.task_definition.as_str(), failed.failed_tasks), ("web:2", 3));
        assert_eq!(status.task_definition.as_deref(), Some("web:1"));
        assert_eq!((condition(status, "Ready").status.as_str(), condition(status, "Degraded").reason.as_str()), ("True", "DeploymentFailed"));
        for reason in ["ServiceDeploymentFailed", "ServiceDeploymentRollback", "SteadyState"] {
            assert_eq!(events.iter().filter(|e| *e == reason).count(), 1, "{reason} once in {events:?}");
        }
        assert!(tasks.iter().filter(|t| t.is_active()).all(|t| t.label(labels::DEPLOYMENT) == Some(one.label.as_str())));
    }

    /// ecs-semantics §2.4 and 7.3-7.4 (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-health.html):
    /// an essential container whose check failed `retries` times is UNHEALTHY;
    /// after the grace period its task is replaced, start first, and stopped
    /// once the replacement is healthy.
    #[test]
    fn an_unhealthy_task_is_replaced_after_the_grace_period_start_first() {
        let f = fixture(serde_json::json!({"taskDefinition": "web:2", "desiredCount": 2, "healthCheckGracePeriodSeconds": 120,
            "deploymentConfiguration": {"minimumHealthyPercent": 100, "maximumPercent": 200}}));
        let label = f.label().to_string();
        let tasks = [
            TaskBuilder::new("fine", 0).deployment(&label).on("n1", "a").running_since(10).health_check(true).build(),
            TaskBuilder::new("sick", 0).deployment(&label).on("n2", "b").running_since(10).health_check(false).build(),
        ];
        // Unready since it started 100 s ago (past 3 checks of 10 s) but inside the grace period: left alone.
        let plan_at = |now| plan(&f.input(&tasks, None, now));
        let early = plan_at(110);
        assert!(early.stops.is_empty() && early.starts.is_empty(), "{early:?}");
        // Grace period over (130 s > 120 s): a replacement starts, the sick task waits for it.
        let late = plan_at(131);
        assert_eq!((late.starts.len(), late.stops.len()), (1, 0), "{late:?}");
        // The replacement is healthy: the sick task stops, as ECS words it.
        let replaced = [tasks[0].clone(), tasks[1].clone(), TaskBuilder::new("new", 131).deployment(&label).on("n3", "c").running_since(135).health_check(true).build()];
        let input = f.input(&replaced, None, 140);
        let plan = plan(&input);
        assert_eq!(plan.stops, vec![TaskStop { pod: "sick".into(), stop: Stop::new(StopCode::ServiceSchedulerInitiated, FAILED_CONTAINER_HEALTH_CHECKS), drain: false, record: true }]);
        assert!(plan.starts.is_empty());
        let events = plan.outcome(&input, &Launched::default()).events;
        assert!(events.iter().any(|e| e.message == "(service web) (task sick) failed container health checks."), "{events:?}");
        assert!(events.iter().any(|e| e.message.contains("has stopped 1 running tasks: (task sick). Reason: Task failed container health checks")), "{events:?}");
    }

    /// ecs-semantics §2.4: a task behind a load balancer that fails its
    /// target's health checks is replaced, `Task failed ELB health checks`. A
    /// task out of its Services' ready endpoints for LOAD_BALANCER_UNHEALTHY_AFTER,
    /// past the grace period, is such a task.
    #[test]
    fn a_task_out_of_its_ready_endpoints_fails_its_load_balancer_checks() {
        let f = fixture(serde_json::json!({"taskDefinition": "web:2", "desiredCount": 1, "healthCheckGracePeriodSeconds": 30,
            "deploymentConfiguration": {"maximumPercent": 100}}));
        let label = f.label().to_string();
        let tasks = [TaskBuilder::new("out", 0).deployment(&label).on("n1", "a").running_since(10).serving().unready_since(100).build()];
        let after = deployment::LOAD_BALANCER_UNHEALTHY_AFTER.as_secs() as i64;
        assert!(plan(&f.input(&tasks, None, 100 + after - 1)).stops.is_empty());
        let input = f.input(&tasks, None, 100 + after);
        let plan = plan(&input);
        assert_eq!(plan.stops.iter().map(|s| (s.stop.code, s.stop.reason.as_str())).collect::<Vec<_>>(), [(StopCode::ServiceSchedulerInitiated, FAILED_ELB_HEALTH_CHECKS)]);
        let events = plan.outcome(&input, &Launched::default()).events;
        assert!(events.iter().any(|e| e.message == "(service web) (task out) failed ELB health checks."), "{events:?}");
        // Never Ready since it started: out of the endpoints from the start, inside the grace period it stays.
        let fresh = [TaskBuilder::new("fresh", 0).deployment(&label).on("n1", "a").running_since(1000).serving().unready_since(995).build()];
        assert!(super::plan(&f.input(&fresh, None, 1000 + after - 1)).stops.is_empty());
        assert_eq!(super::plan(&f.input(&fresh, None, 1000 + after)).stops.len(), 1);
    }

    #[test]
    fn without_room_for_a_replacement_unhealthy_tasks_stop_one_at_a_time() {
        let f = fixture(serde_json::json!({"taskDefinition": "web:2", "desiredCount": 3,
            "deploymentConfiguration": {"minimumHealthyPercent": 0, "maximumPercent": 100}}));
        let label = f.label().to_string();
        let tasks = [
            TaskBuilder::new("a", 0).deployment(&label).on("n1", "a").running_since(10).health_check(true).build(),
            TaskBuilder::new("b", 0).deployment(&label).on("n2", "b").running_since(10).health_check(false).build(),
            TaskBuilder::new("c", 0).deployment(&label).on("n3", "c").running_since(10).health_check(false).build(),
        ];
        let plan = plan(&f.input(&tasks, None, 1000));
        assert_eq!(plan.stops.len(), 1, "{plan:?}");
        assert!(plan.starts.is_empty());
    }

    #[test]
    fn a_failing_non_essential_check_changes_nothing() {
        let f = fixture(serde_json::json!({"taskDefinition": "web:2", "desiredCount": 1}));
        let label = f.label().to_string();
        let tasks = [TaskBuilder::new("a", 0).deployment(&label).on("n1", "a").running_since(10).health_check(true).failing_non_essential_check().build()];
        assert_eq!(deployment::health(&tasks[0], Duration::ZERO, 1000), TaskHealth::Healthy);
        let plan = plan(&f.input(&tasks, None, 1000));
        assert!(plan.stops.is_empty() && plan.starts.is_empty(), "{plan:?}");
    }

    #[test]
    fn the_breaker_counts_a_task_stopped_for_failed_health_checks() {
        let f = fixture(serde_json::json!({"taskDefinition": "web:2", "desiredCount": 1,
            "deploymentConfiguration": {"maximumPercent": 100, "deploymentCircuitBreaker": {"enable": true, "rollback": false}}}));
        let label = f.label().to_string();
        let tasks = [TaskBuilder::new("a", 0).deployment(&label).on("n1", "a").running_since(10).health_check(false).build()];
        let input = f.input(&tasks, None, 1000);
        let plan = plan(&input);
        assert_eq!(plan.stops.len(), 1);
        assert_eq!(plan.outcome(&input, &Launched::default()).status.deployments.unwrap()[0].failed_tasks, 1);
    }

    #[test]
    fn an_unhealthy_check_does_not_count_toward_the_minimum() {
        let f = fixture(serde_json::json!({"taskDefinition": "web:2", "desiredCount": 2, "deploymentConfiguration": {"minimumHealthyPercent": 100, "maximumPercent": 200}}));
        let tasks = [
            TaskBuilder::new("old-1", 0).deployment("ecs-svc-old").on("n1", "a").running_since(10).health_check(true).build(),
            TaskBuilder::new("old-2", 0).deployment("ecs-svc-old").on("n2", "b").running_since(10).health_check(false).build(),
        ];
        let plan = plan(&f.input(&tasks, None, 1000));
        // Room for two new tasks; the one healthy old task is kept, the unhealthy one may go.
        assert_eq!(plan.starts.len(), 2);
        assert!(plan.stops.iter().all(|s| s.pod == "old-2"), "{:?}", plan.stops);
    }

    /// A CANARY deployment where HTTPRoutes are served: the record says so, and the
    /// selection weighs green's backend at 0 and blue's at the whole until the canary step.
    #[test]
    fn under_http_routes_a_new_deployment_weighs_each_revision_s_backend() {
        let mut f = fixture(serde_json::json!({"taskDefinition": "web:2", "desiredCount": 2,
            "deploymentConfiguration": {"strategy": "CANARY", "canaryConfiguration": {"canaryPercent": 0.1}},
            "loadBalancers": [{"loadBalancerName": "lb", "containerName": "app", "containerPort": 80}]}));
        let blue = "ecs-svc-0000000000000000007";
        let tasks = [
            TaskBuilder::new("blue-1", 0).deployment(blue).on("n1", "a").running_since(10).health_check(true).serving().build(),
            TaskBuilder::new("blue-2", 0).deployment(blue).on("n2", "b").running_since(10).health_check(true).serving().build(),
        ];
        let policy = lifecycle::policy(&f.service.spec, 60).unwrap();
        for (served, shift, backends) in [
            (false, TrafficShift::EndpointRatio, vec![]),
            (true, TrafficShift::HttpRoute, gateway::split(&f.primary.deployment.label, Some(blue), 0.0)),
        ] {
            f.traffic = Traffic { serves: true, http_routes: served, ..Traffic::default() };
            let input = ServiceInput { lifecycle: Some(&policy), ..f.input(&tasks, None, 1000) };
            let plan = plan(&input);
            let record = &plan.lifecycle.as_ref().expect("a CANARY deployment replacing blue").record;
            assert_eq!(record.traffic_shift, shift);
            assert_eq!(plan.selection.backends, backends);
            assert_eq!(plan.selection.production.as_deref(), Some(blue), "blue keeps production until the canary step");
        }
        assert_eq!(gateway::split(&f.primary.deployment.label, Some(blue), 0.0)[1], gateway::Backend { deployment: blue.into(), weight: 1000 });
    }
}
