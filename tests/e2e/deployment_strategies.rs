//! Issue 17 acceptance: BLUE_GREEN, LINEAR and CANARY deployments on the local plane, with a
//! recorder of every change of the production Service's ready endpoints (what kube-proxy
//! sends traffic to). This binary's operator runs minutes of one second
//! (`--deployment-minute-seconds 1`), so bake times pass in seconds, and reads its alarms from
//! a real Prometheus that scrapes an error gauge the tests set.
//!
//! ECS sources: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-type-blue-green.html,
//! .../deployment-type-linear.html, .../deployment-type-canary.html, .../pause-lifecycle-hooks.html,
//! .../stop-service-deployment.html.
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use berth_tests::cli::berth_json;
use berth_tests::fixture::{Operator, TestNamespace, client, plane, wait_for, wait_for_service_status};
use berth_tests::prometheus::Prometheus;
use berth_tests::objects::{apply, events, manifest, service_json, wait_for_event};
use berth_tests::traffic::{TrafficRecorder, WeightRecorder};
use k8s_openapi::api::core::v1::Service as CoreService;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::watcher;
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(120);
const TARGET_GROUP: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-tg/6d0ecf831eec9f09";
/// The production and test Kubernetes Services of the target group.
const PRODUCTION: &str = "web-tg";
const TEST: &str = "web-tg-test";

/// The alert the alarm test names, firing while the gauge it watches is above 0.
const ALERT: &str = "DeployErrors";

/// What every test of this binary shares: a Prometheus with [`ALERT`] over a gauge the
/// tests set, and the operator that reads it.
struct Deployments {
    errors: Arc<AtomicU32>,
    prometheus: Prometheus,
    _operator: Operator,
}

fn deployments() -> &'static Deployments {
    static SHARED: OnceLock<Deployments> = OnceLock::new();
    SHARED.get_or_init(|| {
        plane();
        let errors: Arc<AtomicU32> = Arc::default();
        let target = serve_gauge(errors.clone());
        let rules = format!("groups:\n- name: deployments\n  rules:\n  - alert: {ALERT}\n    expr: deploy_errors > 0\n");
        let prometheus = Prometheus::start(&rules, &[target]).expect("Prometheus starts");
        let operator = Operator::start("strategies", &["--deployment-minute-seconds", "1", "--prometheus-url", &prometheus.url()]);
        Deployments { errors, prometheus, _operator: operator }
    })
}

/// Serves `deploy_errors <value>` on 127.0.0.1 from a thread of its own (it outlives each
/// test's runtime); its `host:port`.
fn serve_gauge(value: Arc<AtomicU32>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let body = format!("deploy_errors {}\n", value.load(Ordering::SeqCst));
            let _ = write!(stream, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        }
    });
    address
}

fn task_definition(image: &str) -> Value {
    manifest("TaskDefinition", "web", json!({"family": "web", "networkMode": "awsvpc", "memory": "256",
        "containerDefinitions": [{"name": "web", "image": image, "portMappings": [{"containerPort": 8080}]}]}))
}

fn service(desired: i32, deployment: Value) -> Value {
    json!({"apiVersion": "berth.dev/v1alpha1", "kind": "Service",
        "metadata": {"name": "web", "annotations": {"berth.dev/deregistration-delay-seconds": "0"}},
        // Rebalancing would move tasks after the deployment, which the recordings would show.
        "spec": {"taskDefinition": "web", "desiredCount": desired, "deploymentConfiguration": deployment, "availabilityZoneRebalancing": "DISABLED",
            "loadBalancers": [{"targetGroupArn": TARGET_GROUP, "containerName": "web", "containerPort": 8080}]}})
}

/// The service at revision 1 with all its tasks behind the production Service, and the
/// recorder of that Service from then on.
async fn steady_on_revision_one(ns: &str, desired: i32, deployment: Value) -> TrafficRecorder {
    apply(ns, &task_definition("nginx:1.27"));
    apply(ns, &service(desired, deployment));
    wait_for_service_status(ns, "web", "{.status.conditions[?(@.type==\"Ready\")].status}", "True", TIMEOUT).await;
    let production = TrafficRecorder::start(ns, PRODUCTION, "web").await;
    let whole = |s: &BTreeMap<String, usize>| s.len() == 1 && s.get("1") == Some(&(desired as usize));
    production.wait_until(TIMEOUT, "every task of revision 1 behind the production Service", whole).await;
    production.restart_from_now();
    production
}

