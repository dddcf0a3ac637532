//! The Service controller: observe the service's tasks, validate what the
//! pass would start, let the pure planner (`ecs::plan::service`) decide, act
//! on the plan, and write the status and events it computed.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};

use super::error::{Error, Result};
use super::observe::{self, Observed};
use super::task_cache::OwnerLabel;
use super::{Context, kube_services, outbound, pods, revisions, scheduling, unplaced};
use crate::api::{CapacityProviderSpec, EnabledState, SchedulingStrategy, Service, ServiceStatus};
use crate::ecs::capacity::launch::{self, Launch};
use crate::ecs::placement::{Placement, PlacementConstraintItem, Resources, Strategy};
use crate::ecs::plan::deployment::{self, Deployment, Primary};
use crate::ecs::plan::lifecycle;
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
            ctx.publish_all(service.as_ref(), &outcome.events);
            let held_back = write_status(&service, &ctx, outcome.status);
            return Ok(Action::requeue(held_back.unwrap_or(Duration::from_secs(60))));
        }
    };
    let previous = service.status.as_ref().and_then(|s| s.deployments.clone()).unwrap_or_default();
    let revisions_run: Vec<_> = previous.iter().filter_map(|d| revisions::resolve(&ctx, &ns, &d.task_definition).ok()).collect();
    let primary = deployment::primary(&service.spec, spec_revision, &previous, &revisions_run);
    // Older deployments whose revision still resolves, as each would start a task.
    let older: BTreeMap<String, Primary> = previous.iter().filter(|d| d.id != primary.deployment.id).filter_map(|d| {
        let resolved = revisions_run.iter().find(|r| r.reference() == d.task_definition)?.clone();
        Some((d.id.clone(), Primary { deployment: Deployment::from_id(&d.id), resolved, launches: true, failed: None }))
    }).collect();
    let old_revisions: BTreeSet<String> = older.keys().cloned().collect();
    let daemon = service.spec.scheduling_strategy == Some(SchedulingStrategy::Daemon);
    let owner = format!("service/{ns}/{name}");
    let Observed { tasks, creations_in_flight } = observe::observe(&ctx, &ns, OwnerLabel::Service, &label_value(&name), &owner);

    // Validate: resolve the launch, render a task of PRIMARY, read the nodes for placement.
    let constraints = scheduling::constraints(&primary.resolved.spec, service.spec.placement.placement_constraints.as_ref());
    let mut problem = None;
    let launch = launch::resolve(&service.spec.placement, &primary.resolved.spec, daemon, |p| ctx.capacity_provider(p)).unwrap_or_else(|e| {
        problem = Some(Problem::new(e.reason(), format!("(service {name}) cannot launch tasks of {}: {e}", primary.resolved.reference())));
        None
    });
    let placement_problem = |e: crate::ecs::placement::PlacementError| Problem::new("PlacementInvalid", format!("(service {name}) placement: {e}"));
    let strategies = scheduling::service_strategies(service.spec.placement.placement_strategy.as_ref())
        .unwrap_or_else(|e| {
            problem = problem.take().or(Some(placement_problem(e)));
            vec![]
        });
    let pool = launch.as_ref().and_then(|l| l.providers.values().next());
    // Berth chooses the nodes where kube-scheduler cannot honour the strategies
    // or constraints (one pool only: under a strategy of several providers each keeps its own).
    let providers = launch.as_ref().map_or(0, |l| l.providers.len());
    let berth_places = daemon || (providers <= 1 && scheduling::berth_places(&strategies, &constraints));
    let mut placement = Placement::default();
    if problem.is_none() {
        let provider = launch.as_ref().and_then(|l| l.providers.iter().next()).map(|(n, p)| (n.as_str(), p));
        match service_task(&service, &ctx, &primary, &constraints, &strategies, None, berth_places, provider) {
            Err(e) => problem = Some(Problem::new(e.reason(), format!("(service {name}) cannot start tasks of {}: {e}", primary.resolved.reference()))),
            Ok(task) => {
                let request = task.spec.as_ref().map(Resources::requested_by).unwrap_or_default();
                match scheduling::placement(&ctx, &format!("service:{name}"), &constraints, pool, request) {
                    Ok(cluster) => placement = cluster,
                    Err(e) => problem = Some(placement_problem(e)),
                }
            }
        }
    }
    placement.berth_places = berth_places && !daemon;
    // ENABLED unless set DISABLED, as ECS creates a service; binpack services are not compatible (ecs-2025 §7).
    placement.zone_rebalancing = service.spec.availability_zone_rebalancing != Some(EnabledState::Disabled)
        && !strategies.iter().any(|s| matches!(s, Strategy::Binpack(_)));
    placement.strategies = strategies;
    placement.seed = seed(&service, now);
    placement.rebalance_across = scheduling::rebalance_keys(service.spec.rebalance_across.as_deref().unwrap_or_default()).unwrap_or_else(|e| {
        problem = problem.take().or(Some(Problem::new("PlacementInvalid", format!("(service {name}) rebalanceAcross: {e}"))));
        vec![]
    });
    // A BLUE_GREEN, LINEAR or CANARY policy ECS would refuse starts nothing.
    let lifecycle_policy = if lifecycle::shifts_traffic(&service.spec) && !daemon {
        lifecycle::policy(&service.spec, ctx.config.limits.deployment_minute).map_err(|p| {
            problem = problem.take().or(Some(Problem::new(&p.reason, format!("(service {name}) {}", p.message))));
        }).ok()
    } else {
        None
    };
    let daemon_nodes: BTreeSet<String> = if daemon { placement.admitting().unwrap_or_default().into_iter().map(|n| n.name.clone()).collect() } else { BTreeSet::new() };
    let http_routes = ctx.config.http_routes && lifecycle::shifts_traffic(&service.spec) && ctx.http_routes_served.ask(&ctx.client).await;
    let mut traffic = kube_services::plan(&service, &primary.resolved.spec, http_routes);

    // Plan.
    let strategy = launch.as_ref().map(|l| &l.strategy);
    let scheduling = if daemon { Scheduling::Daemon { nodes: &daemon_nodes, strategy } } else { Scheduling::Replica { strategy } };
    let firing_alarms = firing_alarms(&service, &ctx, lifecycle_policy.as_ref()).await;
    let unsupported: Vec<String> = crate::ecs::unsupported::service_unsupported_fields(&service.spec, &name, &ns, ctx.config.prometheus_url.is_some()).iter().map(|u| format!("{}: {}", u.field, u.reason)).collect();
    let traffic_facts = traffic.facts();
    let input = ServiceInput {
        service: &service,
        primary: &primary,
        tasks: &tasks,
        creations_in_flight,
        scheduling,
        traffic: &traffic_facts,
        placement: &placement,
        old_revisions: &old_revisions,
        lifecycle: lifecycle_policy.as_ref(),
        firing_alarms: &firing_alarms,
        problem,
        unsupported: &unsupported,
        limits: &ctx.config.limits,
        now,
    };
    let mut plan = planner::plan(&input);

    // Act: traffic first (tasks join, Services switch, tasks leave), stops, starts, records, hooks, deletes of what is done.
    let pods_api: Api<Pod> = Api::namespaced(ctx.tasks.clone(), &ns);
    let api = &pods_api;
    // Production never loses its last endpoint: tasks join, the Services' selectors change, then tasks leave.
    pods::concurrently(plan.enlist.clone(), |pod| async move { pods::label_serving(api, &pod, true).await }).await?;
    traffic.apply(&service, &ctx, &plan.selection).await?;
    pods::concurrently(plan.delist.clone(), |pod| async move { pods::label_serving(api, &pod, false).await }).await?;
    // Stops (draining those that take traffic) after the switch: a rollback's green tasks
    // leave production only once blue has it.
    traffic.stop(&ctx, api, &owner, &plan.stops, now).await?;
    // Replacements go out before the deletes of what is done, which go behind the pass.
    let launched = start(&service, &ctx, &primary, &older, &constraints, &placement.strategies, launch.as_ref(), &plan, api, &owner).await;
    send_behind(&service, &ctx, &owner, &plan, pods_api.clone());
    if let Some(lifecycle) = plan.lifecycle.as_mut() {
        let (runs, calls): (Vec<_>, Vec<_>) = lifecycle.calls.iter().cloned().partition(|c| lifecycle::task_run_target(&c.url).is_some());
        let mut answers = outbound::call_hooks(&calls, now).await;
        for call in &runs {
            answers.push(hook_run(&service, &ctx, call, now).await?);
        }
        lifecycle.record = lifecycle::with_answers(lifecycle.record.clone(), answers);
    }
    forget_hook_runs(&service, &ctx, plan.lifecycle.as_ref()).await?;

    // Status and events, as the planner computed them, with the routes as applied.
    let traffic_facts = traffic.facts();
    let input = ServiceInput { traffic: &traffic_facts, ..input };
    let outcome = plan.outcome(&input, &launched);
    // What the pass decided, so a run's log tells its story (the status holds only the last pass).
    let deployments: Vec<String> = outcome.status.deployments.iter().flatten()
        .map(|d| format!("{} {:?} {:?} {} running {} pending {} failed", d.task_definition, d.status, d.rollout_state, d.running_count, d.pending_count, d.failed_tasks)).collect();
    tracing::debug!(tasks = tasks.len(), starts = launched.created.len(), stops = plan.stops.len(), records = plan.records.len(),
        problem = ?input.problem.as_ref().map(|p| &p.reason), ?deployments, requeue = ?plan.requeue, "service pass");
    for stop in &plan.stops {
        ctx.health.metrics.task_stopped(crate::api::wire_name(&stop.stop.code));
    }
    ctx.publish_all(service.as_ref(), &outcome.events);
    traffic.publish(&service, &ctx, &primary.deployment.id);
    unplaced::report(&service, &ctx, &tasks, plan.unplaced(), now);
    let held_back = write_status(&service, &ctx, outcome.status);
    match launched.refused {
        // Retried with the controller's per-object backoff, not after the idle requeue.
        Some(refusal) => Err(Error::LaunchRefused(refusal)),
        None => Ok(Action::requeue(held_back.map_or(plan.requeue, |wait| wait.min(plan.requeue)))),
    }
}

