//! Service `deploymentConfiguration` and `deploymentController` (ecs-semantics §2.6-2.8).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use kube::KubeSchema;

/// How a rolling deployment replaces tasks, and when it fails.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new("!has(self.minimumHealthyPercent) || !has(self.maximumPercent) || self.minimumHealthyPercent <= self.maximumPercent")
    .message("deploymentConfiguration: minimumHealthyPercent must not exceed maximumPercent"))]
#[serde(rename_all = "camelCase")]
pub struct DeploymentConfiguration {
    /// Stops (and optionally rolls back) a deployment whose tasks keep failing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment_circuit_breaker: Option<DeploymentCircuitBreaker>,
    /// Upper bound on RUNNING plus PENDING tasks during a deployment, as a percent of
    /// desiredCount: at least 100 (ECS default 200 for REPLICA; DAEMON allows only 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 100))]
    pub maximum_percent: Option<i32>,
    /// Lower bound on healthy RUNNING tasks during a deployment, as a percent of desiredCount:
    /// 0-100 (ECS default 100 for REPLICA, 0 for DAEMON).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub minimum_healthy_percent: Option<i32>,
    /// CloudWatch alarms that fail the deployment (accepted, not acted on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarms: Option<DeploymentAlarms>,
    /// ROLLING (ECS default): tasks replaced in batches within minimumHealthyPercent and
    /// maximumPercent. BLUE_GREEN: the new revision scales to desiredCount beside the old, takes
    /// test traffic (the `<service>-test` Kubernetes Services), then all production traffic in one
    /// switch; the old revision stays through `bakeTimeInMinutes` for an instant rollback.
    /// LINEAR and CANARY shift production in steps (`linearConfiguration`, `canaryConfiguration`)
    /// by the share of ready endpoints of each revision behind the production Services.
    #[serde(default, deserialize_with = "super::unset::empty_as_none", skip_serializing_if = "Option::is_none")]
    pub strategy: Option<DeploymentStrategy>,
    /// Minutes both revisions run side by side before a blue/green deployment completes, 0-1440.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1440))]
    pub bake_time_in_minutes: Option<i32>,
    /// Hooks run at lifecycle stages of BLUE_GREEN, LINEAR and CANARY deployments (ECS allows
    /// 10 PAUSE and 10 invoked hooks per service).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 20))]
    pub lifecycle_hooks: Option<Vec<DeploymentLifecycleHook>>,
    /// LINEAR: stepPercent of production per step (default 10), stepBakeTimeInMinutes between steps (default 6).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linear_configuration: Option<LinearConfiguration>,
    /// CANARY: canaryPercent of production (default 5) for canaryBakeTimeInMinutes (default 10), then the rest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary_configuration: Option<CanaryConfiguration>,
}

/// Deployment circuit breaker settings (ecs-semantics §2.8).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentCircuitBreaker {
    /// Turns the circuit breaker on.
    pub enable: bool,
    /// Rolls back to the last COMPLETED deployment when the breaker trips.
    pub rollback: bool,
    /// A healthy task resets the failure count (ECS default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset_on_healthy_task: Option<bool>,
    /// How the failure threshold is computed (ECS default BOUNDED_PERCENT 50).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold_configuration: Option<ThresholdConfiguration>,
}

/// Ways of computing the circuit breaker threshold.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ThresholdType {
    Count,
    BoundedPercent,
    UnboundedPercent,
}

/// Circuit breaker threshold.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ThresholdConfiguration {
    /// COUNT (threshold = value), BOUNDED_PERCENT (value% of desiredCount clamped to 3-200)
    /// or UNBOUNDED_PERCENT (value% of desiredCount).
    #[serde(rename = "type")]
    pub type_: ThresholdType,
    /// A task count or a percent, depending on type; at least 1.
    #[schemars(range(min = 1))]
    pub value: i32,
}

/// CloudWatch alarm settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentAlarms {
    /// Alarm names to watch (describe output may leave the list out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm_names: Option<Vec<String>>,
    /// Rolls back when an alarm fires.
    pub rollback: bool,
    /// Turns alarm monitoring on.
    pub enable: bool,
}

/// Deployment strategies.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeploymentStrategy {
    Rolling,
    BlueGreen,
    Linear,
    Canary,
}

/// What a lifecycle hook is.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HookTargetType {
    /// An invoked target (ECS: a Lambda function; Berth: an HTTP(S) URL).
    AwsLambda,
    /// Waits until the deployment is continued (or the timeout).
    Pause,
}

/// How long a hook may take, and what then.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HookTimeoutConfiguration {
    /// 1-20160 minutes (ECS default 1440).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 20160))]
    pub timeout_in_minutes: Option<i32>,
    /// ROLLBACK (ECS default) or CONTINUE.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<super::HookTimeoutAction>,
}

/// A deployment lifecycle hook (BLUE_GREEN, LINEAR, CANARY). Berth calls an `http://` or
/// `https://` hookTargetArn with a JSON POST in ECS's Lambda payload and reads ECS's reply
/// (`hookStatus` SUCCEEDED, FAILED or IN_PROGRESS); `taskrun:FAMILY[:REVISION]` runs a TaskRun
/// of one task, which succeeds when its containers exit 0; a Lambda ARN cannot be called here
/// and is listed in `status.unsupportedFields`. A PAUSE hook waits for the annotation
/// `berth.dev/continue-deployment: <hookId>[=ROLLBACK]` (or `kubectl ecs continue-service-deployment`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentLifecycleHook {
    /// AWS_LAMBDA (ECS default: an invoked target) or PAUSE.
    #[serde(default, deserialize_with = "super::unset::empty_as_none", skip_serializing_if = "Option::is_none")]
    pub target_type: Option<HookTargetType>,
    /// What to invoke: an `http(s)://` URL or `taskrun:FAMILY[:REVISION]` (a Lambda ARN is
    /// accepted but cannot be called).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook_target_arn: Option<String>,
    /// Role ECS assumes to invoke the hook.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// Stages at which the hook runs, such as PRE_SCALE_UP or POST_PRODUCTION_TRAFFIC_SHIFT.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifecycle_stages: Option<Vec<String>>,
    /// Free-form JSON passed to the hook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::common::any_json")]
    pub hook_details: Option<serde_json::Value>,
    /// How long the hook may take before its timeout action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_configuration: Option<HookTimeoutConfiguration>,
}

/// Linear traffic shifting.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinearConfiguration {
    /// Percent of traffic shifted per step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_percent: Option<f64>,
    /// Minutes between steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_bake_time_in_minutes: Option<i32>,
}

/// Canary traffic shifting.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryConfiguration {
    /// Percent of traffic sent to the canary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary_percent: Option<f64>,
    /// Minutes the canary runs before the rest of the traffic shifts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary_bake_time_in_minutes: Option<i32>,
}

/// Deployment controller types.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeploymentControllerType {
    Ecs,
    CodeDeploy,
    External,
}

/// Who runs deployments of the service.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new("self.type != 'EXTERNAL'")
    .message("deploymentController.type: EXTERNAL is not supported by Berth (it runs the deployments); use ECS, or CODE_DEPLOY which runs as BLUE_GREEN"))]
#[serde(rename_all = "camelCase")]
pub struct DeploymentController {
    /// ECS (the default: `deploymentConfiguration.strategy` decides). CODE_DEPLOY runs as a
    /// BLUE_GREEN deployment (CodeDeploy's AppSpec is not read). EXTERNAL is rejected.
    #[serde(rename = "type")]
    pub type_: DeploymentControllerType,
}
