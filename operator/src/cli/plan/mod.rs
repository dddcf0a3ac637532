//! `plan -f FILE`: what applying a changed Service or TaskDefinition would do, before
//! anything is applied: which deployment would start, the rollout's batches (starts and
//! stops per pass within minimumHealthyPercent and maximumPercent) and where the new
//! tasks would go. The batches come from the operator's own planner (see `simulate`).

pub mod simulate;

use std::collections::BTreeMap;

use kube::ResourceExt;
use kube::api::ListParams;
use serde_json::{Value, json};

use super::CliError;
use super::args::Args;
use super::cluster::Cluster;
use super::output::{Response, table};
use super::task_definitions::{family, stored_revision};
use crate::api::{CapacityProvider, SchedulingStrategy, Service, TaskDefinition, TaskDefinitionSpec};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;
use crate::ecs::task::pod::TaskPod;
use kube::Api;

use crate::controller::scheduling;
use crate::ecs::capacity::launch::{self, Launch};
use crate::ecs::placement::place::Placement;
use crate::ecs::placement::{NodeUsage, Resources};
use crate::ecs::plan::deployment::Primary;
use crate::ecs::render::{TaskContext, render_pod};
use crate::ecs::plan::deployment::{self, Deployment};
use crate::ecs::plan::lifecycle;
use crate::ecs::rollout::strategy::HookTarget;
use crate::ecs::render::names::label_value;
use crate::ecs::task::labels;
use crate::ecs::task::observed::Task;
use crate::ecs::task::reference::{self, Resolved};
use simulate::{End, Rollout, Start, simulate};

/// The objects of the file, by kind.
#[derive(Debug, Default)]
pub struct Changes {
    pub services: Vec<Service>,
    pub task_definitions: Vec<TaskDefinition>,
}

/// Reads the Services and TaskDefinitions of a multi-document YAML or JSON file; an
/// object that does not fit its kind is refused, naming the document and the field.
pub fn changes(text: &str) -> Result<Changes, CliError> {
    let documents: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| CliError::usage(format!("--file: not YAML or JSON: {e}")))?;
    let mut changes = Changes::default();
    for (index, document) in documents.into_iter().enumerate().filter(|(_, d)| !d.is_null()) {
        let kind = document["kind"].as_str().unwrap_or_default().to_string();
        let refuse = |e: serde_path_to_error::Error<serde_json::Error>| CliError::usage(format!("--file: document {} ({kind}): {} at {}", index + 1, e.inner(), e.path()));
        match kind.as_str() {
            "Service" => changes.services.push(serde_path_to_error::deserialize(document).map_err(refuse)?),
            "TaskDefinition" => changes.task_definitions.push(serde_path_to_error::deserialize(document).map_err(refuse)?),
            _ => return Err(CliError::usage(format!("--file: document {} is a {kind:?}; plan takes Services and TaskDefinitions", index + 1))),
        }
    }
    if changes.services.is_empty() && changes.task_definitions.is_empty() {
        return Err(CliError::usage("--file holds no Service or TaskDefinition"));
    }
    Ok(changes)
}

/// A revision's data as the operator stores it: the spec with its family and without the
/// read-only describe fields (the operator registers a new revision when this changes).
fn revision_data(td: &TaskDefinition, family: &str) -> Value {
    let mut spec = td.spec.clone();
    spec.family = Some(family.to_string());
    spec.described = Default::default();
    serde_json::to_value(&spec).unwrap_or(Value::Null)
}