/// Notes the failures the pass counted, and sends its deletes of what is done (expired
/// records, drained tasks) without holding the pass. In a burst of failures they are as many
/// requests as the replacements, and the pass of the failures seen meanwhile waited for them
/// (150 ms of a 350 ms pass in the benchmark). A counted failure is noted in `stopping` (its
/// record is the status the pass hands to its writer) and a delete in the expectations before
/// it is sent, so the next pass neither counts a stop again nor sends the same delete. A
/// failed delete is expected no more, and the next pass sends it again, after a Warning event
/// on the service.
fn send_behind(service: &Arc<Service>, ctx: &Arc<Context>, owner: &str, plan: &planner::ServicePlan, api: Api<Pod>) {
    for (pod, stop) in &plan.records {
        ctx.stopping.stopping(owner, pod, stop);
    }
    if plan.forget.is_empty() {
        return;
    }
    let now = Instant::now();
    let mut expectations = ctx.expectations.lock().unwrap();
    for pod in &plan.forget {
        expectations.deleted(owner, pod, now);
    }
    drop(expectations);
    let forgets = plan.forget.clone();
    let (service, ctx, owner) = (service.clone(), ctx.clone(), owner.to_string());
    tokio::spawn(async move {
        let (api, ctx_ref, owner) = (&api, &ctx, owner.as_str());
        let forgotten = pods::concurrently(forgets, |pod| async move {
            let sent = pods::forget(api, &pod).await;
            if sent.is_err() {
                ctx_ref.expectations.lock().unwrap().not_deleted(owner, &pod);
            }
            sent
        });
        if let Err(e) = forgotten.await {
            super::errors::publish(&ctx, service.as_ref(), &Error::Kube(e), "deleting stopped tasks: ");
        }
    });
}

