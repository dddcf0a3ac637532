use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

/// 2024-01-01T00:00:00Z, when the test schedules are created.
const CREATED: i64 = 1_704_067_200;

fn schedule(spec: Value) -> TaskSchedule {
    let mut full = json!({"scheduleExpression": "rate(1 minute)", "target": {"ecsParameters": {"taskDefinitionArn": "report"}}});
    full.as_object_mut().unwrap().extend(spec.as_object().unwrap().clone());
    let mut schedule = TaskSchedule::new("nightly", serde_json::from_value(full).unwrap());
    schedule.metadata.namespace = Some("batch".into());
    schedule.metadata.generation = Some(1);
    schedule
}

struct World {
    schedule: TaskSchedule,
    runs: Vec<OwnedRun>,
    problem: Option<Problem>,
    events: Vec<Event>,
}

impl World {
    fn new(spec: Value) -> World {
        World { schedule: schedule(spec), runs: vec![], problem: None, events: vec![] }
    }

    /// One pass at `now` (seconds after CREATED): plan, create the TaskRuns (the API server
    /// refusing with `refusal`), write the status unless the operator `crashes` before.
    fn pass_with(&mut self, now: i64, refusal: Option<&str>, crashes: bool) -> (SchedulePlan, ScheduleOutcome) {
        let input = ScheduleInput {
            schedule: &self.schedule,
            runs: &self.runs,
            problem: self.problem.clone(),
            unsupported: &[],
            clock: Clock { origin_ms: CREATED * 1000, scale: 1 },
            now_ms: (CREATED + now) * 1000,
        };
        let plan = plan(&input);
        let invoked = match refusal {
            Some(error) => Invoked { started: 0, refused: Some(error.into()) },
            None => Invoked { started: plan.starts.len(), refused: None },
        };
        let outcome = plan.outcome(&input, &invoked);
        for start in &plan.starts[..invoked.started] {
            if !self.runs.iter().any(|r| r.name == start.task_run) {
                self.runs.push(OwnedRun { name: start.task_run.clone(), scheduled: start.scheduled, outcome: RunOutcome::Running });
            }
        }
        self.runs.retain(|r| !plan.trims.contains(&r.name));
        if !crashes {
            self.schedule.status = Some(outcome.status.clone());
            self.events.extend(outcome.events.clone());
        }
        (plan, outcome)
    }

    fn pass(&mut self, now: i64) -> (SchedulePlan, ScheduleOutcome) {
        self.pass_with(now, None, false)
    }

    fn edit(&mut self, change: impl FnOnce(&mut TaskSchedule)) {
        change(&mut self.schedule);
        self.schedule.metadata.generation = self.schedule.metadata.generation.map(|g| g + 1);
    }

    fn started(&self) -> Vec<i64> {
        let mut times: Vec<i64> = self.runs.iter().map(|r| r.scheduled - CREATED).collect();
        times.sort();
        times
    }

    fn condition(&self, type_: &str) -> (String, String) {
        let c = self.schedule.status.as_ref().unwrap().conditions.iter().flatten().find(|c| c.type_ == type_).unwrap();
        (c.status.clone(), c.reason.clone())
    }

    fn said(&self, reason: &str) -> Vec<String> {
        self.events.iter().filter(|e| e.reason == reason).map(|e| e.message.clone()).collect()
    }
}

#[test]
fn a_rate_schedule_starts_at_once_then_every_period() {
    let mut world = World::new(json!({}));
    let (plan, outcome) = world.pass(0);
    assert_eq!(plan.starts.iter().map(|s| s.task_run.as_str()).collect::<Vec<_>>(), [format!("nightly-{}", CREATED / 60)]);
    assert_eq!(outcome.wake_at_ms, Some((CREATED + 60) * 1000));
    assert_eq!(world.said("TargetInvoked"), [format!("(schedule nightly) invoked its target for 2024-01-01T00:00:00Z: started TaskRun nightly-{}.", CREATED / 60)]);
    let (plan, _) = world.pass(30);
    assert!(plan.starts.is_empty());
    world.pass(60);
    world.pass(179);
    assert_eq!(world.started(), [0, 60, 120]);
    let status = world.schedule.status.as_ref().unwrap();
    assert_eq!(status.last_scheduled_time, Some(conditions::time(CREATED + 120)));
    assert_eq!(status.next_scheduled_time, Some(conditions::time(CREATED + 180)));
    assert_eq!(world.condition("Ready"), ("True".into(), "Scheduled".into()));
    assert_eq!(status.last_runs.as_ref().unwrap().iter().map(|r| r.outcome).collect::<Vec<_>>(), [RunOutcome::Running; 3]);
}

