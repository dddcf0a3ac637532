//! Issue 16: placement strategies as ECS applies them, on kwok nodes of
//! different sizes. Each test has its own untainted nodes, carrying a test
//! pool label its services are constrained to, so no other task lands there.
//! The expected counts follow the ECS developer guide's strategies
//! (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-placement-strategies.html).
use std::collections::BTreeMap;
use std::time::Duration;

use berth_tests::fixture::{TestNamespace, client, operator, plane, wait_for};
use berth_tests::invariants::Recorder;
use berth_tests::objects::{apply, manifest, wait_for_event};
use berth_tests::pools::{TEST_POOL_LABEL, TestPool};
use berth_tests::cli::berth_json;
use berth_tests::tasks::{is_live, node_of, revision_of, running, running_by_node, tasks_of};
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::watcher;
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(120);

/// Nodes of 2, 4 and 8 GiB in three zones, named `<pool>-2g`, `-4g`, `-8g`.
struct SizedNodes {
    pool: TestPool,
}

impl SizedNodes {
    /// The three nodes, Ready: a Service created after places its tasks knowing them all.
    async fn add(prefix: &str) -> SizedNodes {
        let pool = TestPool::new(prefix);
        for (size, zone) in [("2", "us-east-1a"), ("4", "us-east-1b"), ("8", "us-east-1c")] {
            pool.add_node(&format!("{}-{size}g", pool.name), zone, &format!("{size}Gi"));
        }
        pool.ready(3, TIMEOUT).await;
        SizedNodes { pool }
    }

    fn node(&self, size: &str) -> String {
        format!("{}-{size}g", self.pool.name)
    }
}

/// A service of `count` half-GiB tasks on the pool's nodes, with `strategies`.
fn service(ns: &str, name: &str, pool: &str, count: u32, strategies: serde_json::Value) {
    apply(ns, &manifest("TaskDefinition", name, json!({"containerDefinitions": [{"name": "app", "image": "app:1", "memory": 512}]})));
    apply(ns, &manifest("Service", name, json!({"taskDefinition": name, "desiredCount": count, "placementStrategy": strategies,
        "placementConstraints": [{"type": "memberOf", "expression": format!("attribute:{TEST_POOL_LABEL} == {pool}")}]})));
}

#[tokio::test]
async fn binpack_fills_the_fewest_nodes_and_scale_in_empties_the_emptiest_first() {
    operator();
    let ns = TestNamespace::create("binpack");
    let nodes = SizedNodes::add("binpack").await;
    service(&ns.name, "packed", &nodes.pool.name, 10, json!([{"type": "binpack", "field": "memory"}]));
    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    // 2 GiB holds 4 half-GiB tasks, 4 GiB the other 6; the 8 GiB node stays empty.
    let packed = BTreeMap::from([(nodes.node("2"), 4), (nodes.node("4"), 6)]);
    let seen = wait_for(pods.clone(), tasks_of("packed"), TIMEOUT, "10 tasks on the two smallest nodes", |ps| running_by_node(ps) == packed).await;
    assert_eq!(seen.iter().filter(|p| is_live(p)).count(), 10, "no task beyond the ten");

    // Scale-in stops the tasks whose node keeps the most free memory: the 4 GiB node's.
    apply(&ns.name, &manifest("Service", "packed", json!({"taskDefinition": "packed", "desiredCount": 4,
        "placementStrategy": [{"type": "binpack", "field": "memory"}],
        "placementConstraints": [{"type": "memberOf", "expression": format!("attribute:{TEST_POOL_LABEL} == {}", nodes.pool.name)}]})));
    let full_node_only = BTreeMap::from([(nodes.node("2"), 4)]);
    wait_for(pods, tasks_of("packed"), TIMEOUT, "the 4 tasks left on the 2 GiB node", |ps| {
        running_by_node(ps) == full_node_only && ps.iter().filter(|p| is_live(p)).count() == 4
    }).await;
}

#[tokio::test]
async fn spread_over_instances_then_binpack_covers_every_node() {
    operator();
    let ns = TestNamespace::create("spread-binpack");
    let nodes = SizedNodes::add("spreadpack").await;
    service(&ns.name, "even", &nodes.pool.name, 10, json!([{"type": "spread", "field": "instanceId"}, {"type": "binpack", "field": "memory"}]));
    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    // Spread first: 3 per node; binpack breaks the last tie toward the fullest node.
    let expected = BTreeMap::from([(nodes.node("2"), 4), (nodes.node("4"), 3), (nodes.node("8"), 3)]);
    wait_for(pods, tasks_of("even"), TIMEOUT, "10 tasks over every node, 4/3/3", |ps| running_by_node(ps) == expected).await;
}