/// Deletes the hook TaskRuns of the deployments whose lifecycle is not under way any more.
async fn forget_hook_runs(service: &Service, ctx: &Context, lifecycle: Option<&lifecycle::Lifecycle>) -> Result<()> {
    // Hook runs exist only beside deployment records: other services' passes skip the scan of every TaskRun.
    let has_records = service.status.as_ref().and_then(|s| s.service_deployments.as_ref()).is_some_and(|r| !r.is_empty());
    if lifecycle.is_none() && !has_records {
        return Ok(());
    }
    let (ns, uid) = (service.namespace().unwrap_or_default(), service.uid());
    let runs: Vec<(String, String)> = ctx.task_runs.state().iter()
        .filter(|r| r.namespace().as_deref() == Some(ns.as_str()) && r.owner_references().iter().any(|o| Some(&o.uid) == uid.as_ref()))
        .filter_map(|r| Some((r.name_any(), r.labels().get(labels::HOOK_DEPLOYMENT)?.clone())))
        .collect();
    let under_way = lifecycle.filter(|l| !l.record.lifecycle.status.is_final()).map(|l| Deployment::from_id(&l.record.service_deployment_id).label);
    let api: Api<crate::api::TaskRun> = Api::namespaced(ctx.client.clone(), &ns);
    for name in lifecycle::stale_hook_runs(&runs, under_way.as_deref()) {
        match api.delete(&name, &kube::api::DeleteParams::default()).await {
            Err(kube::Error::Api(status)) if status.is_not_found() => {}
            other => drop(other?),
        }
    }
    Ok(())
}

