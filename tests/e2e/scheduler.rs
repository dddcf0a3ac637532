//! Issue 4 acceptance: the service scheduler on the real control plane, with
//! the operator running as a process.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_tests::fixture::{TestNamespace, client, operator, plane, wait_for, wait_for_service_status, wait_until};
use berth_tests::objects::{apply, events, field, manifest, service_field};
use berth_tests::tasks::{exit_code, is_live, named, node_of, phase, running, tasks_of};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::watcher;
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(90);

fn task_definition(name: &str, containers: Value) -> Value {
    manifest("TaskDefinition", name, json!({"family": name, "memory": "512", "containerDefinitions": containers}))
}

fn service(name: &str, task_definition: &str, desired: i32) -> Value {
    manifest("Service", name, json!({"taskDefinition": task_definition, "desiredCount": desired}))
}

fn web() -> Value {
    json!([{"name": "web", "image": "nginx:1.27", "portMappings": [{"containerPort": 80}]}])
}

async fn zones_of(pods: &[&Arc<Pod>]) -> BTreeMap<String, usize> {
    let nodes = Api::<Node>::all(client().await).list(&Default::default()).await.unwrap();
    let zone: BTreeMap<String, String> = nodes.items.iter()
        .filter_map(|n| Some((n.name_any(), n.labels().get("topology.kubernetes.io/zone")?.clone()))).collect();
    let mut counts = BTreeMap::new();
    for p in pods {
        let node = node_of(p).unwrap_or_default();
        *counts.entry(zone.get(node).cloned().unwrap_or_default()).or_default() += 1;
    }
    counts
}

async fn wait_running(ns: &str, svc: &str, n: usize) -> Vec<Arc<Pod>> {
    let pods = Api::<Pod>::namespaced(client().await, ns);
    wait_for(pods, tasks_of(svc), TIMEOUT, &format!("{n} running tasks of {svc}"), |ps| {
        running(ps).len() == n && ps.iter().filter(|p| is_live(p)).count() == n
    }).await
}

#[tokio::test]
async fn six_tasks_spread_two_per_zone_then_scale_in_keeps_one_per_zone() {
    operator();
    let ns = TestNamespace::create("sched-spread");
    apply(&ns.name, &task_definition("web", web()));
    apply(&ns.name, &service("web", "web", 6));
    let pods = wait_running(&ns.name, "web", 6).await;
    let all_zones = |n| BTreeMap::from([("us-east-1a".to_string(), n), ("us-east-1b".to_string(), n), ("us-east-1c".to_string(), n)]);
    assert_eq!(zones_of(&running(&pods)).await, all_zones(2));

    plane().kubectl().run(&["scale", "-n", &ns.name, "ecssvc/web", "--replicas=3"]).unwrap();
    let pods = wait_running(&ns.name, "web", 3).await;
    assert_eq!(zones_of(&running(&pods)).await, all_zones(1));
    let events = events(&ns.name).await;
    assert!(events.contains("(service web) has started"), "{events}");
    assert!(events.contains("(service web) has stopped 3 running tasks"), "{events}");
}

#[tokio::test]
async fn failed_tasks_are_replaced_quickly_with_stop_codes_recorded() {
    operator();
    let ns = TestNamespace::create("sched-replace");
    apply(&ns.name, &task_definition("api", web()));
    apply(&ns.name, &service("api", "api", 4));
    let pods = wait_running(&ns.name, "api", 4).await;
    let api = Api::<Pod>::namespaced(client().await, &ns.name);
    let victims: Vec<String> = pods.iter().take(2).map(|p| p.name_any()).collect();
    for victim in &victims {
        let fail = json!({"metadata": {"annotations": {"sim.berth.dev/exit-code": "1"}}});
        api.patch(victim, &PatchParams::default(), &Patch::Merge(&fail)).await.unwrap();
    }
    // Latency: from each failure being visible to the next pod being created.
    let mut failed_at: BTreeMap<String, Instant> = BTreeMap::new();
    let mut replaced_after = vec![];
    let seen = wait_for(api.clone(), tasks_of("api"), TIMEOUT, "2 replacements", |ps| {
        for p in ps {
            if victims.contains(&p.name_any()) && phase(p) == "Failed" {
                failed_at.entry(p.name_any()).or_insert_with(Instant::now);
            }
        }
        let new: Vec<_> = ps.iter().filter(|p| !pods.iter().any(|o| o.name_any() == p.name_any())).collect();
        if replaced_after.len() < new.len() && failed_at.len() == 2 {
            let first_failure = failed_at.values().min().copied().unwrap();
            while replaced_after.len() < new.len() {
                replaced_after.push(first_failure.elapsed());
            }
        }
        new.len() >= 2 && running(ps).len() == 4
    }).await;
    assert!(running(&seen).len() == 4);
    for latency in &replaced_after {
        assert!(*latency < Duration::from_secs(2), "replacement took {latency:?}");
    }
    wait_for_service_status(&ns.name, "api", "{.status.stoppedTasks[*].stopCode}", "EssentialContainerExited EssentialContainerExited", TIMEOUT).await;
}

