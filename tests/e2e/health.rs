//! Issue 15: task health as ECS counts it (ecs-semantics §2.4, 7.3-7.4;
//! https://docs.aws.amazon.com/AmazonECS/latest/developerguide/healthcheck.html).
//! A task whose essential container fails its health check is stopped and
//! replaced once the grace period has passed, never before; a non-essential
//! container failing its check changes nothing.
use std::time::{Duration, Instant};

use berth::api::Service;
use berth_tests::fixture::{TestNamespace, client, operator, plane, wait_for, wait_for_service_status};
use berth_tests::objects::{apply, events, manifest, stopped_record, wait_for_stopped_task};
use berth_tests::tasks::{is_healthy, named, running, tasks_of};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::Api;
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(120);
const GRACE_SECONDS: u64 = 25;

/// A check every 5 s, unhealthy after one failure.
fn check() -> serde_json::Value {
    json!({"command": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"], "interval": 5, "timeout": 2, "retries": 1})
}

async fn two_healthy_tasks(ns: &str) -> Vec<std::sync::Arc<Pod>> {
    apply(ns, &manifest("TaskDefinition", "web", json!({"memory": "256", "containerDefinitions": [
        {"name": "app", "image": "nginx:1.27", "healthCheck": check()},
        {"name": "log", "image": "fluent-bit:3", "essential": false, "healthCheck": check()}]})));
    apply(ns, &manifest("Service", "web", json!({"taskDefinition": "web", "desiredCount": 2, "healthCheckGracePeriodSeconds": GRACE_SECONDS,
        "deploymentConfiguration": {"minimumHealthyPercent": 100, "maximumPercent": 200}})));
    let pods = Api::<Pod>::namespaced(client().await, ns);
    let found = wait_for(pods, tasks_of("web"), TIMEOUT, "2 healthy tasks", |ps| ps.iter().filter(|p| is_healthy(p)).count() == 2).await;
    wait_for_service_status(ns, "web", "{.status.conditions[?(@.type==\"Ready\")].status}", "True", TIMEOUT).await;
    found
}

fn annotate(ns: &str, pod: &str, value: &str) {
    plane().kubectl().run(&["annotate", "-n", ns, "pod", pod, &format!("sim.berth.dev/unready={value}"), "--overwrite"]).unwrap();
}

#[tokio::test]
async fn an_unhealthy_essential_container_is_replaced_after_the_grace_period() {
    operator();
    let ns = TestNamespace::create("health");
    let tasks = two_healthy_tasks(&ns.name).await;
    let sick = tasks[0].name_any();
    let started = tasks[0].status.as_ref().and_then(|s| s.start_time.clone()).expect("a running task has a start time").0.as_second();
    annotate(&ns.name, &sick, "app");

    let (_, stopped) = wait_for_stopped_task(&ns.name, "web", &sick, TIMEOUT).await;
    assert_eq!(stopped.stop_code.map(|c| berth::api::wire_name(&c)).as_deref(), Some("ServiceSchedulerInitiated"));
    assert_eq!(stopped.stopped_reason.as_deref(), Some("Task failed container health checks"));
    let stopped_at = stopped.stopped_at.expect("a stop time").0.as_second();
    assert!(stopped_at - started >= GRACE_SECONDS as i64, "stopped {}s after it started, inside the {GRACE_SECONDS}s grace period", stopped_at - started);
    let log = events(&ns.name).await;
    assert!(log.contains(&format!("(service web) (task {}) failed container health checks.", stopped.task_id)), "{log}");

    // Replaced: two healthy tasks again, the sick one gone.
    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    wait_for(pods, tasks_of("web"), TIMEOUT, "2 healthy tasks, the sick one gone", |ps| {
        ps.iter().filter(|p| is_healthy(p)).count() == 2 && running(ps).iter().all(|p| p.name_any() != sick)
    })
    .await;
}

#[tokio::test]
async fn a_failing_non_essential_check_changes_nothing() {
    operator();
    let ns = TestNamespace::create("health-ne");
    let tasks = two_healthy_tasks(&ns.name).await;
    let names: Vec<String> = tasks.iter().map(|p| p.name_any()).collect();
    annotate(&ns.name, &names[0], "log");
    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    let log_unready = |p: &Pod| p.status.iter().flat_map(|s| s.container_statuses.iter().flatten()).any(|c| c.name == "log" && !c.ready);
    wait_for(pods, named(&names[0]), TIMEOUT, "its log container unready", |ps| ps.iter().any(|p| log_unready(p))).await;
    // Past the grace period and the check's failures, both tasks still run and none was started.
    let deadline = Instant::now() + Duration::from_secs(GRACE_SECONDS + 15);
    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    let wait = deadline.saturating_duration_since(Instant::now());
    let changed = berth_tests::fixture::try_wait_for(pods, tasks_of("web"), wait, "a change of tasks", |ps| ps.len() != 2 || ps.iter().any(|p| !names.contains(&p.name_any()))).await;
    assert!(changed.is_err(), "the tasks changed: {:?}", changed.map(|ps| ps.iter().map(|p| p.name_any()).collect::<Vec<_>>()));
    let stopped = berth_tests::objects::service_field(&ns.name, "web", "{.status.stoppedTasks}").await;
    assert!(!stopped.contains("stopCode"), "{stopped}");
}

/// ecs-semantics §2.4: behind a load balancer, a task that fails its target's
/// health checks is replaced (`Task failed ELB health checks`). Berth's target
/// health is the task's place in its Services' ready endpoints: a task out of
/// them for a minute, past the grace period, is stopped and replaced.
#[tokio::test]
async fn a_task_out_of_its_load_balancers_endpoints_is_replaced() {
    operator();
    let ns = TestNamespace::create("health-elb");
    apply(&ns.name, &manifest("TaskDefinition", "web", json!({"networkMode": "awsvpc", "memory": "256", "containerDefinitions": [
        {"name": "web", "image": "nginx:1.27", "portMappings": [{"containerPort": 8080}]}]})));
    let mut service = manifest("Service", "web", json!({"taskDefinition": "web", "desiredCount": 2, "healthCheckGracePeriodSeconds": 5,
        "deploymentConfiguration": {"minimumHealthyPercent": 100, "maximumPercent": 200},
        "loadBalancers": [{"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef",
            "containerName": "web", "containerPort": 8080}]}));
    // No deregistration delay: the stopped task goes at once instead of draining for 300 s.
    service["metadata"]["annotations"] = json!({"berth.dev/deregistration-delay-seconds": "0"});
    apply(&ns.name, &service);
    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    let tasks = wait_for(pods.clone(), tasks_of("web"), TIMEOUT, "2 healthy tasks", |ps| ps.iter().filter(|p| is_healthy(p)).count() == 2).await;
    let out = tasks[0].name_any();
    annotate(&ns.name, &out, "true");
    let took_out = Instant::now();

    let (_, stopped) = wait_for_stopped_task(&ns.name, "web", &out, TIMEOUT).await;
    let waited = took_out.elapsed();
    assert_eq!(stopped.stopped_reason.as_deref(), Some("Task failed ELB health checks"));
    let minute = berth::ecs::plan::deployment::LOAD_BALANCER_UNHEALTHY_AFTER;
    assert!(waited >= minute - Duration::from_secs(2), "stopped {waited:?} after it left the endpoints, before {minute:?}");
    let log = events(&ns.name).await;
    assert!(log.contains(&format!("(service web) (task {}) failed ELB health checks.", stopped.task_id)), "{log}");
    wait_for(pods, tasks_of("web"), TIMEOUT, "2 healthy tasks, the one out of the endpoints gone", |ps| {
        ps.iter().filter(|p| is_healthy(p)).count() == 2 && running(ps).iter().all(|p| p.name_any() != out)
    })
    .await;
}

/// ecs-semantics §2.4 and fidelity audit N4: an essential container that exits
/// stops its task, also when it runs as a native sidecar (a restartable init
/// container, because the app depends on it) that the kubelet restarts in place;
/// a non-essential sidecar's exit changes nothing.
#[tokio::test]
async fn an_essential_sidecar_that_exits_stops_its_task_a_non_essential_one_does_not() {
    operator();
    let ns = TestNamespace::create("health-sidecar");
    apply(&ns.name, &manifest("TaskDefinition", "mesh", json!({"memory": "512", "containerDefinitions": [
        {"name": "app", "image": "app:1", "dependsOn": [{"containerName": "envoy", "condition": "HEALTHY"}, {"containerName": "log", "condition": "START"}]},
        {"name": "envoy", "image": "envoy:1", "healthCheck": check()},
        {"name": "log", "image": "fluent-bit:3", "essential": false}]})));
    apply(&ns.name, &manifest("Service", "mesh", json!({"taskDefinition": "mesh", "desiredCount": 2})));
    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    let tasks = wait_for(pods.clone(), tasks_of("mesh"), TIMEOUT, "2 running tasks", |ps| running(ps).len() == 2).await;
    let sidecars = |p: &Pod| p.spec.iter().flat_map(|s| s.init_containers.iter().flatten()).map(|c| c.name.clone()).collect::<Vec<_>>();
    assert_eq!(sidecars(&tasks[0]), ["envoy", "log"], "both rendered as native sidecars");
    let (calm, crashing) = (tasks[0].name_any(), tasks[1].name_any());
    let restart = |pod: &str, container: &str| {
        plane().kubectl().run(&["annotate", "-n", &ns.name, "pod", pod, &format!("sim.berth.dev/restart-container={container}")]).unwrap();
    };
    let restarted = |p: &Pod, container: &str| p.status.iter().flat_map(|s| s.init_container_statuses.iter().flatten()).any(|c| c.name == container && c.restart_count == 1);

    // The non-essential sidecar exits and is restarted: the task runs on.
    restart(&calm, "log");
    wait_for(pods.clone(), named(&calm), TIMEOUT, "its log sidecar restarted", |ps| ps.iter().any(|p| restarted(p, "log"))).await;
    // The essential one exits: its task is stopped and replaced.
    restart(&crashing, "envoy");
    let (status, stopped) = wait_for_stopped_task(&ns.name, "mesh", &crashing, TIMEOUT).await;
    assert_eq!(stopped.stop_code.map(|c| berth::api::wire_name(&c)).as_deref(), Some("EssentialContainerExited"));
    let envoy = stopped.containers.iter().flatten().find(|c| c.name == "envoy").expect("envoy in the stopped task");
    assert_eq!(envoy.exit_code, Some(1));
    assert!(stopped_record(&status, &calm).is_none(), "the task whose non-essential sidecar exited was stopped");
    wait_for(pods, tasks_of("mesh"), TIMEOUT, "2 running tasks, the calm one among them", |ps| {
        let live = running(ps);
        live.len() == 2 && live.iter().any(|p| p.name_any() == calm) && live.iter().all(|p| p.name_any() != crashing)
    })
    .await;
}

/// ECS container restart policy (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/container-restart-policy.html):
/// an essential container that exits after running restartAttemptPeriod is
/// restarted in place and its task keeps its id; an exit code in
/// ignoredExitCodes is not restarted, so the task stops and is replaced.
#[tokio::test]
async fn a_container_with_a_restart_policy_restarts_in_place() {
    operator();
    let ns = TestNamespace::create("health-restart");
    const PERIOD: u64 = 60;
    apply(&ns.name, &manifest("TaskDefinition", "worker", json!({"memory": "256", "containerDefinitions": [
        {"name": "worker", "image": "worker:1", "restartPolicy": {"enabled": true, "ignoredExitCodes": [0], "restartAttemptPeriod": PERIOD}}]})));
    apply(&ns.name, &manifest("Service", "worker", json!({"taskDefinition": "worker", "desiredCount": 2})));
    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    let tasks = wait_for(pods.clone(), tasks_of("worker"), TIMEOUT, "2 running tasks", |ps| running(ps).len() == 2).await;
    let (kept, ended) = (tasks[0].name_any(), tasks[1].name_any());
    // The policy restarts only a container that ran restartAttemptPeriod: wait that long.
    let started = tasks.iter().filter_map(|p| p.status.as_ref()?.start_time.as_ref()).map(|t| t.0.as_second()).max().expect("running tasks have a start time");
    let wait = (started + PERIOD as i64 + 2 - k8s_openapi::jiff::Timestamp::now().as_second()).max(0) as u64;
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let restart = |pod: &str, code: &str| {
        plane().kubectl().run(&["annotate", "-n", &ns.name, "pod", pod, "sim.berth.dev/restart-container=worker", &format!("sim.berth.dev/restart-exit-code={code}")]).unwrap();
    };
    restart(&kept, "1");
    restart(&ended, "0");

    let services = Api::<Service>::namespaced(client().await, &ns.name);
    let found = wait_for(services, named("worker"), TIMEOUT, "the restart counted and the ignored exit stopped", |ss| {
        let status = ss.first().and_then(|s| s.status.clone()).unwrap_or_default();
        status.container_restarts == Some(1) && stopped_record(&status, &ended).is_some()
    })
    .await;
    let status = found[0].status.clone().unwrap();
    let stopped = stopped_record(&status, &ended).unwrap();
    assert_eq!(stopped.stop_code.map(|c| berth::api::wire_name(&c)).as_deref(), Some("EssentialContainerExited"));
    wait_for(pods, tasks_of("worker"), TIMEOUT, "2 running tasks, the restarted one among them", |ps| {
        let live = running(ps);
        live.len() == 2 && live.iter().any(|p| p.name_any() == kept) && live.iter().all(|p| p.name_any() != ended)
    })
    .await;
}