/// The revision a service of `changes` would run: the file's TaskDefinition of its family
/// (a new revision number if its spec differs from the latest registered one), else the
/// registered revision it names.
async fn resolve(cluster: &Cluster, changes: &Changes, task_definition: &str) -> Result<Resolved, CliError> {
    let wanted = reference::parse(task_definition)
        .ok_or_else(|| CliError::usage(format!("taskDefinition: {task_definition:?} is not a family, family:revision or task definition ARN")))?;
    let registered = family(cluster, &wanted.family).await?;
    let changed = changes.task_definitions.iter().find(|td| super::task_definitions::family_of(td) == wanted.family);
    if let Some(td) = changed.filter(|_| wanted.revision.is_none()) {
        let data = revision_data(td, &wanted.family);
        let latest = match &registered {
            Some(current) => stored_revision(cluster, current, None).await.ok(),
            None => None,
        };
        let seen = registered.as_ref().and_then(|r| r.status.as_ref()).and_then(|s| s.latest_revision).unwrap_or(0);
        let revision = match latest {
            Some(stored) if stored.spec == data => stored.number,
            _ => seen + 1,
        };
        let spec: TaskDefinitionSpec = serde_json::from_value(data).map_err(|e| CliError::usage(format!("TaskDefinition {}: {e}", td.name_any())))?;
        return Ok(Resolved { family: wanted.family, revision, spec });
    }
    let registered = registered.ok_or_else(|| CliError::api_message(format!("no TaskDefinition of family {} in cluster {} or in the file", wanted.family, cluster.namespace)))?;
    let stored = stored_revision(cluster, &registered, wanted.revision).await?;
    let spec: TaskDefinitionSpec = serde_json::from_value(stored.spec).map_err(|e| CliError::api_message(format!("revision {}:{} is unreadable: {e}", wanted.family, stored.number)))?;
    Ok(Resolved { family: wanted.family, revision: stored.number, spec })
}

/// The services to plan: those in the file, and those of the cluster that run the latest
/// revision of a family whose TaskDefinition the file changes.
async fn affected(cluster: &Cluster, changes: &Changes) -> Result<Vec<Service>, CliError> {
    let mut services = changes.services.clone();
    let families: Vec<String> = changes.task_definitions.iter().map(super::task_definitions::family_of).collect();
    let existing = cluster.api::<Service>().list(&ListParams::default()).await.map_err(CliError::api)?;
    for service in existing.items {
        let follows = reference::parse(&service.spec.task_definition).is_some_and(|r| r.revision.is_none() && families.contains(&r.family));
        if follows && !services.iter().any(|s| s.name_any() == service.name_any()) {
            services.push(service);
        }
    }
    Ok(services)
}

pub async fn run(cluster: &Cluster, mut args: Args) -> Result<Response, CliError> {
    let file = args.required("--file")?;
    args.finish()?;
    let text = std::fs::read_to_string(&file).map_err(|e| CliError::usage(format!("--file: cannot read {file}: {e}")))?;
    let changes = changes(&text)?;
    let services = affected(cluster, &changes).await?;
    if services.is_empty() {
        return Err(CliError::usage("no Service in the file or the cluster runs a changed TaskDefinition: nothing would roll out"));
    }
    let mut plans = vec![];
    for service in services {
        plans.push(plan_service(cluster, &changes, service).await?);
    }
    let table = plans.iter().map(plan_table).collect::<Vec<_>>().join("\n");
    Ok(Response { json: json!({"plans": plans}), table })
}

