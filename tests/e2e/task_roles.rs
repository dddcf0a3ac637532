//! Issue 14: a task definition with a `taskRoleArn` runs on a fresh cluster.
//! Berth makes the role's ServiceAccount (annotated with the role ARN for
//! IRSA) before it registers the revision (and for a TaskRun's overriding
//! role), leaves a ServiceAccount the user made alone, and the one it made
//! goes with the last TaskDefinition using it.
use std::time::Duration;

use berth_tests::fixture::{TestNamespace, client, operator, plane, wait_for};
use berth_tests::objects::{apply, events, manifest};
use berth_tests::tasks::{named, phase};
use k8s_openapi::api::core::v1::{Event, Pod, ServiceAccount};
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::watcher;
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(120);
const ROLE: &str = "arn:aws:iam::123456789012:role/app/OrderService";


fn task_definition(role: &str) -> Value {
    json!({"taskRoleArn": role, "containerDefinitions": [{"name": "app", "image": "nginx:1.27", "memory": 128}]})
}

/// The namespace's running pods, once `count` of them run as `service_account`.
async fn tasks_running_as(ns: &str, service_account: &str, count: usize) -> Vec<std::sync::Arc<Pod>> {
    let pods = Api::<Pod>::namespaced(client().await, ns);
    let runs_as = |p: &Pod| p.spec.as_ref().and_then(|s| s.service_account_name.as_deref()) == Some(service_account)
        && phase(p) == "Running";
    wait_for(pods, watcher::Config::default(), TIMEOUT, &format!("{count} tasks running as {service_account}"), |pods| {
        pods.iter().filter(|p| runs_as(p)).count() == count
    })
    .await
}

#[tokio::test]
async fn a_task_role_runs_under_a_service_account_berth_makes_and_removes() {
    operator();
    let ns = TestNamespace::create("task-roles");
    let accounts = Api::<ServiceAccount>::namespaced(client().await, &ns.name);
    assert!(accounts.get_opt("orderservice").await.unwrap().is_none(), "a fresh namespace has no ServiceAccount for the role");

    apply(&ns.name, &manifest("TaskDefinition", "orders", task_definition(ROLE)));
    apply(&ns.name, &manifest("Service", "orders", json!({"taskDefinition": "orders", "desiredCount": 2})));
    apply(&ns.name, &manifest("TaskRun", "orders-once", json!({"taskDefinition": "orders"})));
    let pods = tasks_running_as(&ns.name, "orderservice", 3).await;
    let owners: Vec<String> = pods.iter().flat_map(|p| p.owner_references().iter().map(|o| o.kind.clone())).collect();
    assert!(owners.contains(&"Service".to_string()) && owners.contains(&"TaskRun".to_string()), "both a Service and a TaskRun started tasks: {owners:?}");

    let sa = accounts.get("orderservice").await.unwrap();
    assert_eq!(sa.labels().get("app.kubernetes.io/managed-by").map(String::as_str), Some("berth"));
    assert_eq!(sa.annotations().get("eks.amazonaws.com/role-arn").map(String::as_str), Some(ROLE));
    let owner_kinds: Vec<(String, String)> = sa.owner_references().iter().map(|o| (o.kind.clone(), o.name.clone())).collect();
    assert_eq!(owner_kinds, vec![("TaskDefinition".to_string(), "orders".to_string())]);

    // A TaskRun whose overrides name another role runs as that role's
    // ServiceAccount, which it owns.
    let reporting = "arn:aws:iam::123456789012:role/Reporting";
    apply(&ns.name, &manifest("TaskRun", "report", json!({"taskDefinition": "orders", "overrides": {"taskRoleArn": reporting}})));
    tasks_running_as(&ns.name, "reporting", 1).await;
    let sa = accounts.get("reporting").await.unwrap();
    assert_eq!(sa.annotations().get("eks.amazonaws.com/role-arn").map(String::as_str), Some(reporting));
    assert_eq!(sa.owner_references().iter().map(|o| o.kind.as_str()).collect::<Vec<_>>(), ["TaskRun"]);
    // Made before the run's task: never a task refused for want of it.
    let log = events(&ns.name).await;
    assert!(!log.contains("TaskLaunchRefused"), "{log}");

    // The ServiceAccount goes with the last TaskDefinition that uses it (the
    // garbage collector, through its owner reference).
    plane().kubectl().run(&["delete", "-n", &ns.name, "taskdefinition", "orders", "--wait=false"]).unwrap();
    wait_for(accounts, named("orderservice"), TIMEOUT, "the Berth-made ServiceAccount to be removed", |found| found.is_empty()).await;
}

#[tokio::test]
async fn a_service_account_the_user_made_is_left_alone() {
    operator();
    let ns = TestNamespace::create("task-roles-user");
    let users = json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "billing", "annotations": {"example.com/owner": "team-billing"}}});
    apply(&ns.name, &users);
    let accounts = Api::<ServiceAccount>::namespaced(client().await, &ns.name);
    let before = accounts.get("billing").await.unwrap();

    apply(&ns.name, &manifest("TaskDefinition", "billing", task_definition("arn:aws:iam::123456789012:role/Billing")));
    apply(&ns.name, &manifest("TaskRun", "billing-once", json!({"taskDefinition": "billing"})));
    tasks_running_as(&ns.name, "billing", 1).await;
    let events = Api::<Event>::namespaced(client().await, &ns.name);
    wait_for(events, watcher::Config::default(), TIMEOUT, "a ServiceAccountNotManaged event", |es| {
        es.iter().any(|e| e.reason.as_deref() == Some("ServiceAccountNotManaged")
            && e.involved_object.name.as_deref() == Some("billing")
            && e.message.as_deref().is_some_and(|m| m.contains("ServiceAccount billing exists and was not made by Berth")))
    })
    .await;

    let after = accounts.get("billing").await.unwrap();
    assert_eq!(after.metadata.resource_version, before.metadata.resource_version, "the user's ServiceAccount was modified: {after:?}");
    assert!(after.owner_references().is_empty() && !after.annotations().contains_key("eks.amazonaws.com/role-arn"));

    // Deleting the TaskDefinition leaves it too.
    plane().kubectl().run(&["delete", "-n", &ns.name, "taskdefinition", "billing", "--wait=true"]).unwrap();
    assert!(accounts.get_opt("billing").await.unwrap().is_some(), "the user's ServiceAccount was deleted");
}
