//! Issue 5 acceptance: rolling deployments within minimumHealthyPercent and
//! maximumPercent, and the circuit breaker rolling back a revision that
//! cannot run, without touching the user's spec.
use std::sync::Arc;
use std::time::Duration;

use berth_tests::fixture::{TestNamespace, client, operator, wait_for, wait_for_service_status, wait_until};
use berth_tests::objects::{apply, events, manifest, service_field, service_json};
use berth_tests::tasks::{is_healthy, is_live, named, revision_of, tasks_of};
use k8s_openapi::api::core::v1::Pod;
use futures::StreamExt;
use kube::ResourceExt;
use kube::api::Api;
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(180);

/// A task definition whose container has a health check (so readiness counts
/// at once, not after the 40-second rule) and optional docker labels.
fn revision(name: &str, image: &str, docker_labels: Value) -> Value {
    manifest("TaskDefinition", name, json!({"memory": "256", "containerDefinitions": [{"name": "web", "image": image, "dockerLabels": docker_labels,
        "healthCheck": {"command": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"]}}]}))
}

fn service(name: &str, desired: i32, min: i32, max: i32, breaker: bool) -> Value {
    let mut config = json!({"minimumHealthyPercent": min, "maximumPercent": max});
    if breaker {
        config["deploymentCircuitBreaker"] = json!({"enable": true, "rollback": true});
    }
    manifest("Service", name, json!({"taskDefinition": name, "desiredCount": desired, "deploymentConfiguration": config}))
}

/// What Argo CD would show for the live Service.
async fn argocd(ns: &str, name: &str) -> String {
    berth_tests::argocd::health("Service", &service_json(ns, name).await).status
}

async fn wait_steady(ns: &str, name: &str, revision: &str, desired: usize) -> Vec<Arc<Pod>> {
    let pods = Api::<Pod>::namespaced(client().await, ns);
    let steady = wait_for(pods, tasks_of(name), TIMEOUT, &format!("{desired} healthy tasks of revision {revision}"), |ps| {
        let current: Vec<_> = ps.iter().filter(|p| is_live(p)).collect();
        current.len() == desired && current.iter().all(|p| is_healthy(p) && revision_of(p) == revision)
    }).await;
    wait_for_service_status(ns, name, "{.status.conditions[?(@.type==\"Ready\")].status}", "True", TIMEOUT).await;
    steady
}

/// Rolls `name` to revision 2 and returns (most tasks at once, fewest healthy
/// at once); Argo CD shows the roll as Progressing while two deployments run.
async fn roll(ns: &str, name: &str, desired: usize) -> (usize, usize) {
    let pods = Api::<Pod>::namespaced(client().await, ns);
    // Every status the Service is written with, from a watch: a read at each
    // pod change can miss a short-lived one on a loaded machine.
    let services = Api::<berth::api::Service>::namespaced(client().await, ns);
    let mut statuses = kube::runtime::watcher(services, kube::runtime::watcher::Config::default().fields(&format!("metadata.name={name}"))).boxed();
    let argocd_during_roll = Arc::new(std::sync::Mutex::new(vec![]));
    let seen = argocd_during_roll.clone();
    let recorder = tokio::spawn(async move {
        while let Some(Ok(event)) = statuses.next().await {
            let (kube::runtime::watcher::Event::Apply(service) | kube::runtime::watcher::Event::InitApply(service)) = event else { continue };
            let service = serde_json::to_value(&service).unwrap_or_default();
            let roles: Vec<&str> = service["status"]["deployments"].as_array().into_iter().flatten().filter_map(|d| d["status"].as_str()).collect();
            if roles == ["PRIMARY", "ACTIVE"] {
                seen.lock().unwrap().push(berth_tests::argocd::health("Service", &service).status);
            }
        }
    });
    apply(ns, &revision(name, "web:2", json!({})));
    let (mut most, mut fewest_healthy) = (0, usize::MAX);
    wait_until(pods, tasks_of(name), TIMEOUT, "the roll to revision 2", async |ps: &[Arc<Pod>]| {
        most = most.max(ps.iter().filter(|p| is_live(p)).count());
        fewest_healthy = fewest_healthy.min(ps.iter().filter(|p| is_healthy(p)).count());
        let current: Vec<_> = ps.iter().filter(|p| is_live(p)).collect();
        current.len() == desired && current.iter().all(|p| is_healthy(p) && revision_of(p) == "2")
            && service_field(ns, name, "{.status.deployments[*].rolloutState}").await == "COMPLETED"
    }).await;
    recorder.abort();
    let argocd_during_roll = argocd_during_roll.lock().unwrap().clone();
    assert!(!argocd_during_roll.is_empty(), "never saw the roll with two deployments");
    assert!(argocd_during_roll.iter().all(|s| s == "Progressing"), "Argo CD during the roll: {argocd_during_roll:?}");
    (most, fewest_healthy)
}

#[tokio::test]
async fn ten_tasks_roll_within_min_50_max_200() {
    operator();
    let ns = TestNamespace::create("roll-50-200");
    apply(&ns.name, &revision("web", "web:1", json!({})));
    apply(&ns.name, &service("web", 10, 50, 200, false));
    wait_steady(&ns.name, "web", "1", 10).await;
    let (most, fewest_healthy) = roll(&ns.name, "web", 10).await;
    assert!(most <= 20, "{most} tasks at once, above maximumPercent 200");
    assert!(fewest_healthy >= 5, "{fewest_healthy} healthy tasks at once, below minimumHealthyPercent 50");
    wait_steady(&ns.name, "web", "2", 10).await;
    assert_eq!(argocd(&ns.name, "web").await, "Healthy");
    let log = events(&ns.name).await;
    assert!(log.contains("deployment completed."), "{log}");
    assert!(log.contains("(service web) has reached a steady state."), "{log}");
}

#[tokio::test]
async fn ten_tasks_roll_within_min_100_max_150() {
    operator();
    let ns = TestNamespace::create("roll-100-150");
    apply(&ns.name, &revision("api", "web:1", json!({})));
    apply(&ns.name, &service("api", 10, 100, 150, false));
    wait_steady(&ns.name, "api", "1", 10).await;
    let (most, fewest_healthy) = roll(&ns.name, "api", 10).await;
    assert!(most <= 15, "{most} tasks at once, above maximumPercent 150");
    assert!(fewest_healthy >= 10, "{fewest_healthy} healthy tasks at once, below minimumHealthyPercent 100");
}

#[tokio::test]
async fn a_revision_that_cannot_run_trips_the_breaker_and_rolls_back() {
    operator();
    let ns = TestNamespace::create("roll-breaker");
    apply(&ns.name, &revision("app", "app:1", json!({})));
    apply(&ns.name, &service("app", 4, 50, 200, true));
    wait_steady(&ns.name, "app", "1", 4).await;
    let first = service_field(&ns.name, "app", "{.status.deployments[0].id}").await;

    apply(&ns.name, &revision("app", "app:2", json!({"sim.berth.dev/exit-code": "1"})));
    // Watch the Service itself: the last status write may follow the last pod change.
    let services = Api::<berth::api::Service>::namespaced(client().await, &ns.name);
    wait_for(services, named("app"), TIMEOUT, "the rollback to revision 1 at steady state", |ss| {
        let conditions = ss.first().and_then(|s| s.status.as_ref()).and_then(|s| s.conditions.clone()).unwrap_or_default();
        let condition = |type_: &str| conditions.iter().find(|c| c.type_ == type_).cloned();
        condition("Degraded").is_some_and(|c| c.reason == "DeploymentFailed") && condition("Ready").is_some_and(|c| c.status == "True")
    }).await;
    wait_steady(&ns.name, "app", "1", 4).await;

    let deployments = service_field(&ns.name, "app", "{range .status.deployments[*]}{.id} {.status} {.rolloutState} {.taskDefinition}{\"\\n\"}{end}").await;
    assert!(deployments.contains(&format!("{first} PRIMARY COMPLETED app:1")), "{deployments}");
    assert!(deployments.contains("ACTIVE FAILED app:2"), "{deployments}");
    assert_eq!(service_field(&ns.name, "app", "{.status.taskDefinition}").await, "app:1");
    let failed: i32 = service_field(&ns.name, "app", "{.status.deployments[?(@.rolloutState==\"FAILED\")].failedTasks}").await.parse().unwrap();
    assert!(failed >= 3, "the breaker tripped after {failed} failed tasks; the threshold for 4 tasks is 3");
    // The user's spec is untouched: it still names the family, whose latest revision failed.
    let spec = service_field(&ns.name, "app", "{.spec.taskDefinition}").await;
    assert_eq!(spec, "app");
    let log = events(&ns.name).await;
    assert!(log.contains("deployment failed: tasks failed to start."), "{log}");
    assert!(log.contains(&format!("(service app) rolling back to deployment {first}.")), "{log}");
    assert_eq!(argocd(&ns.name, "app").await, "Degraded");
}

/// Since Nov 2025 ECS "replaces unhealthy or terminated tasks using the same
/// service revision they belong to" during a rolling deployment
/// (https://aws.amazon.com/about-aws/whats-new/2025/11/amazon-ecs-service-availability-rolling-deployments).
/// A roll to a revision that never turns healthy stalls at maximumPercent; a
/// task of the running revision killed meanwhile comes back as that revision.
#[tokio::test]
async fn a_task_lost_during_a_stalled_roll_is_replaced_with_its_own_revision() {
    operator();
    let ns = TestNamespace::create("roll-own-revision");
    apply(&ns.name, &revision("own", "web:1", json!({})));
    // 3 tasks, max 134 %: one task above desired at most.
    apply(&ns.name, &service("own", 3, 100, 134, false));
    wait_steady(&ns.name, "own", "1", 3).await;

    apply(&ns.name, &revision("own", "web:2", json!({"sim.berth.dev/unready": "true"})));
    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    let stalled = wait_for(pods.clone(), tasks_of("own"), TIMEOUT, "one task of revision 2 beside the 3 of revision 1", |ps| {
        let live: Vec<_> = ps.iter().filter(|p| is_live(p)).collect();
        live.len() == 4 && live.iter().filter(|p| revision_of(p) == "2").count() == 1
    }).await;
    let victim = stalled.iter().find(|p| is_live(p) && revision_of(p) == "1").expect("a task of revision 1").name_any();
    pods.delete(&victim, &Default::default()).await.expect("deleting a task");

    let replaced = wait_for(pods, tasks_of("own"), TIMEOUT, "3 healthy tasks of revision 1 again", |ps| {
        let healthy_old = ps.iter().filter(|p| is_live(p) && is_healthy(p) && revision_of(p) == "1" && p.name_any() != victim).count();
        healthy_old == 3
    }).await;
    let live_new = replaced.iter().filter(|p| is_live(p) && revision_of(p) == "2").count();
    assert_eq!(live_new, 1, "the lost task was replaced by revision 2");
    let deployments = service_field(&ns.name, "own", "{range .status.deployments[*]}{.status} {.taskDefinition} {.desiredCount};{end}").await;
    assert!(deployments.contains("ACTIVE own:1 3;"), "{deployments}");
}

/// API_DeploymentCircuitBreaker: with resetOnHealthyTask "a task that reaches a
/// healthy state resets the failure count to 0" — once, when it becomes healthy.
/// A revision whose tasks run 15 s and exit still trips the breaker while one
/// of its tasks stays healthy (fidelity audit N3a: a count reset on every pass
/// never tripped).
#[tokio::test]
async fn a_revision_whose_tasks_exit_after_15s_trips_the_breaker_though_one_stays_healthy() {
    operator();
    let ns = TestNamespace::create("roll-one-healthy");
    apply(&ns.name, &revision("late", "app:1", json!({})));
    // One task above desired at a time: the first new task is the survivor.
    apply(&ns.name, &service("late", 4, 100, 125, true));
    wait_steady(&ns.name, "late", "1", 4).await;
    let first = service_field(&ns.name, "late", "{.status.deployments[0].id}").await;

    // No health check: a task counts as healthy 40 s after RUNNING, so a task
    // that exits after 15 s never was; the first one (the survivor) stays and
    // becomes healthy once. The test makes each other task exit after 15 s.
    apply(&ns.name, &manifest("TaskDefinition", "late", json!({"memory": "256", "containerDefinitions": [{"name": "web", "image": "app:2"}]})));
    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    let services = Api::<berth::api::Service>::namespaced(client().await, &ns.name);
    let deadline = std::time::Instant::now() + TIMEOUT;
    let mut survivor: Option<String> = None;
    let mut exited = std::collections::BTreeSet::new();
    loop {
        assert!(std::time::Instant::now() < deadline, "no rollback within {TIMEOUT:?}; survivor {survivor:?}, exits made {exited:?}");
        let degraded = services.get("late").await.unwrap().status.and_then(|s| s.conditions).unwrap_or_default()
            .iter().any(|c| c.type_ == "Degraded" && c.reason == "DeploymentFailed");
        if degraded {
            break;
        }
        let now = k8s_openapi::jiff::Timestamp::now().as_second();
        let listed = pods.list(&kube::api::ListParams::default().labels("berth.dev/service=late")).await.unwrap();
        for pod in listed.items.iter().filter(|p| is_live(p) && revision_of(p) == "2") {
            let name = pod.name_any();
            let started = pod.status.as_ref().and_then(|s| s.start_time.as_ref()).map(|t| t.0.as_second());
            let survivor = survivor.get_or_insert_with(|| name.clone());
            if *survivor != name && started.is_some_and(|at| now - at >= 15) && exited.insert(name.clone()) {
                berth_tests::fixture::plane().kubectl().run(&["annotate", "-n", &ns.name, "pod", &name, "sim.berth.dev/exit-code=1"]).unwrap();
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let log = events(&ns.name).await;
    assert!(log.contains(&format!("(service late) rolling back to deployment {first}.")), "{log}");
    let failed: i32 = service_field(&ns.name, "late", "{.status.deployments[?(@.rolloutState==\"FAILED\")].failedTasks}").await.parse().unwrap();
    assert!(failed >= 3, "tripped after {failed} failures; the threshold for 4 tasks is 3");
    let survivor = survivor.expect("a task of revision 2 ran");
    let survived = pods.get_opt(&survivor).await.unwrap();
    assert!(survived.as_ref().is_none_or(|p| berth_tests::tasks::exit_code(p, "web").is_none()), "the survivor exited");
    assert!(exited.len() >= 3, "{exited:?}");
    wait_steady(&ns.name, "late", "1", 4).await;
}