/// The plan of one service, as JSON.
async fn plan_service(cluster: &Cluster, changes: &Changes, changed: Service) -> Result<Value, CliError> {
    let name = changed.name_any();
    if changed.spec.scheduling_strategy == Some(SchedulingStrategy::Daemon) {
        return Err(CliError::usage(format!("service {name}: plan predicts REPLICA rollouts; a DAEMON service replaces its task on each node")));
    }
    let current = cluster.api::<Service>().get_opt(&name).await.map_err(CliError::api)?;
    let mut service = changed;
    service.metadata = current.as_ref().map_or(service.metadata.clone(), |c| c.metadata.clone());
    service.status = current.as_ref().and_then(|c| c.status.clone());

    let resolved = resolve(cluster, changes, &service.spec.task_definition).await?;
    let previous = service.status.as_ref().and_then(|s| s.deployments.clone()).unwrap_or_default();
    let mut revisions_run = vec![];
    for deployment in &previous {
        if let Ok(resolved) = resolve(cluster, &Changes::default(), &deployment.task_definition).await {
            revisions_run.push(resolved);
        }
    }
    let primary = deployment::primary(&service.spec, resolved.clone(), &previous, &revisions_run);
    let current_primary = previous.iter().find(|d| d.status == crate::api::DeploymentStatus::Primary);
    let providers = kube::Api::<CapacityProvider>::all(cluster.client.clone()).list(&ListParams::default()).await.map_err(CliError::api)?;
    let lookup = |name: &str| providers.items.iter().find(|p| p.name_any() == name).map(|p| p.spec.clone());
    let launch = launch::resolve(&service.spec.placement, &primary.resolved.spec, false, lookup)
        .map_err(|e| CliError::usage(format!("service {name}: the operator would start no task: {e}")))?;

    let where_runs = cluster.placements().await?;
    let pods = cluster.task_pods(Some(format!("{}={}", labels::SERVICE, label_value(&name)))).await?;
    let tasks: Vec<Task> = pods.into_iter().map(|pod| {
        let zone = where_runs(&pod).zone;
        Task { zone, ..Task::of(pod) }
    }).collect();
    // A BLUE_GREEN, LINEAR or CANARY deployment scales green to desired at once and removes
    // blue at CLEAN_UP; between them production moves in the strategy's steps.
    let shifting = lifecycle::shifts_traffic(&service.spec).then(|| lifecycle::policy(&service.spec, 60))
        .transpose().map_err(|p| CliError::usage(format!("service {name}: {}", p.message)))?;
    let new_deployment = current_primary.is_none_or(|d| d.id != primary.deployment.id);
    if let Some(policy) = shifting.filter(|_| new_deployment && current_primary.is_some()) {
        let (old_label, old_count) = (current_primary.map(|d| d.id.replace('/', "-")).unwrap_or_default(), tasks.iter().filter(|t| t.is_active()).count());
        let desired = service.spec.desired_count.unwrap_or(0).max(0) as usize;
        let rollout = Rollout {
            batches: vec![
                simulate::Batch { starts: vec![simulate::Placement::default(); desired], stops: BTreeMap::new(),
                    after: BTreeMap::from([(old_label.clone(), old_count), (primary.deployment.label.clone(), desired)]) },
                simulate::Batch { starts: vec![], stops: BTreeMap::from([(old_label, (old_count, "CLEAN_UP".to_string()))]),
                    after: BTreeMap::from([(primary.deployment.label.clone(), desired)]) },
            ],
            end: End::Completed,
        };
        let bounds = deployment::bounds(service.spec.deployment_configuration.as_ref(), false);
        let mut plan = report(&name, &primary.deployment, &resolved.reference(), current_primary.map(|d| (d.id.as_str(), d.task_definition.as_str())),
            service.spec.desired_count.unwrap_or(0), (bounds.minimum_healthy_percent, bounds.maximum_percent), &rollout);
        plan["lifecycle"] = lifecycle_outline(&policy);
        return Ok(plan);
    }
    let rollout = simulate(Start {
        service: service.clone(),
        primary: &primary,
        tasks,
        strategy: launch.as_ref().map(|l| &l.strategy),
        placement: placement(cluster, &service, &primary, launch.as_ref()).await?,
        now: k8s_openapi::jiff::Timestamp::now().as_second(),
    });
    let bounds = deployment::bounds(service.spec.deployment_configuration.as_ref(), false);
    Ok(report(&name, &primary.deployment, &resolved.reference(), current_primary.map(|d| (d.id.as_str(), d.task_definition.as_str())),
        service.spec.desired_count.unwrap_or(0), (bounds.minimum_healthy_percent, bounds.maximum_percent), &rollout))
}

