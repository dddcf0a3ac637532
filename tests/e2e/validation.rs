//! Validate before acting (issue 14): a pass that cannot render or place what
//! it would start stops nothing and says why on the object; a pod create the
//! API server refuses reaches the Service as a condition and an event.
use std::time::Duration;

use berth_tests::fixture::{TestNamespace, client, operator, wait_for, wait_for_service_status};
use berth_tests::objects::{apply, events, manifest, service_field};
use berth_tests::tasks::undeleted;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::watcher;
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(120);

/// Two containers; with `cycle` each waits for the other to START, which no task can do.
fn task_definition(name: &str, cycle: bool) -> Value {
    let depends = |on: &str| if cycle { json!([{"containerName": on, "condition": "START"}]) } else { json!([]) };
    manifest("TaskDefinition", name, json!({"memory": "256", "taskRoleArn": null, "containerDefinitions": [
        {"name": "app", "image": "nginx", "dependsOn": depends("sidecar")},
        {"name": "sidecar", "image": "busybox", "essential": false, "dependsOn": depends("app")}]}))
}

async fn live_tasks(ns: &str) -> Vec<String> {
    let pods: Api<Pod> = Api::namespaced(client().await, ns);
    let all = wait_for(pods, watcher::Config::default(), TIMEOUT, "the task pods", |_| true).await;
    undeleted(&all).iter().map(|p| p.name_any()).collect()
}

#[tokio::test]
async fn a_roll_to_a_revision_with_a_depends_on_cycle_keeps_every_old_task() {
    operator();
    let ns = TestNamespace::create("cycle");
    apply(&ns.name, &task_definition("web", false));
    apply(&ns.name, &manifest("Service", "web", json!({"taskDefinition": "web", "desiredCount": 4,
        "deploymentConfiguration": {"minimumHealthyPercent": 50, "maximumPercent": 200}})));
    wait_for_service_status(&ns.name, "web", "{.status.runningCount}", "4", TIMEOUT).await;
    let before = live_tasks(&ns.name).await;
    assert_eq!(before.len(), 4, "{before:?}");

    // Revision 2 cannot render: a roll at min 50 % would stop two tasks at once.
    apply(&ns.name, &task_definition("web", true));
    wait_for_service_status(&ns.name, "web", "{.status.conditions[?(@.type==\"Ready\")].reason}", "InvalidTaskDefinition", TIMEOUT).await;
    let message = service_field(&ns.name, "web", "{.status.conditions[?(@.type==\"Ready\")].message}").await;
    assert!(message.contains("dependsOn"), "{message}");
    let after = live_tasks(&ns.name).await;
    assert_eq!(after, before, "the pass stopped or started tasks it could not replace");
    let log = events(&ns.name).await;
    assert!(log.lines().any(|l| l.starts_with("Warning InvalidTaskDefinition") && l.contains("dependsOn")), "{log}");

    // Fixed: the roll goes on.
    apply(&ns.name, &task_definition("web", false));
    wait_for_service_status(&ns.name, "web", "{.status.conditions[?(@.type==\"Ready\")].status}", "True", TIMEOUT).await;
}

#[tokio::test]
async fn a_task_run_of_a_revision_that_cannot_render_says_why() {
    operator();
    let ns = TestNamespace::create("run-cycle");
    apply(&ns.name, &task_definition("job", true));
    apply(&ns.name, &manifest("TaskRun", "once", json!({"taskDefinition": "job"})));
    let runs: Api<berth::api::TaskRun> = Api::namespaced(client().await, &ns.name);
    wait_for(runs, watcher::Config::default(), TIMEOUT, "the run to say why it cannot start", |runs| {
        runs.iter().flat_map(|r| r.status.iter().flat_map(|s| s.conditions.iter().flatten()))
            .any(|c| c.type_ == "Ready" && c.reason == "InvalidTaskDefinition" && c.message.contains("dependsOn"))
    }).await;
    assert!(live_tasks(&ns.name).await.is_empty());
    let log = events(&ns.name).await;
    assert!(log.lines().any(|l| l.starts_with("Warning InvalidTaskDefinition") && l.contains("dependsOn")), "{log}");
}

#[tokio::test]
async fn a_malformed_member_of_expression_stops_nothing() {
    operator();
    let ns = TestNamespace::create("memberof");
    apply(&ns.name, &task_definition("web", false));
    let service = |constraints: Value| manifest("Service", "web", json!({"taskDefinition": "web", "desiredCount": 2, "placementConstraints": constraints}));
    apply(&ns.name, &service(json!([])));
    wait_for_service_status(&ns.name, "web", "{.status.runningCount}", "2", TIMEOUT).await;
    let before = live_tasks(&ns.name).await;

    // A new placement is a new deployment, whose tasks cannot be placed.
    apply(&ns.name, &service(json!([{"type": "memberOf", "expression": "attribute:ecs.availability-zone in [us-east-1a"}])));
    wait_for_service_status(&ns.name, "web", "{.status.conditions[?(@.type==\"Ready\")].reason}", "PlacementInvalid", TIMEOUT).await;
    assert_eq!(live_tasks(&ns.name).await, before);
    let log = events(&ns.name).await;
    assert!(log.lines().any(|l| l.starts_with("Warning PlacementInvalid") && l.contains("memberOf")), "{log}");
}

#[tokio::test]
async fn a_quota_that_refuses_pods_shows_on_the_service_within_seconds() {
    operator();
    let ns = TestNamespace::create("quota");
    apply(&ns.name, &json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "two-pods"}, "spec": {"hard": {"pods": "2"}}}));
    apply(&ns.name, &task_definition("web", false));
    let started = std::time::Instant::now();
    apply(&ns.name, &manifest("Service", "web", json!({"taskDefinition": "web", "desiredCount": 4})));
    wait_for_service_status(&ns.name, "web", "{.status.conditions[?(@.type==\"Degraded\")].reason}", "TaskLaunchRefused", TIMEOUT).await;
    let message = service_field(&ns.name, "web", "{.status.conditions[?(@.type==\"Degraded\")].message}").await;
    assert!(message.contains("exceeded quota"), "{message}");
    let log = events(&ns.name).await;
    assert!(log.lines().any(|l| l.starts_with("Warning TaskLaunchRefused") && l.contains("exceeded quota")), "{log}");
    eprintln!("refusal on the Service {:?} after apply", started.elapsed());
    assert_eq!(live_tasks(&ns.name).await.len(), 2);
}