/// A `taskrun:` hook: its TaskRun (of one task, owned by the Service) made once, then read.
async fn hook_run(service: &Service, ctx: &Context, call: &lifecycle::HookCall, now: i64) -> Result<crate::api::HookInvocation> {
    let ns = service.namespace().unwrap_or_default();
    let name = lifecycle::hook_run_name(&service.name_any(), call);
    if let Some(run) = ctx.task_runs.get(&kube::runtime::reflector::ObjectRef::new(&name).within(&ns)) {
        let task = run.status.as_ref().and_then(|s| s.tasks.as_ref()).and_then(|tasks| tasks.first());
        return Ok(lifecycle::task_run_answer(call, task, now));
    }
    let run: crate::api::TaskRun = serde_json::from_value(serde_json::json!({
        "apiVersion": "berth.dev/v1alpha1", "kind": "TaskRun",
        "metadata": {"name": name, "namespace": ns, "ownerReferences": [service.controller_owner_ref(&())],
            "labels": {labels::HOOK_DEPLOYMENT: call.deployment}},
        "spec": {"taskDefinition": lifecycle::task_run_target(&call.url), "count": 1, "startedBy": format!("berth-hook/{}", service.name_any())},
    }))?;
    let api: Api<crate::api::TaskRun> = Api::namespaced(ctx.client.clone(), &ns);
    match api.create(&kube::api::PostParams { field_manager: Some(super::MANAGER.into()), ..Default::default() }, &run).await {
        Ok(_) => {}
        // Made by a pass whose status write was lost.
        Err(kube::Error::Api(status)) if status.is_already_exists() => {}
        Err(e) => return Err(e.into()),
    }
    Ok(lifecycle::task_run_answer(call, None, now))
}

/// The alerts firing in the configured Prometheus, when the service watches alarms. One that
/// cannot be read counts as not firing (as an alarm without data is not in ALARM), with a Warning.
async fn firing_alarms(service: &Service, ctx: &Context, policy: Option<&lifecycle::LifecyclePolicy>) -> Vec<String> {
    let (Some(url), Some(_)) = (&ctx.config.prometheus_url, policy.and_then(|p| p.policy.alarms.as_ref())) else { return vec![] };
    match outbound::firing_alerts(url).await {
        Ok(names) => names,
        Err(e) => {
            let message = format!("(service {}) cannot read the deployment alarms from Prometheus: {e}", service.name_any());
            ctx.publish(service, EventType::Warning, "AlarmsUnavailable", &message);
            vec![]
        }
    }
}

