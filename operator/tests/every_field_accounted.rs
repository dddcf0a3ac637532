//! No spec field is silently ignored: every field of the TaskDefinition, Service, TaskRun and TaskSchedule
//! schemas is either honoured (listed in `honoured.rs` beside this test, each with where) or
//! reported by the kind's unsupported-fields function for a sample value.

#[path = "every_field_accounted/honoured.rs"]
mod honoured;

use std::collections::BTreeSet;

use berth::api::{Service, ServiceSpec, TaskDefinition, TaskDefinitionSpec, TaskRun, TaskRunSpec, TaskSchedule, TaskScheduleSpec};
use berth::ecs::render::unsupported_fields;
use berth::ecs::unsupported::{service_unsupported_fields, task_run_unsupported_fields, task_schedule_unsupported_fields};
use kube::CustomResourceExt;
use serde_json::{Map, Value, json};

/// Number of samples: each enum takes its k-th value and booleans alternate, so every
/// enum value (none of them has more) and both booleans are tried.
const SAMPLES: usize = 8;

fn spec_schema(crd: k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition) -> Value {
    let schema = crd.spec.versions[0].schema.clone().unwrap().open_api_v3_schema.unwrap();
    serde_json::to_value(schema).unwrap()["properties"]["spec"].clone()
}

/// Every leaf path of `schema` (`a.b[].c`): scalars, lists of scalars, maps and free-form JSON.
fn leaves(schema: &Value, path: &str, out: &mut Vec<String>) {
    let join = |key: &str| if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") };
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (key, property) in properties {
            leaves(property, &join(key), out);
        }
    } else if let Some(items) = schema.get("items").filter(|items| items.get("properties").is_some()) {
        leaves(items, &format!("{path}[]"), out);
    } else {
        out.push(path.to_owned());
    }
}

/// A value for `schema` with every property set; enums take their `k`-th value.
fn sample(schema: &Value, k: usize) -> Value {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let values: Vec<&Value> = values.iter().filter(|v| !v.is_null() && v.as_str() != Some("")).collect();
        return values[k % values.len()].clone();
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        return Value::Object(properties.iter().map(|(key, property)| (key.clone(), sample(property, k))).collect::<Map<_, _>>());
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("array") => json!([sample(&schema["items"], k)]),
        Some("boolean") => json!(k.is_multiple_of(2)),
        Some("integer") | Some("number") => json!(1 + k),
        Some("object") => json!({"key": "value"}),
        _ if schema.get("format").and_then(Value::as_str) == Some("date-time") => json!(format!("2024-01-0{}T00:00:00Z", 1 + k)),
        _ => json!(format!("sample-{k}")),
    }
}

/// The reported field paths, indexes (`[web]`, `[0]`) written as `[]`.
fn normalized(fields: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    fields
        .into_iter()
        .map(|field| {
            let mut out = String::new();
            let mut inside = false;
            for c in field.chars() {
                match c {
                    '[' => (inside, out) = (true, out + "["),
                    ']' => (inside, out) = (false, out + "]"),
                    _ if inside => {}
                    _ => out.push(c),
                }
            }
            out
        })
        .collect()
}

/// Is `leaf` the field `by` or inside it? List markers (`[]`) are left out of the comparison,
/// as some reports name a list field without them.
fn covered(leaf: &str, by: &str) -> bool {
    let (leaf, by) = (leaf.replace("[]", ""), by.replace("[]", ""));
    leaf == by || leaf.starts_with(&format!("{by}."))
}

fn assert_accounted(kind: &str, schema: Value, honoured: &[(&str, &str)], report: impl Fn(Value) -> Vec<String>) {
    let reported: BTreeSet<String> = (0..SAMPLES).flat_map(|k| normalized(report(sample(&schema, k)))).collect();
    let mut paths = Vec::new();
    leaves(&schema, "", &mut paths);
    let silent: Vec<&String> = paths
        .iter()
        .filter(|leaf| !honoured.iter().any(|(path, _)| covered(leaf, path)))
        .filter(|leaf| !reported.iter().any(|by| covered(leaf, by)))
        .collect();
    assert!(silent.is_empty(), "{kind} fields neither honoured nor reported: {silent:#?}");
    for (path, _) in honoured {
        assert!(paths.iter().any(|leaf| covered(leaf, path)), "{kind}: honoured path {path} is not in the schema");
    }
}

#[test]
fn every_task_definition_field_is_honoured_or_reported() {
    assert_accounted("TaskDefinition", spec_schema(TaskDefinition::crd()), honoured::TASK_DEFINITION, |sample| {
        let spec: TaskDefinitionSpec = serde_json::from_value(sample).expect("sample fits the type");
        unsupported_fields(&spec).into_iter().map(|u| u.field).collect()
    });
}

#[test]
fn every_service_field_is_honoured_or_reported() {
    assert_accounted("Service", spec_schema(Service::crd()), &[honoured::SERVICE, honoured::LAUNCH].concat(), |sample| {
        let spec: ServiceSpec = serde_json::from_value(sample).expect("sample fits the type");
        service_unsupported_fields(&spec, "web", "default", true).into_iter().map(|u| u.field).collect()
    });
}

#[test]
fn every_task_run_field_is_honoured_or_reported() {
    assert_accounted("TaskRun", spec_schema(TaskRun::crd()), &[honoured::TASK_RUN, honoured::LAUNCH].concat(), |sample| {
        let spec: TaskRunSpec = serde_json::from_value(sample).expect("sample fits the type");
        task_run_unsupported_fields(&spec, "default").into_iter().map(|u| u.field).collect()
    });
}

#[test]
fn every_task_schedule_field_is_honoured_or_reported() {
    assert_accounted("TaskSchedule", spec_schema(TaskSchedule::crd()), honoured::TASK_SCHEDULE, |mut sample| {
        // The input is RunTask overrides JSON: a sample of TaskRun's overrides, so the fields
        // inside it are accounted for too.
        let overrides = sample_overrides();
        sample["target"]["input"] = Value::String(overrides.to_string());
        let spec: TaskScheduleSpec = serde_json::from_value(sample).expect("sample fits the type");
        task_schedule_unsupported_fields(&spec, "default").into_iter().map(|u| u.field).collect()
    });
}

/// A TaskRun `overrides` with every field set (the schema's sample).
fn sample_overrides() -> Value {
    let schema = spec_schema(TaskRun::crd());
    sample(&schema["properties"]["overrides"], 0)
}
