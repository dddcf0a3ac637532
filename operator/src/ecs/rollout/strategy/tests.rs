use proptest::prelude::{prop, prop_assert, prop_assert_eq, prop_oneof, proptest};
use proptest::strategy::Strategy as Generator;

use super::*;
use crate::api::{CanaryConfiguration, DeploymentAlarms, LinearConfiguration};

const T0: u64 = 1_000_000;
const DESIRED: u32 = 4;

fn healthy(count: u32) -> DeploymentTasks {
    DeploymentTasks {
        running: count,
        pending: 0,
        healthy: count,
    }
}

fn policy(strategy: Strategy) -> DeploymentPolicy {
    DeploymentPolicy {
        strategy,
        hooks: Vec::new(),
        alarms: None,
    }
}

fn hook(target: HookTarget, stages: &[&str], timeout: u32, action: HookTimeoutAction) -> HookSpec {
    let names: Vec<String> = stages.iter().map(|s| s.to_string()).collect();
    HookSpec::new(target, &names, Some(timeout), Some(action)).unwrap()
}

fn blue_green(bake_minutes: u64) -> Strategy {
    Strategy::BlueGreen {
        bake: bake_minutes * 60,
    }
}

/// Blue and green pods as they answer the actions: scale-ins are immediate, new tasks are
/// healthy on the next call when `lag` is set (immediately otherwise).
#[derive(Clone, Debug)]
struct World {
    green: DeploymentTasks,
    blue: DeploymentTasks,
    green_target: u32,
    blue_target: u32,
    lag: bool,
}

impl World {
    fn new(lag: bool) -> Self {
        Self {
            green: healthy(0),
            blue: healthy(DESIRED),
            green_target: 0,
            blue_target: DESIRED,
            lag,
        }
    }

    fn settle(current: &mut DeploymentTasks, target: u32, lag: bool) {
        if target <= current.healthy || !lag {
            *current = healthy(target);
        } else {
            *current = DeploymentTasks {
                running: target,
                pending: 0,
                healthy: current.healthy,
            };
        }
    }

    fn apply(&mut self, actions: &[Action]) {
        for action in actions {
            match action {
                Action::ScaleGreen(n) => self.green_target = *n,
                Action::ScaleBlue(n) => self.blue_target = *n,
                _ => {}
            }
        }
        Self::settle(&mut self.green, self.green_target, self.lag);
        Self::settle(&mut self.blue, self.blue_target, self.lag);
    }

    /// Lagging tasks become healthy.
    fn tick(&mut self) {
        self.green.healthy = self.green.running;
        self.blue.healthy = self.blue.running;
    }

    fn observe(&self) -> Observation {
        Observation {
            desired: DESIRED,
            green: self.green,
            blue: self.blue,
            ..Observation::default()
        }
    }
}

/// One row of a trace: seconds since T0, stage, phase, green's production weight, green
/// and blue task counts.
type Row = (u64, Stage, Option<ShiftPhase>, f64, u32, u32);

/// Drives a deployment with all hooks succeeding; `tweak` edits each observation (by call
/// index). Calls again at the same time after any change, else at `next_check`.
fn drive(
    policy: &DeploymentPolicy,
    mut tweak: impl FnMut(usize, &DeploymentState, &mut Observation),
) -> (DeploymentState, Vec<Row>, Vec<Action>) {
    let mut world = World::new(false);
    let mut state = DeploymentState::start(T0, &[], false);
    let mut now = T0;
    let mut rows = Vec::new();
    let mut all_actions = Vec::new();
    for call in 0..500 {
        let mut observation = world.observe();
        if let Some(wait) = &state.hooks {
            observation.hook_results = policy
                .hooks_at(wait.stage)
                .filter(|(_, h)| h.target == HookTarget::Invoke)
                .map(|(hook, _)| HookResult {
                    invocation: wait.invocation,
                    hook,
                    succeeded: true,
                })
                .collect();
        }
        tweak(call, &state, &mut observation);
        let step = advance(policy, &state, &observation, now);
        world.apply(&step.actions);
        let changed = step.state != state || !step.actions.is_empty();
        if (step.state.stage, step.state.shift_phase) != (state.stage, state.shift_phase)
            || rows.is_empty()
        {
            rows.push((
                now - T0,
                step.state.stage,
                step.state.shift_phase,
                step.state.production_weight,
                world.green.running,
                world.blue.running,
            ));
        }
        all_actions.extend(step.actions);
        state = step.state;
        if state.status.is_final() {
            return (state, rows, all_actions);
        }
        if !changed {
            now = step
                .next_check
                .expect("a waiting deployment says when to look again")
                .max(now + 1);
        }
    }
    panic!("deployment did not finish: {state:?}");
}

fn all_ok(policy: &DeploymentPolicy) -> (DeploymentState, Vec<Row>, Vec<Action>) {
    drive(policy, |_, _, _| {})
}

fn weights(actions: &[Action]) -> Vec<f64> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SetProductionWeight(w) => Some(*w),
            _ => None,
        })
        .collect()
}

use ShiftPhase::{PreShift, Shift, StepBake};
use Stage::*;