#[test]
fn a_restart_between_create_and_status_neither_misses_nor_doubles() {
    let mut world = World::new(json!({}));
    world.pass(0);
    // The TaskRun for 60 s is created, then the operator dies before writing the status.
    world.pass_with(60, None, true);
    assert_eq!(world.started(), [0, 60]);
    // After the restart (down for four minutes) the run for 60 s is found, the missed ones start once.
    let (plan, _) = world.pass(300);
    assert_eq!(plan.starts.iter().map(|s| s.scheduled - CREATED).collect::<Vec<_>>(), [120, 180, 240, 300]);
    assert_eq!(world.started(), [0, 60, 120, 180, 240, 300]);
    assert_eq!(world.schedule.status.as_ref().unwrap().scheduled_through, Some(conditions::time(CREATED + 300)));
}

#[test]
fn invocations_older_than_the_maximum_event_age_are_dropped_together() {
    let mut world = World::new(json!({"target": {"ecsParameters": {"taskDefinitionArn": "report"}, "retryPolicy": {"maximumEventAgeInSeconds": 120}}}));
    world.pass(0);
    let (plan, outcome) = world.pass(600);
    // 60..=479 are older than 120 s; 480, 540 and 600 still run.
    assert_eq!(plan.starts.iter().map(|s| s.scheduled - CREATED).collect::<Vec<_>>(), [480, 540, 600]);
    let dropped = world.said("InvocationDropped");
    assert_eq!(dropped.len(), 1);
    assert!(dropped[0].contains("scheduled for 2024-01-01T00:01:00Z") && dropped[0].contains("maximumEventAgeInSeconds (120)"), "{dropped:?}");
    assert!(outcome.status.last_runs.unwrap().iter().any(|r| r.outcome == RunOutcome::Dropped));
}

#[test]
fn catching_up_is_bounded_per_pass() {
    let mut world = World::new(json!({}));
    world.pass(0);
    let (plan, outcome) = world.pass(3600);
    assert_eq!(plan.starts.len(), MAX_STARTS_PER_PASS);
    assert_eq!(outcome.wake_at_ms, Some((CREATED + 3600) * 1000));
    for _ in 0..3 {
        world.pass(3600);
    }
    assert_eq!(world.started(), (0..=60).map(|m| m * 60).collect::<Vec<_>>());
}

#[test]
fn disabled_starts_nothing_and_enabling_again_does_not_catch_up() {
    let mut world = World::new(json!({}));
    world.pass(0);
    world.edit(|s| s.spec.state = Some(EnabledState::Disabled));
    let (plan, outcome) = world.pass(90);
    assert!(plan.starts.is_empty() && outcome.wake_at_ms.is_none());
    assert_eq!(world.condition("Ready"), ("True".into(), "Disabled".into()));
    world.pass(600);
    world.edit(|s| s.spec.state = Some(EnabledState::Enabled));
    world.pass(610);
    world.pass(660);
    assert_eq!(world.started(), [0, 660]);
}

#[test]
fn an_end_date_completes_the_schedule_and_delete_removes_it() {
    let end = conditions::time(CREATED + 150).0.to_string();
    let mut world = World::new(json!({"endDate": end, "actionAfterCompletion": "DELETE"}));
    world.pass(0);
    world.pass(60);
    let (_, outcome) = world.pass(120);
    assert!(outcome.delete_schedule);
    assert_eq!(outcome.wake_at_ms, None);
    assert_eq!(world.started(), [0, 60, 120]);
    assert_eq!(world.condition("Ready"), ("True".into(), "Completed".into()));
    assert_eq!(world.said("ScheduleCompleted"), ["(schedule nightly) has no more scheduled times. Deleting it (actionAfterCompletion DELETE); its TaskRuns are kept."]);
    let (plan, _) = world.pass(1000);
    assert!(plan.starts.is_empty());
    assert!(world.said("ScheduleCompleted").len() == 1, "said once");
}

