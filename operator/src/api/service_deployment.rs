//! The record of a service deployment of the blue/green family (BLUE_GREEN, LINEAR, CANARY;
//! ecs-2025 §2): ECS's `ServiceDeployment`, kept in the Service's status. The lifecycle
//! state machine (`ecs::rollout::strategy`) reads and writes [`DeploymentState`].

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::deployment::DeploymentStrategy;

/// `ServiceDeployment.lifecycleStage`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Stage {
    /// Only when the deployment starts while more than one revision is ACTIVE.
    ReconcileService,
    PreScaleUp,
    ScaleUp,
    PostScaleUp,
    TestTrafficShift,
    PostTestTrafficShift,
    ProductionTrafficShift,
    PostProductionTrafficShift,
    BakeTime,
    CleanUp,
}

/// `DeploymentLifecycleHook.lifecycleStages[]`: the lifecycle stages that allow hooks, plus
/// PRE_PRODUCTION_TRAFFIC_SHIFT, which is a hook stage only (before every production step).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HookStage {
    ReconcileService,
    PreScaleUp,
    PostScaleUp,
    TestTrafficShift,
    PostTestTrafficShift,
    PreProductionTrafficShift,
    ProductionTrafficShift,
    PostProductionTrafficShift,
}


/// `timeoutConfiguration.action`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HookTimeoutAction {
    Rollback,
    Continue,
}


/// `ServiceDeployment.status`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServiceDeploymentStatus {
    /// Created; the lifecycle's first step starts it.
    Pending,
    InProgress,
    RollbackInProgress,
    Successful,
    /// Failed without rollback (an alarm with `rollback: false`); traffic stays as it was.
    Failed,
    RollbackSuccessful,
    /// Blue could not be brought back within the stage limit; green keeps production.
    RollbackFailed,
    /// Superseded by a newer deployment before it finished.
    Stopped,
}


impl ServiceDeploymentStatus {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Successful | Self::Failed | Self::RollbackSuccessful | Self::RollbackFailed | Self::Stopped
        )
    }
}


/// Where a production traffic shift step is.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ShiftPhase {
    /// PRE_PRODUCTION_TRAFFIC_SHIFT hooks before the step.
    PreShift,
    /// The weight is set; PRODUCTION_TRAFFIC_SHIFT hooks run.
    Shift,
    /// Waiting the step (or canary) bake time before the next step.
    StepBake,
}

/// Hooks of one stage that have been started and not yet resolved.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HookWait {
    pub stage: HookStage,
    /// Unique within the deployment: PRE_PRODUCTION hooks run once per step, each a new
    /// invocation (ECS mints a new hookId per step).
    pub invocation: u32,
    pub since: u64,
    /// The `ContinueServiceDeployment` action received for this invocation's PAUSE hooks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continued: Option<HookTimeoutAction>,
}

/// Why and when a rollback started (`ServiceDeployment.rollback`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RollbackInfo {
    pub reason: String,
    pub started_at: u64,
    /// Green's traffic is back on blue; green is being scaled in.
    pub traffic_restored: bool,
}

/// A deployment's progress, kept in the Service's status between steps of the lifecycle.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentState {
    pub status: ServiceDeploymentStatus,
    pub stage: Stage,
    /// When `stage` (or the current production step phase) began.
    pub since: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shift_phase: Option<ShiftPhase>,
    /// Production shift steps taken (1-based once the first step is taken).
    pub step: u32,
    /// Green's share of production traffic, percent (ECS `requestedProductionTrafficWeight`).
    pub production_weight: f64,
    /// Test traffic goes to green.
    pub test_traffic_on_green: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hooks: Option<HookWait>,
    /// Hook invocations so far, for the next [`HookWait::invocation`].
    pub hook_invocations: u32,
    /// Alarms firing when the deployment started: ignored for this deployment, as ECS does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored_alarms: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggered_alarms: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<u64>,
}


/// How green's share of production traffic is made (`status.serviceDeployments[].trafficShift`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum TrafficShift {
    /// The production Kubernetes Services select one revision's tasks at a time, and for a
    /// share in between, as many ready tasks of each revision as come closest to it.
    EndpointRatio,
    /// As EndpointRatio, and Gateway API HTTPRoutes (parent: the production Service, for a
    /// mesh; and the Gateway of `berth.dev/gateway`) give each revision's backend Service its
    /// exact weight, in tenths of a percent.
    #[serde(rename = "HTTPRoute")]
    HttpRoute,
}

/// An invoked hook's answer (`hookStatus`), or a hook that timed out.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HookStatus {
    InProgress,
    Succeeded,
    Failed,
}

/// One invocation of one hook of `deploymentConfiguration.lifecycleHooks`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HookInvocation {
    /// Index into `lifecycleHooks`.
    pub hook: u32,
    /// The stage invocation it belongs to (`lifecycle.hooks.invocation`).
    pub invocation: u32,
    pub status: HookStatus,
    /// Why it failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When an IN_PROGRESS hook is called again (unix seconds; ECS: 30 s or `callBackDelay`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_call_at: Option<u64>,
    /// `hookDetails` the hook returned, passed to its next call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::common::any_json")]
    pub hook_details: Option<serde_json::Value>,
}

/// The task counts of one revision in a deployment (ECS `ServiceRevisionSummary`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevisionTasks {
    /// Tasks the deployment wants of the revision now.
    pub requested: u32,
    pub running: u32,
    pub pending: u32,
}

/// One service deployment of the blue/green family (ECS `ServiceDeployment`): what it
/// moves from and to, and where its lifecycle is. Status only, never written to `spec`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceDeploymentRecord {
    /// The target deployment's id (`ecs-svc/<number>`), the one shown in `deployments[]`.
    pub service_deployment_id: String,
    pub strategy: DeploymentStrategy,
    /// The revision production ran when the deployment started (blue).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_task_definition: Option<String>,
    /// The revision being deployed (green).
    pub target_task_definition: String,
    pub traffic_shift: TrafficShift,
    pub created_at: Time,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// Why it ended as it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// The hookId of the PAUSE hooks awaiting action (ECS hook status AWAITING_ACTION):
    /// annotate the Service `berth.dev/continue-deployment: <hookId>` to continue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub awaiting_action: Option<String>,
    /// The lifecycle: status, stage, traffic weights, hooks awaited, rollback.
    pub lifecycle: DeploymentState,
    /// Green's tasks (ECS `targetServiceRevision`'s counts), as of the last step.
    #[serde(default)]
    pub target_tasks: RevisionTasks,
    /// Blue's tasks (ECS `sourceServiceRevisions[]`'s counts), as of the last step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_tasks: Option<RevisionTasks>,
    /// The answers of the HTTP hooks invoked so far.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hook_results: Vec<HookInvocation>,
}
