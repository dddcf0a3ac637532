//! Issue 4 acceptance: an operator killed with SIGKILL in the middle of a
//! scale-up and started again creates no extra tasks.
use std::time::Duration;

use berth_tests::fixture::{Operator, TestNamespace, client, install_crds, plane, wait_for};
use berth_tests::objects::{apply, manifest};
use berth_tests::tasks::{phase, tasks_of, undeleted};
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use serde_json::json;

#[tokio::test]
async fn sigkill_mid_scale_up_creates_no_extra_tasks() {
    install_crds();
    let ns = TestNamespace::create("restart");
    apply(&ns.name, &manifest("TaskDefinition", "web", json!({"memory": "128", "containerDefinitions": [{"name": "web", "image": "web:1"}]})));
    let first = Operator::start("restart-1", &["--namespace", &ns.name]);
    apply(&ns.name, &manifest("Service", "web", json!({"taskDefinition": "web", "desiredCount": 60})));

    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    let tasks = tasks_of("web");
    let seen = wait_for(pods.clone(), tasks.clone(), Duration::from_secs(60), "the scale-up under way", |ps| undeleted(ps).len() >= 5).await;
    first.kill();
    let at_kill = undeleted(&seen).len();
    assert!(at_kill < 60, "the scale-up finished before the kill ({at_kill} tasks); nothing was interrupted");

    let _second = Operator::start("restart-2", &["--namespace", &ns.name]);
    let mut most = 0;
    wait_for(pods.clone(), tasks, Duration::from_secs(120), "60 running tasks", |ps| {
        most = most.max(undeleted(ps).len());
        // Running counts a task being deleted too: the count below settles that.
        ps.iter().filter(|p| phase(p) == "Running").count() == 60
    }).await;
    // Let the restarted operator settle (tasks without health checks count as
    // healthy 40 s after RUNNING, as on ECS), then count again: still exactly 60.
    plane().kubectl().run(&["wait", "-n", &ns.name, "ecssvc/web", "--for=condition=Ready", "--timeout=120s"]).unwrap();
    let settled: Vec<std::sync::Arc<Pod>> = pods.list(&kube::api::ListParams::default().labels("berth.dev/service=web")).await.unwrap()
        .items.into_iter().map(std::sync::Arc::new).collect();
    assert_eq!(undeleted(&settled).len(), 60);
    assert_eq!(most, 60, "more than 60 tasks existed at some point");
}