/// The cluster as the operator's placement would see it for the service's new tasks: the
/// nodes with the room Berth's tasks leave (every namespace's, where the user may list them),
/// the service's constraints and strategies, and whether Berth or kube-scheduler chooses.
async fn placement(cluster: &Cluster, service: &Service, primary: &Primary, launch: Option<&Launch>) -> Result<Placement, CliError> {
    let name = service.name_any();
    let invalid = |e: crate::ecs::placement::PlacementError| CliError::usage(format!("service {name}: placement: {e}"));
    let constraints = scheduling::constraints(&primary.resolved.spec, service.spec.placement.placement_constraints.as_ref());
    let strategies = scheduling::service_strategies(service.spec.placement.placement_strategy.as_ref()).map_err(invalid)?;
    let context = TaskContext { namespace: cluster.namespace.clone(), pod_name: format!("{name}-plan"), ..TaskContext::default() };
    let task = render_pod(&primary.resolved.spec, &context).map_err(|e| CliError::usage(format!("service {name}: the operator would start no task: {e}")))?;
    let request = task.spec.as_ref().map(Resources::requested_by).unwrap_or_default();
    let nodes: Vec<Arc<Node>> = Api::<Node>::all(cluster.client.clone()).list(&ListParams::default()).await.map_err(CliError::api)?
        .items.into_iter().map(Arc::new).collect();
    let pods = match cluster.berth_pods_everywhere().await? {
        Some(pods) => pods,
        None => cluster.task_pods(None).await?,
    };
    let holdings: Vec<_> = pods.into_iter().filter_map(|p| TaskPod::from(p).holding()).collect();
    let providers = launch.map_or(0, |l| l.providers.len());
    let pool = launch.and_then(|l| l.providers.values().next());
    let mut placement = scheduling::cluster_placement(&NodeUsage::of(&holdings), &nodes, &format!("service:{name}"), &constraints, pool, request).map_err(invalid)?;
    placement.berth_places = providers <= 1 && scheduling::berth_places(&strategies, &constraints);
    placement.strategies = strategies;
    Ok(placement)
}

/// The traffic steps of a BLUE_GREEN, LINEAR or CANARY deployment: green's production
/// weight after each step and the minutes waited after it, then the bake time.
fn lifecycle_outline(policy: &lifecycle::LifecyclePolicy) -> Value {
    let strategy = policy.policy.strategy;
    json!({
        "productionTrafficShifts": strategy.production_steps().iter().map(|(weight, wait)| json!({"weight": weight, "bakeTimeInMinutes": wait / 60})).collect::<Vec<_>>(),
        "bakeTimeInMinutes": strategy.bake() / 60,
        "lifecycleHooks": policy.policy.hooks.iter().map(|h| json!({"pause": h.target == HookTarget::Pause,
            "lifecycleStages": h.stages.iter().map(crate::api::wire_name).collect::<Vec<_>>()})).collect::<Vec<_>>(),
    })
}

/// `ecs-svc-<n>` (a deployment's label) as its id `ecs-svc/<n>`.
fn deployment_id(label: &str) -> String {
    label.strip_prefix("ecs-svc-").map_or_else(|| label.to_string(), |n| format!("ecs-svc/{n}"))
}

/// The plan as JSON: the deployment, each pass's starts, stops and placements.
pub fn report(service: &str, deployment: &Deployment, task_definition: &str, current: Option<(&str, &str)>, desired: i32, (minimum, maximum): (u32, u32), rollout: &Rollout) -> Value {
    let new_deployment = current.is_none_or(|(id, _)| id != deployment.id);
    let batches: Vec<Value> = rollout.batches.iter().enumerate().map(|(i, batch)| {
        let mut placements: BTreeMap<(String, String, String), usize> = BTreeMap::new();
        for start in &batch.starts {
            let key = (start.node.clone().unwrap_or_default(), start.zone.clone().unwrap_or_default(), start.provider.clone().unwrap_or_default());
            *placements.entry(key).or_insert(0) += 1;
        }
        json!({
            "pass": i + 1,
            "start": batch.starts.len(),
            "stop": batch.stops.iter().map(|(label, (count, reason))| json!({"deployment": deployment_id(label), "count": count, "reason": reason})).collect::<Vec<_>>(),
            "placements": placements.iter().map(|((node, zone, provider), count)| {
                let mut placement = json!({"count": count});
                super::shape::insert_some(&mut placement, "node", Some(node).filter(|n| !n.is_empty()));
                super::shape::insert_some(&mut placement, "availabilityZone", Some(zone).filter(|z| !z.is_empty()));
                super::shape::insert_some(&mut placement, "capacityProvider", Some(provider).filter(|p| !p.is_empty()));
                placement
            }).collect::<Vec<_>>(),
            "runningAfter": batch.after.iter().map(|(label, count)| (deployment_id(label), json!(count))).collect::<serde_json::Map<_, _>>(),
        })
    }).collect();
    let mut plan = json!({
        "serviceName": service,
        "deployment": {"id": deployment.id, "taskDefinition": task_definition, "new": new_deployment},
        "desiredCount": desired,
        "minimumHealthyPercent": minimum,
        "maximumPercent": maximum,
        "batches": batches,
        "end": match rollout.end { End::Completed => "COMPLETED", End::Stuck => "STUCK", End::Unfinished => "UNFINISHED" },
    });
    if let Some((id, task_definition)) = current.filter(|_| new_deployment) {
        plan["deployment"]["replaces"] = json!({"id": id, "taskDefinition": task_definition});
    }
    plan
}

