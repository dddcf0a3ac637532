//! Bounded work (issue 14): a large Service is reached in bounded batches of
//! starts while a small Service in the same operator scales within seconds,
//! and the operator's memory stays within the chart's limit. The suite runs
//! 300 tasks with batches of 50; `BERTH_SCALE_TASKS` and
//! `BERTH_SCALE_BATCH` run it larger (e.g. 20000 and 500, with nodes to match).
use std::time::{Duration, Instant};

use berth_tests::chaos::setting;
use berth_tests::fixture::{Operator, TestNamespace, client, wait_for};
use berth_tests::objects::{apply, manifest};
use berth_tests::pools::Pool;
use berth_tests::tasks::{is_running, tasks_of};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::Api;
use serde_json::json;

/// The chart's memory limit for the operator (charts/berth/values.yaml).
const CHART_MEMORY_LIMIT_MIB: u64 = 512;

fn resident_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the operator's /proc status");
    let kib: u64 = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse().ok()).expect("VmRSS");
    kib / 1024
}

#[tokio::test]
async fn a_large_service_is_reached_in_bounded_batches_while_a_small_one_scales_at_once() {
    let (tasks, batch) = (setting("BERTH_SCALE_TASKS", 300), setting("BERTH_SCALE_BATCH", 50));
    let ns = TestNamespace::create("scale");
    let operator = Operator::start("scale", &["--namespace", &ns.name, "--max-starts-per-pass", &batch.to_string()]);
    // Room for every task on nodes of its own, so no other test's tasks are crowded out.
    let pool = Pool::create(&format!("scale-{}", &ns.name[ns.name.len() - 6..]), "EC2", tasks.div_ceil(100), "64");
    apply(&ns.name, &manifest("TaskDefinition", "app", json!({"memory": "128", "containerDefinitions": [{"name": "app", "image": "nginx"}]})));
    let started = Instant::now();
    apply(&ns.name, &manifest("Service", "big", json!({"taskDefinition": "app", "desiredCount": tasks,
        "capacityProviderStrategy": [{"capacityProvider": pool.provider, "weight": 1}]})));
    apply(&ns.name, &manifest("Service", "small", json!({"taskDefinition": "app", "desiredCount": 3})));

    let pods: Api<Pod> = Api::namespaced(client().await, &ns.name);
    let running = |n: usize| move |ps: &[std::sync::Arc<Pod>]| ps.iter().filter(|p| is_running(p)).count() == n;
    wait_for(pods.clone(), tasks_of("small"), Duration::from_secs(60), "3 running tasks of the small service", running(3)).await;
    let mut peak_mib = resident_mib(operator.pid);
    // At least 10 tasks a second, whatever the scale: the API server, kube-scheduler and kwok set the pace.
    let all_within = Duration::from_secs((tasks as u64 / 10).max(600));
    // A quarter of the way, the small service scales: the big one's backlog must not hold it up.
    wait_for(pods.clone(), tasks_of("big"), all_within, "a quarter of the big service's tasks", |ps| ps.len() >= tasks / 4).await;
    // Berth creates its tasks within seconds; they run once kube-scheduler's queue,
    // first in first out behind the big service's pending pods, reaches them.
    let scaled = Instant::now();
    apply(&ns.name, &manifest("Service", "small", json!({"taskDefinition": "app", "desiredCount": 6})));
    wait_for(pods.clone(), tasks_of("small"), Duration::from_secs(30), "6 tasks of the small service", |ps| ps.len() == 6).await;
    let small_created = scaled.elapsed();
    let big_then = wait_for(pods.clone(), tasks_of("big"), Duration::from_secs(120), "the big service's tasks", |_| true).await.len();
    eprintln!("the small service scaled 3 -> 6: its tasks created in {small_created:?} (the big one had {big_then} tasks then)");
    wait_for(pods.clone(), tasks_of("small"), all_within, "6 running tasks of the small service", running(6)).await;
    eprintln!("the small service's 6 tasks running {:?} after the scale", scaled.elapsed());
    // Berth's part: every task created, in bounded passes; then kube-scheduler's and kwok's: every task running.
    let created = wait_for(pods.clone(), tasks_of("big"), all_within, "every task of the big service created", |ps| {
        peak_mib = peak_mib.max(resident_mib(operator.pid));
        ps.len() == tasks
    }).await;
    eprintln!("big: {tasks} tasks created after {:?} ({} running then); operator peak {peak_mib} MiB so far", started.elapsed(), created.iter().filter(|p| is_running(p)).count());
    wait_for(pods.clone(), tasks_of("big"), all_within, "every task of the big service running", |ps| {
        peak_mib = peak_mib.max(resident_mib(operator.pid));
        running(tasks)(ps)
    }).await;
    eprintln!("big: {tasks} tasks running after {:?}; operator peak {peak_mib} MiB", started.elapsed());

    // Every pass started at most a batch. Each pass that starts tasks publishes
    // one TasksStarted event; the recorder folds repeats into one event's series,
    // whose count is the number of passes and whose note is the first pass's.
    let events: Api<Event> = Api::namespaced(client().await, &ns.name);
    let started: Vec<Event> = events.list(&Default::default()).await.unwrap().items.into_iter()
        .filter(|e| e.reason.as_deref() == Some("TasksStarted") && e.involved_object.name.as_deref() == Some("big"))
        .collect();
    let first: Vec<usize> = started.iter()
        .filter_map(|e| e.message.as_deref()?.strip_prefix("(service big) has started ")?.split(' ').next()?.parse().ok())
        .collect();
    let passes: i32 = started.iter().map(|e| e.series.as_ref().and_then(|s| s.count).unwrap_or(0).max(e.count.unwrap_or(1))).sum();
    eprintln!("{passes} passes started tasks of the big service; the first started {first:?}");
    assert!(!first.is_empty() && first.iter().all(|n| *n <= batch), "a pass started more than {batch}: {first:?}");
    assert!(passes as usize >= tasks / batch, "{passes} passes started {tasks} tasks in batches of at most {batch}");
    assert!(peak_mib < CHART_MEMORY_LIMIT_MIB, "the operator used {peak_mib} MiB, above the chart's {CHART_MEMORY_LIMIT_MIB} MiB");
}
