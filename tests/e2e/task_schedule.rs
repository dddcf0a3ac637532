//! Issue 22 acceptance: scheduled tasks. Each test runs an operator of its own on its
//! namespace with `--schedule-time-scale 60` (the test-only knob: a schedule's minute passes
//! in a real second), so `rate(1 minute)` starts a TaskRun every second.
use std::sync::Arc;
use std::time::Duration;

use berth::api::{TaskRun, TaskSchedule};
use berth_tests::fixture::{Operator, TestNamespace, client, install_crds, plane, try_wait_for, wait_for};
use berth_tests::objects::{apply, events, manifest};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::watcher;
use serde_json::{Value, json};

const SCALE: i64 = 60;
const TIMEOUT: Duration = Duration::from_secs(60);

/// A namespace with the task definition `report` registered, and an operator of its own.
fn setup(prefix: &str) -> (TestNamespace, Operator) {
    install_crds();
    let ns = TestNamespace::create(prefix);
    let operator = Operator::start(&format!("{prefix}-1"), &["--namespace", &ns.name, "--schedule-time-scale", &SCALE.to_string()]);
    apply(&ns.name, &manifest("TaskDefinition", "report", json!({"memory": "128", "containerDefinitions": [{"name": "report", "image": "report:1"}]})));
    plane().kubectl().run(&["wait", "-n", &ns.name, "taskdefinition/report", "--for=jsonpath={.status.latestRevision}=1", "--timeout=60s"])
        .expect("the task definition registered");
    (ns, operator)
}

fn schedule(name: &str, spec: Value) -> Value {
    let mut full = json!({"target": {"ecsParameters": {"taskDefinitionArn": "report"}}});
    full.as_object_mut().unwrap().extend(spec.as_object().unwrap().clone());
    manifest("TaskSchedule", name, full)
}

fn runs_of(schedule: &str) -> watcher::Config {
    watcher::Config::default().labels(&format!("berth.dev/task-schedule={schedule}"))
}

/// The time each run was scheduled for (Unix seconds, schedule time), sorted.
fn scheduled_times(runs: &[Arc<TaskRun>]) -> Vec<i64> {
    let mut times: Vec<i64> = runs.iter()
        .map(|r| r.annotations()["berth.dev/scheduled-time"].parse::<Timestamp>().expect("an RFC 3339 time").as_second())
        .collect();
    times.sort();
    times
}

/// Waits until the schedule's Ready condition has `reason` for its current generation.
async fn wait_for_ready_reason(ns: &str, name: &str, reason: &str) -> Arc<TaskSchedule> {
    let schedules = Api::<TaskSchedule>::namespaced(client().await, ns);
    let named = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let found = wait_for(schedules, named, TIMEOUT, &format!("schedule {name} Ready with reason {reason}"), |s| {
        s.iter().any(|s| s.status.as_ref().is_some_and(|st| {
            st.observed_generation == s.metadata.generation
                && st.conditions.iter().flatten().any(|c| c.type_ == "Ready" && c.reason == reason)
        }))
    }).await;
    found[0].clone()
}

/// Asserts that no further TaskRun of `schedule` appears for `wait` (a watch that must time out).
async fn assert_no_new_runs(ns: &str, schedule: &str, count: usize, wait: Duration) {
    let runs = Api::<TaskRun>::namespaced(client().await, ns);
    let more = try_wait_for(runs, runs_of(schedule), wait, "another TaskRun", |rs| rs.len() > count).await;
    assert!(more.is_err(), "schedule {schedule} started a TaskRun after it should have stopped: {:?}", more.map(|rs| rs.iter().map(|r| r.name_any()).collect::<Vec<_>>()));
}

