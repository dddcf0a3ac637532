//! Issue 6 acceptance (HA): two operator processes share a Lease; exactly one
//! reconciles; when the leader is SIGKILLed the other takes over within the
//! lease duration, and no task is ever duplicated.
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth::runtime::leader::{LEASE_DURATION, RENEW_INTERVAL};
use berth_tests::fixture::{OPERATOR_NAMESPACE, OPERATOR_RELEASE, Operator, TestNamespace, client, http_get, install_crds, plane, unique_suffix, wait_for};
use berth_tests::objects::{apply, manifest};
use berth_tests::tasks::{named, running, tasks_of, undeleted};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use serde_json::json;

fn holder(leases: &[Arc<Lease>]) -> Option<String> {
    leases.first()?.spec.as_ref()?.holder_identity.clone()
}

/// A line of the operator's /metrics exposition, e.g. `berth_leader 1`.
fn metric(operator: &Operator, line_prefix: &str) -> Option<String> {
    let (status, body) = http_get(&operator.http_addr(), "/metrics");
    assert_eq!(status, 200);
    body.lines().find(|l| l.starts_with(line_prefix)).map(String::from)
}

#[tokio::test]
async fn the_standby_takes_over_when_the_leader_dies() {
    install_crds();
    let ns = TestNamespace::create("leader");
    apply(&ns.name, &manifest("TaskDefinition", "web", json!({"memory": "128", "containerDefinitions": [{"name": "web", "image": "web:1"}]})));
    apply(&ns.name, &manifest("Service", "web", json!({"taskDefinition": "web", "desiredCount": 10})));

    // The Lease the chart's leader-election Role allows its ServiceAccount,
    // which the operators authenticate as.
    let lease = format!("{OPERATOR_RELEASE}-leader");
    let start = |identity: &str| Operator::start_with_env(identity, &["--namespace", &ns.name], &[
        ("BERTH_LEADER_ELECTION_LEASE", lease.as_str()), ("BERTH_LEADER_ELECTION_NAMESPACE", OPERATOR_NAMESPACE), ("POD_NAME", identity),
    ]);
    let operators = [start("operator-a"), start("operator-b")];
    let leases = Api::<Lease>::namespaced(client().await, OPERATOR_NAMESPACE);
    let this_lease = named(&lease);
    let seen = wait_for(leases.clone(), this_lease.clone(), Duration::from_secs(60), "a leader", |ls| holder(ls).is_some()).await;
    let leader_name = holder(&seen).unwrap();
    let (leader, standby) = if leader_name == "operator-a" { (&operators[0], &operators[1]) } else { (&operators[1], &operators[0]) };
    let standby_name = if leader_name == "operator-a" { "operator-b" } else { "operator-a" };

    let pods = Api::<Pod>::namespaced(client().await, &ns.name);
    let tasks = tasks_of("web");
    let mut most = 0;
    wait_for(pods.clone(), tasks.clone(), Duration::from_secs(60), "10 running tasks", |ps| {
        most = most.max(undeleted(ps).len());
        running(ps).len() == 10
    })
    .await;
    // Exactly one reconciles: the leader counts reconciles, the standby none,
    // and both say which they are; both are live and ready.
    assert_eq!(metric(leader, "berth_leader ").as_deref(), Some("berth_leader 1"));
    assert_eq!(metric(standby, "berth_leader ").as_deref(), Some("berth_leader 0"));
    assert!(metric(leader, "berth_reconciles_total{controller=\"service\"}").is_some(), "the leader reconciled nothing");
    assert_eq!(metric(standby, "berth_reconciles_total"), None, "the standby reconciled");
    for operator in [leader, standby] {
        assert_eq!(http_get(&operator.http_addr(), "/readyz").0, 200, "{} not ready", operator.log.display());
    }

    leader.kill();
    let killed = Instant::now();
    wait_for(leases, this_lease, Duration::from_secs(60), "the standby holding the Lease", |ls| holder(ls).as_deref() == Some(standby_name)).await;
    let takeover = killed.elapsed();
    // The Lease was renewed at most RENEW_INTERVAL before the kill and expires
    // LEASE_DURATION after its last renewal as the standby saw it.
    assert!(takeover <= LEASE_DURATION + Duration::from_secs(1), "takeover took {takeover:?}");
    assert!(takeover >= LEASE_DURATION - RENEW_INTERVAL - Duration::from_secs(1), "took over an unexpired Lease after {takeover:?}");

    // The new leader owns the work: it scales up, from its own fresh caches,
    // without ever exceeding the desired count.
    plane().kubectl().run(&["scale", "-n", &ns.name, "ecssvc/web", "--replicas=15"]).unwrap();
    wait_for(pods.clone(), tasks.clone(), Duration::from_secs(60), "15 running tasks under the new leader", |ps| {
        most = most.max(undeleted(ps).len());
        running(ps).len() == 15
    })
    .await;
    assert_eq!(most, 15, "more than 15 tasks existed at some point");
    assert_eq!(metric(standby, "berth_leader ").as_deref(), Some("berth_leader 1"));
    eprintln!("leader {leader_name} killed; {standby_name} took over in {takeover:?}");
}

#[tokio::test]
async fn a_graceful_shutdown_hands_the_lease_over_at_once() {
    install_crds();
    let ns = TestNamespace::create("handover");
    // Its own Lease beside the other test's, so as admin.
    let lease = format!("berth-{}", unique_suffix());
    let admin = plane().kubeconfig.display().to_string();
    let start = |identity: &str| Operator::start_with_env(identity, &["--namespace", &ns.name], &[
        ("BERTH_LEADER_ELECTION_LEASE", lease.as_str()), ("BERTH_LEADER_ELECTION_NAMESPACE", ns.name.as_str()), ("POD_NAME", identity),
        ("KUBECONFIG", admin.as_str()),
    ]);
    let first = start("first");
    let leases = Api::<Lease>::namespaced(client().await, &ns.name);
    let this_lease = named(&lease);
    wait_for(leases.clone(), this_lease.clone(), Duration::from_secs(60), "first leading", |ls| holder(ls).as_deref() == Some("first")).await;
    let second = start("second");
    // The second is standing by (ready, not leading) before the first stops.
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(&second, "berth_leader ").as_deref() != Some("berth_leader 0") {
        assert!(Instant::now() < deadline, "the second operator never stood by");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    first.terminate();
    let stopped = Instant::now();
    wait_for(leases, this_lease, Duration::from_secs(30), "second leading", |ls| holder(ls).as_deref() == Some("second")).await;
    let handover = stopped.elapsed();
    assert!(handover < Duration::from_secs(5), "a released Lease took {handover:?} to be taken over");
    eprintln!("handover after SIGTERM: {handover:?}");
}
