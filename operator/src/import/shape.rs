//! Recognises which ECS JSON the input is and unwraps the resources from the CLI output
//! envelopes (describe-task-definition, describe-services, create-service), keeping input order.
//! EventBridge schedules (get-schedule output, a rule beside its targets) are recognised by
//! their `ScheduleExpression`.

use serde_json::{Map, Value};

use super::error::ImportError;
use super::notes::dropped;
use super::path::{child, item, shown};

/// Which kind of ECS resource an object describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    TaskDefinition,
    Service,
    /// EventBridge Scheduler get-schedule output.
    Schedule,
    /// An EventBridge rule with its `Targets`.
    ScheduleRule,
}

/// An ECS task definition or service object, and where it sits in the input.
#[derive(Debug)]
pub struct EcsResource {
    pub kind: ResourceKind,
    pub path: String,
    pub fields: Map<String, Value>,
}

/// The ECS resources in `value`, found by their shape.
pub fn find_resources(
    value: Value,
    path: &str,
    notes: &mut Vec<String>,
) -> Result<Vec<EcsResource>, ImportError> {
    match value {
        Value::Array(entries) => {
            let mut resources = Vec::new();
            for (index, entry) in super::schedule::pair_rules_with_targets(entries).into_iter().enumerate() {
                resources.extend(find_resources(entry, &item(path, index), notes)?);
            }
            Ok(resources)
        }
        Value::Object(object) => object_resources(object, path, notes),
        other => Err(unknown_shape(path, &other)),
    }
}

fn object_resources(
    mut object: Map<String, Value>,
    path: &str,
    notes: &mut Vec<String>,
) -> Result<Vec<EcsResource>, ImportError> {
    // describe-task-definition wraps an object; CreateService names one with a string.
    match object.remove("taskDefinition") {
        Some(Value::Object(task_definition)) => {
            return Ok(vec![described_task_definition(
                task_definition,
                object,
                path,
                notes,
            )]);
        }
        Some(reference) => _ = object.insert("taskDefinition".to_owned(), reference),
        None => {}
    }
    match object.remove("service") {
        Some(Value::Object(service)) => {
            drop_rest(object, path, "create-service output", notes);
            return Ok(vec![EcsResource {
                kind: ResourceKind::Service,
                path: child(path, "service"),
                fields: service,
            }]);
        }
        Some(other) => _ = object.insert("service".to_owned(), other),
        None => {}
    }
    match object.remove("services") {
        Some(Value::Array(services)) => return described_services(services, object, path, notes),
        Some(other) => _ = object.insert("services".to_owned(), other),
        None => {}
    }
    let kind = if object.contains_key("ScheduleExpression") && object.contains_key("Target") {
        ResourceKind::Schedule
    } else if object.contains_key("ScheduleExpression") || object.contains_key("Targets") {
        ResourceKind::ScheduleRule
    } else if object.contains_key("containerDefinitions") {
        ResourceKind::TaskDefinition
    } else if object.contains_key("serviceName") || object.get("taskDefinition").is_some_and(Value::is_string) {
        ResourceKind::Service
    } else {
        return Err(unknown_shape(path, &Value::Object(object)));
    };
    Ok(vec![EcsResource {
        kind,
        path: path.to_owned(),
        fields: object,
    }])
}

/// describe-task-definition output: `{"taskDefinition": {...}, "tags": [...]}`. The tags
/// belong to the task definition, so they move into it.
fn described_task_definition(
    mut fields: Map<String, Value>,
    mut envelope: Map<String, Value>,
    path: &str,
    notes: &mut Vec<String>,
) -> EcsResource {
    if let Some(tags) = envelope.remove("tags") {
        if fields.contains_key("tags") {
            notes.push(dropped(
                &child(path, "tags"),
                "taskDefinition.tags is set as well; kept that one",
            ));
        } else if tags.as_array().is_none_or(|tags| !tags.is_empty()) {
            fields.insert("tags".to_owned(), tags);
        }
    }
    drop_rest(envelope, path, "describe-task-definition output", notes);
    EcsResource {
        kind: ResourceKind::TaskDefinition,
        path: child(path, "taskDefinition"),
        fields,
    }
}

/// describe-services output: `{"services": [...], "failures": [...]}`. A failure is a
/// service ECS could not describe, so there is nothing to import for it.
fn described_services(
    services: Vec<Value>,
    mut envelope: Map<String, Value>,
    path: &str,
    notes: &mut Vec<String>,
) -> Result<Vec<EcsResource>, ImportError> {
    if let Some(Value::Array(failures)) = envelope.remove("failures") {
        for (index, failure) in failures.iter().enumerate() {
            notes.push(format!(
                "skipped {}: ECS reported the failure {failure}",
                item(&child(path, "failures"), index)
            ));
        }
    }
    drop_rest(envelope, path, "describe-services output", notes);
    let services_path = child(path, "services");
    services
        .into_iter()
        .enumerate()
        .map(|(index, service)| {
            let path = item(&services_path, index);
            match service {
                Value::Object(fields) => Ok(EcsResource {
                    kind: ResourceKind::Service,
                    path,
                    fields,
                }),
                other => Err(unknown_shape(&path, &other)),
            }
        })
        .collect()
}

/// Notes the envelope fields that are not part of any resource.
fn drop_rest(envelope: Map<String, Value>, path: &str, shape: &str, notes: &mut Vec<String>) {
    for key in envelope.keys() {
        notes.push(dropped(
            &child(path, key),
            &format!("not part of the {shape}"),
        ));
    }
}

fn unknown_shape(path: &str, value: &Value) -> ImportError {
    let found = match value {
        Value::Object(object) if object.is_empty() => "an empty object".to_owned(),
        Value::Object(object) => {
            let keys: Vec<&str> = object.keys().map(String::as_str).take(8).collect();
            format!("an object with keys {}", keys.join(", "))
        }
        Value::Array(_) => "an array".to_owned(),
        Value::String(_) => "a string".to_owned(),
        Value::Number(_) => "a number".to_owned(),
        Value::Bool(_) => "a boolean".to_owned(),
        Value::Null => "null".to_owned(),
    };
    ImportError::UnknownShape {
        at: shown(path),
        found,
    }
}