// https://docs.aws.amazon.com/AmazonECS/latest/developerguide/blue-green-deployment-how-it-works.html
#[test]
fn blue_green_runs_every_stage_and_switches_production_in_one_step() {
    let (state, rows, actions) = all_ok(&policy(blue_green(5)));
    assert_eq!(
        rows,
        vec![
            (0, PreScaleUp, None, 0.0, 0, 4),
            (0, ScaleUp, None, 0.0, 4, 4),
            (0, PostScaleUp, None, 0.0, 4, 4),
            (0, TestTrafficShift, None, 0.0, 4, 4),
            (0, PostTestTrafficShift, None, 0.0, 4, 4),
            (0, ProductionTrafficShift, Some(PreShift), 0.0, 4, 4),
            (0, ProductionTrafficShift, Some(Shift), 100.0, 4, 4),
            (0, PostProductionTrafficShift, None, 100.0, 4, 4),
            (0, BakeTime, None, 100.0, 4, 4),
            (300, CleanUp, None, 100.0, 4, 0),
        ]
    );
    assert_eq!(weights(&actions), vec![100.0]);
    assert_eq!(state.status, DeploymentStatus::Successful);
    assert_eq!(state.finished_at, Some(T0 + 300));
    assert!(state.test_traffic_on_green);
    assert!(actions.contains(&Action::ShiftTestTraffic { to_green: true }));
}

// https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs_service_deployment_events.html
#[test]
fn a_successful_deployment_emits_in_progress_then_completed() {
    let (_, _, actions) = all_ok(&policy(blue_green(0)));
    let events: Vec<DeploymentEvent> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Emit { event, .. } => Some(*event),
            _ => None,
        })
        .collect();
    assert_eq!(
        events,
        vec![
            DeploymentEvent::ServiceDeploymentInProgress,
            DeploymentEvent::ServiceDeploymentCompleted
        ]
    );
}

// https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-type-linear.html:
// no step bake after the step that reaches 100 %.
#[test]
fn linear_steps_weights_with_step_bake_between_them() {
    let strategy = Strategy::Linear {
        step_percent: 200,
        step_bake: 60,
        bake: 120,
    };
    let (state, rows, actions) = all_ok(&policy(strategy));
    assert_eq!(weights(&actions), vec![20.0, 40.0, 60.0, 80.0, 100.0]);
    let shifts: Vec<(u64, f64)> = rows
        .iter()
        .filter(|r| r.2 == Some(Shift))
        .map(|r| (r.0, r.3))
        .collect();
    assert_eq!(
        shifts,
        vec![
            (0, 20.0),
            (60, 40.0),
            (120, 60.0),
            (180, 80.0),
            (240, 100.0)
        ]
    );
    let bakes = rows.iter().filter(|r| r.2 == Some(StepBake)).count();
    assert_eq!(bakes, 4);
    assert_eq!(
        rows.last().unwrap().0,
        240 + 120,
        "clean-up after the bake time"
    );
    assert_eq!(state.status, DeploymentStatus::Successful);
}

#[test]
fn linear_last_step_is_capped_at_100() {
    let strategy = Strategy::Linear {
        step_percent: 300,
        step_bake: 0,
        bake: 0,
    };
    let (_, _, actions) = all_ok(&policy(strategy));
    assert_eq!(weights(&actions), vec![30.0, 60.0, 90.0, 100.0]);
}

// https://docs.aws.amazon.com/AmazonECS/latest/developerguide/canary-deployment.html
#[test]
fn canary_shifts_canary_percent_bakes_then_shifts_the_rest() {
    let strategy = Strategy::Canary {
        canary_percent: 100,
        canary_bake: 120,
        bake: 60,
    };
    let (_, rows, actions) = all_ok(&policy(strategy));
    assert_eq!(weights(&actions), vec![10.0, 100.0]);
    let shifts: Vec<(u64, f64)> = rows
        .iter()
        .filter(|r| r.2 == Some(Shift))
        .map(|r| (r.0, r.3))
        .collect();
    assert_eq!(shifts, vec![(0, 10.0), (120, 100.0)]);
    assert_eq!(rows.last().unwrap(), &(180, CleanUp, None, 100.0, 4, 0));
}

#[test]
fn green_scales_to_desired_before_any_traffic_and_scale_up_waits_for_health() {
    let p = policy(blue_green(0));
    let mut state = DeploymentState::start(T0, &[], false);
    let world = World::new(false);
    for _ in 0..2 {
        state = advance(&p, &state, &world.observe(), T0).state;
    }
    assert_eq!(state.stage, ScaleUp);
    let mut observation = world.observe();
    observation.green = DeploymentTasks {
        running: 4,
        pending: 0,
        healthy: 3,
    };
    let waiting = advance(&p, &state, &observation, T0 + 10);
    assert_eq!(waiting.state, state);
    assert_eq!(waiting.next_check, Some(T0 + STAGE_TIMEOUT_SECONDS));
    let timed_out = advance(&p, &state, &observation, T0 + STAGE_TIMEOUT_SECONDS);
    assert_eq!(timed_out.state.status, DeploymentStatus::RollbackInProgress);
}

