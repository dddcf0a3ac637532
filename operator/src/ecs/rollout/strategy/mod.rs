//! The lifecycle of ECS's blue/green family of deployments (BLUE_GREEN, LINEAR, CANARY;
//! ecs-2025 §2-4): stages, lifecycle hooks, production and test traffic weights, bake
//! times, alarms, `StopServiceDeployment(ROLLBACK)` and `ContinueServiceDeployment`.
//!
//! [`advance`] is pure: the controller observes tasks, hook results, alarms and requests,
//! calls it with `now` (unix seconds), performs the returned actions, stores the returned
//! state in the Service's status and calls again on the next observation or at
//! `next_check`. Each call makes at most one transition, so every stage is observable.
//! ROLLING deployments are planned by [`super::step`], not here.

use serde::{Deserialize, Serialize};

use super::step::DeploymentTasks;
use crate::api::{DeploymentConfiguration, DeploymentStrategy};
pub use crate::api::{
    DeploymentState, HookStage, HookTimeoutAction, HookWait, RollbackInfo, ServiceDeploymentStatus as DeploymentStatus,
    ShiftPhase, Stage,
};

#[cfg(test)]
mod tests;

const SECONDS_PER_MINUTE: u64 = 60;
/// Traffic weights are multiples of 0.1 %, so they are computed in tenths of a percent.
const FULL_WEIGHT_TENTHS: u32 = 1000;
/// ECS fails (and rolls back) a stage that runs longer than 24 h (ecs-2025 §2.3). Only
/// waits for tasks to become healthy (green in SCALE_UP, blue in a rollback) have no
/// limit of their own.
pub const STAGE_TIMEOUT_SECONDS: u64 = 24 * 60 * 60;
/// `timeoutConfiguration.timeoutInMinutes` when absent (ecs-2025 §2.4).
pub const DEFAULT_HOOK_TIMEOUT_MINUTES: u32 = 1440;

/// How traffic moves from blue (the running revision) to green (the new one).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Strategy {
    Rolling,
    /// Production switches to green in one step. `bake`: seconds both run afterwards.
    BlueGreen {
        bake: u64,
    },
    /// Production moves `step_percent` (tenths of a percent) per step, `step_bake`
    /// seconds between steps, then `bake` seconds with 100 % on green.
    Linear {
        step_percent: u32,
        step_bake: u64,
        bake: u64,
    },
    /// `canary_percent` (tenths of a percent) for `canary_bake` seconds, then 100 %, then
    /// `bake` seconds.
    Canary {
        canary_percent: u32,
        canary_bake: u64,
        bake: u64,
    },
}

/// A `deploymentConfiguration` value ECS would reject.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("deploymentConfiguration.{field}: {problem}")]
pub struct InvalidField {
    pub field: &'static str,
    pub problem: String,
}

fn invalid(field: &'static str, problem: impl Into<String>) -> InvalidField {
    InvalidField {
        field,
        problem: problem.into(),
    }
}

/// A percent in tenths, checked against ECS's range and its 0.1 granularity.
fn percent_tenths(field: &'static str, value: f64, min: u32) -> Result<u32, InvalidField> {
    let tenths = (value * 10.0).round();
    if (value * 10.0 - tenths).abs() > 1e-6 {
        return Err(invalid(field, format!("{value} is not a multiple of 0.1")));
    }
    if !(f64::from(min)..=f64::from(FULL_WEIGHT_TENTHS)).contains(&tenths) {
        return Err(invalid(
            field,
            format!("{value} is outside {}-100", f64::from(min) / 10.0),
        ));
    }
    Ok(tenths as u32)
}

/// Minutes in 0-1440 (every ECS bake time), as seconds.
fn bake_seconds(
    field: &'static str,
    minutes: Option<i32>,
    default: u32,
) -> Result<u64, InvalidField> {
    let minutes = minutes.map_or(Ok(default), |m| {
        u32::try_from(m)
            .ok()
            .filter(|m| *m <= 1440)
            .ok_or_else(|| invalid(field, format!("{m} is outside 0-1440")))
    })?;
    Ok(u64::from(minutes) * SECONDS_PER_MINUTE)
}

