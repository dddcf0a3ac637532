//! The read-only fields ECS adds when it describes a task definition or a service. They are
//! accepted so that `describe-*` output applies as written, and are reported as ignored
//! (`status.unsupportedFields`): Berth keeps its own revisions, counts and deployments.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::any_json;

/// What `describe-task-definition` reports beside the registration input.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinitionDescription {
    /// Read-only: ARN of the described revision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_definition_arn: Option<String>,
    /// Read-only: revision number ECS assigned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<i64>,
    /// Read-only: ACTIVE, INACTIVE or DELETE_IN_PROGRESS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Read-only: container instance attributes ECS worked out from the features used.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default)]
    #[schemars(schema_with = "any_json")]
    pub requires_attributes: Option<Value>,
    /// Read-only: launch types ECS validated the revision against.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compatibilities: Option<Vec<String>>,
    /// Read-only: when ECS registered the revision (a timestamp or epoch seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default)]
    #[schemars(schema_with = "any_json")]
    pub registered_at: Option<Value>,
    /// Read-only: who registered the revision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered_by: Option<String>,
    /// Read-only: when the revision was deregistered.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default)]
    #[schemars(schema_with = "any_json")]
    pub deregistered_at: Option<Value>,
    /// Read-only: when deletion of the revision was requested.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default)]
    #[schemars(schema_with = "any_json")]
    pub delete_requested_at: Option<Value>,
}

/// What `describe-services` reports beside the CreateService input.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceDescription {
    /// Read-only: ARN of the described service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_arn: Option<String>,
    /// Read-only: ARN of the ECS cluster (the namespace, in Berth).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<String>,
    /// Read-only: ACTIVE, DRAINING or INACTIVE.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Read-only: tasks RUNNING when described.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running_count: Option<i32>,
    /// Read-only: tasks PENDING when described.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_count: Option<i32>,
    /// Read-only: the service's deployments when described.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default)]
    #[schemars(schema_with = "any_json")]
    pub deployments: Option<Value>,
    /// Read-only: the service's task sets (CODE_DEPLOY and EXTERNAL controllers).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default)]
    #[schemars(schema_with = "any_json")]
    pub task_sets: Option<Value>,
    /// Read-only: the service's latest events.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default)]
    #[schemars(schema_with = "any_json")]
    pub events: Option<Value>,
    /// Read-only: when ECS created the service (a timestamp or epoch seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default)]
    #[schemars(schema_with = "any_json")]
    pub created_at: Option<Value>,
    /// Read-only: who created the service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Read-only: the role ECS uses for load balancer calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// Read-only: operating system family of the running tasks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform_family: Option<String>,
    /// Read-only: ARN of the current service deployment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_service_deployment: Option<String>,
    /// Read-only: the service revisions running.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default)]
    #[schemars(schema_with = "any_json")]
    pub current_service_revisions: Option<Value>,
}

/// The wire names of the read-only fields set in `description`, sorted by name.
pub fn set_fields<T: Serialize>(description: &T) -> Vec<String> {
    match serde_json::to_value(description) {
        Ok(Value::Object(fields)) => fields.into_iter().filter(|(_, value)| !value.is_null()).map(|(key, _)| key).collect(),
        _ => Vec::new(),
    }
}