#[test]
fn a_deployment_started_over_several_revisions_begins_with_reconcile_service() {
    let p = DeploymentPolicy {
        hooks: vec![hook(
            HookTarget::Invoke,
            &["RECONCILE_SERVICE"],
            5,
            HookTimeoutAction::Rollback,
        )],
        ..policy(blue_green(0))
    };
    let state = DeploymentState::start(T0, &[], true);
    let step = advance(&p, &state, &World::new(false).observe(), T0);
    assert_eq!(step.state.stage, ReconcileService);
    assert!(step.actions.contains(&Action::InvokeHooks {
        stage: HookStage::ReconcileService,
        invocation: 0
    }));
}

#[test]
fn rolling_is_not_run_by_this_machine() {
    let state = DeploymentState::start(T0, &[], false);
    let step = advance(
        &policy(Strategy::Rolling),
        &state,
        &Observation::default(),
        T0,
    );
    assert_eq!(
        (step.state, step.actions, step.next_check),
        (state, vec![], None)
    );
}

// --- Configuration ---

fn config(strategy: DeploymentStrategy) -> DeploymentConfiguration {
    DeploymentConfiguration {
        deployment_circuit_breaker: None,
        maximum_percent: None,
        minimum_healthy_percent: None,
        alarms: None,
        strategy: Some(strategy),
        bake_time_in_minutes: None,
        lifecycle_hooks: None,
        linear_configuration: None,
        canary_configuration: None,
    }
}

// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_LinearConfiguration.html
// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CanaryConfiguration.html
#[test]
fn strategy_defaults_follow_ecs() {
    assert_eq!(
        Strategy::from_config(&config(DeploymentStrategy::Linear)),
        Ok(Strategy::Linear {
            step_percent: 100,
            step_bake: 360,
            bake: 0
        })
    );
    assert_eq!(
        Strategy::from_config(&config(DeploymentStrategy::Canary)),
        Ok(Strategy::Canary {
            canary_percent: 50,
            canary_bake: 600,
            bake: 0
        })
    );
    let mut blue_green = config(DeploymentStrategy::BlueGreen);
    blue_green.bake_time_in_minutes = Some(15);
    assert_eq!(
        Strategy::from_config(&blue_green),
        Ok(Strategy::BlueGreen { bake: 900 })
    );
    let mut unset = config(DeploymentStrategy::Rolling);
    unset.strategy = None;
    assert_eq!(Strategy::from_config(&unset), Ok(Strategy::Rolling));
}

// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeploymentConfiguration.html:
// bakeTimeInMinutes "You must provide this parameter when you use the BLUE_GREEN deployment strategy".
#[test]
fn out_of_range_values_name_their_field() {
    let field = |c: &DeploymentConfiguration| Strategy::from_config(c).unwrap_err().field;
    assert_eq!(
        field(&config(DeploymentStrategy::BlueGreen)),
        "bakeTimeInMinutes"
    );
    for (percent, bake) in [(2.9, 6), (100.1, 6), (10.05, 6), (10.0, -1), (10.0, 1441)] {
        let mut c = config(DeploymentStrategy::Linear);
        c.linear_configuration = Some(LinearConfiguration {
            step_percent: Some(percent),
            step_bake_time_in_minutes: Some(bake),
        });
        let expected = if bake == 6 {
            "linearConfiguration.stepPercent"
        } else {
            "linearConfiguration.stepBakeTimeInMinutes"
        };
        assert_eq!(field(&c), expected, "{percent} {bake}");
    }
    for percent in [0.0, 0.05, 100.5] {
        let mut c = config(DeploymentStrategy::Canary);
        c.canary_configuration = Some(CanaryConfiguration {
            canary_percent: Some(percent),
            canary_bake_time_in_minutes: None,
        });
        assert_eq!(field(&c), "canaryConfiguration.canaryPercent", "{percent}");
    }
    let mut c = config(DeploymentStrategy::Canary);
    c.bake_time_in_minutes = Some(1441);
    assert_eq!(field(&c), "bakeTimeInMinutes");
}

#[test]
fn range_ends_are_accepted() {
    let mut c = config(DeploymentStrategy::Linear);
    c.linear_configuration = Some(LinearConfiguration {
        step_percent: Some(3.0),
        step_bake_time_in_minutes: Some(1440),
    });
    assert!(Strategy::from_config(&c).is_ok());
    let mut c = config(DeploymentStrategy::Canary);
    c.canary_configuration = Some(CanaryConfiguration {
        canary_percent: Some(0.1),
        canary_bake_time_in_minutes: Some(0),
    });
    c.bake_time_in_minutes = Some(0);
    assert_eq!(
        Strategy::from_config(&c),
        Ok(Strategy::Canary {
            canary_percent: 1,
            canary_bake: 0,
            bake: 0
        })
    );
}

