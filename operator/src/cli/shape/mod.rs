//! Berth objects in the JSON shapes the AWS CLI prints for ECS calls (field names, nesting,
//! `failures[]`), so scripts and `jq` filters written against `aws ecs` keep working. Pure:
//! the verbs read the objects and print what these return.

pub mod service;
pub mod task;
pub mod task_definition;
pub mod testing;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::Serialize;
use serde_json::{Value, json};

/// A timestamp as the AWS CLI's documented examples print it: epoch seconds with
/// milliseconds.
pub fn epoch_seconds(time: &Time) -> f64 {
    time.0.as_millisecond() as f64 / 1000.0
}

/// Sets `key` on the object `target` when `value` is there, as ECS leaves unset fields out.
pub fn insert_some<T: Serialize>(target: &mut Value, key: &str, value: Option<T>) {
    if let Some(value) = value.and_then(|v| serde_json::to_value(v).ok()).filter(|v| !v.is_null()) {
        target[key] = value;
    }
}

/// An entry of `failures[]`: the ARN asked for and why it has no answer.
pub fn failure(arn: &str, reason: &str) -> Value {
    json!({"arn": arn, "reason": reason})
}
