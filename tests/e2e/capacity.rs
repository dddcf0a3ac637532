//! Issue 8 acceptance: launch types and capacity providers on the real control
//! plane. Every test brings its own node pools: kwok nodes labelled and tainted
//! for one provider, so no other test's task lands there, removed at the end.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use berth_tests::fixture::{TestNamespace, client, operator, unique_suffix, wait_for};
use berth_tests::objects::{apply, manifest, service_field};
use berth_tests::pools::Pool;
use berth_tests::tasks::{is_running, revision_of, tasks_of, undeleted};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::watcher;
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(120);
fn task_definition(ns: &str, name: &str, spec: Value) {
    apply(ns, &manifest("TaskDefinition", name, spec));
}

fn service(ns: &str, name: &str, spec: Value) {
    apply(ns, &manifest("Service", name, spec));
}

/// An awsvpc task definition of 0.25 vCPU and 512 MiB, valid on EC2 and on Fargate.
fn portable_task(image: &str) -> Value {
    json!({"requiresCompatibilities": ["EC2", "FARGATE"], "networkMode": "awsvpc", "cpu": "256", "memory": "512",
           "containerDefinitions": [{"name": "app", "image": image}]})
}

fn provider_of(pod: &Pod) -> String {
    pod.labels().get("berth.dev/capacity-provider").cloned().unwrap_or_default()
}

/// Live tasks per capacity provider label, once all of them run.
fn running_split(pods: &[Arc<Pod>]) -> Option<BTreeMap<String, usize>> {
    let live = undeleted(pods);
    live.iter().all(|p| is_running(p)).then(|| {
        let mut split = BTreeMap::new();
        for p in live {
            *split.entry(provider_of(p)).or_default() += 1;
        }
        split
    })
}

/// The service's condition `type_` as "STATUS REASON: MESSAGE".
async fn condition(ns: &str, svc: &str, type_: &str) -> String {
    let path = format!("{{.status.conditions[?(@.type==\"{type_}\")].status}} {{.status.conditions[?(@.type==\"{type_}\")].reason}}: {{.status.conditions[?(@.type==\"{type_}\")].message}}");
    service_field(ns, svc, &path).await
}

/// Waits for a Warning event on the namespace's objects with `reason` and a message containing `text`.
async fn wait_for_event(ns: &str, reason: &str, text: &str) -> String {
    let events = Api::<Event>::namespaced(client().await, ns);
    let found = wait_for(events, watcher::Config::default(), TIMEOUT, &format!("a {reason} event saying {text:?}"), |es| {
        es.iter().any(|e| e.reason.as_deref() == Some(reason) && e.message.as_deref().is_some_and(|m| m.contains(text)))
    })
    .await;
    let event = found.iter().find(|e| e.reason.as_deref() == Some(reason)).expect("the event just seen");
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    event.message.clone().unwrap_or_default()
}