#[tokio::test]
async fn essential_exit_stops_the_task_and_non_essential_exit_does_not() {
    operator();
    let ns = TestNamespace::create("sched-essential");
    let containers = json!([
        {"name": "app", "image": "app:1"},
        {"name": "log-router", "image": "fluent-bit:3", "essential": false},
    ]);
    apply(&ns.name, &task_definition("pair", containers));
    apply(&ns.name, &service("pair", "pair", 1));
    let pods = wait_running(&ns.name, "pair", 1).await;
    let first = pods.iter().find(|p| phase(p) == "Running").unwrap().name_any();
    let api = Api::<Pod>::namespaced(client().await, &ns.name);
    let exit = |container: &str| json!({"metadata": {"annotations": {"sim.berth.dev/exit-code": "2", "sim.berth.dev/exit-container": container}}});

    api.patch(&first, &PatchParams::default(), &Patch::Merge(&exit("log-router"))).await.unwrap();
    let seen = wait_for(api.clone(), named(&first), TIMEOUT, "log-router exited", |ps| {
        ps.iter().any(|p| exit_code(p, "log-router").is_some())
    }).await;
    assert_eq!(phase(&seen[0]), "Running");
    wait_for_service_status(&ns.name, "pair", "{.status.runningCount}", "1", TIMEOUT).await;

    api.patch(&first, &PatchParams::default(), &Patch::Merge(&exit("app"))).await.unwrap();
    // The stopped task's pod stays as a record (or is gone); another task runs.
    let pods = wait_for(api, tasks_of("pair"), TIMEOUT, "the task replaced", |ps| {
        let old_running = ps.iter().any(|p| p.name_any() == first && phase(p) == "Running" && p.metadata.deletion_timestamp.is_none());
        !old_running && running(ps).len() == 1
    }).await;
    assert!(running(&pods).iter().all(|p| p.name_any() != first));
    wait_for_service_status(&ns.name, "pair", "{.status.stoppedTasks[0].stopCode} {.status.stoppedTasks[0].containers[?(@.name==\"app\")].exitCode}",
        "EssentialContainerExited 2", TIMEOUT).await;
}

#[tokio::test]
async fn a_task_that_always_exits_is_throttled() {
    operator();
    let ns = TestNamespace::create("sched-backoff");
    let crashing = json!([{"name": "app", "image": "app:1", "dockerLabels": {"sim.berth.dev/exit-code": "1"}}]);
    apply(&ns.name, &task_definition("crash", crashing));
    apply(&ns.name, &service("crash", "crash", 1));
    let api = Api::<Pod>::namespaced(client().await, &ns.name);
    let started = Instant::now();
    let mut created = std::collections::BTreeSet::new();
    wait_until(api, tasks_of("crash"), TIMEOUT, "throttle visible in status", async |ps: &[Arc<Pod>]| {
        created.extend(ps.iter().map(|p| p.name_any()));
        service_field(&ns.name, "crash", "{.status.conditions[?(@.type==\"Progressing\")].reason}").await == "TaskStartThrottled"
    }).await;
    // Watch a while longer: creations stay bounded by the backoff (10 s, 20 s, ...).
    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    let window = Duration::from_secs(20);
    let _ = tokio::time::timeout(window, wait_for(pods, tasks_of("crash"), window * 2, "never", |ps| {
        created.extend(ps.iter().map(|p| p.name_any()));
        false
    })).await;
    let minutes = started.elapsed().as_secs_f64() / 60.0;
    assert!(created.len() as f64 <= 6.0 + 6.0 * minutes, "{} pods in {minutes:.2} min", created.len());
    let events = events(&ns.name).await;
    assert!(events.contains("(service crash) is unable to consistently start tasks successfully."), "{events}");
}

#[tokio::test]
async fn task_run_of_three_completes_with_exit_codes() {
    operator();
    let ns = TestNamespace::create("sched-taskrun");
    let batch = json!([{"name": "job", "image": "job:1", "dockerLabels": {"sim.berth.dev/exit-code": "0", "sim.berth.dev/exit-after": "1s"}}]);
    apply(&ns.name, &task_definition("batch", batch));
    apply(&ns.name, &manifest("TaskRun", "nightly", json!({"taskDefinition": "batch", "count": 3})));
    let kubectl = plane().kubectl();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let done = kubectl.run(&["wait", "-n", &ns.name, "taskrun/nightly", "--for=condition=Ready", "--timeout=5s"]);
        if done.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "task run did not complete: {}\npods: {}",
            kubectl.run(&["get", "-n", &ns.name, "taskrun/nightly", "-o", "yaml"]).unwrap(),
            kubectl.run(&["get", "-n", &ns.name, "pods", "-o", "jsonpath={range .items[*]}{.metadata.name} {.status.phase} {.metadata.annotations} {.status.containerStatuses[*].state}{\"\\n\"}{end}"]).unwrap());
    }
    assert_eq!(field(&ns.name, "taskrun/nightly", "{.status.tasks[*].containers[*].exitCode}").await, "0 0 0");
    assert_eq!(field(&ns.name, "taskrun/nightly", "{.status.stoppedCount}").await, "3");
}