async fn record_of(ns: &str) -> Value {
    service_json(ns, "web").await["status"]["serviceDeployments"][0].clone()
}

async fn annotate(ns: &str, key: &str, value: &str) {
    let services = Api::<berth::api::Service>::namespaced(client().await, ns);
    let patch = json!({"metadata": {"annotations": {key: value}}});
    services.patch("web", &PatchParams::default(), &Patch::Merge(&patch)).await.unwrap();
}

/// The shares of production over the run, without the moments between the two halves of a
/// step (green joined, blue not yet left), each as (revision 1, revision 2) endpoints.
fn shares(recorder: &TrafficRecorder) -> Vec<(usize, usize)> {
    recorder.shares().iter().map(|s| (s.get("1").copied().unwrap_or(0), s.get("2").copied().unwrap_or(0))).collect()
}

#[tokio::test]
async fn blue_green_switches_production_in_one_step_and_a_stop_during_bake_restores_blue_at_once() {
    deployments();
    let ns = TestNamespace::create("bluegreen");
    let production = steady_on_revision_one(&ns.name, 3, json!({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 600})).await;
    let test = TrafficRecorder::start(&ns.name, TEST, "web").await;
    let weights = WeightRecorder::start(&ns.name, PRODUCTION).await;

    apply(&ns.name, &task_definition("nginx:1.28"));
    wait_for_service_status(&ns.name, "web", "{.status.serviceDeployments[0].lifecycle.stage}", "BAKE_TIME", TIMEOUT).await;
    let record = record_of(&ns.name).await;
    assert_eq!(record["strategy"], "BLUE_GREEN");
    assert_eq!(record["sourceTaskDefinition"], "web:1");
    assert_eq!(record["targetTaskDefinition"], "web:2");
    // The plane serves the Gateway API: the weights are also the HTTPRoute's.
    assert_eq!(record["trafficShift"], "HTTPRoute");
    assert_eq!(record["lifecycle"]["productionWeight"], 100.0);
    let before_rollback = shares(&production);

    // Blue keeps running through the bake: a stop rolls production back in one step.
    let id = record["serviceDeploymentId"].as_str().unwrap().to_string();
    annotate(&ns.name, "berth.dev/stop-deployment", &id).await;
    wait_for_service_status(&ns.name, "web", "{.status.serviceDeployments[0].lifecycle.status}", "ROLLBACK_SUCCESSFUL", TIMEOUT).await;
    wait_for_service_status(&ns.name, "web", "{.status.taskDefinition}", "web:1", TIMEOUT).await;
    let all = shares(&production);

    // Production: all blue, then all green, then all blue; never both, never none.
    let phases: Vec<&str> = all.iter().map(|(blue, green)| match (*blue, *green) {
        (0, 0) => "none",
        (_, 0) => "blue",
        (0, _) => "green",
        _ => "both",
    }).fold(vec![], |mut phases, phase| {
        if phases.last() != Some(&phase) {
            phases.push(phase);
        }
        phases
    });
    assert_eq!(phases, vec!["blue", "green", "blue"], "production endpoints over the run: {all:?}");
    // The HTTPRoute under the production Service: blue's backend all, none, all again (per mille).
    weights.wait_until(TIMEOUT, "blue's backend alone again", |w| w.len() == 1).await;
    assert_eq!(weights.first_backend_weights(), [1000, 0, 1000], "HTTPRoute weights over the run: {:?}", weights.weights());
    assert_eq!(weights.parents(), [format!("Service/{PRODUCTION}")]);
    assert!(before_rollback.iter().all(|(blue, green)| *blue == 0 || *green == 0), "{before_rollback:?}");
    assert!(all.iter().filter(|(blue, _)| *blue > 0).all(|(blue, _)| *blue == 3), "blue was whole whenever it served: {all:?}");
    // The test Service had green before production did.
    let tested = test.shares();
    assert!(tested.iter().any(|s| s.get("2").copied().unwrap_or(0) == 3 && !s.contains_key("1")), "test traffic reached all of green: {tested:?}");

    let said = events(&ns.name).await;
    for reason in ["SERVICE_DEPLOYMENT_IN_PROGRESS", "SERVICE_DEPLOYMENT_FAILED", "ServiceDeploymentLifecycleStage"] {
        assert!(said.contains(reason), "{reason} in {said}");
    }
    assert!(said.contains("StopServiceDeployment(ROLLBACK) requested"), "{said}");
    let status = service_json(&ns.name, "web").await["status"].clone();
    let failed = status["deployments"].as_array().unwrap().iter().find(|d| d["id"] == id.as_str()).cloned().unwrap_or_default();
    assert_eq!(failed["rolloutState"], "FAILED", "{status}");
}

