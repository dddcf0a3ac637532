//! EventBridge schedules that run ECS tasks, as Berth `TaskSchedule`s: `aws scheduler
//! get-schedule` output (a CreateSchedule input with PascalCase keys), and the older
//! EventBridge rule (`aws events describe-rule`) with its targets (`aws events
//! list-targets-by-rule`), one TaskSchedule per ECS target.

use serde_json::{Map, Value};

use crate::api::{TaskSchedule, TaskScheduleSpec};

use super::ImportOptions;
use super::error::ImportError;
use super::fit::fit_spec;
use super::name::kubernetes_name;
use super::notes::{drop_fields, dropped};
use super::path::{child, item, shown};

/// get-schedule reports these about the schedule, not part of CreateSchedule.
const SCHEDULE_READ_ONLY: &[(&str, &str)] = &[
    ("Arn", "read-only (the Kubernetes object is the schedule)"),
    ("CreationDate", "read-only (set by EventBridge Scheduler)"),
    ("LastModificationDate", "read-only (set by EventBridge Scheduler)"),
];

/// describe-rule reports these about the rule; none of them shapes the schedule.
const RULE_ONLY: &[(&str, &str)] = &[
    ("Arn", "read-only (the Kubernetes object is the schedule)"),
    ("CreatedBy", "read-only (set by EventBridge)"),
    ("ManagedBy", "read-only (set by EventBridge)"),
    ("EventBusName", "a scheduled rule uses no event bus"),
    ("RoleArn", "the rule's role is not used; the operator starts the tasks"),
];

/// Is `object` describe-rule output (a scheduled rule, without its targets)?
fn is_rule(object: &Map<String, Value>) -> bool {
    object.contains_key("ScheduleExpression") && !object.contains_key("Target") && !object.contains_key("Targets")
}

/// `[describe-rule output, list-targets-by-rule output]` side by side become one rule with
/// its `Targets`, as if EventBridge had returned them together.
pub fn pair_rules_with_targets(entries: Vec<Value>) -> Vec<Value> {
    let mut paired: Vec<Value> = Vec::with_capacity(entries.len());
    for entry in entries {
        let targets = entry.as_object().filter(|o| o.contains_key("Targets") && !o.contains_key("ScheduleExpression")).and_then(|o| o.get("Targets").cloned());
        match (paired.last_mut().and_then(Value::as_object_mut), targets) {
            (Some(rule), Some(targets)) if is_rule(rule) => _ = rule.insert("Targets".into(), targets),
            _ => paired.push(entry),
        }
    }
    paired
}

/// `aws scheduler get-schedule` output (or a CreateSchedule input) as a TaskSchedule.
pub fn schedule(mut fields: Map<String, Value>, path: &str, options: &ImportOptions, notes: &mut Vec<String>) -> Result<TaskSchedule, ImportError> {
    drop_fields(&mut fields, SCHEDULE_READ_ONLY, path, notes);
    let name = name(fields.remove("Name"), path, options)?;
    if fields.get("Target").and_then(|t| t.get("EcsParameters")).is_none() {
        return Err(not_ecs(&child(path, "Target")));
    }
    to_schedule(&name, fields, path, options, notes)
}

