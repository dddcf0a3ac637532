//! Issue 14: what Berth says about objects it cannot act on. A CapacityProvider
//! reports whether any node can take its tasks; a TaskRun's spec cannot be
//! edited; a task definition no task can run is registered but not Ready; and
//! an object Berth cannot read is reported and stalls nothing else.
use std::collections::BTreeMap;
use std::time::Duration;

use berth::api::{CapacityProvider, TaskDefinition};
use berth_tests::fixture::{TestNamespace, client, operator, plane, unique_suffix, wait_for, wait_for_service_status};
use berth_tests::objects::{apply, field, manifest};
use berth_tests::plane::NodeSpec;
use berth_tests::plane::nodes::node_manifest;
use berth_tests::tasks::named;
use k8s_openapi::api::core::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::Api;
use kube::runtime::watcher;
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(120);

fn ready(conditions: Option<&Vec<Condition>>) -> Option<&Condition> {
    conditions?.iter().find(|c| c.type_ == "Ready")
}

/// Waits for an event on the object `name` in `ns` with `reason`, and returns it.
async fn wait_for_event(ns: &str, name: &str, reason: &str) -> Event {
    let events = Api::<Event>::namespaced(client().await, ns);
    let matches = |e: &Event| e.reason.as_deref() == Some(reason) && e.involved_object.name.as_deref() == Some(name);
    let found = wait_for(events, watcher::Config::default(), TIMEOUT, &format!("a {reason} event on {name}"), |es| es.iter().any(|e| matches(e))).await;
    found.iter().find(|e| matches(e)).expect("the event just seen").as_ref().clone()
}

/// Cluster-scoped objects (kind, name) a test made, deleted when dropped.
struct DeleteOnDrop(Vec<(&'static str, String)>);

impl Drop for DeleteOnDrop {
    fn drop(&mut self) {
        for (kind, name) in &self.0 {
            let _ = plane().kubectl().run(&["delete", kind, name, "--ignore-not-found", "--wait=false"]);
        }
    }
}

#[tokio::test]
async fn a_capacity_provider_is_ready_once_a_node_of_its_pool_is() {
    operator();
    let name = format!("status-{}", unique_suffix());
    let mut made = DeleteOnDrop(vec![("capacityprovider", name.clone())]);
    let provider = json!({"apiVersion": "berth.dev/v1alpha1", "kind": "CapacityProvider", "metadata": {"name": name},
        "spec": {"type": "EC2", "nodeSelector": {"berth.dev/pool": name}}});
    plane().kubectl().run_with_input(&["apply", "--server-side", "-f", "-"], &provider.to_string()).unwrap();

    // No node carries the label yet: not Ready, and a Warning says so.
    let providers = Api::<CapacityProvider>::all(client().await);
    let found = wait_for(providers.clone(), named(&name), TIMEOUT, "the provider to be Ready=False", |ps| {
        ps.iter().any(|p| ready(p.status.as_ref().and_then(|s| s.conditions.as_ref())).is_some_and(|c| c.status == "False"))
    })
    .await;
    let status = found[0].status.clone().unwrap();
    let condition = ready(status.conditions.as_ref()).unwrap();
    assert_eq!(condition.reason, "NoMatchingNodes");
    assert!(condition.message.contains(&format!("berth.dev/pool: {name}")), "{}", condition.message);
    assert_eq!((status.matching_nodes, status.ready_nodes, status.observed_generation), (Some(0), Some(0), found[0].metadata.generation));
    // A cluster-scoped object's events go to the default namespace.
    let event = wait_for_event("default", &name, "NoMatchingNodes").await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));

    // A node joins the pool: Ready, as `kubectl wait` sees it.
    let node = NodeSpec { name: format!("{name}-node"), labels: BTreeMap::from([("berth.dev/pool".to_string(), name.clone())]), taints: vec![] };
    plane().kubectl().run_with_input(&["apply", "-f", "-"], &node_manifest(&node).to_string()).unwrap();
    made.0.push(("node", node.name));
    plane().kubectl().run(&["wait", "--for=condition=Ready", &format!("capprov/{name}"), "--timeout=60s"]).expect("the provider becomes Ready");
    let provider = providers.get(&name).await.unwrap();
    let status = provider.status.unwrap();
    assert_eq!((status.matching_nodes, status.ready_nodes), (Some(1), Some(1)));
    assert_eq!(ready(status.conditions.as_ref()).unwrap().reason, "NodesReady");
}

