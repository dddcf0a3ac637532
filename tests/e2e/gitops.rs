//! Issue 21: GitOps for real. A real Argo CD (built from the Go module proxy,
//! run out of cluster against the plane) syncs Berth objects from a git
//! repository on disk that each test commits to, with the real operator
//! running; and a HorizontalPodAutoscaler (kube-controller-manager's own
//! controller) scales a Service that Argo CD owns without the two fighting.
use std::time::Duration;

use berth_tests::fixture::{client, repo_root, wait_for, wait_for_service_status};
use berth_tests::gitops::{AppHistory, GitOpsCase, assert_throughout, install_external_metric, set_external_metric, yaml_stream};
use berth_tests::objects::{manifest, service_json};
use berth_tests::tasks::{is_healthy, is_live, named, revision_of, tasks_of};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::Api;
use serde_json::{Value, json};

/// From a commit (or an Application) to Argo CD having synced it and the
/// operator having acted: seconds on an idle machine, far more on a busy one.
const SYNC: Duration = Duration::from_secs(240);

/// The examples that run on the plane as they are. Not batch-taskrun.yaml: a
/// TaskRun is Healthy only once its tasks have exited, and simulated tasks
/// run until told to stop. Not web-load-balanced.yaml: its objects are named
/// web too, like web-fargate.yaml's.
const EXAMPLES: [&str; 4] = ["web-fargate.yaml", "sidecars.yaml", "worker-ec2-bridge.yaml", "scheduled-report.yaml"];