/// Issue 20: `kubectl ecs plan` names the nodes a rollout's new tasks go to, with the
/// operator's own placement, and the rollout then puts them there.
#[tokio::test]
async fn plan_names_the_nodes_a_binpack_rollout_then_places_its_new_tasks_on() {
    operator();
    let ns = TestNamespace::create("plan-binpack");
    let nodes = SizedNodes::add("planpack").await;
    service(&ns.name, "packed", &nodes.pool.name, 4, json!([{"type": "binpack", "field": "memory"}]));
    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    let full = BTreeMap::from([(nodes.node("2"), 4)]);
    wait_for(pods.clone(), tasks_of("packed"), TIMEOUT, "4 tasks on the 2 GiB node", |ps| running_by_node(ps) == full).await;

    // ECS's default 100/200 starts the 4 new tasks beside the old: the 2 GiB node is full,
    // so binpack fills the 4 GiB one.
    let revision_two = manifest("TaskDefinition", "packed", json!({"containerDefinitions": [{"name": "app", "image": "app:2", "memory": 512}]}));
    let file = std::env::temp_dir().join(format!("berth-plan-{}.json", ns.name));
    std::fs::write(&file, revision_two.to_string()).unwrap();
    let plan = berth_json(&ns.name, &["plan", "-f", file.to_str().unwrap()]).await;
    std::fs::remove_file(&file).unwrap();
    let mut predicted: BTreeMap<String, usize> = BTreeMap::new();
    for placement in plan["plans"][0]["batches"].as_array().unwrap().iter().flat_map(|b| b["placements"].as_array().unwrap()) {
        *predicted.entry(placement["node"].as_str().unwrap_or("-").to_string()).or_default() += placement["count"].as_u64().unwrap() as usize;
    }
    assert_eq!(predicted, BTreeMap::from([(nodes.node("4"), 4)]), "{plan:#}");

    apply(&ns.name, &revision_two);
    let mut landed: BTreeMap<String, String> = BTreeMap::new();
    wait_for(pods, tasks_of("packed"), TIMEOUT, "the roll to revision 2", |ps| {
        for p in ps.iter().filter(|p| revision_of(p) == "2") {
            if let Some(node) = node_of(p) {
                landed.entry(p.metadata.name.clone().unwrap_or_default()).or_insert_with(|| node.to_string());
            }
        }
        let live: Vec<_> = ps.iter().filter(|p| is_live(p)).collect();
        live.len() == 4 && live.iter().all(|p| revision_of(p) == "2")
    }).await;
    let mut actual: BTreeMap<String, usize> = BTreeMap::new();
    for node in landed.values() {
        *actual.entry(node.clone()).or_default() += 1;
    }
    assert_eq!(actual, predicted, "the plan's nodes are where the rollout put the new tasks");
}

#[tokio::test]
async fn tasks_no_node_has_room_for_are_left_unplaced_with_the_ecs_event() {
    operator();
    let ns = TestNamespace::create("binpack-full");
    let nodes = SizedNodes::add("full").await;
    // 28 half-GiB tasks fill the three nodes; 2 more find no room.
    service(&ns.name, "crowd", &nodes.pool.name, 30, json!([{"type": "binpack", "field": "memory"}]));
    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    let seen = wait_for(pods, tasks_of("crowd"), TIMEOUT, "28 running tasks", |ps| running(ps).len() == 28).await;
    assert_eq!(seen.iter().filter(|p| is_live(p)).count(), 28, "no pod created for the tasks that do not fit");
    let message = wait_for_event(&ns.name, "(service crowd) was unable to place a task because no container instance met all of its requirements.", TIMEOUT).await;
    assert!(message.contains("The closest matching container instance") && message.contains("has insufficient memory available."), "{message}");
}

/// memberOf expressions node affinity cannot express are evaluated by Berth
/// on each node (cluster query language,
/// https://docs.aws.amazon.com/AmazonECS/latest/developerguide/cluster-query-language.html):
/// `ec2InstanceId` against the node's provider id, and `runningTasksCount`.
#[tokio::test]
async fn member_of_on_instance_ids_and_running_task_counts_is_evaluated_by_berth() {
    operator();
    let ns = TestNamespace::create("cql");
    let nodes = SizedNodes::add("cql").await;
    let pool = &nodes.pool.name;
    apply(&ns.name, &manifest("TaskDefinition", "app", json!({"containerDefinitions": [{"name": "app", "image": "app:1", "memory": 128}]})));
    let in_pool = format!("attribute:{TEST_POOL_LABEL} == {pool}");
    apply(&ns.name, &manifest("Service", "pinned", json!({"taskDefinition": "app", "desiredCount": 3,
        "placementConstraints": [{"type": "memberOf", "expression": format!("{in_pool} and ec2InstanceId in ['{}', \"{}\"]", nodes.node("4"), nodes.node("8"))}]})));
    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    wait_for(pods.clone(), tasks_of("pinned"), TIMEOUT, "3 tasks on the two named instances", |ps| {
        let by_node = running_by_node(ps);
        by_node.values().sum::<usize>() == 3 && by_node.keys().all(|n| *n == nodes.node("4") || *n == nodes.node("8"))
    }).await;
    // At most 2 tasks per node, whoever's: 3 nodes hold 6, counting the 3 above.
    apply(&ns.name, &manifest("Service", "sparse", json!({"taskDefinition": "app", "desiredCount": 3,
        "placementConstraints": [{"type": "memberOf", "expression": format!("{in_pool} and runningTasksCount < 2")}]})));
    let seen = wait_for(pods, watcher::Config::default(), TIMEOUT, "6 tasks, at most 2 per node", |ps| running(ps).len() == 6).await;
    let per_node = running_by_node(&seen);
    assert!(per_node.values().all(|c| *c <= 2), "{per_node:?}");
}