#[tokio::test]
async fn a_task_run_cannot_be_edited() {
    operator();
    let ns = TestNamespace::create("immutable-run");
    apply(&ns.name, &manifest("TaskDefinition", "job", json!({"containerDefinitions": [{"name": "app", "image": "busybox", "memory": 64}]})));
    apply(&ns.name, &manifest("TaskRun", "once", json!({"taskDefinition": "job", "count": 1})));
    // `kubectl edit`, with an editor that raises the count.
    let edited = plane().kubectl().with_env("KUBE_EDITOR", "sed -i -e s/count:\\ 1/count:\\ 3/")
        .output("kubectl", &["edit", "-n", &ns.name, "taskrun", "once"], None)
        .unwrap_or_else(|e| panic!("{e:#}"));
    let said = String::from_utf8_lossy(&edited.stderr).to_string();
    assert!(!edited.status.success(), "kubectl edit of a TaskRun's spec succeeded");
    // kubectl keeps the refused edit with the API server's reasons on top.
    let kept = said.split("stored to \"").nth(1).and_then(|rest| rest.split('"').next())
        .and_then(|path| std::fs::read_to_string(path).ok()).unwrap_or_default();
    assert!(kept.contains("spec is immutable: a TaskRun is one RunTask call"), "kubectl edit said: {said}\n{kept}");
    assert_eq!(field(&ns.name, "taskrun/once", "{.spec.count}").await, "1");
    // Labels and annotations stay editable.
    plane().kubectl().run(&["label", "-n", &ns.name, "taskrun", "once", "team=batch"]).expect("labelling a TaskRun");
}

#[tokio::test]
async fn a_task_definition_no_task_can_run_is_registered_but_not_ready() {
    operator();
    let ns = TestNamespace::create("invalid-td");
    let cycle = json!({"containerDefinitions": [
        {"name": "a", "image": "busybox", "memory": 64, "dependsOn": [{"containerName": "b", "condition": "START"}]},
        {"name": "b", "image": "busybox", "memory": 64, "dependsOn": [{"containerName": "a", "condition": "START"}]}]});
    apply(&ns.name, &manifest("TaskDefinition", "loop", cycle));
    let tds = Api::<TaskDefinition>::namespaced(client().await, &ns.name);
    let found = wait_for(tds, named("loop"), TIMEOUT, "the task definition to be Ready=False", |tds| {
        tds.iter().any(|td| ready(td.status.as_ref().and_then(|s| s.conditions.as_ref())).is_some_and(|c| c.status == "False"))
    })
    .await;
    let status = found[0].status.clone().unwrap();
    let condition = ready(status.conditions.as_ref()).unwrap();
    assert_eq!(condition.reason, "DependencyCycle");
    assert!(condition.message.contains("loop:1 cannot run: containerDefinitions[].dependsOn"), "{}", condition.message);
    // Registered all the same, so `loop:1` resolves and its users can say why.
    assert_eq!(status.latest_revision, Some(1));
    let event = wait_for_event(&ns.name, "loop", "DependencyCycle").await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert!(event.message.unwrap_or_default().contains("dependsOn"));
}