/// A task definition of `family`; with `health_check` its tasks count as
/// healthy as soon as they are Ready, without it 40 s after they start
/// running (ECS's rule), long enough for Argo CD to show a roll.
fn task_definition(family: &str, image: &str, health_check: bool, docker_labels: Value) -> Value {
    let mut container = json!({"name": "app", "image": image, "essential": true, "dockerLabels": docker_labels});
    if health_check {
        container["healthCheck"] = json!({"command": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"]});
    }
    manifest("TaskDefinition", family, json!({"family": family, "memory": "256", "containerDefinitions": [container]}))
}

/// A Service of `desired` tasks of `family`'s latest revision, with the
/// circuit breaker and rollback on.
fn service(name: &str, family: &str, desired: Option<i32>) -> Value {
    let mut spec = json!({"taskDefinition": family, "deploymentConfiguration": {
        "minimumHealthyPercent": 50, "maximumPercent": 200, "deploymentCircuitBreaker": {"enable": true, "rollback": true}}});
    if let Some(desired) = desired {
        spec["desiredCount"] = json!(desired);
    }
    manifest("Service", name, spec)
}

fn with_annotation(mut object: Value, key: &str, value: &str) -> Value {
    object["metadata"]["annotations"][key] = json!(value);
    object
}

/// The live tasks of `svc` are `desired`, all healthy and of `revision`.
async fn wait_tasks(ns: &str, svc: &str, desired: usize, revision: &str) {
    let pods = Api::<Pod>::namespaced(client().await, ns);
    wait_for(pods, tasks_of(svc), SYNC, &format!("{desired} healthy tasks of {svc} revision {revision}"), |ps| {
        let live: Vec<_> = ps.iter().filter(|p| is_live(p)).collect();
        live.len() == desired && live.iter().all(|p| is_healthy(p) && revision_of(p) == revision)
    })
    .await;
}

/// The examples sync and turn Healthy with the real operator, with no
/// ignoreDifferences, and stay Synced and Healthy for a minute of Argo CD
/// comparing them every few seconds: Berth never writes spec, defaults
/// nothing into it, and its status writes cause no diff.
#[tokio::test]
async fn examples_sync_turn_healthy_and_stay_synced_for_a_minute() {
    // Dropped last: the Application and namespace go first.
    let _capacity_providers = berth_tests::gitops::DefaultCapacityProviders::install();
    let examples: Vec<(&str, String)> = EXAMPLES.iter().map(|example| {
        let path = repo_root().join("examples").join(example);
        (*example, std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
    }).collect();
    let case = GitOpsCase::start("examples", &examples, json!({}), SYNC).await;
    let (app, revision) = (&case.app, &case.revision);
    let synced = app.wait_synced_healthy(revision, SYNC).await;
    let berth_objects: Vec<_> = synced.resources.iter().filter(|r| ["TaskDefinition", "Service", "TaskSchedule"].contains(&r.kind.as_str())).collect();
    assert_eq!(berth_objects.len(), 8, "three Services and a TaskSchedule, each with its TaskDefinition: {:#?}", synced.resources);
    for object in &berth_objects {
        assert_eq!((object.sync.as_str(), object.health.as_str()), ("Synced", "Healthy"), "{object:?}");
    }

    let history = AppHistory::follow(app).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    let history = history.finish().await;
    // With --app-resync 5, a minute is about a dozen comparisons.
    assert_throughout(&history, 8, "Synced and Healthy at the examples' commit", |s| s.is_synced_to(revision) && s.health == "Healthy");

    // What Argo CD did not see cannot have drifted: the operator owns no field of any spec.
    let owners = berth_tests::gitops::spec_field_owners(&case.ns.name, &["taskdefinitions.berth.dev", "services.berth.dev", "taskschedules.berth.dev"]).await;
    let operator_owned: Vec<_> = owners.iter().filter(|(_, manager)| !manager.starts_with("argocd")).collect();
    assert!(operator_owned.is_empty(), "spec fields written by someone other than Argo CD: {operator_owned:?}");
    assert!(!owners.is_empty(), "no spec field owners found at all");
}

/// A commit with a new task definition revision shows Progressing while the
/// Service rolls (its new tasks count as healthy 40 s after starting), then
/// Healthy once the new revision runs everywhere.
#[tokio::test]
async fn a_new_revision_shows_progressing_then_healthy() {
    let api = yaml_stream(&[task_definition("api", "nginx:1.27", true, json!({})), service("api", "api", Some(2))]);
    let GitOpsCase { ns, repo, app, .. } = GitOpsCase::start("roll", &[("api.yaml", api)], json!({}), SYNC).await;
    wait_tasks(&ns.name, "api", 2, "1").await;

    repo.write_objects("app/api.yaml", &[task_definition("api", "nginx:1.28", false, json!({})), service("api", "api", Some(2))]);
    let second = repo.commit("api: nginx 1.28");
    let rolling = app.wait(SYNC, "Synced to the new revision, the Service Progressing", |s| {
        s.is_synced_to(&second) && s.resource("Service", "api").is_some_and(|r| r.health == "Progressing")
    }).await;
    assert_eq!(rolling.health, "Progressing", "the app is as healthy as its least healthy resource: {rolling:#?}");
    app.wait_synced_healthy(&second, SYNC).await;
    wait_tasks(&ns.name, "api", 2, "2").await;
}

/// A commit whose revision always fails: the circuit breaker rolls back, the
/// app is Degraded while Synced to that commit (Berth left the spec alone),
/// and Berth's status says the old revision runs; reverting the commit heals it.
#[tokio::test]
async fn a_failing_revision_is_degraded_but_synced_and_a_revert_heals_it() {
    let objects = yaml_stream(&[task_definition("app", "nginx:1.27", true, json!({})), service("app", "app", Some(2))]);
    let GitOpsCase { ns, repo, app, .. } = GitOpsCase::start("breaker", &[("app.yaml", objects)], json!({}), SYNC).await;

    repo.write_objects("app/app.yaml", &[
        task_definition("app", "nginx:1.28", true, json!({"sim.berth.dev/exit-code": "1"})), service("app", "app", Some(2))]);
    let failing = repo.commit("app: a revision whose container exits 1");
    // Degraded may first say that task starts are throttled ("unable to consistently start
    // tasks successfully", from the third failed start), before the circuit breaker fails the
    // deployment and the Service's health says it failed.
    app.wait(SYNC, "Synced to the failing commit and Degraded, the Service saying it failed", |s| {
        s.is_synced_to(&failing) && s.health == "Degraded"
            && s.resource("Service", "app").is_some_and(|r| r.message.contains("fail"))
    }).await;
    // The rollback's tasks of revision 1 run soon after the breaker fails revision 2 (which
    // may already have stopped the old ones, within minimumHealthyPercent): waited for.
    let completed = "{.status.deployments[?(@.rolloutState==\"COMPLETED\")].taskDefinition} {.status.deployments[?(@.rolloutState==\"COMPLETED\")].runningCount}";
    wait_for_service_status(&ns.name, "app", completed, "app:1 2", SYNC).await;
    wait_tasks(&ns.name, "app", 2, "1").await;

    let reverted = repo.revert_last();
    app.wait_synced_healthy(&reverted, SYNC).await;
    // The revert is a spec change, so a new revision (3): revisions are never reused.
    wait_tasks(&ns.name, "app", 2, "3").await;
}

/// Removing a Service from git prunes it, and its tasks go with it.
#[tokio::test]
async fn pruning_a_service_removes_its_tasks() {
    let keep = yaml_stream(&[task_definition("keep", "nginx:1.27", true, json!({})), service("keep", "keep", Some(1))]);
    let gone = yaml_stream(&[service("gone", "keep", Some(2))]);
    let GitOpsCase { ns, repo, app, .. } = GitOpsCase::start("prune", &[("keep.yaml", keep), ("gone.yaml", gone)], json!({}), SYNC).await;
    wait_tasks(&ns.name, "gone", 2, "1").await;

    repo.remove("app/gone.yaml");
    let pruned = repo.commit("gone is gone");
    let status = app.wait_synced_healthy(&pruned, SYNC).await;
    assert!(status.resource("Service", "gone").is_none(), "the pruned Service left the app: {:#?}", status.resources);
    let services = Api::<berth::api::Service>::namespaced(client().await, &ns.name);
    wait_for(services, named("gone"), SYNC, "Service gone deleted", |s| s.is_empty()).await;
    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    wait_for(pods, tasks_of("gone"), SYNC, "every task of gone deleted", |ps| ps.is_empty()).await;
    wait_tasks(&ns.name, "keep", 1, "1").await;
}

/// Sync waves: the TaskDefinition (wave -1) is applied and Healthy (its
/// revision registered by the operator) before Argo CD applies the Service
/// (wave 0), so the Service never starts without its task definition.
#[tokio::test]
async fn a_sync_wave_applies_the_task_definition_before_the_service() {
    let web = yaml_stream(&[
        with_annotation(service("web", "web", Some(2)), "argocd.argoproj.io/sync-wave", "0"),
        with_annotation(task_definition("web", "nginx:1.27", true, json!({})), "argocd.argoproj.io/sync-wave", "-1"),
    ]);
    let case = GitOpsCase::start("waves", &[("web.yaml", web)], json!({}), SYNC).await;
    let ns = &case.ns;

    let kubectl = berth_tests::fixture::plane().kubectl();
    let read = |object: &str, path: &str| kubectl.run(&["get", "-n", &ns.name, object, "-o", &format!("jsonpath={path}")]).expect("kubectl get");
    let task_definition_ready = read("taskdefinition/web", "{.status.conditions[?(@.type==\"Ready\")].lastTransitionTime}");
    let service_created = read("ecssvc/web", "{.metadata.creationTimestamp}");
    assert!(!task_definition_ready.is_empty(), "the TaskDefinition has a Ready condition");
    // RFC 3339 UTC timestamps of the same shape compare as strings.
    assert!(service_created >= task_definition_ready,
        "the Service was created ({service_created}) before its TaskDefinition was Ready ({task_definition_ready})");
    let task_definition_created = read("taskdefinition/web", "{.metadata.creationTimestamp}");
    assert!(service_created > task_definition_created,
        "Argo CD waits (ARGOCD_SYNC_WAVE_DELAY, 2 s) between waves: Service created {service_created}, TaskDefinition {task_definition_created}");
    let events = berth_tests::objects::events(&ns.name).await;
    assert!(!events.contains("TaskDefinitionUnavailable"), "the Service never looked for a missing task definition:\n{events}");
}

/// Autoscaling that git does not fight: the Service's `desiredCount` in git
/// is its initial count; a HorizontalPodAutoscaler (in the same git
/// directory) on the Service's scale subresource, fed an external metric,
/// changes it three times; Argo CD, told to trust the fields the autoscaler
/// owns (`managedFieldsManagers: [kube-controller-manager]` with
/// `RespectIgnoreDifferences=true`), stays Synced and never puts the git
/// count back, not even when a later commit is synced.
#[tokio::test]
async fn an_autoscaler_and_argocd_share_a_service_without_fighting() {
    const METRIC: &str = "queue-depth";
    install_external_metric(METRIC);
    let labels = json!({"service": "worker"});
    // The metric is set in the new namespace before the Application (and its
    // autoscaler) exists, so the autoscaler has a value from its first pass.
    let autoscaler = berth_tests::gitops::service_autoscaler("worker", METRIC, &labels, 10, (1, 8));
    let worker = yaml_stream(&[task_definition("worker", "nginx:1.27", true, json!({})), service("worker", "worker", Some(2)), autoscaler]);
    let GitOpsCase { ns, repo, app, revision: first } = GitOpsCase::start_with("hpa", &[("worker.yaml", worker)],
        berth_tests::gitops::autoscaled_services_spec(), SYNC, |ns| {
            // 10 a task: 20 keeps the initial 2 tasks.
            set_external_metric(ns, METRIC, &labels, 20);
        }).await;
    wait_tasks(&ns.name, "worker", 2, "1").await;

    let history = AppHistory::follow(&app).await;
    let mut counts = vec![];
    for (queue_depth, expected) in [(50, 5), (30, 3), (70, 7)] {
        set_external_metric(&ns.name, METRIC, &labels, queue_depth);
        berth_tests::gitops::wait_autoscaled(&ns.name, "worker", expected, SYNC).await;
        wait_tasks(&ns.name, "worker", expected as usize, "1").await;
        counts.push(expected);
        // Argo CD looked at the scaled Service (and found nothing to sync).
        let scaled = Timestamp::now();
        app.wait(SYNC, &format!("compared after the scale to {expected}"), |s| s.reconciled_after(scaled)).await;
    }
    let history = history.finish().await;
    assert_eq!(counts, [5, 3, 7]);
    // The status at the start and one comparison after each scale change at least.
    assert_throughout(&history, counts.len() + 1, "Synced to the first commit", |s| s.is_synced_to(&first));
    let owners: Vec<String> = berth_tests::gitops::spec_field_owners(&ns.name, &["services.berth.dev"]).await
        .into_iter().filter(|(field, _)| field == "services.berth.dev/worker f:desiredCount").map(|(_, manager)| manager).collect();
    assert_eq!(owners, ["kube-controller-manager"], "the autoscaler owns desiredCount");

    // A commit Argo CD syncs (a new label on the Service) keeps the autoscaler's count.
    let mut labelled = service("worker", "worker", Some(2));
    labelled["metadata"]["labels"] = json!({"team": "queue"});
    let autoscaler = berth_tests::gitops::service_autoscaler("worker", METRIC, &labels, 10, (1, 8));
    repo.write_objects("app/worker.yaml", &[task_definition("worker", "nginx:1.27", true, json!({})), labelled, autoscaler]);
    let second = repo.commit("worker: a team label");
    app.wait(SYNC, "synced the label commit", |s| s.is_synced_to(&second) && s.operation_phase == "Succeeded").await;
    let live = service_json(&ns.name, "worker").await;
    assert_eq!(live["metadata"]["labels"]["team"], "queue", "the commit was applied");
    assert_eq!(live["spec"]["desiredCount"], 7, "the sync kept the autoscaler's count, not git's 2");
}
