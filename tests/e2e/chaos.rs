//! Issue 19: faults injected while Berth works, each under the invariant
//! recorder (no Service over maximumPercent, none below minimumHealthyPercent
//! by Berth's choice, no duplicate task ids, convergence within a bound after
//! the last fault). The suite runs short versions; the long ones, as in the
//! issue, are one command (see docs/reliability.md):
//!
//!   BERTH_CHAOS_SERVICES=20 BERTH_CHAOS_OPERATOR_KILLS=20 BERTH_CHAOS_TASK_SERVICES=50 \
//!   BERTH_CHAOS_TASK_KILLS=1000 BERTH_CHAOS_RESTART_SERVICES=20 cargo test -p berth-tests --test chaos
//!
//! The 500 test runs on the run's plane, its faults injected by a proxy in
//! front of its own operator only (`BERTH_CHAOS_500_PERCENT`, default 10).
//!
//! `BERTH_CHAOS_SEED` replays a run's random choices (each test prints its seed).
use std::time::{Duration, Instant};

use berth::ecs::rollout::bounds::DeploymentBounds;
use berth_tests::chaos::{Dice, kill_task, setting};
use std::sync::atomic::Ordering::Relaxed;

use berth_tests::fault_proxy::FaultProxy;
use berth_tests::fixture::{Operator, TestNamespace, client, client_for, install_crds, operator_kubeconfig, plane, repo_root, try_wait_for, write_service_account_kubeconfig};
use berth_tests::tasks::{is_deleting, phase, revision_of, undeleted};
use kube::runtime::watcher;
use berth_tests::invariants::Recorder;
use berth_tests::kubectl::Kubectl;
use berth_tests::objects::{apply, apply_with, manifest};
use berth_tests::plane::{Plane, PlaneConfig};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::Api;
use serde_json::{Value, json};

/// The deployment bounds the services are given, one each in turn: ECS's
/// default, a fast one, a surge-limited one, a stop-first one.
const BOUNDS: [(i32, i32); 4] = [(100, 200), (50, 200), (50, 150), (0, 100)];

/// A task definition whose container has a health check, so a task is healthy
/// once Ready rather than after ECS's 40 seconds without one.
fn task_definition(family: &str, image: &str) -> Value {
    manifest("TaskDefinition", family, json!({"memory": "64", "containerDefinitions": [{"name": "app", "image": image,
        "healthCheck": {"command": ["CMD-SHELL", "true"]}}]}))
}

/// A desired count in `low..=high` that `bounds` can roll: ECS (and Berth) leave a
/// deployment stuck, with an event, where neither a start nor a stop fits, as 1 task
/// under 50/150 (`DeploymentBounds::deadlocks`); the faults are the subject here.
fn rollable_count(dice: &mut Dice, low: usize, high: usize, (min, max): (i32, i32)) -> usize {
    let bounds = DeploymentBounds { minimum_healthy_percent: min as u32, maximum_percent: max as u32 };
    loop {
        let desired = dice.between(low, high);
        if !bounds.deadlocks(desired as u32) {
            return desired;
        }
    }
}

fn service(name: &str, desired: usize, (min, max): (i32, i32)) -> Value {
    manifest("Service", name, json!({"taskDefinition": name, "desiredCount": desired,
        "deploymentConfiguration": {"minimumHealthyPercent": min, "maximumPercent": max}}))
}

/// `count` services app-0.. with 1 to 4 tasks, each its own family, applied
/// as one List.
fn services(kubectl: &Kubectl, ns: &str, count: usize, dice: &mut Dice) {
    let mut items = vec![];
    for i in 0..count {
        let name = format!("app-{i}");
        items.push(task_definition(&name, "app:0"));
        let bounds = BOUNDS[i % BOUNDS.len()];
        items.push(service(&name, rollable_count(dice, 1, 4, bounds), bounds));
    }
    apply_with(kubectl, ns, &json!({"apiVersion": "v1", "kind": "List", "items": items}));
}

/// A new revision of every service's task definition, in one List: a rollout of all of them.
fn roll_all(kubectl: &Kubectl, ns: &str, count: usize, image: &str) {
    let items: Vec<Value> = (0..count).map(|i| task_definition(&format!("app-{i}"), image)).collect();
    apply_with(kubectl, ns, &json!({"apiVersion": "v1", "kind": "List", "items": items}));
}

