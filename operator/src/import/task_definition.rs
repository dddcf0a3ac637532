//! An ECS task definition (RegisterTaskDefinition input, or the object describe-task-definition
//! returns) as a Berth `TaskDefinition`.

use serde_json::{Map, Value};

use crate::api::{TaskDefinition, TaskDefinitionSpec};

use super::ImportOptions;
use super::error::ImportError;
use super::fit::fit_spec;
use super::name::kubernetes_name;
use super::notes::drop_fields;
use super::path::shown;

/// Fields ECS sets on a registered revision, which are not part of the registration input.
const READ_ONLY: &[(&str, &str)] = &[
    (
        "taskDefinitionArn",
        "read-only (Berth names revisions family:revision)",
    ),
    ("revision", "read-only (assigned by Berth on apply)"),
    (
        "status",
        "read-only (Berth tracks the status of each revision)",
    ),
    (
        "requiresAttributes",
        "read-only (worked out by ECS from the features used)",
    ),
    (
        "compatibilities",
        "read-only (worked out by ECS from the features used)",
    ),
    ("registeredAt", "read-only (set by ECS on registration)"),
    ("registeredBy", "read-only (set by ECS on registration)"),
    (
        "deregisteredAt",
        "read-only (set by ECS when the revision was deregistered)",
    ),
    (
        "deleteRequestedAt",
        "read-only (set by ECS when the revision was deleted)",
    ),
];

/// The object is named after the family, which stays in `spec.family` as written.
pub fn task_definition(
    mut fields: Map<String, Value>,
    path: &str,
    options: &ImportOptions,
    notes: &mut Vec<String>,
) -> Result<TaskDefinition, ImportError> {
    drop_fields(&mut fields, READ_ONLY, path, notes);
    let family = fields
        .get("family")
        .and_then(Value::as_str)
        .ok_or_else(|| ImportError::MissingName {
            at: shown(path),
            field: "family",
            kind: "TaskDefinition",
        })?;
    let name = kubernetes_name(family).ok_or_else(|| ImportError::NoValidName {
        at: shown(path),
        field: "family",
        value: family.to_owned(),
    })?;
    let spec: TaskDefinitionSpec = fit_spec(
        fields,
        path,
        "TaskDefinition",
        "not part of the ECS RegisterTaskDefinition input",
        notes,
    )?;
    let mut task_definition = TaskDefinition::new(&name, spec);
    task_definition.metadata.namespace = options.namespace.clone();
    Ok(task_definition)
}
