//! The Service controller: observe the service's tasks, validate what the
//! pass would start, let the pure planner (`ecs::plan::service`) decide, act
//! on the plan, and write the status and events it computed.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use super::error::{Error, Result};
use super::observe::{self, Observed};
use super::{Context, kube_services, pods, revisions, scheduling, unplaced};
use crate::api::{CapacityProviderSpec, SchedulingStrategy, Service, ServiceStatus};
use crate::ecs::capacity::launch::{self, Launch};
use crate::ecs::placement::PlacementConstraintItem;
use crate::ecs::plan::deployment::{self, Primary};
use crate::ecs::plan::service::{self as planner, Scheduling, ServiceInput};
use crate::ecs::plan::{Launched, Problem};
use crate::ecs::render::names::label_value;
use crate::ecs::task::labels;

#[tracing::instrument(skip_all, fields(namespace = service.namespace().unwrap_or_default(), service = service.name_any()))]
pub async fn reconcile(service: Arc<Service>, ctx: Arc<Context>) -> Result<Action> {
    if !ctx.synced() {
        return Ok(Action::requeue(Duration::from_millis(500)));
    }
    let _timer = ctx.health.metrics.reconcile("service");
    // The one reading of the clock in this pass.
    let now = k8s_openapi::jiff::Timestamp::now().as_second();
    let service = ctx.written.latest(service);
    let ns = service.namespace().unwrap_or_default();
    let name = service.name_any();

    // Observe.
    let spec_revision = match revisions::resolve(&ctx, &ns, &service.spec.task_definition) {
        Ok(resolved) => resolved,
        Err(problem) => {
            let problem = Problem::new("TaskDefinitionUnavailable", format!("(service {name}) cannot use task definition {}: {problem}", service.spec.task_definition));
            let outcome = planner::blocked(&service, &problem, now);
            ctx.publish_all(service.as_ref(), &outcome.events).await;
            write_status(&service, &ctx, outcome.status).await?;
            return Ok(Action::requeue(Duration::from_secs(60)));
        }
    };
    let previous = service.status.as_ref().and_then(|s| s.deployments.clone()).unwrap_or_default();
    let revisions_run: Vec<_> = previous.iter().filter_map(|d| revisions::resolve(&ctx, &ns, &d.task_definition).ok()).collect();
    let primary = deployment::primary(&service.spec, spec_revision, &previous, &revisions_run);
    let daemon = service.spec.scheduling_strategy == Some(SchedulingStrategy::Daemon);
    let owner = format!("service/{ns}/{name}");
    let Observed { tasks, creations_in_flight } = observe::observe(&ctx, &ns, labels::SERVICE, &label_value(&name), &owner);

    // Validate: resolve the launch, find the daemon's nodes, render and place a task of PRIMARY.
    let group = format!("service:{name}");
    let constraints = scheduling::constraints(&primary.resolved.spec, service.spec.placement.placement_constraints.as_ref());
    let mut problem = None;
    let launch = launch::resolve(&service.spec.placement, &primary.resolved.spec, daemon, |p| ctx.capacity_provider(p)).unwrap_or_else(|e| {
        problem = Some(Problem::new(e.reason(), format!("(service {name}) cannot launch tasks of {}: {e}", primary.resolved.reference())));
        None
    });
    let daemon_nodes = if daemon {
        let pool = launch.as_ref().and_then(|l| l.providers.values().next());
        scheduling::daemon_nodes(&ctx, &group, &constraints, pool).unwrap_or_else(|e| {
            problem = problem.take().or(Some(Problem::new("PlacementInvalid", format!("(service {name}) placement: {e}"))));
            BTreeSet::new()
        })
    } else {
        BTreeSet::new()
    };
    if problem.is_none() {
        let provider = launch.as_ref().and_then(|l| l.providers.iter().next()).map(|(n, p)| (n.as_str(), p));
        let node = daemon_nodes.iter().next().map(String::as_str).filter(|_| daemon);
        if let Err(e) = service_task(&service, &ctx, &primary, &constraints, node, provider) {
            problem = Some(Problem::new(e.reason(), format!("(service {name}) cannot start tasks of {}: {e}", primary.resolved.reference())));
        }
    }
    let mut traffic = kube_services::sync(&service, &ctx, &primary.resolved.spec).await?;

    // Plan.
    let strategy = launch.as_ref().map(|l| &l.strategy);
    let scheduling = if daemon { Scheduling::Daemon { nodes: &daemon_nodes, strategy } } else { Scheduling::Replica { strategy } };
    let unsupported = crate::ecs::unsupported::service_fields(&service.spec);
    let traffic_facts = traffic.facts();
    let input = ServiceInput {
        service: &service,
        primary: &primary,
        tasks: &tasks,
        creations_in_flight,
        scheduling,
        traffic: &traffic_facts,
        problem,
        unsupported: &unsupported,
        limits: &ctx.config.limits,
        now,
    };
    let plan = planner::plan(&input);

    // Act: stops (draining those that take traffic), records, deletes of what is done, starts.
    let pods_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let api = &pods_api;
    traffic.stop(&ctx, api, &owner, &plan.stops, now).await?;
    pods::concurrently(plan.records.clone(), |(pod, stop)| async move { pods::record(api, &pod, &stop).await }).await?;
    pods::concurrently(plan.enlist.clone(), |pod| async move { pods::label_serving(api, &pod).await }).await?;
    let owner_ref = &owner;
    let ctx_ref = &ctx;
    pods::concurrently(plan.forget.clone(), |pod| async move {
        pods::forget(api, &pod).await?;
        ctx_ref.expectations.lock().unwrap().deleted(owner_ref, &pod, Instant::now());
        Ok(())
    }).await?;
    let launched = start(&service, &ctx, &primary, &constraints, launch.as_ref(), &plan.starts, api, &owner).await;

    // Status and events, as the planner computed them.
    let outcome = plan.outcome(&input, &launched);
    for stop in &plan.stops {
        ctx.health.metrics.task_stopped(crate::api::wire_name(&stop.stop.code));
    }
    ctx.publish_all(service.as_ref(), &outcome.events).await;
    traffic.publish(&service, &ctx, &primary.deployment.id).await;
    unplaced::report(&service, &ctx, &tasks).await;
    write_status(&service, &ctx, outcome.status).await?;
    match launched.refused {
        // Retried with the controller's per-object backoff, not after the idle requeue.
        Some(refusal) => Err(Error::LaunchRefused(refusal)),
        None => Ok(Action::requeue(plan.requeue)),
    }
}