// https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-lifecycle-hooks.html
#[test]
fn hook_specs_follow_ecs_rules() {
    let names = |s: &[&str]| s.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let spec = HookSpec::new(HookTarget::Invoke, &names(&["PRE_SCALE_UP"]), None, None).unwrap();
    assert_eq!(
        (spec.timeout_minutes, spec.timeout_action),
        (1440, HookTimeoutAction::Rollback)
    );
    for stage in ["TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT"] {
        let err = HookSpec::new(HookTarget::Pause, &names(&[stage]), None, None).unwrap_err();
        assert_eq!(err.field, "lifecycleHooks.lifecycleStages");
    }
    assert!(
        HookSpec::new(
            HookTarget::Pause,
            &names(&["PRE_PRODUCTION_TRAFFIC_SHIFT"]),
            None,
            None
        )
        .is_ok()
    );
    for stage in ["SCALE_UP", "BAKE_TIME", "CLEAN_UP", "pre_scale_up"] {
        assert!(
            HookSpec::new(HookTarget::Invoke, &names(&[stage]), None, None).is_err(),
            "{stage}"
        );
    }
    for timeout in [0, 20161] {
        let err = HookSpec::new(
            HookTarget::Invoke,
            &names(&["POST_SCALE_UP"]),
            Some(timeout),
            None,
        )
        .unwrap_err();
        assert_eq!(
            err.field,
            "lifecycleHooks.timeoutConfiguration.timeoutInMinutes"
        );
    }
}

#[test]
fn alarms_are_read_only_when_enabled() {
    let mut c = config(DeploymentStrategy::Canary);
    c.alarms = Some(DeploymentAlarms {
        alarm_names: Some(vec!["errors".into()]),
        rollback: true,
        enable: false,
    });
    assert_eq!(
        DeploymentPolicy::from_config(&c, vec![]).unwrap().alarms,
        None
    );
    c.alarms.as_mut().unwrap().enable = true;
    assert_eq!(
        DeploymentPolicy::from_config(&c, vec![]).unwrap().alarms,
        Some(AlarmPolicy {
            names: vec!["errors".into()],
            rollback: true
        })
    );
}

#[test]
fn stages_serialize_with_ecs_names() {
    let stages = [
        (ReconcileService, "RECONCILE_SERVICE"),
        (PreScaleUp, "PRE_SCALE_UP"),
        (ScaleUp, "SCALE_UP"),
        (PostScaleUp, "POST_SCALE_UP"),
        (TestTrafficShift, "TEST_TRAFFIC_SHIFT"),
        (PostTestTrafficShift, "POST_TEST_TRAFFIC_SHIFT"),
        (ProductionTrafficShift, "PRODUCTION_TRAFFIC_SHIFT"),
        (PostProductionTrafficShift, "POST_PRODUCTION_TRAFFIC_SHIFT"),
        (BakeTime, "BAKE_TIME"),
        (CleanUp, "CLEAN_UP"),
    ];
    for (stage, name) in stages {
        assert_eq!(
            serde_json::to_value(stage).unwrap(),
            serde_json::json!(name)
        );
    }
    assert_eq!(
        serde_json::to_value(DeploymentStatus::RollbackSuccessful).unwrap(),
        serde_json::json!("ROLLBACK_SUCCESSFUL")
    );
    assert_eq!(
        serde_json::to_value(DeploymentEvent::ServiceDeploymentInProgress).unwrap(),
        serde_json::json!("SERVICE_DEPLOYMENT_IN_PROGRESS")
    );
}

#[test]
fn state_round_trips_through_json() {
    let (state, _, _) = drive(&policy(blue_green(0)), |call, _, o| {
        o.stop_requested = call == 6
    });
    let json = serde_json::to_value(&state).unwrap();
    assert_eq!(json["status"], "ROLLBACK_SUCCESSFUL");
    assert_eq!(
        json["rollback"]["reason"],
        "StopServiceDeployment(ROLLBACK) requested"
    );
    assert_eq!(
        serde_json::from_value::<DeploymentState>(json).unwrap(),
        state
    );
}

// --- Hooks ---

/// Advances from the start until the deployment waits on hooks at `stage`.
fn until_hooks(p: &DeploymentPolicy, stage: HookStage) -> (DeploymentState, u64) {
    let mut world = World::new(false);
    let mut state = DeploymentState::start(T0, &[], false);
    for _ in 0..50 {
        if state.hooks.as_ref().is_some_and(|w| w.stage == stage) {
            return (state, T0);
        }
        let step = advance(p, &state, &world.observe(), T0);
        world.apply(&step.actions);
        state = step.state;
    }
    panic!("never reached hooks at {stage:?}: {state:?}");
}

fn all_stages_observation() -> Observation {
    Observation {
        desired: DESIRED,
        green: healthy(DESIRED),
        blue: healthy(DESIRED),
        ..Observation::default()
    }
}

fn result(state: &DeploymentState, hook: usize, succeeded: bool) -> HookResult {
    HookResult {
        invocation: state.hooks.as_ref().unwrap().invocation,
        hook,
        succeeded,
    }
}

const HOOK_STAGES: [&str; 7] = [
    "PRE_SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRE_PRODUCTION_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
];

fn hook_stage(name: &str) -> HookStage {
    serde_json::from_value(serde_json::json!(name)).unwrap()
}