/// Waits until every task of `ns` not told to stop is of task definition
/// revision `revision`: a rollout done.
async fn every_task_of_revision(client: kube::Client, ns: &str, revision: &str, timeout: Duration) {
    let what = format!("every task of revision {revision}");
    let waited = try_wait_for(Api::<Pod>::namespaced(client.clone(), ns), watcher::Config::default(), timeout, &what,
        |ps| !ps.is_empty() && undeleted(ps).iter().all(|p| revision_of(p) == revision)).await;
    if let Err(e) = waited {
        // Failed twice in a loaded CI run while the operator reported every service complete:
        // say what each pod was, as the API server has it now.
        let pods = Api::<Pod>::namespaced(client, ns).list(&Default::default()).await.map(|l| l.items).unwrap_or_default();
        let states: Vec<String> = pods.iter().map(|p| format!("{} revision {:?} phase {} deleting {}", p.name_any(), revision_of(p), phase(p), is_deleting(p))).collect();
        panic!("{e}\nnow: {states:#?}");
    }
}

/// A namespace of the run's plane with `count` services, watched by the
/// recorder from before they exist, and the dice of the test (its seed printed).
async fn services_under_watch(prefix: &str, count: usize, faults: &str) -> (TestNamespace, Recorder, Dice) {
    install_crds();
    let mut dice = Dice::from_env();
    eprintln!("seed {}: {faults} over {count} services", dice.seed);
    let ns = TestNamespace::create(prefix);
    let recorder = Recorder::start(&ns.name).await;
    services(&plane().kubectl(), &ns.name, count, &mut dice);
    (ns, recorder, dice)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_killed_at_random_moments_during_rollouts_and_scaling_converges() {
    let (count, kills) = (setting("BERTH_CHAOS_SERVICES", 6), setting("BERTH_CHAOS_OPERATOR_KILLS", 5));
    let (ns, recorder, mut dice) = services_under_watch("chaos-kill", count, &format!("{kills} operator SIGKILLs")).await;
    let start = |n: usize| Operator::start(&format!("chaos-kill-{n}"), &["--namespace", &ns.name]);
    let mut operator = start(0);
    let (mut rollouts, mut scalings) = (0, 0);
    for kill in 1..=kills {
        // One to three changes, then the kill at a random moment of their work.
        for _ in 0..dice.between(1, 3) {
            let name = format!("app-{}", dice.below(count));
            if dice.below(2) == 0 {
                rollouts += 1;
                apply(&ns.name, &task_definition(&name, &format!("app:{kill}")));
            } else {
                scalings += 1;
                let i: usize = name[4..].parse().unwrap();
                let bounds = BOUNDS[i % BOUNDS.len()];
                apply(&ns.name, &service(&name, rollable_count(&mut dice, 0, 5, bounds), bounds));
            }
        }
        tokio::time::sleep(dice.moment(Duration::from_millis(200), Duration::from_secs(4))).await;
        operator.kill();
        assert!(operator.exited_within(Duration::from_secs(10)).await, "SIGKILL did not stop {}", operator.log.display());
        operator = start(kill);
    }
    let last_fault = Instant::now();
    let converged = recorder.wait_converged(Duration::from_secs(240)).await;
    let report = recorder.finish().await;
    eprintln!("{kills} SIGKILLs during {rollouts} rollouts and {scalings} scale changes of {count} services; converged {converged:?} \
        after the last; {report}");
    assert!(last_fault.elapsed() >= converged);
    report.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_task_kills_are_replaced_without_duplicates() {
    let (count, kills) = (setting("BERTH_CHAOS_TASK_SERVICES", 10), setting("BERTH_CHAOS_TASK_KILLS", 100));
    let (ns, recorder, mut dice) = services_under_watch("chaos-tasks", count, &format!("{kills} task kills")).await;
    let _operator = Operator::start("chaos-tasks", &["--namespace", &ns.name]);
    let first = recorder.wait_converged(Duration::from_secs(180)).await;
    eprintln!("{count} services up in {first:?}");

    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    let started = Instant::now();
    let mut killed = 0;
    while killed < kills {
        let tasks = recorder.kept_tasks();
        if tasks.is_empty() {
            // Every task already killed and not yet replaced: let Berth catch up.
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert!(started.elapsed() < Duration::from_secs(600), "no task to kill for minutes");
            continue;
        }
        if kill_task(&pods, &tasks[dice.below(tasks.len())]).await {
            killed += 1;
        }
        tokio::time::sleep(dice.moment(Duration::ZERO, Duration::from_millis(100))).await;
    }
    let killing = started.elapsed();
    let converged = recorder.wait_converged(Duration::from_secs(180)).await;
    let report = recorder.finish().await;
    eprintln!("{killed} tasks killed over {killing:?} across {count} services; converged {converged:?} after the last; {report}");
    report.assert_clean();
}

/// A plane for one test, with Berth's CRDs and a namespace for its services:
/// for faults that would break every other test on the run's plane.
fn own_plane() -> (Plane, &'static str) {
    let plane = Plane::start(&PlaneConfig::default()).expect("a plane of this test's own");
    let kubectl = plane.kubectl();
    let crds = repo_root().join("crds").display().to_string();
    kubectl.run(&["apply", "--server-side", "-f", &crds]).unwrap();
    kubectl.run(&["wait", "--for=condition=Established", "--timeout=60s", "-f", &crds]).unwrap();
    let ns = "chaos";
    kubectl.run(&["create", "namespace", ns]).unwrap();
    (plane, ns)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_server_restart_and_an_etcd_crash_mid_rollout_converge() {
    // A plane of its own: restarting the run's plane would fail every other test.
    // Its processes are tied to this thread (the test's), which outlives it.
    let (mut own, ns) = own_plane();
    let kubectl = own.kubectl();
    let count = setting("BERTH_CHAOS_RESTART_SERVICES", 6);
    let mut dice = Dice::from_env();
    eprintln!("seed {}: kube-apiserver restarted and etcd killed during rollouts of {count} services", dice.seed);
    services(&kubectl, ns, count, &mut dice);
    let recorder = Recorder::start_with(client_for(&own.kubeconfig).await, ns).await;
    let admin = own.kubeconfig.display().to_string();
    let _operator = Operator::start_with_env("chaos-restarts", &["--namespace", ns], &[("KUBECONFIG", admin.as_str())]);
    let up = recorder.wait_converged(Duration::from_secs(120)).await;
    eprintln!("{count} services up in {up:?}");

    roll_all(&kubectl, ns, count, "app:1");
    tokio::time::sleep(dice.moment(Duration::from_millis(200), Duration::from_secs(2))).await;
    let restarting = Instant::now();
    own.restart("kube-apiserver", libc::SIGTERM).expect("restarting kube-apiserver");
    eprintln!("kube-apiserver restarted mid-rollout, ready again after {:?}", restarting.elapsed());
    roll_all(&kubectl, ns, count, "app:2");
    tokio::time::sleep(dice.moment(Duration::from_millis(200), Duration::from_secs(2))).await;
    let killing = Instant::now();
    own.restart("etcd", libc::SIGKILL).expect("restarting etcd");
    eprintln!("etcd killed mid-rollout and restarted on its data; API ready again after {:?}", killing.elapsed());
    // kwok's fake kubelets can miss a binding made across the crash and leave its pod Pending
    // for good (seen three times under load: PodScheduled=True, never started). A kubelet
    // relists when its watch breaks; restarting kwok is that recovery. Berth is not restarted.
    own.restart("kwok", libc::SIGTERM).expect("restarting kwok");

    let converged = recorder.wait_converged(Duration::from_secs(240)).await;
    let report = recorder.finish().await;
    eprintln!("converged {converged:?} after the etcd restart; {report}");
    report.assert_clean();
}

/// API Priority and Fairness on the test's own plane: the operator's requests
/// get 1 concurrency share of the server's and are refused with 429 beyond it.
const THROTTLE: &str = r#"
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: PriorityLevelConfiguration
metadata: {name: berth-throttled}
spec:
  type: Limited
  limited:
    nominalConcurrencyShares: 1
    lendablePercent: 0
    limitResponse: {type: Reject}
---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata: {name: berth-throttled}
spec:
  priorityLevelConfiguration: {name: berth-throttled}
  matchingPrecedence: 100
  rules:
  - subjects: [{kind: ServiceAccount, serviceAccount: {name: berth, namespace: default}}]
    resourceRules: [{verbs: ["*"], apiGroups: ["*"], resources: ["*"], namespaces: ["*"], clusterScope: true}]
    nonResourceRules: [{verbs: ["*"], nonResourceURLs: ["*"]}]
"#;

/// The 429s the API server answered the throttled operator with, from its metrics.
fn throttled_requests(kubectl: &Kubectl) -> u64 {
    let metrics = kubectl.run(&["get", "--raw=/metrics"]).expect("the API server's metrics");
    metrics.lines().filter(|l| l.starts_with("apiserver_flowcontrol_rejected_requests_total") && l.contains("priority_level=\"berth-throttled\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum::<f64>() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_server_refusing_requests_with_429_is_backed_off_from_and_converged_through() {
    let (own, ns) = own_plane();
    let kubectl = own.kubectl();
    // The operator as a ServiceAccount: an admin certificate is exempt from
    // priority and fairness.
    kubectl.run(&["create", "serviceaccount", "berth", "-n", "default"]).unwrap();
    kubectl.run(&["create", "clusterrolebinding", "berth", "--clusterrole=cluster-admin", "--serviceaccount=default:berth"]).unwrap();
    let operator_kubeconfig = own.dir.join("berth.kubeconfig");
    write_service_account_kubeconfig(&kubectl, "berth", "default", &operator_kubeconfig);
    kubectl.run_with_input(&["apply", "-f", "-"], THROTTLE).unwrap();
    let count = setting("BERTH_CHAOS_THROTTLED_SERVICES", 10);
    let mut dice = Dice::from_env();
    eprintln!("seed {}: {count} services rolled out through an API server refusing the operator with 429", dice.seed);
    let recorder = Recorder::start_with(client_for(&own.kubeconfig).await, ns).await;
    services(&kubectl, ns, count, &mut dice);
    let config = operator_kubeconfig.display().to_string();
    let _operator = Operator::start_with_env("chaos-throttled", &["--namespace", ns], &[("KUBECONFIG", config.as_str())]);
    let up = recorder.wait_converged(Duration::from_secs(240)).await;
    roll_all(&kubectl, ns, count, "app:1");
    let rolling = Instant::now();
    every_task_of_revision(client_for(&own.kubeconfig).await, ns, "2", Duration::from_secs(240)).await;
    recorder.wait_converged(Duration::from_secs(240)).await;
    let rolled = rolling.elapsed();
    let refused = throttled_requests(&kubectl);
    let report = recorder.finish().await;
    eprintln!("{refused} requests refused with 429; up in {up:?}, rolled out in {rolled:?}; {report}");
    assert!(refused > 0, "the API server never refused the operator: no fault was injected");
    report.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_server_failing_writes_with_500_is_backed_off_from_and_converged_through() {
    // The operator reaches the run's plane through a proxy that answers a
    // share of its writes 500 and forwards the rest as the chart's
    // ServiceAccount: only this test's operator sees the faults.
    // One write in ten: a pass makes several writes, and at 30 % most passes
    // failed, so the per-Service back-off (which doubles) kept growing past the
    // test's bound; 30 % and more stay a documented long run.
    let percent = setting("BERTH_CHAOS_500_PERCENT", 10) as u64;
    let count = setting("BERTH_CHAOS_500_SERVICES", 8);
    let (ns, recorder, dice) = services_under_watch("chaos-500", count, &format!("{percent}% of the operator's writes answered 500")).await;
    let proxy = FaultProxy::start(client_for(operator_kubeconfig()).await, percent, dice.seed).await;
    let kubeconfig = operator_kubeconfig().with_file_name(format!("fault-proxy-{}.kubeconfig", proxy.port));
    proxy.write_kubeconfig(&kubeconfig);
    let config = kubeconfig.display().to_string();
    let operator = Operator::start_with_env("chaos-500", &["--namespace", &ns.name], &[("KUBECONFIG", config.as_str())]);
    let up = recorder.wait_converged(Duration::from_secs(240)).await;
    roll_all(&plane().kubectl(), &ns.name, count, "app:1");
    let rolling = Instant::now();
    // Converged at once otherwise: the old revision's tasks satisfy the counts until Berth acts.
    every_task_of_revision(client().await, &ns.name, "2", Duration::from_secs(240)).await;
    recorder.wait_converged(Duration::from_secs(240)).await;
    let rolled = rolling.elapsed();
    let report = recorder.finish().await;
    let counts = &proxy.counts;
    let (failed, forwarded, reads) = (counts.failed_writes.load(Relaxed), counts.forwarded_writes.load(Relaxed), counts.reads.load(Relaxed));
    let log = std::fs::read_to_string(&operator.log).unwrap_or_default();
    let retried = log.lines().filter(|l| l.contains("injected by the test's fault proxy")).count();
    eprintln!("{failed} writes answered 500, {forwarded} forwarded, {reads} reads; {retried} operator log lines name the injected error; \
        up in {up:?}, rolled out in {rolled:?}; {report}");
    assert!(failed > 0, "the proxy failed no write: no fault was injected");
    // Backing off: the failed writes are retried later, not in a loop as fast
    // as the API server answers (which would be thousands for this work).
    assert!(failed + forwarded < 2_000, "{failed} failed and {forwarded} forwarded writes for {count} services: no back-off");
    report.assert_clean();
}