/// Creates the pods of the plan's new tasks and remembers them as expected.
#[allow(clippy::too_many_arguments)]
async fn start(
    service: &Service,
    ctx: &Context,
    primary: &Primary,
    constraints: &[PlacementConstraintItem],
    launch: Option<&Launch>,
    starts: &[planner::TaskStart],
    api: &Api<Pod>,
    owner: &str,
) -> Launched {
    if starts.is_empty() {
        return Launched::default();
    }
    let provider = |name: &Option<String>| name.as_ref().and_then(|n| launch?.providers.get_key_value(n)).map(|(n, p)| (n.as_str(), p));
    let new_pods: Result<Vec<Pod>> = starts.iter().map(|s| service_task(service, ctx, primary, constraints, s.node.as_deref(), provider(&s.provider))).collect();
    let new_pods = match new_pods {
        Ok(pods) => pods,
        // Validated before the plan: only a change between the two renders gets here.
        Err(e) => return Launched { refused: Some(e.to_string()), not_sent: starts.len(), ..Default::default() },
    };
    let launched = pods::create_in_batches(api, new_pods).await;
    let mut expectations = ctx.expectations.lock().unwrap();
    for (pod, _) in &launched.created {
        expectations.created(owner, pod, Instant::now());
    }
    ctx.health.metrics.tasks_started("service", launched.created.len());
    launched
}


/// A new task of the service, in `deployment`, on `provider`'s nodes when it
/// has one; for DAEMON bound to `node`, otherwise spread over zones then
/// nodes (ECS's default, §2.3).
fn service_task(
    service: &Service,
    ctx: &Context,
    primary: &Primary,
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


async fn write_status(service: &Service, ctx: &Context, status: ServiceStatus) -> Result<()> {
    if service.status.as_ref() == Some(&status) {
        return Ok(());
    }
    super::apply_status(&ctx.client, service, &status).await?;
    ctx.written.wrote(service, status);
    Ok(())
}