/// Berth's extension `rebalanceAcross: [instanceId]`: a node that joins gets
/// its share of a steady service's tasks, start first, and the invariant
/// recorder sees maximumPercent and minimumHealthyPercent hold throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_joins_gets_its_share_when_the_service_balances_nodes() {
    operator();
    let ns = TestNamespace::create("node-rebalance");
    let recorder = Recorder::start(&ns.name).await;
    let test_pool = TestPool::new("join");
    let pool = test_pool.name.clone();
    let node = |i: u32| format!("{pool}-n{i}");
    for i in 1..=2 {
        test_pool.add_node(&node(i), "us-east-1a", "32Gi");
    }
    test_pool.ready(2, TIMEOUT).await;
    apply(&ns.name, &manifest("TaskDefinition", "web", json!({"containerDefinitions": [{"name": "app", "image": "app:1", "memory": 128}]})));
    apply(&ns.name, &manifest("Service", "web", json!({"taskDefinition": "web", "desiredCount": 6, "rebalanceAcross": ["instanceId"],
        "deploymentConfiguration": {"maximumPercent": 150, "minimumHealthyPercent": 100},
        "placementConstraints": [{"type": "memberOf", "expression": format!("attribute:{TEST_POOL_LABEL} == {pool}")}]})));
    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    wait_for(pods.clone(), tasks_of("web"), TIMEOUT, "6 tasks, 3 per node", |ps| {
        running_by_node(ps) == BTreeMap::from([(node(1), 3), (node(2), 3)])
    }).await;
    recorder.wait_converged(TIMEOUT).await;

    test_pool.add_node(&node(3), "us-east-1a", "32Gi");
    let even = BTreeMap::from([(node(1), 2), (node(2), 2), (node(3), 2)]);
    wait_for(pods, tasks_of("web"), TIMEOUT, "2 tasks per node", |ps| {
        running_by_node(ps) == even && ps.iter().filter(|p| is_live(p)).count() == 6
    }).await;
    wait_for_event(&ns.name, "service (web) is balanced across instanceId with", TIMEOUT).await;
    recorder.wait_converged(TIMEOUT).await;
    recorder.finish().await.assert_clean();
}

/// A `=~` that matches no node's value today leaves the tasks unplaced,
/// with ECS's placement event, instead of refusing the whole service; a node
/// that matches later takes them.
#[tokio::test]
async fn a_regex_no_node_matches_leaves_tasks_unplaced_until_one_does() {
    operator();
    let ns = TestNamespace::create("cql-regex");
    let nodes = SizedNodes::add("regex").await;
    apply(&ns.name, &manifest("TaskDefinition", "app", json!({"containerDefinitions": [{"name": "app", "image": "app:1", "memory": 128}]})));
    apply(&ns.name, &manifest("Service", "gpu", json!({"taskDefinition": "app", "desiredCount": 2, "placementConstraints": [{"type": "memberOf",
        "expression": format!("attribute:{TEST_POOL_LABEL} == {} and attribute:ecs.instance-type =~ g5\\..*", nodes.pool.name)}]})));
    wait_for_event(&ns.name, "(service gpu) was unable to place a task because no container instance met all of its requirements.", TIMEOUT).await;
    let ready = berth_tests::objects::service_field(&ns.name, "gpu", "{.status.conditions[?(@.type==\"Ready\")].reason}").await;
    assert_ne!(ready, "PlacementInvalid", "the service is not refused");
    plane().kubectl().run(&["label", "node", &nodes.node("4"), "node.kubernetes.io/instance-type=g5.xlarge"]).unwrap();
    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    wait_for(pods, tasks_of("gpu"), TIMEOUT, "both tasks on the g5 node", |ps| running_by_node(ps) == BTreeMap::from([(nodes.node("4"), 2)])).await;
}