#[test]
fn an_at_schedule_runs_once() {
    // 01:00 in Paris is midnight UTC, the moment the schedule is created: due at once.
    let mut world = World::new(json!({"scheduleExpression": "at(2024-01-01T01:00:00)", "scheduleExpressionTimezone": "Europe/Paris"}));
    world.pass(0);
    world.pass(100);
    assert_eq!(world.started(), [0]);
    assert_eq!(world.condition("Ready"), ("True".into(), "Completed".into()));
    let mut later = World::new(json!({"scheduleExpression": "at(2024-01-01T02:00:00)", "scheduleExpressionTimezone": "Europe/Paris"}));
    let (_, outcome) = later.pass(100);
    assert_eq!(outcome.status.next_scheduled_time, Some(conditions::time(CREATED + 3600)));
    later.pass(3600);
    later.pass(7200);
    assert_eq!(later.started(), [3600]);
}

#[test]
fn a_target_that_cannot_start_is_retried_then_dropped_by_the_retry_policy() {
    let mut world = World::new(json!({"target": {"ecsParameters": {"taskDefinitionArn": "report"}, "retryPolicy": {"maximumRetryAttempts": 2}}}));
    world.problem = Some(Problem::new("TaskDefinitionUnavailable", "(schedule nightly) target.ecsParameters.taskDefinitionArn: report has no ACTIVE revision"));
    let (_, outcome) = world.pass(0);
    assert_eq!(outcome.wake_at_ms, Some((CREATED + 1) * 1000));
    assert_eq!(world.condition("Ready"), ("False".into(), "TaskDefinitionUnavailable".into()));
    assert_eq!(world.condition("Degraded"), ("True".into(), "TaskDefinitionUnavailable".into()));
    assert_eq!(world.said("TaskDefinitionUnavailable").len(), 1);
    world.pass(1);
    assert_eq!(world.schedule.status.as_ref().unwrap().retry.as_ref().unwrap().attempts, 2);
    world.pass(2); // the wait doubled: not yet
    world.pass(3);
    assert_eq!(world.said("InvocationFailed").len(), 2);
    let dropped = world.said("InvocationDropped");
    assert!(dropped[0].contains("failed 3 times, the retry policy's maximumRetryAttempts is 2"), "{dropped:?}");
    assert!(world.started().is_empty());
    // The task definition appears: the next time runs.
    world.problem = None;
    world.pass(60);
    assert_eq!(world.started(), [60]);
    assert_eq!(world.condition("Ready"), ("True".into(), "Scheduled".into()));
    assert!(world.schedule.status.as_ref().unwrap().retry.is_none());
}

#[test]
fn a_refused_create_is_retried_and_its_success_clears_the_retry() {
    let mut world = World::new(json!({}));
    world.pass_with(0, Some("exceeded quota: taskruns"), false);
    assert!(world.started().is_empty());
    assert_eq!(world.condition("Ready"), ("False".into(), "InvocationFailed".into()));
    assert!(world.said("InvocationFailed")[0].contains("the API server refused TaskRun nightly-"), "{:?}", world.said("InvocationFailed"));
    world.pass(1);
    assert_eq!(world.started(), [0]);
    assert!(world.schedule.status.as_ref().unwrap().retry.is_none());
    assert_eq!(world.condition("Ready"), ("True".into(), "Scheduled".into()));
}

#[test]
fn finished_task_runs_beyond_the_history_limit_are_deleted() {
    let mut world = World::new(json!({}));
    world.pass(0);
    for minute in 1..=14 {
        world.pass(minute * 60);
    }
    for run in world.runs.iter_mut().filter(|r| r.scheduled - CREATED < 13 * 60) {
        run.outcome = if run.scheduled % 120 == 0 { RunOutcome::Failed } else { RunOutcome::Succeeded };
    }
    let (plan, outcome) = world.pass(14 * 60 + 1);
    // 13 finished, the newest 10 kept; the two still running are never deleted.
    assert_eq!(plan.trims, ["nightly-28401120", "nightly-28401121", "nightly-28401122"]);
    assert_eq!(world.runs.len(), 12);
    let listed: Vec<RunOutcome> = outcome.status.last_runs.unwrap().iter().map(|r| r.outcome).collect();
    assert_eq!(listed.len(), HISTORY_LIMIT);
    assert_eq!(&listed[..3], [RunOutcome::Running, RunOutcome::Running, RunOutcome::Failed]);
}