#[test]
fn invoked_hooks_hold_the_stage_until_they_answer_at_every_hook_stage() {
    for name in HOOK_STAGES {
        let p = DeploymentPolicy {
            hooks: vec![hook(
                HookTarget::Invoke,
                &[name],
                10,
                HookTimeoutAction::Rollback,
            )],
            ..policy(blue_green(0))
        };
        let (state, now) = until_hooks(&p, hook_stage(name));
        let mut observation = all_stages_observation();
        let waiting = advance(&p, &state, &observation, now + 30);
        assert_eq!(waiting.state, state, "{name}");
        assert_eq!(
            waiting.next_check,
            Some(now + 600),
            "{name}: wakes at the hook timeout"
        );

        observation.hook_results = vec![result(&state, 0, true)];
        let passed = advance(&p, &state, &observation, now + 30);
        assert_eq!(passed.state.hooks, None, "{name}");
        assert_ne!(
            (passed.state.stage, passed.state.shift_phase),
            (state.stage, state.shift_phase),
            "{name}"
        );

        observation.hook_results = vec![result(&state, 0, false)];
        let failed = advance(&p, &state, &observation, now + 30);
        assert_eq!(
            failed.state.status,
            DeploymentStatus::RollbackInProgress,
            "{name}"
        );
        assert_eq!(failed.state.production_weight, 0.0, "{name}");
    }
}

#[test]
fn answers_from_another_invocation_are_ignored() {
    let p = DeploymentPolicy {
        hooks: vec![hook(
            HookTarget::Invoke,
            &["POST_SCALE_UP"],
            10,
            HookTimeoutAction::Rollback,
        )],
        ..policy(blue_green(0))
    };
    let (state, now) = until_hooks(&p, HookStage::PostScaleUp);
    let mut observation = all_stages_observation();
    let mut stale = result(&state, 0, false);
    stale.invocation += 7;
    observation.hook_results = vec![stale];
    assert_eq!(advance(&p, &state, &observation, now).state, state);
}

// https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-lifecycle-hooks.html
#[test]
fn hook_timeout_applies_its_action() {
    for (action, expected) in [
        (
            HookTimeoutAction::Rollback,
            DeploymentStatus::RollbackInProgress,
        ),
        (HookTimeoutAction::Continue, DeploymentStatus::InProgress),
    ] {
        let p = DeploymentPolicy {
            hooks: vec![hook(HookTarget::Invoke, &["POST_SCALE_UP"], 10, action)],
            ..policy(blue_green(0))
        };
        let (state, now) = until_hooks(&p, HookStage::PostScaleUp);
        let before = advance(&p, &state, &all_stages_observation(), now + 599);
        assert_eq!(before.state, state);
        let due = advance(&p, &state, &all_stages_observation(), now + 600);
        assert_eq!(due.state.status, expected, "{action:?}");
        if action == HookTimeoutAction::Continue {
            assert_eq!(due.state.stage, TestTrafficShift);
        }
    }
}

// "All hooks at one stage run in parallel, and any rollback wins" (ecs-2025 §2.4).
#[test]
fn any_failing_hook_of_a_stage_rolls_back() {
    let p = DeploymentPolicy {
        hooks: vec![
            hook(
                HookTarget::Invoke,
                &["POST_SCALE_UP"],
                10,
                HookTimeoutAction::Rollback,
            ),
            hook(
                HookTarget::Invoke,
                &["POST_SCALE_UP"],
                10,
                HookTimeoutAction::Rollback,
            ),
            hook(
                HookTarget::Pause,
                &["POST_SCALE_UP"],
                10,
                HookTimeoutAction::Rollback,
            ),
        ],
        ..policy(blue_green(0))
    };
    let (state, now) = until_hooks(&p, HookStage::PostScaleUp);
    let mut observation = all_stages_observation();
    observation.hook_results = vec![result(&state, 0, true)];
    assert_eq!(
        advance(&p, &state, &observation, now).state.hooks,
        state.hooks
    );
    observation.hook_results.push(result(&state, 1, false));
    let step = advance(&p, &state, &observation, now);
    assert_eq!(step.state.status, DeploymentStatus::RollbackInProgress);
    assert!(
        step.state
            .rollback
            .unwrap()
            .reason
            .ends_with("hook 1 at POST_SCALE_UP returned FAILED")
    );
}

// https://docs.aws.amazon.com/AmazonECS/latest/developerguide/pause-lifecycle-hooks.html
#[test]
fn pause_hooks_wait_for_continue() {
    for name in [
        "PRE_SCALE_UP",
        "POST_SCALE_UP",
        "POST_TEST_TRAFFIC_SHIFT",
        "PRE_PRODUCTION_TRAFFIC_SHIFT",
        "POST_PRODUCTION_TRAFFIC_SHIFT",
    ] {
        let p = DeploymentPolicy {
            hooks: vec![hook(
                HookTarget::Pause,
                &[name],
                60,
                HookTimeoutAction::Rollback,
            )],
            ..policy(blue_green(0))
        };
        let (state, now) = until_hooks(&p, hook_stage(name));
        let mut observation = all_stages_observation();
        let paused = advance(&p, &state, &observation, now + 3599);
        assert_eq!(paused.state, state, "{name}");
        assert_eq!(paused.next_check, Some(now + 3600));

        observation.continue_request = Some(HookTimeoutAction::Continue);
        let continued = advance(&p, &state, &observation, now + 10);
        assert_eq!(continued.state.hooks, None, "{name}");
        assert_eq!(continued.state.status, DeploymentStatus::InProgress);

        observation.continue_request = Some(HookTimeoutAction::Rollback);
        let rolled_back = advance(&p, &state, &observation, now + 10);
        assert_eq!(
            rolled_back.state.rollback.unwrap().reason,
            format!("lifecycle hook 0 at {name} was continued with ROLLBACK")
        );

        let expired = advance(&p, &state, &all_stages_observation(), now + 3600);
        assert_eq!(
            expired.state.rollback.unwrap().reason,
            format!("lifecycle hook 0 at {name} timed out")
        );
    }
}

