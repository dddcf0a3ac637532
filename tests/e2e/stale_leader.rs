//! Issue 19: a leader paused (SIGSTOP) past its Lease, while the standby
//! takes over and rescales a Service, writes nothing once resumed (SIGCONT).
//! Before the fence, the resumed leader created tasks from its stale state
//! before it noticed the lost Lease (a Service of 4 had 7 tasks).
//!
//! The operators' client is throttled (5 requests a second) so that the
//! leader is paused in the middle of a scale-up, with creates queued in its
//! client: exactly what a resumed leader would send first. Its renewer wakes
//! late on resume (the test hook BERTH_TEST_RENEWER_LAG_SECONDS), so its
//! controllers run first on their stale state: the worst order, the one the
//! fence is for. Without the hook the renewer usually noticed the lost Lease
//! first and the process exited before trying anything, and the test passed
//! with the fence removed too. Now it asserts, from the old leader's log, that
//! it did try writes after resuming and that the fence held each back.
use std::time::{Duration, Instant};

use berth::runtime::leader::LEASE_DURATION;
use berth_tests::fixture::{Operator, TestNamespace, client, install_crds, plane, try_wait_for, unique_suffix, wait_for, wait_for_service_status};
use berth_tests::invariants::Recorder;
use berth_tests::objects::{apply, manifest};
use berth_tests::tasks::{named, running, tasks_of, undeleted};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use serde_json::json;

/// How late the resumed leader's renewer notices the lost Lease: time for
/// its controllers to try their queued and stale writes.
const RENEWER_LAG_SECONDS: &str = "5";

fn holder(leases: &[std::sync::Arc<Lease>]) -> Option<String> {
    leases.first()?.spec.as_ref()?.holder_identity.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_resumed_after_losing_its_lease_writes_nothing() {
    install_crds();
    let ns = TestNamespace::create("stale");
    apply(&ns.name, &manifest("TaskDefinition", "web", json!({"memory": "128", "containerDefinitions": [{"name": "web", "image": "web:1"}]})));
    apply(&ns.name, &manifest("Service", "web", json!({"taskDefinition": "web", "desiredCount": 3})));
    let recorder = Recorder::start(&ns.name).await;

    // A Lease of its own beside the other leader tests', so as admin.
    let lease = format!("berth-{}", unique_suffix());
    let admin = plane().kubeconfig.display().to_string();
    let start = |identity: &str| Operator::start_with_env(identity, &["--namespace", &ns.name, "--kube-api-qps", "5", "--kube-api-burst", "1"], &[
        ("BERTH_LEADER_ELECTION_LEASE", lease.as_str()), ("BERTH_LEADER_ELECTION_NAMESPACE", ns.name.as_str()), ("POD_NAME", identity),
        ("KUBECONFIG", admin.as_str()), ("BERTH_TEST_RENEWER_LAG_SECONDS", RENEWER_LAG_SECONDS),
    ]);
    let operators = [start("stale-a"), start("stale-b")];
    let leases = Api::<Lease>::namespaced(client().await, &ns.name);
    let seen = wait_for(leases.clone(), named(&lease), Duration::from_secs(60), "a leader", |ls| holder(ls).is_some()).await;
    let leader_name = holder(&seen).unwrap();
    let (leader, standby) = if leader_name == "stale-a" { (&operators[0], &operators[1]) } else { (&operators[1], &operators[0]) };
    let standby_name = if leader_name == "stale-a" { "stale-b" } else { "stale-a" };

    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    wait_for(pods.clone(), tasks_of("web"), Duration::from_secs(60), "3 running tasks", |ps| running(ps).len() == 3).await;

    // The leader freezes a few tasks into a scale-up to 30, creates queued in
    // its client; the standby takes over and finishes it; then 30 -> 4.
    let kubectl = plane().kubectl();
    kubectl.run(&["scale", "-n", &ns.name, "ecssvc/web", "--replicas=30"]).unwrap();
    let at_pause = wait_for(pods.clone(), tasks_of("web"), Duration::from_secs(60), "the scale-up under way", |ps| undeleted(ps).len() >= 6).await;
    leader.pause();
    let paused = Instant::now();
    assert!(undeleted(&at_pause).len() < 30, "the scale-up finished before the pause; nothing was queued");
    wait_for(leases, named(&lease), LEASE_DURATION + Duration::from_secs(30), "the standby leading", |ls| holder(ls).as_deref() == Some(standby_name)).await;
    eprintln!("{leader_name} paused with {} tasks; {standby_name} took over after {:?}", undeleted(&at_pause).len(), paused.elapsed());
    wait_for(pods.clone(), tasks_of("web"), Duration::from_secs(90), "30 running tasks", |ps| running(ps).len() == 30).await;
    kubectl.run(&["scale", "-n", &ns.name, "ecssvc/web", "--replicas=4"]).unwrap();
    let settled = recorder.wait_converged(Duration::from_secs(120)).await;
    eprintln!("scaled 3 -> 30 -> 4 under {standby_name}; converged in {settled:?}");

    // The service is steady at 4 under the new leader, its steady status
    // written: from here on only the old leader could create a task or write it.
    wait_for_service_status(&ns.name, "web", "{.status.conditions[?(@.type==\"Ready\")].reason}", "SteadyState", Duration::from_secs(120)).await;
    recorder.stale_leader_window();
    leader.resume();
    assert!(leader.exited_within(Duration::from_secs(40)).await, "the resumed leader kept running: {}", leader.log.display());
    // Whatever it sent before exiting has been answered and watched by now.
    let mut most_after_resume = 0;
    let fifth = try_wait_for(pods.clone(), tasks_of("web"), Duration::from_secs(5), "a fifth task", |ps| {
        most_after_resume = most_after_resume.max(undeleted(ps).len());
        most_after_resume > 4
    })
    .await;
    assert!(fifth.is_err(), "a fifth task appeared after the old leader resumed");
    recorder.stale_leader_window_ends();
    let report = recorder.finish().await;
    let log = std::fs::read_to_string(&leader.log).unwrap_or_default();
    assert!(log.contains("test hook BERTH_TEST_RENEWER_LAG_SECONDS"), "the resumed leader's renewer never woke late: {}", leader.log.display());
    // Every write the old leader tried after resuming, each held back by the fence.
    let held_back: Vec<&str> = log.lines().filter(|l| l.contains("write held back by the fence")).collect();
    eprintln!("old leader resumed and exited; {most_after_resume} tasks at most; {} writes held back by the fence, the first: {:?}; {report}",
        held_back.len(), held_back.first());
    assert!(!held_back.is_empty(), "the resumed leader tried no write (or none was fenced): the test proved nothing: {}", leader.log.display());
    assert_eq!(most_after_resume, 4);
    assert!(standby.is_running(), "the new leader exited: {}", standby.log.display());
    report.assert_clean();
}