fn nodes_of(pods: &[&Arc<Pod>]) -> Vec<String> {
    let mut nodes: Vec<String> = pods.iter().filter_map(|p| node_of(p).map(String::from)).collect();
    nodes.sort();
    nodes
}

#[tokio::test]
async fn member_of_and_distinct_instance_are_honoured_by_kube_scheduler() {
    operator();
    let ns = TestNamespace::create("sched-constraints");
    apply(&ns.name, &task_definition("pinned", web()));
    apply(&ns.name, &manifest("Service", "pinned", json!({"taskDefinition": "pinned", "desiredCount": 3,
        "placementConstraints": [{"type": "memberOf", "expression": "attribute:ecs.availability-zone == us-east-1b"}]})));
    apply(&ns.name, &task_definition("apart", web()));
    apply(&ns.name, &manifest("Service", "apart", json!({"taskDefinition": "apart", "desiredCount": 3,
        "placementConstraints": [{"type": "distinctInstance"}]})));

    let pinned = wait_running(&ns.name, "pinned", 3).await;
    assert_eq!(zones_of(&running(&pinned)).await, BTreeMap::from([("us-east-1b".to_string(), 3)]));
    let apart = wait_running(&ns.name, "apart", 3).await;
    let mut nodes = nodes_of(&running(&apart));
    nodes.dedup();
    assert_eq!(nodes.len(), 3, "distinctInstance put two tasks on one node: {nodes:?}");
}

#[tokio::test]
async fn task_definition_changes_become_revisions_and_unsupported_fields_are_reported() {
    operator();
    let ns = TestNamespace::create("sched-revisions");
    let kubectl = plane().kubectl();
    let containers = |image: &str| json!([{"name": "app", "image": image, "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}]}]);
    apply(&ns.name, &task_definition("app", containers("app:1")));
    apply(&ns.name, &service("app", "app", 1));
    wait_running(&ns.name, "app", 1).await;
    apply(&ns.name, &task_definition("app", containers("app:2")));
    let api: Api<k8s_openapi::api::apps::v1::ControllerRevision> = Api::namespaced(client().await, &ns.name);
    let revisions = wait_for(api, watcher::Config::default(), TIMEOUT, "two revisions", |rs| rs.len() == 2).await;
    let mut numbers: Vec<i64> = revisions.iter().map(|r| r.revision).collect();
    numbers.sort();
    assert_eq!(numbers, [1, 2]);
    // The status is written once the cache shows the new revision: wait for it.
    let task_definitions: Api<berth::api::TaskDefinition> = Api::namespaced(client().await, &ns.name);
    wait_for(task_definitions, watcher::Config::default(), TIMEOUT, "latestRevision 2", |tds| {
        tds.iter().any(|td| td.status.as_ref().and_then(|s| s.latest_revision) == Some(2))
    }).await;
    let unsupported = field(&ns.name, "taskdef/app", "{.status.unsupportedFields}").await;
    assert!(unsupported.contains("ulimits"), "{unsupported}");
    let events = kubectl.run(&["get", "events", "-n", &ns.name, "--field-selector", "reason=UnsupportedFields", "-o", "name"]).unwrap();
    assert!(!events.trim().is_empty(), "no UnsupportedFields warning event");

    // Deleting the service removes its tasks (owner references, garbage collector).
    kubectl.run(&["delete", "-n", &ns.name, "ecssvc", "app", "--wait=false"]).unwrap();
    wait_for(Api::<Pod>::namespaced(client().await, &ns.name), tasks_of("app"), TIMEOUT, "tasks removed", |ps| ps.is_empty()).await;
}

#[tokio::test]
async fn health_endpoints_and_metrics_move() {
    let operator = operator();
    let addr = operator.http_addr();
    assert_eq!(berth_tests::fixture::http_get(&addr, "/livez").0, 200);
    let ns = TestNamespace::create("sched-metrics");
    apply(&ns.name, &task_definition("counted", web()));
    apply(&ns.name, &service("counted", "counted", 2));
    wait_running(&ns.name, "counted", 2).await;
    // Readiness follows the caches' first sync; it is true by now.
    assert_eq!(berth_tests::fixture::http_get(&addr, "/readyz").0, 200);
    let (status, metrics) = berth_tests::fixture::http_get(&addr, "/metrics");
    assert_eq!(status, 200);
    let value = |name: &str| -> f64 {
        metrics.lines().find(|l| l.starts_with(name)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok()).unwrap_or(0.0)
    };
    assert!(value("berth_reconciles_total{controller=\"service\"}") > 0.0, "{metrics}");
    assert!(value("berth_tasks_started_total{controller=\"service\"}") >= 2.0, "{metrics}");
    assert!(metrics.contains("berth_reconcile_duration_seconds_bucket"), "{metrics}");
}