// ContinueServiceDeployment is "allowed only while the hook is AWAITING_ACTION":
// https://docs.aws.amazon.com/AmazonECS/latest/developerguide/continue-service-deployment.html
#[test]
fn a_continue_without_an_awaiting_pause_hook_is_not_kept() {
    let p = DeploymentPolicy {
        hooks: vec![hook(
            HookTarget::Invoke,
            &["POST_SCALE_UP"],
            60,
            HookTimeoutAction::Rollback,
        )],
        ..policy(blue_green(0))
    };
    let (state, now) = until_hooks(&p, HookStage::PostScaleUp);
    let mut observation = all_stages_observation();
    observation.continue_request = Some(HookTimeoutAction::Rollback);
    assert_eq!(advance(&p, &state, &observation, now).state, state);
}

#[test]
fn a_continue_is_remembered_while_other_hooks_of_the_stage_run() {
    let p = DeploymentPolicy {
        hooks: vec![
            hook(
                HookTarget::Pause,
                &["POST_SCALE_UP"],
                60,
                HookTimeoutAction::Rollback,
            ),
            hook(
                HookTarget::Invoke,
                &["POST_SCALE_UP"],
                60,
                HookTimeoutAction::Rollback,
            ),
        ],
        ..policy(blue_green(0))
    };
    let (state, now) = until_hooks(&p, HookStage::PostScaleUp);
    let mut observation = all_stages_observation();
    observation.continue_request = Some(HookTimeoutAction::Continue);
    let remembered = advance(&p, &state, &observation, now).state;
    assert_eq!(
        remembered.hooks.as_ref().unwrap().continued,
        Some(HookTimeoutAction::Continue)
    );
    let mut observation = all_stages_observation();
    observation.hook_results = vec![result(&remembered, 1, true)];
    assert_eq!(
        advance(&p, &remembered, &observation, now + 5).state.stage,
        TestTrafficShift
    );
}

// For LINEAR/CANARY a PRE_PRODUCTION pause fires at every step with a new hookId (ecs-2025 §2.4).
#[test]
fn pre_production_hooks_run_before_every_linear_step_with_a_new_invocation() {
    let p = DeploymentPolicy {
        hooks: vec![hook(
            HookTarget::Pause,
            &["PRE_PRODUCTION_TRAFFIC_SHIFT"],
            60,
            HookTimeoutAction::Rollback,
        )],
        ..policy(Strategy::Linear {
            step_percent: 500,
            step_bake: 0,
            bake: 0,
        })
    };
    let (state, _, actions) = drive(&p, |_, state, o| {
        if state.hooks.is_some() {
            o.continue_request = Some(HookTimeoutAction::Continue);
        }
    });
    let invocations: Vec<u32> = actions
        .iter()
        .filter_map(|a| match a {
            Action::InvokeHooks {
                stage: HookStage::PreProductionTrafficShift,
                invocation,
            } => Some(*invocation),
            _ => None,
        })
        .collect();
    assert_eq!(invocations, vec![0, 1]);
    assert_eq!(state.status, DeploymentStatus::Successful);
}

// --- Alarms ---

fn with_alarms(rollback: bool) -> DeploymentPolicy {
    DeploymentPolicy {
        alarms: Some(AlarmPolicy {
            names: vec!["errors".into(), "latency".into()],
            rollback,
        }),
        ..policy(Strategy::Canary {
            canary_percent: 100,
            canary_bake: 60,
            bake: 600,
        })
    }
}

fn fire_in(
    stage: Stage,
    alarm: &'static str,
) -> impl FnMut(usize, &DeploymentState, &mut Observation) {
    move |_, state, o| {
        if state.stage == stage {
            o.firing_alarms = vec![alarm.into()];
        }
    }
}

// https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-alarm-failure.html
#[test]
fn an_alarm_during_bake_rolls_back_production_in_one_step() {
    let (state, rows, actions) = drive(&with_alarms(true), fire_in(BakeTime, "latency"));
    assert_eq!(state.status, DeploymentStatus::RollbackSuccessful);
    assert_eq!(state.triggered_alarms, vec!["latency".to_string()]);
    assert_eq!(weights(&actions), vec![10.0, 100.0, 0.0]);
    assert_eq!(
        rows.last().unwrap(),
        &(60, BakeTime, None, 100.0, DESIRED, DESIRED),
        "blue kept through the bake"
    );
    assert!(actions.contains(&Action::ScaleGreen(0)));
    assert!(!actions.contains(&Action::ScaleBlue(0)));
    let events: Vec<DeploymentEvent> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Emit { event, .. } => Some(*event),
            _ => None,
        })
        .collect();
    assert_eq!(
        events,
        vec![
            DeploymentEvent::ServiceDeploymentInProgress,
            DeploymentEvent::ServiceDeploymentFailed,
            DeploymentEvent::ServiceDeploymentInProgress,
            DeploymentEvent::ServiceDeploymentCompleted,
        ]
    );
}

