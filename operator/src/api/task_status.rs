//! How a task (a Pod) is reported in the status of its Service or TaskRun (ecs-semantics §3).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// ECS task `lastStatus` values.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskLastStatus {
    Provisioning,
    Pending,
    Activating,
    Running,
    Deactivating,
    Stopping,
    Deprovisioning,
    Stopped,
}

/// ECS `TaskStopCode` values: why a task stopped.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum TaskStopCode {
    TaskFailedToStart,
    EssentialContainerExited,
    UserInitiated,
    ServiceSchedulerInitiated,
    SpotInterruption,
    TerminationNotice,
    InfrastructureHealth,
}

/// One task and how it is doing or how it ended.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskSummary {
    /// Task ID (also the `berth.dev/task-id` label of the pod).
    pub task_id: String,
    /// Name of the pod running the task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_name: Option<String>,
    /// PROVISIONING, PENDING, ACTIVATING, RUNNING, DEACTIVATING, STOPPING, DEPROVISIONING or STOPPED.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status: Option<TaskLastStatus>,
    /// Why the task stopped (ECS TaskStopCode), once stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_code: Option<TaskStopCode>,
    /// Human-readable stop reason in ECS wording, e.g. `Essential container in task exited`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_reason: Option<String>,
    /// When the task reached STOPPED.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<Time>,
    /// Per-container outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub containers: Option<Vec<ContainerOutcome>>,
}

/// How one container of a task ended (or is doing).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerOutcome {
    /// Container name from the task definition.
    pub name: String,
    /// Exit code, once the container exited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Why the container stopped, e.g. `OutOfMemoryError: Container killed due to memory usage`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
