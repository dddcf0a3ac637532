//! Issue 4 acceptance: an operator killed with SIGKILL in the middle of a
//! scale-up and started again creates no extra tasks.
use std::time::Duration;

use berth_tests::fixture::{Operator, TestNamespace, client, install_crds, plane, wait_for};
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::watcher;
use serde_json::json;

#[tokio::test]
async fn sigkill_mid_scale_up_creates_no_extra_tasks() {
    install_crds();
    let ns = TestNamespace::create("restart");
    let kubectl = plane().kubectl();
    let apply = |yaml: String| kubectl.run_with_input(&["apply", "--server-side", "-n", &ns.name, "-f", "-"], &yaml).unwrap();
    apply(json!({"apiVersion": "berth.dev/v1alpha1", "kind": "TaskDefinition", "metadata": {"name": "web"},
        "spec": {"memory": "128", "containerDefinitions": [{"name": "web", "image": "web:1"}]}}).to_string());
    let first = Operator::start("restart-1", &["--namespace", &ns.name]);
    apply(json!({"apiVersion": "berth.dev/v1alpha1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"taskDefinition": "web", "desiredCount": 60}}).to_string());

    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    let tasks = watcher::Config::default().labels("berth.dev/service=web");
    let live = |ps: &[std::sync::Arc<Pod>]| ps.iter().filter(|p| p.metadata.deletion_timestamp.is_none()).count();
    let seen = wait_for(pods.clone(), tasks.clone(), Duration::from_secs(60), "the scale-up under way", |ps| live(ps) >= 5).await;
    first.kill();
    let at_kill = live(&seen);
    assert!(at_kill < 60, "the scale-up finished before the kill ({at_kill} tasks); nothing was interrupted");

    let _second = Operator::start("restart-2", &["--namespace", &ns.name]);
    let mut most = 0;
    wait_for(pods.clone(), tasks, Duration::from_secs(120), "60 running tasks", |ps| {
        most = most.max(live(ps));
        let running = ps.iter().filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")).count();
        running == 60
    }).await;
    // Let the restarted operator settle (tasks without health checks count as
    // healthy 40 s after RUNNING, as on ECS), then count again: still exactly 60.
    kubectl.run(&["wait", "-n", &ns.name, "ecssvc/web", "--for=condition=Ready", "--timeout=120s"]).unwrap();
    let settled: Vec<std::sync::Arc<Pod>> = pods.list(&kube::api::ListParams::default().labels("berth.dev/service=web")).await.unwrap()
        .items.into_iter().map(std::sync::Arc::new).collect();
    assert_eq!(live(&settled), 60);
    assert_eq!(most, 60, "more than 60 tasks existed at some point");
}