#[test]
fn an_alarm_without_rollback_fails_and_leaves_traffic_alone() {
    let (state, _, actions) = drive(&with_alarms(false), |_, state, o| {
        if state.production_weight == 10.0 {
            o.firing_alarms = vec!["errors".into()];
        }
    });
    assert_eq!(state.status, DeploymentStatus::Failed);
    assert_eq!(state.rollback, None);
    assert_eq!(state.production_weight, 10.0);
    assert_eq!(weights(&actions), vec![10.0]);
}

// "An alarm already in ALARM when the deployment starts is ignored for that deployment."
#[test]
fn alarms_firing_at_the_start_and_unlisted_alarms_are_ignored() {
    let p = with_alarms(true);
    let firing = vec!["errors".to_string(), "cpu".to_string()];
    let mut world = World::new(false);
    let mut state = DeploymentState::start(T0, &firing, false);
    let mut now = T0;
    for _ in 0..100 {
        let mut observation = world.observe();
        observation.firing_alarms = firing.clone();
        let step = advance(&p, &state, &observation, now);
        world.apply(&step.actions);
        if step.state == state && step.actions.is_empty() {
            now = step.next_check.unwrap().max(now + 1);
        }
        state = step.state;
        if state.status.is_final() {
            break;
        }
    }
    assert_eq!(state.status, DeploymentStatus::Successful);
    let (failed, _, _) = drive(&p, fire_in(BakeTime, "errors"));
    assert_eq!(failed.status, DeploymentStatus::RollbackSuccessful);
}

#[test]
fn alarms_are_ignored_when_not_configured() {
    let (state, _, _) = drive(&policy(blue_green(1)), fire_in(BakeTime, "errors"));
    assert_eq!(state.status, DeploymentStatus::Successful);
}

// --- Stop ---

// https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stop-service-deployment.html:
// ROLLBACK goes back to the previous revision even without rollback configured.
#[test]
fn stop_rolls_back_from_every_stage_and_phase() {
    let p = DeploymentPolicy {
        hooks: vec![hook(
            HookTarget::Invoke,
            &HOOK_STAGES,
            10,
            HookTimeoutAction::Rollback,
        )],
        ..policy(Strategy::Linear {
            step_percent: 500,
            step_bake: 60,
            bake: 60,
        })
    };
    let (_, rows, _) = all_ok(&p);
    let positions: Vec<(Stage, Option<ShiftPhase>)> = rows.iter().map(|r| (r.1, r.2)).collect();
    assert!(positions.len() >= 12, "{positions:?}");
    for (stage, phase) in positions {
        let (state, _, actions) = drive(&p, |_, state, o| {
            o.stop_requested = (state.stage, state.shift_phase) == (stage, phase)
                && state.status == DeploymentStatus::InProgress;
        });
        assert_eq!(
            state.status,
            DeploymentStatus::RollbackSuccessful,
            "{stage:?} {phase:?}"
        );
        assert_eq!(state.production_weight, 0.0);
        assert!(!state.test_traffic_on_green);
        assert_eq!(
            actions.last(),
            Some(&Action::Emit {
                event: DeploymentEvent::ServiceDeploymentCompleted,
                reason: "rollback completed".into()
            })
        );
    }
}

#[test]
fn a_stop_during_clean_up_keeps_green_serving_until_blue_is_back() {
    let p = policy(blue_green(0));
    let mut world = World::new(true);
    let mut state = DeploymentState::start(T0, &[], false);
    while state.stage != CleanUp {
        let step = advance(&p, &state, &world.observe(), T0);
        world.apply(&step.actions);
        world.tick();
        state = step.state;
    }
    let mut observation = world.observe();
    observation.blue = healthy(1);
    observation.stop_requested = true;
    let step = advance(&p, &state, &observation, T0);
    assert_eq!(step.state.production_weight, 100.0);
    assert_eq!(step.actions.last(), Some(&Action::ScaleBlue(DESIRED)));
    observation.blue = healthy(DESIRED);
    observation.stop_requested = false;
    let restored = advance(&p, &step.state, &observation, T0 + 30);
    assert_eq!(
        restored.actions,
        vec![
            Action::SetProductionWeight(0.0),
            Action::ShiftTestTraffic { to_green: false },
            Action::ScaleGreen(0)
        ]
    );
}

#[test]
fn a_rollback_whose_blue_never_returns_fails_with_green_still_serving() {
    let p = policy(blue_green(0));
    let mut state = DeploymentState::start(T0, &[], false);
    let mut world = World::new(false);
    while state.stage != CleanUp {
        let step = advance(&p, &state, &world.observe(), T0);
        world.apply(&step.actions);
        state = step.state;
    }
    let mut observation = world.observe();
    observation.stop_requested = true;
    let stopped = advance(&p, &state, &observation, T0);
    assert_eq!(stopped.next_check, Some(T0 + STAGE_TIMEOUT_SECONDS));
    observation.stop_requested = false;
    observation.blue = DeploymentTasks {
        running: DESIRED,
        pending: 0,
        healthy: 0,
    };
    let still_waiting = advance(
        &p,
        &stopped.state,
        &observation,
        T0 + STAGE_TIMEOUT_SECONDS - 1,
    );
    assert_eq!(still_waiting.state, stopped.state);
    let failed = advance(&p, &stopped.state, &observation, T0 + STAGE_TIMEOUT_SECONDS);
    assert_eq!(failed.state.status, DeploymentStatus::RollbackFailed);
    assert_eq!(failed.state.production_weight, 100.0);
    assert!(matches!(
        failed.actions.as_slice(),
        [Action::Emit {
            event: DeploymentEvent::ServiceDeploymentFailed,
            ..
        }]
    ));
}