/// `launchType: FARGATE` and `EC2` resolve to the CapacityProviders `fargate`
/// and `ec2`, the names the Helm chart gives its defaults. This is the only
/// test of the binary that owns those two names (test binaries run one after
/// another, so the chart's and the API tests' objects of the same names are
/// gone by then).
#[tokio::test]
async fn launch_types_place_tasks_on_their_pools_with_their_resource_rules() {
    operator();
    let ns = TestNamespace::create("cap-launch");
    let fargate = Pool::create("fargate", "FARGATE", 2, "8");
    let ec2 = Pool::create("ec2", "EC2", 2, "8");

    task_definition(&ns.name, "web", json!({"requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": "512", "memory": "1024",
        "containerDefinitions": [{"name": "web", "image": "nginx:1.27", "portMappings": [{"containerPort": 80}]},
                                 {"name": "log", "image": "fluent-bit:3", "essential": false, "memoryReservation": 64}]}));
    service(&ns.name, "web", json!({"taskDefinition": "web", "desiredCount": 3, "launchType": "FARGATE",
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}}}));
    task_definition(&ns.name, "worker", json!({"requiresCompatibilities": ["EC2"], "networkMode": "bridge",
        "containerDefinitions": [{"name": "worker", "image": "worker:1", "cpu": 128, "memory": 256, "memoryReservation": 128,
                                  "portMappings": [{"containerPort": 8080, "hostPort": 8080}]}]}));
    service(&ns.name, "worker", json!({"taskDefinition": "worker", "desiredCount": 2, "launchType": "EC2"}));
    task_definition(&ns.name, "agent", json!({"memory": "128", "containerDefinitions": [{"name": "agent", "image": "agent:1"}]}));
    service(&ns.name, "agent", json!({"taskDefinition": "agent", "schedulingStrategy": "DAEMON", "launchType": "EC2"}));

    // Fargate: only the Fargate pool; the task size as pod-level requests and
    // limits (Guaranteed), the containers sharing it.
    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    let web = wait_for(pods.clone(), tasks_of("web"), TIMEOUT, "3 running Fargate tasks", |ps| {
        running_split(ps) == Some(BTreeMap::from([("fargate".to_string(), 3)]))
    }).await;
    for pod in undeleted(&web) {
        assert!(fargate.holds(pod), "{} runs outside the Fargate pool", pod.name_any());
        let spec = pod.spec.as_ref().unwrap();
        let resources = spec.resources.as_ref().expect("pod-level resources");
        let size = |m: &Option<BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>| {
            m.iter().flatten().map(|(k, v)| format!("{k}={}", v.0)).collect::<Vec<_>>().join(",")
        };
        // 1024 MiB, as the API server writes it.
        assert_eq!(size(&resources.requests), "cpu=500m,memory=1Gi");
        assert_eq!(size(&resources.limits), "cpu=500m,memory=1Gi");
        assert_eq!(pod.status.as_ref().and_then(|s| s.qos_class.as_deref()), Some("Guaranteed"));
        assert!(spec.containers.iter().all(|c| c.ports.iter().flatten().all(|p| p.host_port.is_none())));
    }

    // EC2: only the EC2 pool, with host ports (so one task a node) and the
    // container-level ECS sizes: cpu shares as a request, memory as the hard
    // limit, memoryReservation as the request.
    let workers = wait_for(pods.clone(), tasks_of("worker"), TIMEOUT, "2 running EC2 tasks", |ps| {
        running_split(ps) == Some(BTreeMap::from([("ec2".to_string(), 2)]))
    }).await;
    let mut nodes: Vec<&str> = vec![];
    for pod in undeleted(&workers) {
        assert!(ec2.holds(pod), "{} runs outside the EC2 pool", pod.name_any());
        let spec = pod.spec.as_ref().unwrap();
        nodes.push(spec.node_name.as_deref().unwrap());
        let container = &spec.containers[0];
        assert_eq!(container.ports.as_ref().unwrap()[0].host_port, Some(8080));
        let resources = container.resources.as_ref().unwrap();
        assert_eq!(resources.requests.as_ref().unwrap()["cpu"].0, "125m");
        assert_eq!(resources.requests.as_ref().unwrap()["memory"].0, "128Mi");
        assert_eq!(resources.limits.as_ref().unwrap()["memory"].0, "256Mi");
    }
    nodes.sort();
    nodes.dedup();
    assert_eq!(nodes.len(), 2, "two tasks with host port 8080 share no node");

    // RunTask with a launch type: the same pool and sizes.
    apply(&ns.name, &manifest("TaskRun", "once", json!({"taskDefinition": "web", "count": 2, "launchType": "FARGATE"})));
    let run = wait_for(pods.clone(), watcher::Config::default().labels("berth.dev/task-run=once"), TIMEOUT, "2 running Fargate run tasks", |ps| {
        running_split(ps) == Some(BTreeMap::from([("fargate".to_string(), 2)]))
    }).await;
    assert!(undeleted(&run).iter().all(|p| fargate.holds(p)));

    // DAEMON on EC2: one task on each node of the pool, none elsewhere.
    let agents = wait_for(pods, tasks_of("agent"), TIMEOUT, "one agent on each EC2 node", |ps| {
        running_split(ps) == Some(BTreeMap::from([("ec2".to_string(), 2)]))
    }).await;
    assert!(undeleted(&agents).iter().all(|p| ec2.holds(p)));
}

/// Base 2 on FARGATE and weights 1:3 EC2:FARGATE: ECS's split for 10, 6 and
/// 14 tasks, kept by scale-in and by a rollout.
#[tokio::test]
async fn strategy_splits_like_ecs_through_scaling_and_rollout() {
    operator();
    let ns = TestNamespace::create("cap-split");
    let suffix = unique_suffix();
    let fargate = Pool::create(&format!("split-fargate-{suffix}"), "FARGATE", 2, "8");
    let ec2 = Pool::create(&format!("split-ec2-{suffix}"), "EC2", 2, "8");
    task_definition(&ns.name, "api", portable_task("api:1"));
    let spec = |desired: i32| json!({"taskDefinition": "api", "desiredCount": desired, "capacityProviderStrategy": [
        {"capacityProvider": ec2.provider, "weight": 1},
        {"capacityProvider": fargate.provider, "base": 2, "weight": 3}]});
    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    let expect = |fargate_tasks: usize, ec2_tasks: usize| {
        Some(BTreeMap::from([(fargate.provider.clone(), fargate_tasks), (ec2.provider.clone(), ec2_tasks)]))
    };
    let on_their_pools = |ps: &[Arc<Pod>]| {
        undeleted(ps).iter().all(|p| if provider_of(p) == fargate.provider { fargate.holds(p) } else { ec2.holds(p) })
    };

    for (desired, fargate_tasks, ec2_tasks) in [(10, 8, 2), (6, 5, 1), (14, 11, 3)] {
        service(&ns.name, "api", spec(desired));
        wait_for(pods.clone(), tasks_of("api"), TIMEOUT, &format!("{desired} tasks split {fargate_tasks}/{ec2_tasks}"), |ps| {
            running_split(ps) == expect(fargate_tasks, ec2_tasks) && on_their_pools(ps)
        }).await;
    }

    // A new revision: the new deployment's 14 tasks split the same way.
    task_definition(&ns.name, "api", portable_task("api:2"));
    wait_for(pods, tasks_of("api"), Duration::from_secs(240), "the rollout's 14 tasks split 11/3", |ps| {
        let all_new = undeleted(ps).iter().all(|p| revision_of(p) == "2");
        all_new && running_split(ps) == expect(11, 3) && on_their_pools(ps)
    }).await;
}