#[tokio::test]
async fn every_minute_on_time_across_a_sigkill_none_missed_none_doubled_then_disabled() {
    let (ns, first) = setup("sched-restart");
    apply(&ns.name, &schedule("minutely", json!({"scheduleExpression": "rate(1 minute)"})));
    let runs = Api::<TaskRun>::namespaced(client().await, &ns.name);
    wait_for(runs.clone(), runs_of("minutely"), TIMEOUT, "5 TaskRuns", |rs| rs.len() >= 5).await;
    first.kill();
    let killed_at = Timestamp::now().as_second();
    // The operator stays down for three of the schedule's minutes: nothing to wait for, as
    // nothing changes while it is gone.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _second = Operator::start("sched-restart-2", &["--namespace", &ns.name, "--schedule-time-scale", &SCALE.to_string()]);
    let restarted_at = Timestamp::now().as_second();
    let seen = wait_for(runs.clone(), runs_of("minutely"), TIMEOUT, "15 TaskRuns", |rs| rs.len() >= 15).await;

    // None missed, none doubled: the runs are for consecutive minutes from the creation.
    let schedules = Api::<TaskSchedule>::namespaced(client().await, &ns.name);
    let created = schedules.get("minutely").await.unwrap().metadata.creation_timestamp.unwrap().0.as_second();
    let times = scheduled_times(&seen);
    let expected: Vec<i64> = (0..times.len() as i64).map(|k| created + 60 * k).collect();
    assert_eq!(times, expected, "the scheduled times are not every minute from {created}");
    // On time: a run not due while the operator was down was created within 2 s of its time
    // (real time: the creation plus a sixtieth of the schedule's time since it).
    for run in &seen {
        let scheduled = run.annotations()["berth.dev/scheduled-time"].parse::<Timestamp>().unwrap().as_second();
        let due = created + (scheduled - created) / SCALE;
        let made = run.metadata.creation_timestamp.as_ref().unwrap().0.as_second();
        if due < killed_at || due > restarted_at + 5 {
            assert!((due..=due + 2).contains(&made), "{} due at {due} was created at {made}", run.name_any());
        }
    }

    // DISABLED stops it.
    apply(&ns.name, &schedule("minutely", json!({"scheduleExpression": "rate(1 minute)", "state": "DISABLED"})));
    wait_for_ready_reason(&ns.name, "minutely", "Disabled").await;
    let count = wait_for(runs.clone(), runs_of("minutely"), TIMEOUT, "the runs so far", |_| true).await.len();
    assert_no_new_runs(&ns.name, "minutely", count, Duration::from_secs(4)).await;
    let log = events(&ns.name).await;
    assert!(log.lines().any(|l| l.starts_with("Normal TargetInvoked (schedule minutely) invoked its target for")), "{log}");
}

#[tokio::test]
async fn an_end_date_ends_the_schedule() {
    let (ns, _operator) = setup("sched-end");
    // Four of the schedule's minutes from now: four seconds of real time.
    let end = Timestamp::from_second(Timestamp::now().as_second() + 4 * 60).unwrap();
    apply(&ns.name, &schedule("until", json!({"scheduleExpression": "rate(1 minute)", "endDate": end.to_string()})));
    let done = wait_for_ready_reason(&ns.name, "until", "Completed").await;
    let created = done.metadata.creation_timestamp.as_ref().unwrap().0.as_second();
    let expected: Vec<i64> = (0..).map(|k| created + 60 * k).take_while(|t| *t < end.as_second()).collect();
    let runs = Api::<TaskRun>::namespaced(client().await, &ns.name);
    let seen = wait_for(runs, runs_of("until"), TIMEOUT, "the runs before the end date", |rs| rs.len() >= expected.len()).await;
    assert_eq!(scheduled_times(&seen), expected);
    assert_no_new_runs(&ns.name, "until", expected.len(), Duration::from_secs(3)).await;
    assert!(events(&ns.name).await.contains("ScheduleCompleted (schedule until) has no more scheduled times."));
}

#[tokio::test]
async fn an_at_schedule_runs_once() {
    let (ns, _operator) = setup("sched-at");
    // Two of the schedule's minutes from now, as a civil time in Tokyo.
    let at = Timestamp::from_second(Timestamp::now().as_second() + 120).unwrap();
    let tokyo = at.in_tz("Asia/Tokyo").unwrap().datetime().strftime("%Y-%m-%dT%H:%M:%S").to_string();
    apply(&ns.name, &schedule("once", json!({"scheduleExpression": format!("at({tokyo})"), "scheduleExpressionTimezone": "Asia/Tokyo"})));
    wait_for_ready_reason(&ns.name, "once", "Completed").await;
    let runs = Api::<TaskRun>::namespaced(client().await, &ns.name);
    let seen = wait_for(runs, runs_of("once"), TIMEOUT, "the one run", |rs| !rs.is_empty()).await;
    assert_eq!(scheduled_times(&seen), [at.as_second()]);
    assert_no_new_runs(&ns.name, "once", 1, Duration::from_secs(3)).await;
}

#[tokio::test]
async fn a_malformed_expression_is_refused_at_apply_time() {
    install_crds();
    let ns = TestNamespace::create("sched-invalid");
    let bad = schedule("bad", json!({"scheduleExpression": "cron(0 10 * * * *)"}));
    let refused = plane().kubectl().run_with_input(&["apply", "--server-side", "-n", &ns.name, "-f", "-"], &bad.to_string()).expect_err("refused");
    let message = format!("{refused:#}");
    assert!(message.contains("spec.scheduleExpression") && message.contains("? in exactly one of day-of-month and day-of-week"), "{message}");
}