impl Strategy {
    /// The strategy with ECS's defaults: stepPercent 10, stepBakeTimeInMinutes 6,
    /// canaryPercent 5, canaryBakeTimeInMinutes 10. `bakeTimeInMinutes` has no documented
    /// default: ECS requires it for BLUE_GREEN, and LINEAR/CANARY without it bake 0 minutes.
    pub fn from_config(config: &DeploymentConfiguration) -> Result<Self, InvalidField> {
        let strategy = config.strategy.unwrap_or(DeploymentStrategy::Rolling);
        if strategy == DeploymentStrategy::BlueGreen && config.bake_time_in_minutes.is_none() {
            return Err(invalid(
                "bakeTimeInMinutes",
                "required by the BLUE_GREEN strategy",
            ));
        }
        let bake = || bake_seconds("bakeTimeInMinutes", config.bake_time_in_minutes, 0);
        Ok(match strategy {
            DeploymentStrategy::Rolling => Self::Rolling,
            DeploymentStrategy::BlueGreen => Self::BlueGreen { bake: bake()? },
            DeploymentStrategy::Linear => {
                let linear = config.linear_configuration.as_ref();
                Self::Linear {
                    step_percent: percent_tenths(
                        "linearConfiguration.stepPercent",
                        linear.and_then(|l| l.step_percent).unwrap_or(10.0),
                        30,
                    )?,
                    step_bake: bake_seconds(
                        "linearConfiguration.stepBakeTimeInMinutes",
                        linear.and_then(|l| l.step_bake_time_in_minutes),
                        6,
                    )?,
                    bake: bake()?,
                }
            }
            DeploymentStrategy::Canary => {
                let canary = config.canary_configuration.as_ref();
                Self::Canary {
                    canary_percent: percent_tenths(
                        "canaryConfiguration.canaryPercent",
                        canary.and_then(|c| c.canary_percent).unwrap_or(5.0),
                        1,
                    )?,
                    canary_bake: bake_seconds(
                        "canaryConfiguration.canaryBakeTimeInMinutes",
                        canary.and_then(|c| c.canary_bake_time_in_minutes),
                        10,
                    )?,
                    bake: bake()?,
                }
            }
        })
    }

    /// Green's production weight (tenths) after production shift `step` (1-based).
    fn weight_after_step(self, step: u32) -> u32 {
        match self {
            Self::Linear { step_percent, .. } => step_percent.saturating_mul(step),
            Self::Canary { canary_percent, .. } if step == 1 => canary_percent,
            _ => FULL_WEIGHT_TENTHS,
        }
        .min(FULL_WEIGHT_TENTHS)
    }

    /// The wait between production steps, never after the step that reaches 100 %.
    fn step_bake(self) -> u64 {
        match self {
            Self::Linear { step_bake, .. } => step_bake,
            Self::Canary { canary_bake, .. } => canary_bake,
            Self::Rolling | Self::BlueGreen { .. } => 0,
        }
    }

    /// Green's production weight (percent) after each production step, with the seconds
    /// waited after it (none after the step that reaches 100 %).
    pub fn production_steps(self) -> Vec<(f64, u64)> {
        if self == Self::Rolling {
            return vec![];
        }
        let mut steps = vec![];
        for step in 1.. {
            let weight = self.weight_after_step(step);
            let full = weight == FULL_WEIGHT_TENTHS;
            steps.push((f64::from(weight) / 10.0, if full { 0 } else { self.step_bake() }));
            if full {
                return steps;
            }
        }
        steps
    }

    /// Seconds both revisions run once green has all of production.
    pub fn bake(self) -> u64 {
        match self {
            Self::BlueGreen { bake } | Self::Linear { bake, .. } | Self::Canary { bake, .. } => {
                bake
            }
            Self::Rolling => 0,
        }
    }
}

/// The ECS spelling of a stage, for messages.
fn ecs_name(stage: HookStage) -> String {
    serde_json::to_value(stage)
        .ok()
        .and_then(|name| name.as_str().map(str::to_owned))
        .unwrap_or_default()
}

impl HookStage {
    /// PAUSE hooks are refused where traffic is moving (ecs-2025 §2.4).
    fn allows_pause(self) -> bool {
        !matches!(self, Self::TestTrafficShift | Self::ProductionTrafficShift)
    }
}