/// A privileged task definition asked to run on a FARGATE provider, and a
/// strategy naming a provider that does not exist yet: no task starts, the
/// service says why, and the missing provider's arrival unblocks it.
#[tokio::test]
async fn incompatible_or_missing_providers_block_the_service_with_a_reason() {
    operator();
    let ns = TestNamespace::create("cap-refused");
    let suffix = unique_suffix();
    let fargate = Pool::create(&format!("refuse-fargate-{suffix}"), "FARGATE", 0, "8");
    task_definition(&ns.name, "agent", json!({"networkMode": "awsvpc", "cpu": "256", "memory": "512",
        "containerDefinitions": [{"name": "agent", "image": "agent:1", "privileged": true}]}));
    service(&ns.name, "agent", json!({"taskDefinition": "agent", "desiredCount": 2,
        "capacityProviderStrategy": [{"capacityProvider": fargate.provider, "weight": 1}]}));
    let message = wait_for_event(&ns.name, "TaskDefinitionIncompatible", "privileged").await;
    assert!(message.contains("does not support launch type FARGATE"), "{message}");
    let degraded = condition(&ns.name, "agent", "Degraded").await;
    assert!(degraded.starts_with("True TaskDefinitionIncompatible: ") && degraded.contains("containerDefinitions[agent].privileged"), "{degraded}");

    let missing = format!("later-{suffix}");
    task_definition(&ns.name, "app", portable_task("app:1"));
    service(&ns.name, "app", json!({"taskDefinition": "app", "desiredCount": 2,
        "capacityProviderStrategy": [{"capacityProvider": missing, "weight": 1}]}));
    wait_for_event(&ns.name, "CapacityProviderNotFound", &format!("capacity provider {missing} does not exist")).await;
    assert!(condition(&ns.name, "app", "Degraded").await.starts_with("True CapacityProviderNotFound"));

    let later = Pool::create(&missing, "EC2", 1, "8");
    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    let tasks = wait_for(pods.clone(), tasks_of("app"), TIMEOUT, "2 tasks once the provider exists", |ps| {
        running_split(ps) == Some(BTreeMap::from([(missing.clone(), 2)]))
    }).await;
    assert!(undeleted(&tasks).iter().all(|p| later.holds(p)));
    assert!(condition(&ns.name, "app", "Degraded").await.starts_with("False"));
    let refused = pods.list(&kube::api::ListParams::default().labels("berth.dev/service=agent")).await.unwrap();
    assert!(refused.items.is_empty(), "the privileged service started tasks");
}

/// A pool without room: the tasks that do not fit stay pending and the
/// service reports it in ECS's words.
#[tokio::test]
async fn a_full_pool_leaves_tasks_pending_with_an_ecs_event() {
    operator();
    let ns = TestNamespace::create("cap-full");
    let fargate = Pool::create(&format!("full-fargate-{}", unique_suffix()), "FARGATE", 1, "1");
    task_definition(&ns.name, "big", json!({"requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": "1024", "memory": "2048",
        "containerDefinitions": [{"name": "big", "image": "big:1"}]}));
    service(&ns.name, "big", json!({"taskDefinition": "big", "desiredCount": 2,
        "capacityProviderStrategy": [{"capacityProvider": fargate.provider, "weight": 1}]}));
    let message = wait_for_event(&ns.name, "ServiceTaskPlacementFailure", "was unable to place a task because no container instance met all of its requirements").await;
    assert!(message.contains(&format!("(capacity provider {})", fargate.provider)), "{message}");
    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    let tasks = wait_for(pods, tasks_of("big"), TIMEOUT, "one running and one pending task", |ps| {
        let live = undeleted(ps);
        live.len() == 2 && live.iter().filter(|p| is_running(p)).count() == 1
    }).await;
    assert!(undeleted(&tasks).iter().filter(|p| is_running(p)).all(|p| fargate.holds(p)));
}
