//! `TaskSchedule`: an EventBridge Scheduler schedule whose target is ECS RunTask (scheduled
//! tasks). The spec is the CreateSchedule input with an ECS target, its fields in camelCase
//! (https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html); each
//! invocation starts a `TaskRun`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    CapacityProviderStrategyItem, Conditions, EnabledState, LaunchType, NetworkConfiguration,
    PlacementConstraint, PlacementStrategy, PropagateTags,
};
use super::rules::{self, TASK_DEFINITION_REF_PATTERN};

/// Starts a TaskRun at each time of its schedule expression, exactly once.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "berth.dev",
    version = "v1alpha1",
    kind = "TaskSchedule",
    doc = "EventBridge Scheduler CreateSchedule with an ECS RunTask target: starts a TaskRun at each time of a cron, rate or at expression.",
    namespaced,
    status = "TaskScheduleStatus",
    shortname = "tasksched",
    category = "ecs",
    derive = "PartialEq",
    cel,
    printcolumn(name = "Schedule", type_ = "string", json_path = ".spec.scheduleExpression"),
    printcolumn(name = "State", type_ = "string", json_path = ".spec.state"),
    printcolumn(name = "Last", type_ = "string", json_path = ".status.lastScheduledTime"),
    printcolumn(name = "Next", type_ = "string", json_path = ".status.nextScheduledTime"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct TaskScheduleSpec {
    /// When the schedule runs: `at(yyyy-mm-ddThh:mm:ss)` once, `rate(value unit)` every
    /// value minutes/hours/days, or `cron(minutes hours day-of-month month day-of-week year)`.
    #[schemars(length(min = 1, max = 256))]
    #[x_kube(validation = rules::schedule_expression())]
    pub schedule_expression: String,
    /// IANA time zone the cron and at expressions are read in (default UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 50))]
    pub schedule_expression_timezone: Option<String>,
    /// Recurring schedules run at or after this time (a rate schedule's first run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date: Option<Time>,
    /// Recurring schedules run before this time, then complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date: Option<Time>,
    /// ENABLED (default) or DISABLED: a disabled schedule starts nothing, and on being enabled
    /// again does not catch up the times it missed.
    #[serde(default, deserialize_with = "super::unset::empty_as_none", skip_serializing_if = "Option::is_none")]
    pub state: Option<EnabledState>,
    /// OFF (start at the scheduled time) or FLEXIBLE (start within a window after it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flexible_time_window: Option<FlexibleTimeWindow>,
    /// A description for people, up to 512 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 512))]
    pub description: Option<String>,
    /// Schedule group (EventBridge Scheduler); reported in `status.unsupportedFields`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub group_name: Option<String>,
    /// Customer managed KMS key; reported in `status.unsupportedFields`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub kms_key_arn: Option<String>,
    /// Idempotency token; Kubernetes objects are idempotent by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub client_token: Option<String>,
    /// NONE (default) or DELETE: delete the TaskSchedule once it has no more times to run
    /// (its TaskRuns are kept).
    #[serde(default, deserialize_with = "super::unset::empty_as_none", skip_serializing_if = "Option::is_none")]
    pub action_after_completion: Option<ActionAfterCompletion>,
    /// What each invocation runs: the ECS RunTask target.
    pub target: ScheduleTarget,
}

/// What a schedule does after its last invocation.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ActionAfterCompletion {
    None,
    Delete,
}

/// Whether invocations are spread after their scheduled time.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FlexibleTimeWindowMode {
    Off,
    Flexible,
}

/// EventBridge Scheduler FlexibleTimeWindow.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[x_kube(validation = Rule::new("self.mode == 'FLEXIBLE' ? has(self.maximumWindowInMinutes) : !has(self.maximumWindowInMinutes)")
    .message("flexibleTimeWindow: maximumWindowInMinutes is required with mode FLEXIBLE and not allowed with OFF"))]
#[serde(rename_all = "camelCase")]
pub struct FlexibleTimeWindow {
    /// OFF or FLEXIBLE.
    pub mode: FlexibleTimeWindowMode,
    /// With FLEXIBLE: each invocation starts at a time within this many minutes (1-1440)
    /// after the scheduled one, the same for a given time on every try.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1440))]
    pub maximum_window_in_minutes: Option<i32>,
}

/// EventBridge Scheduler Target, with ECS parameters.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleTarget {
    /// The ECS cluster ARN. The cluster is the namespace; a different one is reported in
    /// `status.unsupportedFields`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1600))]
    pub arn: Option<String>,
    /// The role EventBridge Scheduler assumes to call RunTask; reported in `status.unsupportedFields`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1600))]
    pub role_arn: Option<String>,
    /// The RunTask `overrides` as JSON text (ECS TaskOverride: containerOverrides, cpu, memory,
    /// taskRoleArn, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 8192))]
    pub input: Option<String>,
    /// How long and how often an invocation that fails is retried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,
    /// SQS queue for dropped invocations; reported in `status.unsupportedFields`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letter_config: Option<DeadLetterConfig>,
    /// The RunTask parameters.
    pub ecs_parameters: EcsParameters,
}