/// The plan for people.
fn plan_table(plan: &Value) -> String {
    let deployment = &plan["deployment"];
    let headline = match (deployment["new"].as_bool(), deployment.get("replaces")) {
        (Some(true), Some(old)) => format!("new deployment {} ({}) replaces {} ({})", deployment["id"].as_str().unwrap_or_default(),
            deployment["taskDefinition"].as_str().unwrap_or_default(), old["id"].as_str().unwrap_or_default(), old["taskDefinition"].as_str().unwrap_or_default()),
        (Some(true), None) => format!("new deployment {} ({})", deployment["id"].as_str().unwrap_or_default(), deployment["taskDefinition"].as_str().unwrap_or_default()),
        _ => format!("no new deployment: {} ({}) stays", deployment["id"].as_str().unwrap_or_default(), deployment["taskDefinition"].as_str().unwrap_or_default()),
    };
    let rows: Vec<Vec<String>> = plan["batches"].as_array().into_iter().flatten().map(|batch| {
        let stops: Vec<String> = batch["stop"].as_array().into_iter().flatten().map(|s| format!("{} of {}", s["count"], s["deployment"].as_str().unwrap_or_default())).collect();
        let placements: Vec<String> = batch["placements"].as_array().into_iter().flatten().map(|p| {
            let place: Vec<&str> = [p["node"].as_str(), p["availabilityZone"].as_str(), p["capacityProvider"].as_str()].into_iter().flatten().collect();
            format!("{}x {}", p["count"], if place.is_empty() { "any node".to_string() } else { place.join("/") })
        }).collect();
        let running: Vec<String> = batch["runningAfter"].as_object().into_iter().flatten().map(|(id, n)| format!("{id}={n}")).collect();
        vec![batch["pass"].to_string(), batch["start"].to_string(), if stops.is_empty() { "0".into() } else { stops.join(", ") }, placements.join(", "), running.join(" ")]
    }).collect();
    let end = match plan["end"].as_str() {
        Some("COMPLETED") => format!("completes after {} passes", rows.len()),
        Some("STUCK") => "STUCK: the deployment configuration allows neither a start nor a stop; change minimumHealthyPercent or maximumPercent".to_string(),
        _ => "still rolling after the passes simulated".to_string(),
    };
    let shifts: Vec<String> = plan["lifecycle"]["productionTrafficShifts"].as_array().into_iter().flatten()
        .map(|s| format!("{}% (then {} min)", s["weight"], s["bakeTimeInMinutes"])).collect();
    let lifecycle = if shifts.is_empty() { String::new() } else {
        format!("production traffic to the new revision: {}; bake {} min, then CLEAN_UP stops the old revision\n", shifts.join(", "), plan["lifecycle"]["bakeTimeInMinutes"])
    };
    format!("service {}: {headline}\ndesired {}, minimumHealthyPercent {}, maximumPercent {}\n{}{lifecycle}{end}\n", plan["serviceName"].as_str().unwrap_or_default(),
        plan["desiredCount"], plan["minimumHealthyPercent"], plan["maximumPercent"],
        table(&["PASS", "START", "STOP", "NEW TASKS GO TO", "TASKS AFTER"], &rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use simulate::{Batch, Placement};

    #[test]
    fn reads_services_and_task_definitions_and_names_bad_fields() {
        let file = "apiVersion: berth.dev/v1alpha1\nkind: TaskDefinition\nmetadata: {name: web}\nspec: {family: web, containerDefinitions: [{name: web, image: nginx}]}\n---\n\
            apiVersion: berth.dev/v1alpha1\nkind: Service\nmetadata: {name: web}\nspec: {taskDefinition: web, desiredCount: 3}\n";
        let read = changes(file).unwrap();
        assert_eq!((read.services.len(), read.task_definitions.len()), (1, 1));
        let bad = "apiVersion: berth.dev/v1alpha1\nkind: Service\nmetadata: {name: web}\nspec: {taskDefinition: web, desiredCount: many}\n";
        let error = changes(bad).unwrap_err().to_string();
        assert!(error.contains("document 1 (Service)") && error.contains("spec.desiredCount"), "{error}");
        assert!(changes("kind: ConfigMap\n").unwrap_err().to_string().contains("ConfigMap"));
    }

    #[test]
    fn the_report_names_the_deployments_and_counts_each_pass() {
        let new = Deployment::from_id("ecs-svc/2");
        let rollout = Rollout {
            batches: vec![
                Batch { starts: vec![Placement { node: Some("n1".into()), zone: Some("a".into()), provider: None }; 2], stops: BTreeMap::new(),
                    after: BTreeMap::from([("ecs-svc-1".into(), 2), ("ecs-svc-2".into(), 2)]) },
                Batch { starts: vec![], stops: BTreeMap::from([("ecs-svc-1".into(), (2, "Scaling activity initiated by (deployment ecs-svc/2)".into()))]),
                    after: BTreeMap::from([("ecs-svc-2".into(), 2)]) },
            ],
            end: End::Completed,
        };
        let plan = report("web", &new, "web:2", Some(("ecs-svc/1", "web:1")), 2, (100, 200), &rollout);
        assert_eq!(plan["deployment"]["new"], true);
        assert_eq!(plan["deployment"]["replaces"]["id"], "ecs-svc/1");
        assert_eq!(plan["batches"][0]["placements"][0], json!({"count": 2, "node": "n1", "availabilityZone": "a"}));
        assert_eq!(plan["batches"][1]["stop"][0]["deployment"], "ecs-svc/1");
        assert_eq!(plan["batches"][1]["runningAfter"], json!({"ecs-svc/2": 2}));
        let text = plan_table(&plan);
        assert!(text.contains("new deployment ecs-svc/2 (web:2) replaces ecs-svc/1 (web:1)") && text.contains("2 of ecs-svc/1") && text.contains("completes after 2 passes"), "{text}");
        let unchanged = report("web", &new, "web:2", Some(("ecs-svc/2", "web:2")), 4, (100, 200), &Rollout { batches: vec![], end: End::Completed });
        assert!(plan_table(&unchanged).contains("no new deployment"));
    }

    #[test]
    fn a_linear_deployment_is_outlined_by_its_traffic_steps() {
        let spec: crate::api::ServiceSpec = serde_json::from_value(json!({"taskDefinition": "web", "deploymentConfiguration": {"strategy": "LINEAR",
            "linearConfiguration": {"stepPercent": 25.0, "stepBakeTimeInMinutes": 3}, "bakeTimeInMinutes": 15,
            "lifecycleHooks": [{"targetType": "PAUSE", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"]}]}})).unwrap();
        let outline = lifecycle_outline(&lifecycle::policy(&spec, 60).unwrap());
        let weights: Vec<f64> = outline["productionTrafficShifts"].as_array().unwrap().iter().map(|s| s["weight"].as_f64().unwrap()).collect();
        assert_eq!(weights, vec![25.0, 50.0, 75.0, 100.0]);
        assert_eq!(outline["productionTrafficShifts"][0]["bakeTimeInMinutes"], 3);
        assert_eq!(outline["productionTrafficShifts"][3]["bakeTimeInMinutes"], 0);
        assert_eq!(outline["bakeTimeInMinutes"], 15);
        assert_eq!(outline["lifecycleHooks"][0], json!({"pause": true, "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"]}));
    }
}