/// What a hook is: an invoked target (ECS: Lambda; Berth: HTTP or TaskRun), or a PAUSE
/// waiting for `ContinueServiceDeployment`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookTarget {
    Invoke,
    Pause,
}

/// One `lifecycleHooks[]` entry, as the state machine needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookSpec {
    pub target: HookTarget,
    pub stages: Vec<HookStage>,
    pub timeout_minutes: u32,
    pub timeout_action: HookTimeoutAction,
    /// Seconds in a minute: 60, fewer only under a test knob.
    pub minute: u64,
}

impl HookSpec {
    /// Checks ECS's rules: a stage list that parses, no PAUSE where traffic moves, a
    /// timeout of 1-20160 minutes.
    pub fn new(
        target: HookTarget,
        stage_names: &[String],
        timeout_minutes: Option<u32>,
        timeout_action: Option<HookTimeoutAction>,
    ) -> Result<Self, InvalidField> {
        let stages = stage_names
            .iter()
            .map(|name| {
                serde_json::from_value::<HookStage>(serde_json::Value::String(name.clone()))
                    .map_err(|_| {
                        invalid(
                            "lifecycleHooks.lifecycleStages",
                            format!("{name} is not a hook stage"),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if target == HookTarget::Pause
            && let Some((name, _)) = stage_names
                .iter()
                .zip(&stages)
                .find(|(_, s)| !s.allows_pause())
        {
            return Err(invalid(
                "lifecycleHooks.lifecycleStages",
                format!("a PAUSE hook cannot run at {name}"),
            ));
        }
        let timeout_minutes = timeout_minutes.unwrap_or(DEFAULT_HOOK_TIMEOUT_MINUTES);
        if !(1..=20160).contains(&timeout_minutes) {
            return Err(invalid(
                "lifecycleHooks.timeoutConfiguration.timeoutInMinutes",
                format!("{timeout_minutes} is outside 1-20160"),
            ));
        }
        Ok(Self {
            target,
            stages,
            timeout_minutes,
            timeout_action: timeout_action.unwrap_or(HookTimeoutAction::Rollback),
            minute: SECONDS_PER_MINUTE,
        })
    }

    fn deadline(&self, since: u64) -> u64 {
        since + u64::from(self.timeout_minutes) * self.minute
    }
}

/// `deploymentConfiguration.alarms` when enabled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlarmPolicy {
    pub names: Vec<String>,
    pub rollback: bool,
}

/// Everything that shapes a deployment's lifecycle.
#[derive(Clone, Debug, PartialEq)]
pub struct DeploymentPolicy {
    pub strategy: Strategy,
    /// Indexed by [`HookResult::hook`].
    pub hooks: Vec<HookSpec>,
    pub alarms: Option<AlarmPolicy>,
}

impl DeploymentPolicy {
    /// Reads the strategy and alarms. Hooks are given by the caller: the API's hooks do
    /// not carry `targetType` and `timeoutConfiguration` yet (build them with
    /// [`HookSpec::new`]).
    pub fn from_config(
        config: &DeploymentConfiguration,
        hooks: Vec<HookSpec>,
    ) -> Result<Self, InvalidField> {
        Ok(Self {
            strategy: Strategy::from_config(config)?,
            hooks,
            alarms: config
                .alarms
                .as_ref()
                .filter(|a| a.enable)
                .map(|a| AlarmPolicy {
                    names: a.alarm_names.clone().unwrap_or_default(),
                    rollback: a.rollback,
                }),
        })
    }

    /// The policy with minutes of `minute` seconds (a test knob shortens bake times and
    /// hook timeouts; ECS's minute is 60 s).
    pub fn with_minute(mut self, minute: u64) -> Self {
        let scale = |seconds: u64| seconds * minute / SECONDS_PER_MINUTE;
        self.strategy = match self.strategy {
            Strategy::Rolling => Strategy::Rolling,
            Strategy::BlueGreen { bake } => Strategy::BlueGreen { bake: scale(bake) },
            Strategy::Linear { step_percent, step_bake, bake } => Strategy::Linear { step_percent, step_bake: scale(step_bake), bake: scale(bake) },
            Strategy::Canary { canary_percent, canary_bake, bake } => Strategy::Canary { canary_percent, canary_bake: scale(canary_bake), bake: scale(bake) },
        };
        for hook in &mut self.hooks {
            hook.minute = minute;
        }
        self
    }

    /// Whether a PAUSE hook runs at `stage` (so the stage awaits `ContinueServiceDeployment`).
    pub fn pauses_at(&self, stage: HookStage) -> bool {
        self.hooks_at(stage).any(|(_, h)| h.target == HookTarget::Pause)
    }

    fn hooks_at(&self, stage: HookStage) -> impl Iterator<Item = (usize, &HookSpec)> {
        self.hooks
            .iter()
            .enumerate()
            .filter(move |(_, h)| h.stages.contains(&stage))
    }
}

impl DeploymentState {
    /// A deployment created at `now` (PENDING). `several_revisions_active`: an earlier deployment
    /// had not finished, so ECS begins with RECONCILE_SERVICE.
    pub fn start(now: u64, firing_alarms: &[String], several_revisions_active: bool) -> Self {
        Self {
            status: DeploymentStatus::Pending,
            stage: if several_revisions_active {
                Stage::ReconcileService
            } else {
                Stage::PreScaleUp
            },
            since: now,
            shift_phase: None,
            step: 0,
            production_weight: 0.0,
            test_traffic_on_green: false,
            hooks: None,
            hook_invocations: 0,
            ignored_alarms: firing_alarms.to_vec(),
            triggered_alarms: Vec::new(),
            rollback: None,
            finished_at: None,
        }
    }

    fn enter(&mut self, stage: Stage, shift_phase: Option<ShiftPhase>, now: u64) {
        self.stage = stage;
        self.shift_phase = shift_phase;
        self.since = now;
    }
}

/// An invoked hook's answer. Absent means still running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HookResult {
    pub invocation: u32,
    /// Index into [`DeploymentPolicy::hooks`].
    pub hook: usize,
    pub succeeded: bool,
}

/// Plain facts the controller observed for one call of [`advance`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observation {
    pub desired: u32,
    pub green: DeploymentTasks,
    pub blue: DeploymentTasks,
    pub hook_results: Vec<HookResult>,
    /// `ContinueServiceDeployment` for the PAUSE hooks awaiting action (one-shot: the
    /// controller clears it once [`advance`] has recorded it).
    pub continue_request: Option<HookTimeoutAction>,
    pub firing_alarms: Vec<String>,
    /// `StopServiceDeployment(ROLLBACK)`.
    pub stop_requested: bool,
}

/// ECS's EventBridge `ECS Deployment State Change` names. A rollback is a new
/// IN_PROGRESS with a rollback reason.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeploymentEvent {
    ServiceDeploymentInProgress,
    ServiceDeploymentCompleted,
    ServiceDeploymentFailed,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Green's task count.
    ScaleGreen(u32),
    ScaleBlue(u32),
    ShiftTestTraffic {
        to_green: bool,
    },
    /// Green's production weight, percent; blue gets the rest.
    SetProductionWeight(f64),
    InvokeHooks {
        stage: HookStage,
        invocation: u32,
    },
    Emit {
        event: DeploymentEvent,
        reason: String,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Advance {
    pub state: DeploymentState,
    pub actions: Vec<Action>,
    /// Call again at this time even without a new observation: a transition can follow
    /// at once (`now`), or a bake or timeout comes due.
    pub next_check: Option<u64>,
}

/// One step of the lifecycle. Checks, in ECS's precedence: a stop request, an alarm, the
/// current stage's hooks, then the stage's own work.
pub fn advance(
    policy: &DeploymentPolicy,
    state: &DeploymentState,
    observation: &Observation,
    now: u64,
) -> Advance {
    let mut machine = Machine {
        policy,
        observation,
        now,
        state: state.clone(),
        actions: Vec::new(),
        next_check: None,
    };
    if policy.strategy != Strategy::Rolling && !state.status.is_final() {
        machine.step();
    }
    Advance {
        state: machine.state,
        actions: machine.actions,
        next_check: machine.next_check,
    }
}

struct Machine<'a> {
    policy: &'a DeploymentPolicy,
    observation: &'a Observation,
    now: u64,
    state: DeploymentState,
    actions: Vec<Action>,
    next_check: Option<u64>,
}

enum HookVerdict {
    Done,
    Waiting,
    Rollback(String),
}

impl Machine<'_> {
    fn step(&mut self) {
        if self.state.status == DeploymentStatus::Pending {
            self.state.status = DeploymentStatus::InProgress;
            self.actions.push(Action::Emit {
                event: DeploymentEvent::ServiceDeploymentInProgress,
                reason: "deployment started".into(),
            });
            return self.enter(self.state.stage, None);
        }
        if self.state.rollback.is_some() {
            return self.roll_back();
        }
        if self.observation.stop_requested {
            return self.begin_rollback("StopServiceDeployment(ROLLBACK) requested".into());
        }
        if let Some(reason) = self.alarm_failure() {
            return match &self.policy.alarms {
                Some(AlarmPolicy { rollback: true, .. }) => self.begin_rollback(reason),
                // Without rollback, traffic and tasks stay as they are for the user to act.
                _ => self.finish(DeploymentStatus::Failed, reason),
            };
        }
        match self.resolve_hooks() {
            HookVerdict::Waiting => return,
            HookVerdict::Rollback(reason) => return self.begin_rollback(reason),
            HookVerdict::Done => {}
        }
        self.stage_work();
    }

    fn wake_at(&mut self, at: u64) {
        self.next_check = Some(self.next_check.map_or(at, |t| t.min(at)));
    }

    fn alarm_failure(&mut self) -> Option<String> {
        let policy = self.policy.alarms.as_ref()?;
        let triggered: Vec<String> = self
            .observation
            .firing_alarms
            .iter()
            .filter(|name| policy.names.contains(name) && !self.state.ignored_alarms.contains(name))
            .cloned()
            .collect();
        if triggered.is_empty() {
            return None;
        }
        let reason = format!("alarm(s) {} in ALARM state", triggered.join(", "));
        self.state.triggered_alarms = triggered;
        Some(reason)
    }

    /// Resolves the hooks of the current stage; any rollback among them wins.
    fn resolve_hooks(&mut self) -> HookVerdict {
        let Some(wait) = self.state.hooks.as_mut() else {
            return HookVerdict::Done;
        };
        // ContinueServiceDeployment only applies while a PAUSE hook awaits action.
        let pausing = self.policy.pauses_at(wait.stage);
        if pausing && wait.continued.is_none() {
            wait.continued = self.observation.continue_request;
        }
        let wait = wait.clone();
        let mut verdict = HookVerdict::Done;
        for (index, hook) in self.policy.hooks_at(wait.stage) {
            let answer = match hook.target {
                HookTarget::Invoke => self
                    .observation
                    .hook_results
                    .iter()
                    .find(|r| r.invocation == wait.invocation && r.hook == index)
                    .map(|r| {
                        if r.succeeded {
                            Ok(())
                        } else {
                            Err("returned FAILED")
                        }
                    }),
                HookTarget::Pause => wait.continued.map(|action| match action {
                    HookTimeoutAction::Continue => Ok(()),
                    HookTimeoutAction::Rollback => Err("was continued with ROLLBACK"),
                }),
            };
            let deadline = hook.deadline(wait.since);
            let timed_out = (self.now >= deadline).then_some(match hook.timeout_action {
                HookTimeoutAction::Continue => Ok(()),
                HookTimeoutAction::Rollback => Err("timed out"),
            });
            match answer.or(timed_out) {
                Some(Err(what)) => {
                    return HookVerdict::Rollback(format!(
                        "lifecycle hook {index} at {} {what}",
                        ecs_name(wait.stage)
                    ));
                }
                Some(Ok(())) => {}
                None => {
                    self.wake_at(deadline);
                    verdict = HookVerdict::Waiting;
                }
            }
        }
        if matches!(verdict, HookVerdict::Done) {
            self.state.hooks = None;
        }
        verdict
    }

    /// Starts the hooks of `stage`, if any are configured, and says when to look again:
    /// at once without hooks, else when the first hook timeout comes due.
    fn invoke_hooks(&mut self, stage: HookStage) {
        let Some(first_deadline) = self
            .policy
            .hooks_at(stage)
            .map(|(_, h)| h.deadline(self.now))
            .min()
        else {
            return self.wake_at(self.now);
        };
        let invocation = self.state.hook_invocations;
        self.state.hook_invocations += 1;
        self.state.hooks = Some(HookWait {
            stage,
            invocation,
            since: self.now,
            continued: None,
        });
        self.actions.push(Action::InvokeHooks { stage, invocation });
        self.wake_at(first_deadline);
    }

    /// Moves to `stage` and does its entry work.
    fn enter(&mut self, stage: Stage, shift_phase: Option<ShiftPhase>) {
        self.state.enter(stage, shift_phase, self.now);
        let strategy = self.policy.strategy;
        match (stage, shift_phase) {
            (Stage::ReconcileService, _) => self.invoke_hooks(HookStage::ReconcileService),
            (Stage::PreScaleUp, _) => self.invoke_hooks(HookStage::PreScaleUp),
            // Green goes straight to 100 % of desired with no traffic: capacity doubles.
            (Stage::ScaleUp, _) => {
                self.actions
                    .push(Action::ScaleGreen(self.observation.desired));
                self.wake_at(self.now + STAGE_TIMEOUT_SECONDS);
            }
            (Stage::PostScaleUp, _) => self.invoke_hooks(HookStage::PostScaleUp),
            (Stage::TestTrafficShift, _) => {
                self.state.test_traffic_on_green = true;
                self.actions
                    .push(Action::ShiftTestTraffic { to_green: true });
                self.invoke_hooks(HookStage::TestTrafficShift);
            }
            (Stage::PostTestTrafficShift, _) => self.invoke_hooks(HookStage::PostTestTrafficShift),
            (Stage::ProductionTrafficShift, Some(ShiftPhase::PreShift)) => {
                self.invoke_hooks(HookStage::PreProductionTrafficShift);
            }
            (Stage::ProductionTrafficShift, Some(ShiftPhase::Shift)) => {
                self.state.step += 1;
                let weight = f64::from(strategy.weight_after_step(self.state.step)) / 10.0;
                self.state.production_weight = weight;
                self.actions.push(Action::SetProductionWeight(weight));
                self.invoke_hooks(HookStage::ProductionTrafficShift);
            }
            (Stage::ProductionTrafficShift, _) => self.wake_at(self.now + strategy.step_bake()),
            (Stage::PostProductionTrafficShift, _) => {
                self.invoke_hooks(HookStage::PostProductionTrafficShift)
            }
            (Stage::BakeTime, _) => self.wake_at(self.now + strategy.bake()),
            // Finishing waits for blue's tasks to be observed gone.
            (Stage::CleanUp, _) => self.actions.push(Action::ScaleBlue(0)),
        }
    }

    /// Leaves the current stage once its own condition holds (its hooks are resolved).
    fn stage_work(&mut self) {
        let strategy = self.policy.strategy;
        let fully_shifted = strategy.weight_after_step(self.state.step) == FULL_WEIGHT_TENTHS
            && self.state.step > 0;
        match (self.state.stage, self.state.shift_phase) {
            (Stage::ReconcileService, _) => self.enter(Stage::PreScaleUp, None),
            (Stage::PreScaleUp, _) => self.enter(Stage::ScaleUp, None),
            (Stage::ScaleUp, _) => {
                let green = self.observation.green;
                if green.healthy >= self.observation.desired {
                    self.enter(Stage::PostScaleUp, None);
                } else if self.now >= self.state.since + STAGE_TIMEOUT_SECONDS {
                    self.begin_rollback("SCALE_UP did not complete within 24 hours".into());
                } else {
                    self.wake_at(self.state.since + STAGE_TIMEOUT_SECONDS);
                }
            }
            (Stage::PostScaleUp, _) => self.enter(Stage::TestTrafficShift, None),
            (Stage::TestTrafficShift, _) => self.enter(Stage::PostTestTrafficShift, None),
            (Stage::PostTestTrafficShift, _) => {
                self.enter(Stage::ProductionTrafficShift, Some(ShiftPhase::PreShift));
            }
            (Stage::ProductionTrafficShift, Some(ShiftPhase::PreShift)) => {
                self.enter(Stage::ProductionTrafficShift, Some(ShiftPhase::Shift));
            }
            (Stage::ProductionTrafficShift, Some(ShiftPhase::Shift)) if fully_shifted => {
                self.enter(Stage::PostProductionTrafficShift, None);
            }
            (Stage::ProductionTrafficShift, Some(ShiftPhase::Shift)) => {
                self.enter(Stage::ProductionTrafficShift, Some(ShiftPhase::StepBake));
            }
            (Stage::ProductionTrafficShift, _) => {
                self.after(
                    strategy.step_bake(),
                    Stage::ProductionTrafficShift,
                    Some(ShiftPhase::PreShift),
                );
            }
            (Stage::PostProductionTrafficShift, _) => self.enter(Stage::BakeTime, None),
            (Stage::BakeTime, _) => self.after(strategy.bake(), Stage::CleanUp, None),
            (Stage::CleanUp, _) => {
                if self.observation.blue.active() == 0 {
                    self.finish(DeploymentStatus::Successful, "deployment completed".into());
                }
            }
        }
    }

    /// Enters `stage` once `wait` seconds have passed in the current one.
    fn after(&mut self, wait: u64, stage: Stage, shift_phase: Option<ShiftPhase>) {
        let due = self.state.since + wait;
        if self.now >= due {
            self.enter(stage, shift_phase);
        } else {
            self.wake_at(due);
        }
    }

    fn finish(&mut self, status: DeploymentStatus, reason: String) {
        self.state.status = status;
        self.state.finished_at = Some(self.now);
        self.state.hooks = None;
        let failed = matches!(
            status,
            DeploymentStatus::Failed | DeploymentStatus::RollbackFailed
        );
        let event = if failed {
            DeploymentEvent::ServiceDeploymentFailed
        } else {
            DeploymentEvent::ServiceDeploymentCompleted
        };
        self.actions.push(Action::Emit { event, reason });
    }

    fn begin_rollback(&mut self, reason: String) {
        self.actions.push(Action::Emit {
            event: DeploymentEvent::ServiceDeploymentFailed,
            reason: reason.clone(),
        });
        self.actions.push(Action::Emit {
            event: DeploymentEvent::ServiceDeploymentInProgress,
            reason: format!("rolling back: {reason}"),
        });
        self.state.status = DeploymentStatus::RollbackInProgress;
        self.state.hooks = None;
        self.state.rollback = Some(RollbackInfo {
            reason,
            started_at: self.now,
            traffic_restored: false,
        });
        self.roll_back();
    }

    /// Production goes back to blue in one step, but only once blue can serve it all
    /// (blue runs until CLEAN_UP, so normally at once); then green is scaled in. Blue not
    /// back within the stage limit fails the rollback, with green still serving.
    fn roll_back(&mut self) {
        let desired = self.observation.desired;
        let Some(rollback) = self.state.rollback.as_mut() else {
            return;
        };
        if !rollback.traffic_restored {
            if self.observation.blue.healthy < desired {
                let give_up_at = rollback.started_at + STAGE_TIMEOUT_SECONDS;
                if self.now >= give_up_at {
                    return self.finish(
                        DeploymentStatus::RollbackFailed,
                        "the previous revision's tasks did not become healthy within 24 hours"
                            .into(),
                    );
                }
                if self.observation.blue.active() < desired {
                    self.actions.push(Action::ScaleBlue(desired));
                }
                return self.wake_at(give_up_at);
            }
            rollback.traffic_restored = true;
            self.state.production_weight = 0.0;
            self.actions.push(Action::SetProductionWeight(0.0));
            if self.state.test_traffic_on_green {
                self.state.test_traffic_on_green = false;
                self.actions
                    .push(Action::ShiftTestTraffic { to_green: false });
            }
            self.actions.push(Action::ScaleGreen(0));
        }
        if self.observation.green.active() == 0 {
            self.finish(
                DeploymentStatus::RollbackSuccessful,
                "rollback completed".into(),
            );
        }
    }
}
