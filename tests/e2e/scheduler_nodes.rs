//! Issue 4 acceptance, the parts that add, break and remove nodes. They run
//! in a test binary of their own (Cargo runs binaries one after another), so
//! their nodes never disturb other tests; each test's nodes carry a pool
//! label of its own that its service is constrained to.
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use berth_tests::fixture::{Operator, TestNamespace, client, plane, unique_suffix, wait_for, wait_for_service_status, wait_until};
use berth_tests::invariants::Recorder;
use berth_tests::objects::{apply, events, manifest, service_field, wait_for_event};
use berth_tests::pools::{TEST_POOL_LABEL, TestPool};
use berth_tests::tasks::{node_of, revision_of, running, running_by_node, tasks_of};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams};
use kube::runtime::watcher;
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(120);

/// This binary's operator replaces tasks of a lost node after 5 s, and
/// fails tasks it cannot place after 20 s.
fn operator() -> &'static Operator {
    static OPERATOR: OnceLock<Operator> = OnceLock::new();
    OPERATOR.get_or_init(|| Operator::start("nodes", &["--node-lost-grace-seconds", "5", "--placement-timeout-seconds", &PLACEMENT_TIMEOUT_SECONDS.to_string()]))
}

const PLACEMENT_TIMEOUT_SECONDS: u64 = 20;

/// `names` added to a new test pool in `zone_of` each, Ready: a Service created after places
/// its tasks knowing every one of them (else all of a test's tasks may go to the first).
async fn pool_of(prefix: &str, names: &[&str], zone_of: impl Fn(&str) -> &'static str) -> (TestPool, Vec<String>) {
    let pool = TestPool::new(prefix);
    let names: Vec<String> = names.iter().map(|n| format!("{}-{n}", pool.name)).collect();
    for name in &names {
        pool.add_node(name, zone_of(name), "32Gi");
    }
    pool.ready(names.len(), TIMEOUT).await;
    (pool, names)
}

fn one_zone(_: &str) -> &'static str {
    "us-east-1a"
}

fn pool_service(ns: &str, name: &str, pool: &str, extra: serde_json::Value) {
    apply(ns, &manifest("TaskDefinition", name, json!({"memory": "256", "containerDefinitions": [{"name": "app", "image": "app:1"}]})));
    let mut spec = json!({"taskDefinition": name,
        "placementConstraints": [{"type": "memberOf", "expression": format!("attribute:{TEST_POOL_LABEL} == {pool}")}]});
    spec.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    apply(ns, &manifest("Service", name, spec));
}

#[tokio::test]
async fn tasks_of_a_not_ready_node_are_replaced_on_other_nodes() {
    operator();
    let ns = TestNamespace::create("nodes-lost");
    let (pool, names) = pool_of("lost", &["a", "b"], one_zone).await;
    let (healthy, failing) = (names[0].clone(), names[1].clone());
    pool_service(&ns.name, "svc", &pool.name, json!({"desiredCount": 4}));
    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    wait_for(pods.clone(), tasks_of("svc"), TIMEOUT, "4 tasks over both pool nodes", |ps| {
        let by_node = running_by_node(ps);
        by_node.values().sum::<usize>() == 4 && by_node.contains_key(&failing)
    }).await;

    plane().kubectl().run(&["annotate", "node", &failing, "sim.berth.dev/not-ready=true"]).unwrap();
    wait_for(pods, tasks_of("svc"), TIMEOUT, "all 4 tasks on the healthy node", |ps| {
        running_by_node(ps) == BTreeMap::from([(healthy.clone(), 4)])
    }).await;
    // The status is written after the stops it records: wait for it.
    let services = Api::<berth::api::Service>::namespaced(client().await, &ns.name);
    wait_until(services, watcher::Config::default(), TIMEOUT, "the lost tasks in stoppedTasks", async |_| {
        service_field(&ns.name, "svc", "{.status.stoppedTasks[*].stopCode}").await.contains("InfrastructureHealth")
    }).await;
}