#[test]
fn a_finished_deployment_ignores_further_requests() {
    let (state, _, _) = all_ok(&policy(blue_green(0)));
    let mut observation = all_stages_observation();
    observation.stop_requested = true;
    observation.firing_alarms = vec!["errors".into()];
    let step = advance(&policy(blue_green(0)), &state, &observation, T0 + 10_000);
    assert_eq!((step.state, step.actions), (state, vec![]));
}

// --- Properties ---

fn any_strategy() -> impl Generator<Value = Strategy> {
    prop_oneof![
        (0u64..=3).prop_map(|m| Strategy::BlueGreen { bake: m * 60 }),
        (30u32..=1000, 0u64..=3, 0u64..=3).prop_map(|(step_percent, s, b)| Strategy::Linear {
            step_percent,
            step_bake: s * 60,
            bake: b * 60
        }),
        (1u32..=1000, 0u64..=3, 0u64..=3).prop_map(|(canary_percent, s, b)| Strategy::Canary {
            canary_percent,
            canary_bake: s * 60,
            bake: b * 60
        }),
    ]
}

/// Runs with lagging task health; `stop_at` / `alarm_at` inject a stop or an alarm at that
/// call. Checks every invariant on the way and returns the final state.
fn simulate(
    strategy: Strategy,
    stop_at: Option<usize>,
    alarm_at: Option<usize>,
) -> DeploymentState {
    let p = DeploymentPolicy {
        hooks: vec![
            hook(
                HookTarget::Invoke,
                &HOOK_STAGES,
                10,
                HookTimeoutAction::Rollback,
            ),
            hook(
                HookTarget::Pause,
                &["POST_SCALE_UP", "PRE_PRODUCTION_TRAFFIC_SHIFT"],
                10,
                HookTimeoutAction::Rollback,
            ),
        ],
        alarms: Some(AlarmPolicy {
            names: vec!["errors".into()],
            rollback: true,
        }),
        strategy,
    };
    let mut world = World::new(true);
    let mut state = DeploymentState::start(T0, &[], false);
    let mut now = T0;
    let mut highest_weight = 0.0;
    for call in 0..2000 {
        let mut observation = world.observe();
        if let Some(wait) = &state.hooks {
            observation.hook_results = (0..p.hooks.len())
                .map(|hook| HookResult {
                    invocation: wait.invocation,
                    hook,
                    succeeded: true,
                })
                .collect();
            observation.continue_request = Some(HookTimeoutAction::Continue);
        }
        observation.stop_requested = stop_at == Some(call);
        if alarm_at.is_some_and(|at| call >= at) {
            observation.firing_alarms = vec!["errors".into()];
        }
        let step = advance(&p, &state, &observation, now);
        world.apply(&step.actions);

        let weight = step.state.production_weight;
        assert!((0.0..=100.0).contains(&weight), "weight {weight}");
        if step.state.rollback.is_none() {
            assert!(
                weight >= highest_weight,
                "weight fell from {highest_weight} to {weight}"
            );
            highest_weight = weight;
        }
        // Production always has ready targets: blue's share needs healthy blue tasks,
        // green's share healthy green ones.
        if weight < 100.0 {
            assert!(
                world.blue.healthy > 0,
                "blue serves {} % with no healthy task",
                100.0 - weight
            );
        }
        if weight > 0.0 {
            assert!(
                world.green.healthy > 0,
                "green serves {weight} % with no healthy task"
            );
        }

        let changed = step.state != state || !step.actions.is_empty();
        state = step.state;
        if state.status.is_final() {
            let (green, blue) = match state.status {
                DeploymentStatus::Successful => (DESIRED, 0),
                _ => (0, DESIRED),
            };
            assert_eq!((world.green_target, world.blue_target), (green, blue));
            return state;
        }
        world.tick();
        if !changed {
            now = step
                .next_check
                .expect("waiting without a next check")
                .max(now + 1);
        }
    }
    panic!("no final state within 2000 advances: {state:?}");
}

proptest! {
    #[test]
    fn healthy_deployments_succeed_with_monotonic_weights(strategy in any_strategy()) {
        let state = simulate(strategy, None, None);
        prop_assert_eq!(state.status, DeploymentStatus::Successful);
        prop_assert_eq!(state.production_weight, 100.0);
    }

    #[test]
    fn a_stop_or_an_alarm_anywhere_ends_with_blue_serving_everything(
        strategy in any_strategy(),
        stop_at in prop::option::of(0usize..60),
        alarm_at in prop::option::of(0usize..60),
    ) {
        let state = simulate(strategy, stop_at, alarm_at);
        if state.rollback.is_some() {
            prop_assert_eq!(state.status, DeploymentStatus::RollbackSuccessful);
            prop_assert_eq!(state.production_weight, 0.0);
            prop_assert!(!state.test_traffic_on_green);
        } else {
            prop_assert_eq!(state.status, DeploymentStatus::Successful);
        }
    }
}