#[tokio::test]
async fn linear_moves_production_in_twenty_percent_steps_and_canary_sends_its_share_first() {
    deployments();
    for (name, deployment, expected, blue_weights) in [
        ("linear", json!({"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 20.0, "stepBakeTimeInMinutes": 4}}),
            vec![(5, 0), (4, 1), (3, 2), (2, 3), (1, 4), (0, 5)], vec![1000, 800, 600, 400, 200, 0]),
        ("canary", json!({"strategy": "CANARY", "canaryConfiguration": {"canaryPercent": 20.0, "canaryBakeTimeInMinutes": 4}}),
            vec![(5, 0), (4, 1), (0, 5)], vec![1000, 800, 0]),
    ] {
        let ns = TestNamespace::create(name);
        let production = steady_on_revision_one(&ns.name, 5, deployment).await;
        let weights = WeightRecorder::start(&ns.name, PRODUCTION).await;
        apply(&ns.name, &task_definition("nginx:1.28"));
        wait_for_service_status(&ns.name, "web", "{.status.serviceDeployments[0].lifecycle.status}", "SUCCESSFUL", TIMEOUT).await;
        wait_for_service_status(&ns.name, "web", "{.status.conditions[?(@.type==\"Ready\")].status}", "True", TIMEOUT).await;
        production.wait_until(TIMEOUT, "every task of revision 2 behind production", |s| s.len() == 1 && s.get("2") == Some(&5)).await;
        let all = shares(&production);
        assert!(all.iter().all(|(blue, green)| blue + green > 0), "{name}: production never had no ready endpoint: {all:?}");
        // Between the steps: a task of green joins before one of blue leaves.
        let steps: Vec<(usize, usize)> = all.iter().copied().filter(|(blue, green)| blue + green == 5).fold(vec![], |mut steps, s| {
            if steps.last() != Some(&s) {
                steps.push(s);
            }
            steps
        });
        assert_eq!(steps, expected, "{name}: production endpoints over the run: {all:?}");
        let greens: Vec<usize> = all.iter().map(|(_, green)| *green).collect();
        assert!(greens.windows(2).all(|w| w[0] <= w[1]), "{name}: green's share never fell: {all:?}");
        // The exact weights, per mille, on the HTTPRoute; then green's backend alone, with green's tasks.
        weights.wait_until(TIMEOUT, "green's backend alone", |w| w.len() == 1).await;
        assert_eq!(weights.first_backend_weights(), blue_weights, "{name}: HTTPRoute weights over the run: {:?}", weights.weights());
        let green_backend = weights.weights().last().unwrap()[0].0.clone();
        TrafficRecorder::start(&ns.name, &green_backend, "web").await
            .wait_until(TIMEOUT, "green's backend Service selects green's tasks", |s| s.len() == 1 && s.get("2") == Some(&5)).await;
        let said = events(&ns.name).await;
        assert!(said.contains("production traffic on the new revision 20%"), "{said}");
        assert!(said.contains("SERVICE_DEPLOYMENT_COMPLETED"), "{said}");
    }
}

/// A hook endpoint that answers `answer` and keeps what it was sent.
async fn hook_server(answer: Value) -> (String, Arc<Mutex<Vec<Value>>>) {
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let kept = received.clone();
    let app = Router::new().route("/hook", post(move |body: String| {
        let (kept, answer) = (kept.clone(), answer.clone());
        async move {
            kept.lock().unwrap().push(serde_json::from_str(&body).unwrap_or(Value::Null));
            answer.to_string()
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    (url, received)
}

#[tokio::test]
async fn a_pause_hook_holds_until_continued_and_a_failing_http_hook_rolls_back() {
    deployments();
    // PAUSE at POST_SCALE_UP: green is up, production stays on blue until the annotation.
    let ns = TestNamespace::create("pause");
    let production = steady_on_revision_one(&ns.name, 2, json!({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 0,
        "lifecycleHooks": [{"targetType": "PAUSE", "lifecycleStages": ["POST_SCALE_UP"]}]})).await;
    apply(&ns.name, &task_definition("nginx:1.28"));
    wait_for_event(&ns.name, "awaits action", TIMEOUT).await;
    wait_for_service_status(&ns.name, "web", "{.status.serviceDeployments[0].lifecycle.stage}", "POST_SCALE_UP", TIMEOUT).await;
    // As an ECS user: find the paused hook with the AWS CLI's verbs, then continue it.
    let listed = berth_json(&ns.name, &["list-service-deployments", "--service", "web"]).await;
    let arn = listed["serviceDeployments"][0]["serviceDeploymentArn"].as_str().unwrap().to_string();
    assert_eq!(listed["serviceDeployments"][0]["status"], "IN_PROGRESS", "{listed}");
    let described = berth_json(&ns.name, &["describe-service-deployments", "--service-deployment-arns", &arn]).await;
    let hook = &described["serviceDeployments"][0]["lifecycleHookDetails"][0];
    assert_eq!((&hook["status"], &hook["lifecycleStage"]), (&json!("AWAITING_ACTION"), &json!("POST_SCALE_UP")), "{described}");
    let hook_id = hook["hookId"].as_str().unwrap().to_string();
    // ECS's ServiceRevisionSummary: green scaled up beside blue, production all blue's.
    let (target, source) = (&described["serviceDeployments"][0]["targetServiceRevision"], &described["serviceDeployments"][0]["sourceServiceRevisions"][0]);
    assert_eq!((&target["requestedTaskCount"], &target["runningTaskCount"], &target["requestedProductionTrafficWeight"]), (&json!(2), &json!(2), &json!(0.0)), "{described}");
    assert_eq!((&source["runningTaskCount"], &source["requestedProductionTrafficWeight"]), (&json!(2), &json!(100.0)), "{described}");
    // Held: a minute of the test clock (1 s) passes many times over, production stays on blue.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(record_of(&ns.name).await["lifecycle"]["stage"], "POST_SCALE_UP");
    assert!(shares(&production).iter().all(|(_, green)| *green == 0), "{:?}", shares(&production));
    let continued = berth_json(&ns.name, &["continue-service-deployment", "--service-deployment-arn", &arn, "--hook-id", &hook_id]).await;
    assert_eq!(continued["serviceDeploymentArn"], arn.as_str());
    wait_for_service_status(&ns.name, "web", "{.status.serviceDeployments[0].lifecycle.status}", "SUCCESSFUL", TIMEOUT).await;
    production.wait_until(TIMEOUT, "every task of revision 2 behind production", |s| s.len() == 1 && s.get("2") == Some(&2)).await;

    // An HTTP hook that answers FAILED before production moves rolls the deployment back.
    let ns = TestNamespace::create("hook");
    let (url, received) = hook_server(json!({"hookStatus": "FAILED"})).await;
    let production = steady_on_revision_one(&ns.name, 2, json!({"strategy": "CANARY",
        "lifecycleHooks": [{"hookTargetArn": url, "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"], "hookDetails": {"check": "smoke"}}]})).await;
    apply(&ns.name, &task_definition("nginx:1.28"));
    wait_for_service_status(&ns.name, "web", "{.status.serviceDeployments[0].lifecycle.status}", "ROLLBACK_SUCCESSFUL", TIMEOUT).await;
    let record = record_of(&ns.name).await;
    assert!(record["statusReason"].as_str().unwrap_or_default().contains("returned FAILED"), "{record}");
    assert!(shares(&production).iter().all(|(_, green)| *green == 0), "green never took production: {:?}", shares(&production));
    let calls = received.lock().unwrap().clone();
    let call = calls.first().unwrap_or_else(|| panic!("the hook was called"));
    assert_eq!(call["executionDetails"]["lifecycleStage"], "POST_TEST_TRAFFIC_SHIFT");
    assert_eq!(call["executionDetails"]["serviceArn"], format!("arn:aws:ecs:berth:000000000000:service/{}/web", ns.name));
    assert_eq!(call["hookDetails"], json!({"check": "smoke"}));
    // The test Service exists beside production.
    assert!(Api::<CoreService>::namespaced(client().await, &ns.name).get_opt(TEST).await.unwrap().is_some());
}

#[tokio::test]
async fn a_prometheus_alert_firing_during_the_canary_bake_rolls_it_back() {
    let shared = deployments();
    let ns = TestNamespace::create("alarm");
    let production = steady_on_revision_one(&ns.name, 5, json!({"strategy": "CANARY",
        "canaryConfiguration": {"canaryPercent": 20.0, "canaryBakeTimeInMinutes": 600},
        "alarms": {"alarmNames": [ALERT], "enable": true, "rollback": true}})).await;
    apply(&ns.name, &task_definition("nginx:1.28"));
    production.wait_until(TIMEOUT, "the canary's share of production", |s| s.get("1") == Some(&4) && s.get("2") == Some(&1)).await;

    shared.errors.store(1, Ordering::SeqCst);
    shared.prometheus.wait_firing(ALERT, TIMEOUT).await;
    wait_for_service_status(&ns.name, "web", "{.status.serviceDeployments[0].lifecycle.status}", "ROLLBACK_SUCCESSFUL", TIMEOUT).await;
    shared.errors.store(0, Ordering::SeqCst);
    let record = record_of(&ns.name).await;
    assert_eq!(record["lifecycle"]["triggeredAlarms"], json!([ALERT]), "{record}");
    assert!(record["statusReason"].as_str().unwrap_or_default().contains(ALERT), "{record}");
    production.wait_until(TIMEOUT, "production back on revision 1", |s| s.len() == 1 && s.get("1") == Some(&5)).await;
    let all = shares(&production);
    assert!(all.iter().all(|(blue, green)| blue + green > 0), "production never had no ready endpoint: {all:?}");
    assert!(all.iter().all(|(_, green)| *green <= 1), "the canary never had more than its share: {all:?}");
}

#[tokio::test]
async fn a_task_run_hook_whose_task_exits_1_rolls_the_deployment_back() {
    deployments();
    let ns = TestNamespace::create("hookrun");
    // The hook's task definition: its container exits 1 at once (the simulator's exit code).
    apply(&ns.name, &manifest("TaskDefinition", "smoke", json!({"family": "smoke", "memory": "128",
        "containerDefinitions": [{"name": "check", "image": "busybox", "dockerLabels": {"sim.berth.dev/exit-code": "1"}}]})));
    let production = steady_on_revision_one(&ns.name, 2, json!({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 0,
        "lifecycleHooks": [{"hookTargetArn": "taskrun:smoke", "lifecycleStages": ["POST_SCALE_UP"]}]})).await;
    apply(&ns.name, &task_definition("nginx:1.28"));
    wait_for_service_status(&ns.name, "web", "{.status.serviceDeployments[0].lifecycle.status}", "ROLLBACK_SUCCESSFUL", TIMEOUT).await;
    let record = record_of(&ns.name).await;
    assert!(record["statusReason"].as_str().unwrap_or_default().contains("returned FAILED"), "{record}");
    let answer = &record["hookResults"][0];
    assert!(answer["reason"].as_str().unwrap_or_default().contains("check exited 1"), "{record}");
    assert!(answer["reason"].as_str().unwrap_or_default().starts_with("taskrun:smoke (task "), "{record}");
    // The hook's TaskRun goes once its deployment is over (the next deployment's hooks get their own).
    let runs = Api::<berth::api::TaskRun>::namespaced(client().await, &ns.name);
    wait_for(runs, watcher::Config::default().labels("berth.dev/hook-deployment"), TIMEOUT, "the hook's TaskRun deleted", |runs| runs.is_empty()).await;
    assert!(shares(&production).iter().all(|(_, green)| *green == 0), "green never took production: {:?}", shares(&production));
}