/// Issue 19: a whole zone NotReady, then back. What holds today: every task
/// of the lost zone is replaced in the other within the node-lost grace, no
/// invariant breaks, and the Service stays converged when the zone returns.
/// Then Availability Zone rebalancing (ECS's default) moves tasks back to
/// 3/3, start first, with ECS's SERVICE_REBALANCING_STARTED/_COMPLETED
/// events, and the recorder sees maximumPercent and minimumHealthyPercent
/// hold throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zone_not_ready_then_back_keeps_every_task() {
    operator();
    let ns = TestNamespace::create("nodes-zone");
    let recorder = Recorder::start(&ns.name).await;
    let zone_of = |name: &str| if name.ends_with("-a1") || name.ends_with("-a2") { "us-east-1a" } else { "us-east-1b" };
    let (pool, names) = pool_of("zone", &["a1", "a2", "b1", "b2"], zone_of).await;
    pool_service(&ns.name, "svc", &pool.name, json!({"desiredCount": 6}));
    recorder.wait_converged(TIMEOUT).await;
    let lost: Vec<&String> = names.iter().filter(|n| zone_of(n) == "us-east-1a").collect();

    for node in &lost {
        plane().kubectl().run(&["annotate", "node", node, "sim.berth.dev/not-ready=true"]).unwrap();
    }
    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    wait_for(pods.clone(), tasks_of("svc"), TIMEOUT, "all 6 tasks in us-east-1b", |ps| {
        let by_node = running_by_node(ps);
        by_node.values().sum::<usize>() == 6 && by_node.keys().all(|n| zone_of(n) == "us-east-1b")
    }).await;
    let moved = recorder.wait_converged(TIMEOUT).await;

    for node in &lost {
        plane().kubectl().run(&["annotate", "node", node, "sim.berth.dev/not-ready-"]).unwrap();
    }
    // us-east-1a Ready again: every node of the pool Ready.
    pool.ready(names.len(), TIMEOUT).await;
    let by_zone = |ps: &[Arc<Pod>]| {
        let mut zones = BTreeMap::<&str, usize>::new();
        for (node, count) in running_by_node(ps) {
            *zones.entry(zone_of(&node)).or_default() += count;
        }
        zones
    };
    wait_for(pods.clone(), tasks_of("svc"), TIMEOUT, "3 tasks in each zone again", |ps| {
        by_zone(ps) == BTreeMap::from([("us-east-1a", 3), ("us-east-1b", 3)]) && ps.iter().filter(|p| berth_tests::tasks::is_live(p)).count() == 6
    }).await;
    wait_for_event(&ns.name, "service (svc) is not AZ balanced with 0 tasks in us-east-1a, and 6 tasks in us-east-1b. AZ Rebalancing in progress.", TIMEOUT).await;
    wait_for_event(&ns.name, "service (svc) is AZ balanced with 3 tasks in us-east-1a, and 3 tasks in us-east-1b.", TIMEOUT).await;
    let back = recorder.wait_converged(TIMEOUT).await;
    let report = recorder.finish().await;
    let after = running_by_node(&pods.list(&Default::default()).await.unwrap().items.into_iter().map(Arc::new).collect::<Vec<_>>());
    eprintln!("zone us-east-1a NotReady: tasks moved and converged in {moved:?}; back: converged in {back:?}; tasks by node after: {after:?}; {report}");
    report.assert_clean();
}

#[tokio::test]
async fn daemon_service_follows_nodes_that_come_and_go() {
    operator();
    let ns = TestNamespace::create("nodes-daemon");
    let (pool, mut names) = pool_of("daemon", &["a", "b"], one_zone).await;
    names.push(format!("{}-c", pool.name));
    pool_service(&ns.name, "agent", &pool.name, json!({"schedulingStrategy": "DAEMON"}));
    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    let one_each = |nodes: &[&String]| nodes.iter().map(|n| (n.to_string(), 1)).collect::<BTreeMap<_, _>>();
    wait_for(pods.clone(), tasks_of("agent"), TIMEOUT, "one task on each of 2 nodes", |ps| {
        running_by_node(ps) == one_each(&[&names[0], &names[1]])
    }).await;

    pool.add_node(&names[2], "us-east-1a", "32Gi");
    wait_for(pods.clone(), tasks_of("agent"), TIMEOUT, "a task on the new node", |ps| {
        running_by_node(ps) == one_each(&[&names[0], &names[1], &names[2]])
    }).await;

    let nodes = Api::<Node>::all(client().await);
    nodes.delete(&names[1], &DeleteParams::default()).await.unwrap();
    wait_for(pods, tasks_of("agent"), TIMEOUT, "the removed node's task gone", |ps| {
        running_by_node(ps) == one_each(&[&names[0], &names[2]])
    }).await;
    wait_for_service_status(&ns.name, "agent", "{.status.desiredCount}", "2", TIMEOUT).await;
}