/// An EventBridge rule with its targets: one TaskSchedule per ECS target, named after the
/// rule (and the target's Id when the rule has several).
pub fn rule_schedules(mut rule: Map<String, Value>, path: &str, options: &ImportOptions, notes: &mut Vec<String>) -> Result<Vec<TaskSchedule>, ImportError> {
    if !rule.contains_key("ScheduleExpression") {
        let reason = "list-targets-by-rule output needs its scheduled rule beside it: give [describe-rule output, list-targets-by-rule output]";
        return Err(ImportError::DoesNotFit { at: shown(path), kind: "TaskSchedule", reason: reason.into() });
    }
    drop_fields(&mut rule, RULE_ONLY, path, notes);
    let rule_name = name(rule.remove("Name"), path, options)?;
    if rule.get("State").and_then(Value::as_str).is_some_and(|s| s.starts_with("ENABLED_")) {
        notes.push(format!("{}: {} read as ENABLED (CloudTrail management events do not apply to a schedule)", child(path, "State"), rule["State"]));
        rule.insert("State".into(), "ENABLED".into());
    }
    let targets = match rule.remove("Targets") {
        Some(Value::Array(targets)) => targets,
        _ => return Err(ImportError::DoesNotFit { at: shown(path), kind: "TaskSchedule", reason: "a rule needs its targets: give [describe-rule output, list-targets-by-rule output]".into() }),
    };
    let targets_path = child(path, "Targets");
    let ecs: Vec<(usize, Map<String, Value>)> = targets.into_iter().enumerate()
        .filter_map(|(index, target)| match target {
            Value::Object(target) if target.contains_key("EcsParameters") => Some((index, target)),
            _ => {
                notes.push(dropped(&item(&targets_path, index), "not an ECS target (no EcsParameters)"));
                None
            }
        })
        .collect();
    if ecs.is_empty() {
        return Err(not_ecs(&targets_path));
    }
    let several = ecs.len() > 1;
    ecs.into_iter().map(|(index, mut target)| {
        let target_path = item(&targets_path, index);
        let id = target.remove("Id").and_then(|id| id.as_str().map(String::from)).unwrap_or_else(|| index.to_string());
        let name = if several { format!("{rule_name}-{id}") } else { rule_name.clone() };
        if !several {
            notes.push(dropped(&child(&target_path, "Id"), "the TaskSchedule is named after the rule"));
        }
        // Rules tag tasks with ECS's {Key, Value}; Scheduler with one-entry maps.
        if let Some(tags) = target.get_mut("EcsParameters").and_then(|e| e.get_mut("Tags")).and_then(Value::as_array_mut) {
            for tag in tags.iter_mut() {
                if let (Some(key), Some(value)) = (tag.get("Key").and_then(Value::as_str), tag.get("Value")) {
                    *tag = Value::Object(Map::from_iter([(key.to_string(), value.clone())]));
                }
            }
        }
        let mut fields = rule.clone();
        fields.insert("Target".into(), Value::Object(target));
        to_schedule(&name, fields, path, options, notes)
    }).collect()
}

fn name(name: Option<Value>, path: &str, options: &ImportOptions) -> Result<String, ImportError> {
    let ecs_name = match (name, &options.name) {
        (_, Some(name)) => name.clone(),
        (Some(Value::String(name)), None) => name,
        _ => return Err(ImportError::MissingName { at: shown(path), field: "Name", kind: "TaskSchedule" }),
    };
    kubernetes_name(&ecs_name).ok_or(ImportError::NoValidName { at: shown(path), field: "Name", value: ecs_name })
}

fn not_ecs(at: &str) -> ImportError {
    ImportError::DoesNotFit { at: at.to_string(), kind: "TaskSchedule", reason: "the target is not ECS RunTask (no EcsParameters); Berth schedules ECS tasks only".into() }
}

fn to_schedule(name: &str, fields: Map<String, Value>, path: &str, options: &ImportOptions, notes: &mut Vec<String>) -> Result<TaskSchedule, ImportError> {
    let mut fields = match camel_case(Value::Object(fields), false) {
        Value::Object(fields) => fields,
        _ => unreachable!("an object stays an object"),
    };
    // The API takes dates as epoch seconds; the CLI prints them as text.
    for date in ["startDate", "endDate"] {
        if let Some(seconds) = fields.get(date).and_then(Value::as_f64) {
            let time = k8s_openapi::jiff::Timestamp::from_second(seconds.round() as i64).map_err(|e| ImportError::DoesNotFit { at: child(path, date), kind: "TaskSchedule", reason: e.to_string() })?;
            fields.insert(date.into(), time.to_string().into());
        }
    }
    let spec: TaskScheduleSpec = fit_spec(fields, path, "TaskSchedule", "not part of the EventBridge Scheduler CreateSchedule input with an ECS target", notes)?;
    let mut schedule = TaskSchedule::new(name, spec);
    schedule.metadata.namespace = options.namespace.clone();
    Ok(schedule)
}

/// EventBridge's PascalCase keys in the CRD's camelCase (`EcsParameters` ->
/// `ecsParameters`); ECS's own camelCase keys inside stay as they are, and so do the
/// user's tag keys.
fn camel_case(value: Value, tag_map: bool) -> Value {
    match value {
        Value::Object(object) => Value::Object(object.into_iter().map(|(key, value)| {
            if tag_map {
                return (key, value);
            }
            let is_tags = key == "Tags";
            let mut chars = key.chars();
            let key = chars.next().map(|first| first.to_lowercase().chain(chars).collect()).unwrap_or_default();
            let value = match value {
                Value::Array(tags) if is_tags => Value::Array(tags.into_iter().map(|t| camel_case(t, true)).collect()),
                other => camel_case(other, false),
            };
            (key, value)
        }).collect()),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| camel_case(v, tag_map)).collect()),
        other => other,
    }
}
