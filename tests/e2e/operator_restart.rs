//! Issue 4 acceptance: an operator killed with SIGKILL in the middle of a
//! scale-up and started again creates no extra tasks; nor does it count again
//! a failure the first counted.
use std::time::Duration;

use berth::api::Service;
use berth_tests::fixture::{Operator, TestNamespace, client, install_crds, plane, wait_for};
use berth_tests::objects::{apply, events, manifest, stopped_record, wait_for_event, wait_for_stopped_task};
use berth_tests::tasks::{named, phase, tasks_of, undeleted};
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
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

/// A task that ended by itself is counted once (ECS's circuit breaker counts each failed task
/// once): the status write that counts it names it in `stoppedTasks`, with nothing written on
/// the failed pod, so an operator started afresh, with no memory of what it counted, counts it
/// no more and says nothing of it again.
#[tokio::test]
async fn a_failure_counted_before_a_restart_is_not_counted_again() {
    install_crds();
    let ns = TestNamespace::create("restart-count");
    apply(&ns.name, &manifest("TaskDefinition", "web", json!({"memory": "128", "containerDefinitions": [{"name": "web", "image": "web:1"}]})));
    let first = Operator::start("restart-count-1", &["--namespace", &ns.name]);
    let breaker = json!({"deploymentCircuitBreaker": {"enable": true, "rollback": false}});
    apply(&ns.name, &manifest("Service", "web", json!({"taskDefinition": "web", "desiredCount": 2, "deploymentConfiguration": breaker})));
    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    let running = wait_for(pods.clone(), tasks_of("web"), Duration::from_secs(60), "2 running tasks", |ps| ps.iter().filter(|p| phase(p) == "Running").count() == 2).await;
    let failed = running.iter().find(|p| phase(p) == "Running").unwrap().name_any();
    let exit = json!({"metadata": {"annotations": {"sim.berth.dev/exit-code": "1"}}});
    pods.patch(&failed, &PatchParams::default(), &Patch::Merge(&exit)).await.unwrap();
    let (status, _) = wait_for_stopped_task(&ns.name, "web", &failed, Duration::from_secs(60)).await;
    let counted = status.deployments.as_ref().unwrap()[0].failed_tasks;
    assert_eq!(counted, 1, "the failure, 1 s into its run, is a failed start the breaker counts: {status:?}");
    let pod = pods.get(&failed).await.unwrap();
    let recorded = [berth::ecs::task::labels::STOP_CODE, berth::ecs::task::labels::STOPPED_REASON];
    assert!(!pod.annotations().keys().any(|k| recorded.contains(&k.as_str())), "the stop recorded on the pod: {:?}", pod.annotations());
    // Events go out beside the passes: the first operator's is awaited before it is killed.
    let task_id = stopped_record(&status, &failed).unwrap().task_id.clone();
    wait_for_event(&ns.name, &format!("has stopped 1 running tasks: (task {task_id})"), Duration::from_secs(30)).await;
    first.kill();

    let _second = Operator::start("restart-count-2", &["--namespace", &ns.name]);
    // A spec change the new operator must answer: once it has, it has seen the failed pod.
    apply(&ns.name, &manifest("Service", "web", json!({"taskDefinition": "web", "desiredCount": 3, "deploymentConfiguration": breaker})));
    let services = Api::<Service>::namespaced(client().await, &ns.name);
    let seen = wait_for(services, named("web"), Duration::from_secs(60), "the restarted operator's status", |ss| {
        ss.iter().any(|s| s.status.as_ref().is_some_and(|st| st.observed_generation == s.metadata.generation && st.desired_count == Some(3)))
    }).await;
    let status = seen[0].status.clone().unwrap();
    // Its replacement ran less than the breaker's 10 s when the first operator counted, and
    // may have run longer since (which resets the count): never more than the one failure.
    assert!(status.deployments.as_ref().unwrap()[0].failed_tasks <= 1, "counted again: {status:?}");
    let log = events(&ns.name).await;
    let stops = log.lines().filter(|l| l.contains("TasksStopped") && l.contains(&task_id)).count();
    assert_eq!(stops, 1, "its stop said more than once:\n{log}");
}