/// Issue 15 (fidelity audit N2): a DAEMON service rolls to a new revision
/// within the DAEMON bounds (min 0 %, max 100 %: each node's old task stops,
/// then its new one starts) and completes; a revision whose tasks always exit
/// trips the circuit breaker and rolls back, as for REPLICA.
#[tokio::test]
async fn a_daemon_service_rolls_to_a_new_revision_and_its_breaker_rolls_back() {
    operator();
    let ns = TestNamespace::create("nodes-daemon-roll");
    let (pool, names) = pool_of("droll", &["a", "b", "c"], one_zone).await;
    pool_service(&ns.name, "agent", &pool.name, json!({"schedulingStrategy": "DAEMON",
        "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": true, "rollback": true}}}));
    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    let on_every_node = |revision: &'static str| {
        let names = names.clone();
        move |ps: &[Arc<Pod>]| {
            let live = running(ps);
            live.len() == 3 && live.iter().all(|p| revision_of(p) == revision) && names.iter().all(|n| live.iter().any(|p| node_of(p) == Some(n.as_str())))
        }
    };
    wait_for(pods.clone(), tasks_of("agent"), TIMEOUT, "revision 1 on every node", on_every_node("1")).await;
    wait_for_service_status(&ns.name, "agent", "{.status.deployments[0].rolloutState}", "COMPLETED", TIMEOUT).await;

    apply(&ns.name, &manifest("TaskDefinition", "agent", json!({"memory": "256", "containerDefinitions": [{"name": "app", "image": "app:2"}]})));
    wait_for(pods.clone(), tasks_of("agent"), TIMEOUT, "revision 2 on every node", on_every_node("2")).await;
    wait_for_service_status(&ns.name, "agent", "{range .status.deployments[*]}{.status} {.rolloutState} {.taskDefinition};{end}", "PRIMARY COMPLETED agent:2;", TIMEOUT).await;

    apply(&ns.name, &manifest("TaskDefinition", "agent", json!({"memory": "256", "containerDefinitions": [
        {"name": "app", "image": "app:3", "dockerLabels": {"sim.berth.dev/exit-code": "1"}}]})));
    wait_for_service_status(&ns.name, "agent", "{.status.conditions[?(@.type==\"Degraded\")].reason} {.status.taskDefinition}", "DeploymentFailed agent:2", TIMEOUT).await;
    wait_for(pods, tasks_of("agent"), TIMEOUT, "revision 2 on every node again", on_every_node("2")).await;
    let deployments = service_field(&ns.name, "agent", "{range .status.deployments[*]}{.status} {.rolloutState} {.taskDefinition};{end}").await;
    assert!(deployments.contains("ACTIVE FAILED agent:3"), "{deployments}");
    assert!(events(&ns.name).await.contains("deployment failed: tasks failed to start."));
}

/// API_Deployment `failedTasks`: "a task is considered a failure if the
/// service scheduler can't launch the task". A task no node can take fails to
/// start after the placement timeout, so its deployment trips the breaker
/// instead of staying IN_PROGRESS for ever (fidelity audit 2.6).
#[tokio::test]
async fn tasks_that_cannot_be_placed_fail_the_deployment() {
    operator();
    let ns = TestNamespace::create("nodes-unplaced");
    let pool = format!("empty-{}", unique_suffix());
    pool_service(&ns.name, "nowhere", &pool, json!({"desiredCount": 1,
        "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": true, "rollback": false}}}));
    // Three failed starts: each stopped once the timeout passes, the third after the throttle's first wait.
    let bound = Duration::from_secs(3 * PLACEMENT_TIMEOUT_SECONDS + 60);
    wait_for_service_status(&ns.name, "nowhere", "{.status.rolloutState} {.status.conditions[?(@.type==\"Degraded\")].reason}", "FAILED DeploymentFailed", bound).await;
    let reasons = service_field(&ns.name, "nowhere", "{range .status.stoppedTasks[*]}{.stopCode}: {.stoppedReason};{end}").await;
    assert!(reasons.contains(&format!("TaskFailedToStart: Task could not be placed within {PLACEMENT_TIMEOUT_SECONDS} seconds. (kube-scheduler: 0/")), "{reasons}");
    assert_eq!(service_field(&ns.name, "nowhere", "{.status.deployments[0].failedTasks}").await, "3");
    assert!(events(&ns.name).await.contains("deployment failed: tasks failed to start."));
}
