//! The Service controller: observe the service's task pods, let the pure
//! scheduler plan, act on the plan, write status and ECS-worded events.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::conditions::{self, Want};
use super::error::{Error, Result};
use super::revisions::{self, Resolved};
use super::tasks::{self, Observed};
use super::{Context, placement, pods};
use crate::api::{
    DeploymentStatus, RolloutState, SchedulingStrategy, Service, ServiceDeployment, ServiceSpec, ServiceStatus, TaskStopCode,
};
use crate::scheduler::{TaskView, backoff, daemon, replica};
use crate::render::names::label_value;
use crate::task::labels;
use crate::task::lifecycle::{LastStatus, Stop, StopCode};

/// A task that stops this soon after RUNNING counts as a failed start for the
/// start throttle (see `throttle`).
const QUICK_EXIT: Duration = Duration::from_secs(10);

pub async fn reconcile(service: Arc<Service>, ctx: Arc<Context>) -> Result<Action> {
    let ns = service.namespace().unwrap_or_default();
    let name = service.name_any();
    let resolved = match revisions::resolve(&ctx, &ns, &service.spec.task_definition) {
        Ok(resolved) => resolved,
        Err(problem) => {
            let message = format!("(service {name}) cannot use task definition {}: {problem}", service.spec.task_definition);
            return blocked(&service, &ctx, "TaskDefinitionUnavailable", message).await;
        }
    };
    let group = format!("service:{name}");
    let constraints = placement::constraints(&resolved.spec, service.spec.placement.placement_constraints.as_ref());
    let deployment = Deployment::of(&service.spec, &resolved);
    let owner = format!("service/{ns}/{name}");
    let observed = tasks::observe(&ctx, &ns, labels::SERVICE, &label_value(&name), &owner);
    let pods_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let mut report = Report::default();

    // Tasks that must stop: an essential container exited, a start failed, or their node is lost.
    for task in observed.needing_stop() {
        let stop = task.state.stop.clone().expect("needing_stop has a stop");
        report.stopped.push((task.pod.name_any(), stop.clone()));
        pods::stop(&pods_api, &task.pod.name_any(), &stop).await?;
        ctx.expectations.lock().unwrap().deleted(&owner, &task.pod.name_any(), Instant::now());
    }
    for task in observed.on_lost_nodes(&ctx, ctx.config.node_lost_grace) {
        let stop = Stop::new(StopCode::InfrastructureHealth, format!("Task stopped: container instance {} is not ready", task.node().unwrap_or("?")));
        report.stopped.push((task.pod.name_any(), stop.clone()));
        pods::stop(&pods_api, &task.pod.name_any(), &stop).await?;
        ctx.expectations.lock().unwrap().deleted(&owner, &task.pod.name_any(), Instant::now());
    }
    let stopping: BTreeSet<String> = report.stopped.iter().map(|(p, _)| p.clone()).collect();
    let active: Vec<&tasks::Task> = observed.active().filter(|t| !stopping.contains(&t.pod.name_any())).collect();
    let views: Vec<TaskView> = active.iter().map(|t| t.view(&ctx)).collect();

    // Plan: how many to start (or where, for DAEMON) and which to stop.
    let scale_in = Stop::new(StopCode::ServiceSchedulerInitiated, format!("Scaling activity initiated by (deployment {})", deployment.id));
    let (desired, mut starts, victims): (usize, Vec<Option<String>>, Vec<String>) = match service.spec.scheduling_strategy {
        Some(SchedulingStrategy::Daemon) => {
            let eligible = match placement::daemon_nodes(&ctx, &group, &constraints) {
                Ok(nodes) => nodes,
                Err(e) => return blocked(&service, &ctx, "PlacementInvalid", format!("(service {name}) placement: {e}")).await,
            };
            let plan = daemon::plan(&eligible, &views);
            (eligible.len(), plan.start_on.iter().map(|n| Some(n.to_string())).collect(), plan.stop.iter().map(|t| t.name.clone()).collect())
        }
        _ => {
            let desired = service.spec.desired_count.unwrap_or(0).max(0) as usize;
            let start = replica::tasks_to_start(desired, views.len(), observed.in_flight.creates.len());
            let stop = views.len().saturating_sub(desired);
            let victims = replica::scale_in_victims(&views, stop).into_iter().map(|t| t.name.clone()).collect();
            (desired, vec![None; start], victims)
        }
    };
    for victim in &victims {
        report.stopped.push((victim.clone(), scale_in.clone()));
        pods::stop(&pods_api, victim, &scale_in).await?;
        ctx.expectations.lock().unwrap().deleted(&owner, victim, Instant::now());
    }

    // Start-failure throttle (§2.5).
    let throttle = throttle(&observed, &deployment.label);
    let mut requeue = Duration::from_secs(300);
    if !starts.is_empty() {
        if let Some(wait) = throttle.wait {
            starts.clear();
            requeue = requeue.min(wait);
        }
    }
    if !starts.is_empty() {
        let new_pods = match starts.iter().map(|node| service_task(&service, &ctx, &resolved, &deployment, &constraints, node.as_deref())).collect::<Result<Vec<Pod>>>() {
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
        report.started = created;
        if let Some(e) = error {
            ctx.publish(service.as_ref(), EventType::Warning, "TaskPlacementFailed", &format!("(service {name}) was unable to place a task. Reason: {e}")).await;
        }
    }

    // Stopped task records: bounded in number and age.
    for pod in observed.expired_records(ctx.config.stopped_task_retention, ctx.config.stopped_task_ttl) {
        pods::forget(&pods_api, &pod).await?;
    }

    publish_report(&service, &ctx, &report, &observed).await;
    let status = compute_status(&service, &resolved, &deployment, &observed, &active, desired, &throttle, &report);
    let has = |status: Option<&ServiceStatus>, type_: &str, reason: &str| {
        status.and_then(|s| s.conditions.as_ref()).is_some_and(|cs| cs.iter().any(|c| c.type_ == type_ && c.reason == reason))
    };
    let now_steady = has(Some(&status), "Ready", "SteadyState") && !has(service.status.as_ref(), "Ready", "SteadyState");
    let now_impaired = has(Some(&status), "Degraded", "TaskStartThrottled") && !has(service.status.as_ref(), "Degraded", "TaskStartThrottled");
    write_status(&service, &ctx, status).await?;
    if now_steady {
        ctx.publish(service.as_ref(), EventType::Normal, "SteadyState", &format!("(service {name}) has reached a steady state.")).await;
    }
    if now_impaired {
        ctx.publish(service.as_ref(), EventType::Warning, "ServiceTaskStartImpaired", &format!("(service {name}) is unable to consistently start tasks successfully.")).await;
    }
    if let Some(wait) = observed.next_node_loss(&ctx, ctx.config.node_lost_grace) {
        requeue = requeue.min(wait);
    }
    let busy = !report.started.is_empty() || !report.stopped.is_empty() || !observed.in_flight.creates.is_empty();
    Ok(Action::requeue(if busy { requeue.min(Duration::from_secs(30)) } else { requeue }))
}

/// A new task of the service, in `deployment`; for DAEMON bound to `node`,
/// otherwise spread over zones then nodes (ECS's default, §2.3).
fn service_task(
    service: &Service,
    ctx: &Context,
    resolved: &Resolved,
    deployment: &Deployment,
    constraints: &[crate::placement::PlacementConstraintItem],
    node: Option<&str>,
) -> Result<Pod> {
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
    let mut pod = tasks::render(resolved, tasks::NewTask {
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
    placement::apply(spec, ctx, &group, constraints, service.spec.placement.placement_strategy.as_ref(), node.is_none())?;
    if let Some(node) = node {
        tasks::pin_to_node(spec, node);
    }
    Ok(pod)
}

/// The deployment the spec asks for: its id changes whenever a field that
/// starts an ECS deployment changes (§2.1).
struct Deployment {
    id: String,
    label: String,
}

impl Deployment {
    fn of(spec: &ServiceSpec, resolved: &Resolved) -> Deployment {
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
        let number = fnv1a(triggers.to_string().as_bytes()) % 10_000_000_000_000_000_000;
        Deployment { id: format!("ecs-svc/{number:019}"), label: format!("ecs-svc-{number:019}") }
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
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
    if !report.stopped.is_empty() {
        let message = format!("(service {name}) has stopped {} running tasks: {}.", report.stopped.len(), ids(&mut report.stopped.iter().map(|(p, _)| p)));
        ctx.publish(service, EventType::Normal, "TasksStopped", &message).await;
        for (pod, stop) in &report.stopped {
            let kind = if stop.code == TaskStopCode::ServiceSchedulerInitiated { EventType::Normal } else { EventType::Warning };
            let message = format!("(service {name}) (task {}) stopped: {} ({})", observed.task_id(pod), stop.reason, crate::api::wire_name(&stop.code));
            ctx.publish(service, kind, "TaskStopped", &message).await;
        }
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
                (Some(stop), _) if stop.code == StopCode::TaskFailedToStart || t.lived_less_than(QUICK_EXIT) => Some((created, true)),
                (_, LastStatus::Running) if !t.lived_less_than(QUICK_EXIT) => Some((created, false)),
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

#[allow(clippy::too_many_arguments)]
fn compute_status(
    service: &Service,
    resolved: &Resolved,
    deployment: &Deployment,
    observed: &Observed,
    active: &[&tasks::Task],
    desired: usize,
    throttle: &Throttle,
    report: &Report,
) -> ServiceStatus {
    let old = service.status.clone().unwrap_or_default();
    let now = conditions::now();
    let running = active.iter().filter(|t| t.state.last_status == LastStatus::Running).count() as i32;
    let pending = active.len() as i32 - running + report.started.len() as i32;
    let healthy = active.iter().filter(|t| t.state.last_status == LastStatus::Running && t.state.ready).count();
    let steady = healthy == desired && active.len() == desired && report.started.is_empty() && report.stopped.is_empty()
        && observed.in_flight.creates.is_empty() && throttle.wait.is_none();
    let name = service.name_any();
    let previous = old.deployments.iter().flatten().find(|d| d.id == deployment.id);
    let created_at = previous.map(|d| d.created_at.clone()).unwrap_or_else(|| now.clone());
    let rollout_state = if steady { RolloutState::Completed } else { previous.map(|d| d.rollout_state).unwrap_or(RolloutState::InProgress) };
    let rollout_state = if rollout_state == RolloutState::Completed || steady { RolloutState::Completed } else { RolloutState::InProgress };
    let primary = ServiceDeployment {
        id: deployment.id.clone(),
        status: DeploymentStatus::Primary,
        task_definition: resolved.reference(),
        desired_count: desired as i32,
        pending_count: pending,
        running_count: running,
        failed_tasks: throttle.failures as i32,
        rollout_state,
        rollout_state_reason: Some(match rollout_state {
            RolloutState::Completed => format!("ECS deployment {} completed.", deployment.id),
            _ => format!("ECS deployment {} in progress.", deployment.id),
        }),
        created_at,
        updated_at: previous.filter(|p| p.running_count == running && p.pending_count == pending && p.rollout_state == rollout_state)
            .map(|p| p.updated_at.clone()).unwrap_or_else(|| now.clone()),
    };
    let wanted = vec![
        Want {
            type_: "Ready",
            status: steady,
            reason: if steady { "SteadyState" } else { "Reconciling" },
            message: if steady { format!("(service {name}) has reached a steady state.") } else { format!("{running} of {desired} tasks running") },
        },
        Want {
            type_: "Progressing",
            status: !steady && throttle.wait.is_none(),
            reason: if throttle.wait.is_some() { "TaskStartThrottled" } else if steady { "SteadyState" } else { "TasksStarting" },
            message: match throttle.wait {
                Some(wait) => format!("(service {name}) is unable to consistently start tasks successfully: {} consecutive failed starts, next attempt in {}s", throttle.failures, wait.as_secs()),
                None => format!("{pending} pending, {running} running, {desired} desired"),
            },
        },
        Want {
            type_: "Degraded",
            status: throttle.wait.is_some(),
            reason: if throttle.wait.is_some() { "TaskStartThrottled" } else { "AsExpected" },
            message: if throttle.wait.is_some() { "tasks fail to start".into() } else { String::new() },
        },
    ];
    let selector = format!("{}={},{}={}", labels::MANAGED_BY, labels::MANAGED_BY_VALUE, labels::SERVICE, label_value(&name));
    ServiceStatus {
        observed_generation: service.metadata.generation,
        desired_count: Some(desired as i32),
        running_count: Some(running),
        pending_count: Some(pending),
        task_definition: Some(resolved.reference()),
        rollout_state: Some(rollout_state),
        selector: Some(selector),
        deployments: Some(vec![primary]),
        stopped_tasks: Some(observed.stopped_summaries(&old.stopped_tasks.unwrap_or_default(), &report.stopped, 10)),
        conditions: Some(conditions::merge(old.conditions.as_deref().unwrap_or_default(), wanted, service.metadata.generation, &now)),
    }
}

async fn write_status(service: &Service, ctx: &Context, status: ServiceStatus) -> Result<()> {
    if service.status.as_ref() == Some(&status) {
        return Ok(());
    }
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), &service.namespace().unwrap_or_default());
    let body = json!({"apiVersion": Service::api_version(&()), "kind": Service::kind(&()), "status": status});
    api.patch_status(&service.name_any(), &PatchParams::apply(super::MANAGER).force(), &Patch::Apply(&body)).await?;
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

pub fn error_policy(_service: Arc<Service>, error: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(reason = error.reason(), "service reconcile failed: {error}");
    Action::requeue(Duration::from_secs(5))
}