#[test]
fn a_flexible_window_spreads_each_time_deterministically() {
    let spec = json!({"scheduleExpression": "cron(0 * * * ? *)", "flexibleTimeWindow": {"mode": "FLEXIBLE", "maximumWindowInMinutes": 15}});
    let mut world = World::new(spec.clone());
    // The first time is midnight, when the schedule was created; look from just before.
    let (_, outcome) = world.pass(-10);
    let wake = outcome.wake_at_ms.unwrap() / 1000 - CREATED;
    assert!((0..900).contains(&wake), "{wake}");
    assert_eq!(World::new(spec).pass(-10).1.wake_at_ms, outcome.wake_at_ms, "the same on another replica");
    world.pass(wake - 1);
    assert!(world.started().is_empty());
    world.pass(wake);
    assert_eq!(world.started(), [0]);
}

#[test]
fn an_invalid_spec_is_reported_naming_the_field_and_starts_nothing() {
    for (spec, reason, says) in [
        (json!({"scheduleExpression": "cron(0 0 ? * 3#1,6#3 *)"}), "InvalidScheduleExpression", "scheduleExpression: Invalid Schedule Expression cron(0 0 ? * 3#1,6#3 *): day-of-week"),
        (json!({"scheduleExpressionTimezone": "Mars/Olympus"}), "InvalidTimezone", "scheduleExpressionTimezone: Mars/Olympus"),
        (json!({"startDate": "2024-02-01T00:00:00Z", "endDate": "2024-01-01T00:00:00Z"}), "InvalidEndDate", "endDate: 2024-01-01T00:00:00Z is not after startDate"),
    ] {
        let mut world = World::new(spec);
        let (plan, outcome) = world.pass(0);
        assert!(plan.starts.is_empty() && outcome.wake_at_ms.is_none());
        assert_eq!(world.condition("Ready"), ("False".into(), reason.into()));
        assert!(world.said(reason)[0].contains(says), "{:?}", world.said(reason));
    }
}

#[test]
fn task_run_names_fit_and_differ() {
    assert_eq!(task_run_name("nightly", CREATED + 59), format!("nightly-{}", CREATED / 60));
    let long = "a-very-long-schedule-name-that-goes-on-and-on-and-on";
    let name = task_run_name(long, CREATED);
    assert!(name.len() <= 50 && name.ends_with(&format!("-{}", CREATED / 60)), "{name}");
    assert_ne!(name, task_run_name(&format!("{long}-2"), CREATED));
    assert_ne!(name, task_run_name(long, CREATED + 60));
}

proptest! {
    /// Real and scaled schedule time convert back and forth: the real time computed for a
    /// schedule second is the first at which the schedule has reached it.
    #[test]
    fn the_clock_finds_the_first_real_moment_of_a_schedule_second(origin in 0i64..2_000_000_000_000, scale in 1i64..120, offset in -1_000_000i64..100_000_000) {
        let clock = Clock { origin_ms: origin, scale };
        let second = clock.schedule_second(origin + offset) + 1;
        let real = clock.real_ms(second);
        prop_assert!(clock.schedule_second(real) >= second);
        prop_assert!(clock.schedule_second(real - 1) < second);
    }

    /// Passes at arbitrary moments, some dying between their creates and their status write,
    /// some refused by the API server: every scheduled time up to the end starts exactly one
    /// TaskRun, none before its time.
    #[test]
    fn every_time_starts_once_whatever_the_passes(steps in prop::collection::vec((1i64..400, any::<bool>(), 0u8..8), 1..40), expression in prop::sample::select(vec!["rate(1 minute)", "rate(3 minutes)", "cron(* * * * ? *)", "cron(0/2 * * * ? *)"])) {
        let mut world = World::new(json!({"scheduleExpression": expression}));
        let mut now = 0;
        for (gap, crashes, refused) in steps {
            now += gap;
            let (plan, _) = world.pass_with(now, (refused == 0).then_some("the API server is busy"), crashes);
            prop_assert!(plan.starts.iter().all(|s| s.scheduled - CREATED <= now));
        }
        // Settle: passes without failures, after any retry's wait, until nothing is left to start.
        let now = now + MAX_RETRY_WAIT;
        for _ in 0..(now / 60 / MAX_STARTS_PER_PASS as i64 + 3) {
            world.pass(now);
        }
        let times = read_schedule(&world.schedule, CREATED).unwrap();
        let expected: Vec<i64> = std::iter::successors(times.next_after(CREATED - 1), |t| times.next_after(*t))
            .take_while(|t| *t <= CREATED + now).map(|t| t - CREATED).collect();
        prop_assert_eq!(world.started(), expected);
    }
}
