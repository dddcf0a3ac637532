//! `TaskRun`: run a task definition once, `count` times, with overrides (ECS RunTask, §3.3).

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    Conditions, EnvironmentFile, EphemeralStorage, KeyValuePair, LaunchPlacement, PropagateTags,
    ResourceRequirement,
};
use super::rules::TASK_DEFINITION_REF_PATTERN;
use super::task_status::TaskSummary;

/// Standalone tasks: `count` copies of a task definition started once and never replaced.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "berth.dev",
    version = "v1alpha1",
    kind = "TaskRun",
    doc = "ECS RunTask: starts count standalone tasks of a task definition once; they are never replaced.",
    namespaced,
    status = "TaskRunStatus",
    shortname = "taskrun",
    category = "ecs",
    derive = "PartialEq",
    cel,
    printcolumn(name = "Count", type_ = "integer", json_path = ".spec.count"),
    printcolumn(
        name = "Running",
        type_ = "integer",
        json_path = ".status.runningCount"
    ),
    printcolumn(
        name = "Stopped",
        type_ = "integer",
        json_path = ".status.stoppedCount"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new("!has(self.propagateTags) || self.propagateTags != 'SERVICE'")
    .message("propagateTags: a TaskRun may only use TASK_DEFINITION or NONE"))]
// RunTask is one call: what it started is not edited afterwards.
#[x_kube(validation = Rule::new("self == oldSelf")
    .message("spec is immutable: a TaskRun is one RunTask call; create a new TaskRun to run tasks with other settings"))]
#[serde(rename_all = "camelCase")]
pub struct TaskRunSpec {
    /// Task definition to run: `family` (latest ACTIVE revision), `family:revision`, or a
    /// task-definition ARN (only its `family:revision` part is used).
    #[schemars(length(min = 1, max = 1600), pattern(TASK_DEFINITION_REF_PATTERN))]
    pub task_definition: String,
    /// ECS cluster name or ARN. Optional here: the cluster is the namespace; a different
    /// value is reported in `status.unsupportedFields`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1600))]
    pub cluster: Option<String>,
    /// Number of tasks to start, 1-10 (default 1 when omitted).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10))]
    pub count: Option<i32>,
    /// Per-run changes to the task definition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overrides: Option<TaskOverride>,
    /// Free-form marker of who started the tasks: at most 128 letters, digits, `-`, `/` and `_`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128), pattern("^[A-Za-z0-9/_-]{1,128}$"))]
    pub started_by: Option<String>,
    /// Task group used by spread placement (default `family:<family>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255))]
    pub group: Option<String>,
    /// Launch type or capacity providers, placement, networking and tags.
    #[serde(flatten)]
    pub placement: LaunchPlacement,
    /// Copy tags to tasks from TASK_DEFINITION, or NONE (ECS default).
    #[serde(default, deserialize_with = "super::unset::empty_as_none", skip_serializing_if = "Option::is_none")]
    pub propagate_tags: Option<PropagateTags>,
}

/// Per-run overrides (ECS TaskOverride).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskOverride {
    /// Overrides for individual containers, by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 10))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub container_overrides: Option<Vec<ContainerOverride>>,
    /// Task CPU, in the task definition's `cpu` format.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// Task memory, in the task definition's `memory` format.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Task role to use instead of the task definition's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    /// Execution role to use instead of the task definition's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    /// Ephemeral storage to use instead of the task definition's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ephemeral_storage: Option<EphemeralStorage>,
}

/// Overrides for one container (ECS ContainerOverride).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerOverride {
    /// Name of the container in the task definition.
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
    /// Replaces the container's `command`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Merged over the container's environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<Vec<KeyValuePair>>,
    /// Added to the container's environment files, at most 10.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 10))]
    pub environment_files: Option<Vec<EnvironmentFile>>,
    /// CPU units for the container.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub cpu: Option<i32>,
    /// Hard memory limit in MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub memory: Option<i32>,
    /// Soft memory reservation in MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub memory_reservation: Option<i32>,
    /// GPU and accelerator requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_requirements: Option<Vec<ResourceRequirement>>,
}

/// Observed state of a task run.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskRunStatus {
    /// Generation of the spec this status reflects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Tasks in RUNNING.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running_count: Option<i32>,
    /// Tasks not yet RUNNING.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_count: Option<i32>,
    /// Tasks in STOPPED.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_count: Option<i32>,
    /// Every task of the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["taskId".into()]))]
    pub tasks: Option<Vec<TaskSummary>>,
    /// Fields Berth accepts but does not act on, each `field: reason`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsupported_fields: Option<Vec<String>>,
    /// Standard conditions (`Ready`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Option<Conditions>,
}