/// Creates the pods of the plan's new tasks and remembers them as expected.
#[allow(clippy::too_many_arguments)]
async fn start(
    service: &Service,
    ctx: &Context,
    primary: &Primary,
    older: &BTreeMap<String, Primary>,
    constraints: &[PlacementConstraintItem],
    strategies: &[Strategy],
    launch: Option<&Launch>,
    plan: &planner::ServicePlan,
    api: &Api<Pod>,
    owner: &str,
) -> Launched {
    let starts = &plan.starts;
    if starts.is_empty() {
        return Launched::default();
    }
    let provider = |name: &Option<String>| name.as_ref().and_then(|n| launch?.providers.get_key_value(n)).map(|(n, p)| (n.as_str(), p));
    let new_pods: Result<Vec<Pod>> = starts.iter().map(|s| {
        // The planner replaces tasks only of older deployments it was told resolve.
        let deployment = s.deployment.as_ref().and_then(|id| older.get(id)).unwrap_or(primary);
        let task = service_task(service, ctx, deployment, constraints, strategies, s.node.as_deref(), s.node.is_some(), provider(&s.provider));
        task.map(|mut pod| {
            if plan.hold_traffic && pod.labels().contains_key(labels::TRAFFIC) {
                pod.labels_mut().insert(labels::TRAFFIC.to_string(), labels::TRAFFIC_HOLD.to_string());
            }
            pod
        })
    }).collect();
    let new_pods = match new_pods {
        Ok(pods) => pods,
        // Validated before the plan: only a change between the two renders gets here.
        Err(e) => return Launched { refused: Some(e.to_string()), ..Default::default() },
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
/// has one; bound to `node` where Berth chose it (DAEMON, or strategies
/// kube-scheduler cannot honour), otherwise spread by kube-scheduler.
#[allow(clippy::too_many_arguments)]
fn service_task(
    service: &Service,
    ctx: &Context,
    primary: &Primary,
    constraints: &[PlacementConstraintItem],
    strategies: &[Strategy],
    node: Option<&str>,
    pinned: bool,
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
    if crate::ecs::traffic::routes_traffic(&service.spec) {
        task_labels.insert(labels::TRAFFIC.to_string(), labels::TRAFFIC_SERVE.to_string());
        task_labels.insert(labels::ROUTABLE.to_string(), "true".to_string());
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
    scheduling::apply(spec, ctx, &group, constraints, strategies, pinned)?;
    if let Some(node) = node {
        scheduling::pin(&mut pod, node);
    }
    observe::place_on_provider(&mut pod, provider);
    Ok(pod)
}


/// The pass's seed for ties and `random`: varies with the service and the second.
fn seed(service: &Service, now: i64) -> u64 {
    let uid = service.uid().unwrap_or_default();
    uid.bytes().fold(now as u64, |h, b| h.rotate_left(5) ^ u64::from(b))
}

/// Hands `status` to the service's writer if it changed, unless only progress moved since a
/// status was handed moments ago: then it waits, and the pass is requeued for when it may go.
fn write_status(service: &Arc<Service>, ctx: &Arc<Context>, status: ServiceStatus) -> Option<Duration> {
    if service.status.as_ref() == Some(&status) {
        return None;
    }
    let now = Instant::now();
    if let Some(wait) = ctx.written.hold_back(service, &status, now) {
        return Some(wait);
    }
    if ctx.written.hand(service, status, now) {
        tokio::spawn(write_statuses(service.clone(), ctx.clone()));
    }
    None
}

/// A service's status writer: writes the latest status handed to it, one write at a time, so
/// a later status never lands before an earlier one, and off the passes' path, so a failure
/// seen while a status is written waits for no write (a third of a replacement's pass). A
/// failed write is a Warning event, and is made again after the controllers' backoff unless
/// a newer status replaced it; the service or its namespace gone ends the writer.
async fn write_statuses(service: Arc<Service>, ctx: Arc<Context>) {
    let mut failures = 0;
    while let Some((service, status)) = ctx.written.next(&service) {
        match super::apply_status(&ctx.client, service.as_ref(), &status).await {
            Ok(version) => {
                failures = 0;
                ctx.written.wrote(&service, version, &status);
            }
            Err(e) => {
                if super::errors::publish(&ctx, service.as_ref(), &Error::Kube(e), "writing its status: ").is_none() {
                    ctx.written.forget(&service.namespace().unwrap_or_default(), &service.name_any());
                    return;
                }
                failures += 1;
                ctx.written.failed(service, status);
                tokio::time::sleep(super::errors::backoff(failures)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The order of a pass's requests, against a recording API server (a
    //! mocked API proves order only; the behaviour is proven end to end in
    //! tests/e2e/validation.rs).
    use std::sync::Mutex;

    use crate::controller::events::Events;
    use crate::controller::testing::recording;
    use crate::ecs::task::pod::TaskPod;

    use k8s_openapi::api::apps::v1::ControllerRevision;
    use k8s_openapi::api::core::v1::Node;
    use kube::runtime::events::{Recorder, Reporter};
    use kube::runtime::{reflector, watcher};
    use serde_json::json;

    use super::*;
    use crate::api::TaskDefinition;

    fn store<K>(objects: Vec<K>) -> reflector::Store<K>
    where
        K: kube::Resource<DynamicType = ()> + Clone + 'static,
    {
        let (store, mut writer) = reflector::store::<K>();
        for object in objects {
            writer.apply_watcher_event(&watcher::Event::Apply(object));
        }
        store
    }

    fn revision(number: i64, cycle: bool) -> ControllerRevision {
        let depends = |on: &str| if cycle { json!([{"containerName": on, "condition": "START"}]) } else { json!([]) };
        serde_json::from_value(json!({
            "metadata": {"name": format!("web-{number}"), "namespace": "ns"}, "revision": number,
            "data": {"family": "web", "memory": "256", "containerDefinitions": [
                {"name": "app", "image": "nginx", "dependsOn": depends("sidecar")},
                {"name": "sidecar", "image": "busybox", "essential": false, "dependsOn": depends("app")}]}})).unwrap()
    }

    fn task(name: &str) -> TaskPod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns", "creationTimestamp": "2026-01-01T00:00:00Z",
                "labels": {labels::SERVICE: "web", labels::DEPLOYMENT: "ecs-svc-old", labels::TASK_ID: name}},
            "spec": {"nodeName": "n1", "containers": [{"name": "app", "image": "nginx"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [{"name": "app", "image": "nginx", "imageID": "", "ready": true, "restartCount": 0,
                    "state": {"running": {"startedAt": "2026-01-01T00:00:10Z"}}}]}})).unwrap()
    }

    /// A task whose essential container exited a minute ago (its record is not due to expire).
    fn failed(name: &str) -> TaskPod {
        let mut pod = task(name);
        let created = k8s_openapi::jiff::Timestamp::now() - k8s_openapi::jiff::SignedDuration::from_secs(120);
        pod.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(created));
        pod.status = serde_json::from_value(json!({"phase": "Failed", "containerStatuses": [{"name": "app", "image": "nginx", "imageID": "",
            "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2026-01-01T00:01:00Z"}}}]})).unwrap();
        pod
    }

    /// The requests of one pass over `service`, whose task definition's latest revision is
    /// `latest` (revision 2 has a dependency cycle, which cannot render), with two tasks.
    async fn one_pass(service: serde_json::Value, latest: i64) -> Vec<String> {
        passes(service, latest, vec![task("web-a"), task("web-b")], 1).await
    }

    /// The requests of `count` passes over `service` and `tasks`, whose cache does not change
    /// meanwhile (as when the watch lags behind the passes' writes).
    async fn passes(service: serde_json::Value, latest: i64, tasks: Vec<TaskPod>, count: usize) -> Vec<String> {
        let service: Service = serde_json::from_value(service).unwrap();
        let task_definition: TaskDefinition = serde_json::from_value(json!({
            "apiVersion": "berth.dev/v1alpha1", "kind": "TaskDefinition",
            "metadata": {"name": "web", "namespace": "ns", "uid": "t1"},
            "spec": {"family": "web", "containerDefinitions": [{"name": "app", "image": "nginx"}]},
            "status": {"latestRevision": latest}})).unwrap();
        let node: Node = serde_json::from_value(json!({"metadata": {"name": "n1", "labels": {"topology.kubernetes.io/zone": "a"}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}})).unwrap();
        let (client, requests) = recording(serde_json::to_value(&service).unwrap());
        let (_synced_tx, synced) = tokio::sync::watch::channel(true);
        let (events, sending_events) = Events::new(Recorder::new(client.clone(), Reporter { controller: "test".into(), instance: None }));
        let ctx = Arc::new(Context {
            client: client.clone(),
            tasks: client.clone(),
            config: super::super::Config::default(),
            events,
            pods: crate::controller::task_cache::TaskCache::of(tasks),
            nodes: store(vec![node]),
            revisions: store(vec![revision(1, false), revision(2, true)]),
            revision_expectations: Mutex::default(),
            task_definitions: store(vec![task_definition]),
            service_accounts: store(vec![]),
            capacity_providers: store(vec![]),
            task_runs: store(vec![]),
            services: store(vec![]),
            endpoint_slices: store(vec![]),
            expectations: Mutex::default(),
            stopping: Default::default(),
            unplaced: Mutex::default(),
            written: Default::default(),
            errors: Default::default(),
            health: Arc::default(),
            http_routes_served: Default::default(),
            synced,
        });

        let service = Arc::new(service);
        for _ in 0..count {
            reconcile(service.clone(), ctx.clone()).await.expect("the pass reports, it does not fail");
        }
        drop(ctx);
        // The passes and what they sent behind them dropped the context: its events are sent once the queue drains.
        sending_events.await;
        requests.lock().unwrap().clone()
    }

    /// Service `web` at `generation` asking for `desired` tasks, whose last status (of
    /// generation 2) has its 2 tasks of web:1 running and the deployment COMPLETED.
    fn settled_service(generation: i64, desired: i32) -> serde_json::Value {
        let at = "2026-01-01T00:00:00Z";
        json!({
            "apiVersion": "berth.dev/v1alpha1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "ns", "uid": "u1", "generation": generation, "resourceVersion": "7"},
            "spec": {"taskDefinition": "web", "desiredCount": desired},
            "status": {"observedGeneration": 2, "deployments": [{"id": "ecs-svc/old", "status": "PRIMARY", "taskDefinition": "web:1", "desiredCount": 2,
                "pendingCount": 0, "runningCount": 2, "failedTasks": 0, "rolloutState": "COMPLETED", "createdAt": at, "updatedAt": at}]}})
    }

    #[tokio::test]
    async fn a_scale_in_stops_a_task_with_one_delete_and_no_patch_of_the_pod() {
        let requests = one_pass(settled_service(3, 1), 1).await;
        let pod_requests: Vec<&String> = requests.iter().filter(|r| r.contains("/pods")).collect();
        assert_eq!(pod_requests.len(), 1, "{requests:?}");
        assert!(pod_requests[0].starts_with("DELETE /api/v1/namespaces/ns/pods/web-"), "{requests:?}");
        let delete = requests.iter().position(|r| r.starts_with("DELETE"));
        let status = requests.iter().position(|r| r == "PATCH /apis/berth.dev/v1alpha1/namespaces/ns/services/web/status");
        assert!(delete < status, "{requests:?}");
    }

    #[tokio::test]
    async fn a_failed_task_is_replaced_without_a_request_to_its_pod_and_counted_once_though_the_cache_lags_behind() {
        let requests = passes(settled_service(2, 2), 1, vec![task("web-a"), failed("web-b")], 2).await;
        let count = |prefix: &str| requests.iter().filter(|r| r.starts_with(prefix)).count();
        // The status that counts the failure names it in stoppedTasks: that is its record, so
        // the failed pod is not patched (nor deleted: within the retention, it stays).
        assert_eq!(count("PATCH /api/v1/namespaces/ns/pods/web-b") + count("DELETE /api/v1/namespaces/ns/pods/web-b"), 0, "{requests:?}");
        // The second pass, whose cache shows the task ended still and the status unwritten,
        // neither counts nor reports its stop again.
        assert_eq!(count("POST /apis/events.k8s.io/v1/namespaces/ns/events TasksStopped"), 1, "{requests:?}");
        assert_eq!(count("POST /api/v1/namespaces/ns/pods"), 2, "a replacement per pass (the cache shows neither): {requests:?}");
        let create = requests.iter().position(|r| r == "POST /api/v1/namespaces/ns/pods");
        let status = requests.iter().position(|r| r == "PATCH /apis/berth.dev/v1alpha1/namespaces/ns/services/web/status");
        assert!(create < status, "the replacement goes first: {requests:?}");
        assert!(!requests.iter().any(|r| r.ends_with("KubernetesApiError")), "{requests:?}");
    }

    #[tokio::test]
    async fn a_pass_whose_new_revision_cannot_render_sends_no_delete_and_no_stop() {
        let requests = one_pass(json!({
            "apiVersion": "berth.dev/v1alpha1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "ns", "uid": "u1", "generation": 2, "resourceVersion": "7"},
            "spec": {"taskDefinition": "web", "desiredCount": 2, "deploymentConfiguration": {"minimumHealthyPercent": 50, "maximumPercent": 200}}}), 2).await;
        assert!(requests.iter().all(|r| !r.starts_with("DELETE") && !r.contains("/pods")), "a pod was touched: {requests:?}");
        let status = requests.iter().position(|r| r == "PATCH /apis/berth.dev/v1alpha1/namespaces/ns/services/web/status");
        let event = requests.iter().position(|r| r.starts_with("POST") && r.contains("/events "));
        assert!(status.is_some() && event.is_some(), "{requests:?}");
    }
}