/// EventBridge Scheduler RetryPolicy.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicy {
    /// An invocation older than this (60-86400 seconds, default 86400) is dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 60, max = 86400))]
    pub maximum_event_age_in_seconds: Option<i32>,
    /// Retries of a failed invocation before it is dropped (0-185, default 185).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 185))]
    pub maximum_retry_attempts: Option<i32>,
}

/// EventBridge Scheduler DeadLetterConfig.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterConfig {
    /// ARN of the SQS queue.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1600))]
    pub arn: Option<String>,
}

/// EventBridge Scheduler EcsParameters: the RunTask call each invocation makes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[x_kube(validation = rules::launch_type_or_strategy())]
#[x_kube(validation = Rule::new("!has(self.propagateTags) || self.propagateTags != 'SERVICE'")
    .message("propagateTags: a scheduled task may only use TASK_DEFINITION"))]
#[serde(rename_all = "camelCase")]
pub struct EcsParameters {
    /// Task definition to run: `family`, `family:revision` or a task-definition ARN.
    #[schemars(length(min = 1, max = 1600), pattern(TASK_DEFINITION_REF_PATTERN))]
    pub task_definition_arn: String,
    /// Tasks started per invocation, 1-10 (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10))]
    pub task_count: Option<i32>,
    /// EC2, FARGATE or EXTERNAL. Mutually exclusive with capacityProviderStrategy.
    #[serde(default, deserialize_with = "super::unset::empty_as_none", skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<LaunchType>,
    /// Capacity providers and their base/weight split, at most 20 entries.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 20))]
    #[x_kube(validation = rules::single_base(), validation = rules::some_weight())]
    pub capacity_provider_strategy: Option<Vec<CapacityProviderStrategyItem>>,
    /// Subnets and security groups for `awsvpc` tasks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_configuration: Option<NetworkConfiguration>,
    /// Binding placement rules, at most 10.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 10))]
    pub placement_constraints: Option<Vec<PlacementConstraint>>,
    /// Best-effort placement rules, at most 5.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 5))]
    pub placement_strategy: Option<Vec<PlacementStrategy>>,
    /// Fargate platform version; reported in `status.unsupportedFields`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub platform_version: Option<String>,
    /// TASK_DEFINITION copies the task definition's tags to the tasks.
    #[serde(default, deserialize_with = "super::unset::empty_as_none", skip_serializing_if = "Option::is_none")]
    pub propagate_tags: Option<PropagateTags>,
    /// RunTask `referenceId`; reported in `status.unsupportedFields`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub reference_id: Option<String>,
    /// Tags for the tasks, each a one-entry map `{key: value}`, at most 50.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 50))]
    pub tags: Option<Vec<BTreeMap<String, String>>>,
    /// ECS managed tags; reported in `status.unsupportedFields`.
    #[serde(rename = "enableECSManagedTags", skip_serializing_if = "Option::is_none")]
    pub enable_ecs_managed_tags: Option<bool>,
    /// ECS Exec; reported in `status.unsupportedFields` when true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_execute_command: Option<bool>,
    /// Task group for spread placement (default `family:<family>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255))]
    pub group: Option<String>,
}

/// How a scheduled run ended up.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunOutcome {
    /// Its TaskRun has tasks not yet stopped.
    Running,
    /// Every task stopped, none failed.
    Succeeded,
    /// A task failed to start or exited non-zero.
    Failed,
    /// The invocation exceeded the retry policy and started nothing.
    Dropped,
}

/// One invocation of the schedule.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledRun {
    /// The time the invocation was scheduled for.
    pub scheduled_time: Time,
    /// The TaskRun it started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_run: Option<String>,
    pub outcome: RunOutcome,
    /// Why it was dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// An invocation that failed and waits to be retried.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvocationRetry {
    pub scheduled_time: Time,
    /// Attempts made so far.
    pub attempts: i32,
    pub next_attempt_time: Time,
    pub last_error: String,
}

/// Observed state of a schedule. Its times are the schedule's (scaled under test, see
/// `--schedule-time-scale`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskScheduleStatus {
    /// Generation of the spec this status reflects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Every scheduled time up to this one has been handled (started, dropped, or passed
    /// while disabled or before an edit): none of them starts again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled_through: Option<Time>,
    /// The scheduled time of the last TaskRun started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_scheduled_time: Option<Time>,
    /// The next scheduled time, if the schedule has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_scheduled_time: Option<Time>,
    /// A failed invocation waiting for its next attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry: Option<InvocationRetry>,
    /// The last invocations, newest first, with their outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_runs: Option<Vec<ScheduledRun>>,
    /// Fields Berth accepts but does not act on, each `field: reason`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsupported_fields: Option<Vec<String>>,
    /// `Ready` (reason Scheduled, Disabled or Completed when True) and `Degraded`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Option<Conditions>,
}