#[tokio::test]
async fn an_object_berth_cannot_read_is_reported_and_stalls_nothing() {
    let operator = operator();
    let ns = TestNamespace::create("unreadable");
    apply(&ns.name, &manifest("TaskDefinition", "web", json!({"containerDefinitions": [{"name": "app", "image": "nginx:1.27", "memory": 64}]})));
    apply(&ns.name, &manifest("Service", "broken", json!({"taskDefinition": "web", "desiredCount": 1})));
    // A condition time with ten fractional digits: the API server's date-time
    // format takes it, Berth's reader (nanoseconds at most) does not, as it
    // would not take a value that a newer CRD allows.
    let status = json!({"status": {"conditions": [{"type": "Injected", "status": "True", "reason": "Test", "message": "",
        "lastTransitionTime": "2026-01-01T00:00:00.1234567891Z"}]}});
    plane().kubectl()
        .run(&["patch", "-n", &ns.name, "ecssvc", "broken", "--subresource=status", "--type=merge", "-p", &status.to_string()])
        .expect("the API server stores the status");
    let event = wait_for_event(&ns.name, "broken", "Unreadable").await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert!(event.message.as_deref().unwrap_or_default().contains("cannot read this Service"), "{event:?}");
    let log = std::fs::read_to_string(&operator.log).unwrap();
    assert!(log.contains(&format!("skipping Service {}/broken", ns.name)), "the operator log does not name the object");

    // Every other Service of the kind is served meanwhile.
    apply(&ns.name, &manifest("Service", "fine", json!({"taskDefinition": "web", "desiredCount": 1})));
    wait_for_service_status(&ns.name, "fine", "{.status.runningCount}", "1", TIMEOUT).await;
}

/// A pass the API server fails (here a ValidatingAdmissionPolicy refusing the
/// task role's ServiceAccount) shows as `Reconciled=False` with the error and a
/// Warning event; once the refusal goes, the retry (backoff from 1 s) succeeds
/// and the condition goes with it.
#[tokio::test]
async fn a_failed_pass_shows_as_a_condition_until_one_succeeds() {
    operator();
    let ns = TestNamespace::create("api-error");
    let policy = format!("berth-refuse-sa-{}", unique_suffix());
    let _made = DeleteOnDrop(vec![("validatingadmissionpolicybinding", policy.clone()), ("validatingadmissionpolicy", policy.clone())]);
    let refusal = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy", "metadata": {"name": policy},
            "spec": {"failurePolicy": "Fail",
                "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["serviceaccounts"]}]},
                "validations": [{"expression": "false", "message": "service accounts are refused here (test)"}]}},
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding", "metadata": {"name": policy},
            "spec": {"policyName": policy, "validationActions": ["Deny"],
                "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns.name}}}}}]});
    plane().kubectl().run_with_input(&["apply", "--server-side", "-f", "-"], &refusal.to_string()).unwrap();
    // The API server enforces a binding once its policy informer has it: wait for a refusal.
    let probe = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "probe"}}).to_string();
    let deadline = std::time::Instant::now() + TIMEOUT;
    while plane().kubectl().run_with_input(&["create", "-n", &ns.name, "-f", "-"], &probe).is_ok() {
        plane().kubectl().run(&["delete", "-n", &ns.name, "serviceaccount", "probe"]).unwrap();
        assert!(std::time::Instant::now() < deadline, "the admission policy never took effect");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    apply(&ns.name, &manifest("TaskDefinition", "orders", json!({"taskRoleArn": "arn:aws:iam::123456789012:role/OrderService",
        "containerDefinitions": [{"name": "app", "image": "nginx:1.27", "memory": 64}]})));
    let reconciled = |td: &TaskDefinition| td.status.as_ref().and_then(|s| s.conditions.as_ref()).and_then(|cs| cs.iter().find(|c| c.type_ == "Reconciled")).cloned();
    let tds = Api::<TaskDefinition>::namespaced(client().await, &ns.name);
    let found = wait_for(tds.clone(), named("orders"), TIMEOUT, "Reconciled=False on the task definition", |tds| {
        tds.iter().any(|td| reconciled(td).is_some_and(|c| c.status == "False"))
    })
    .await;
    let condition = reconciled(&found[0]).unwrap();
    assert_eq!(condition.reason, "KubernetesApiError");
    assert!(condition.message.contains("service accounts are refused here"), "{}", condition.message);
    let event = wait_for_event(&ns.name, "orders", "KubernetesApiError").await;
    assert_eq!(event.type_.as_deref(), Some("Warning"));

    plane().kubectl().run(&["delete", "validatingadmissionpolicybinding", &policy]).unwrap();
    wait_for(tds, named("orders"), TIMEOUT, "the condition gone and the revision registered", |tds| {
        tds.iter().any(|td| reconciled(td).is_none() && td.status.as_ref().and_then(|s| s.latest_revision) == Some(1))
    })
    .await;
}
