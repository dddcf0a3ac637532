//! Passes an ECS object through Berth's typed spec, so the output is exactly what the CRD
//! accepts, and names every field the typed spec left out (the CRD would reject it).

use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};

use super::error::ImportError;
use super::notes::dropped;
use super::path::{child, item, shown};

/// `fields` as the typed spec `T` (`kind` names it in errors). Fields `T` does not know are
/// dropped with `unknown_reason`.
pub fn fit_spec<T: Serialize + DeserializeOwned>(
    fields: Map<String, Value>,
    path: &str,
    kind: &'static str,
    unknown_reason: &str,
    notes: &mut Vec<String>,
) -> Result<T, ImportError> {
    let original = Value::Object(fields);
    let spec: T = serde_path_to_error::deserialize(&original).map_err(|error| {
        let inner_path = error.path().to_string();
        let at = if inner_path == "." {
            shown(path)
        } else {
            child(path, &inner_path)
        };
        ImportError::DoesNotFit {
            at,
            kind,
            reason: error.into_inner().to_string(),
        }
    })?;
    let kept = serde_json::to_value(&spec).expect("the API types serialize to JSON");
    note_left_out(&original, &kept, path, unknown_reason, notes);
    Ok(spec)
}

/// Walks `original` beside `kept` and notes every object key `kept` lacks.
fn note_left_out(
    original: &Value,
    kept: &Value,
    path: &str,
    unknown_reason: &str,
    notes: &mut Vec<String>,
) {
    match (original, kept) {
        (Value::Object(original), Value::Object(kept)) => {
            for (key, value) in original {
                let path = child(path, key);
                match kept.get(key) {
                    Some(kept) => note_left_out(value, kept, &path, unknown_reason, notes),
                    None if value.is_null() => {
                        notes.push(dropped(&path, "null, the same as leaving it out"))
                    }
                    None => notes.push(dropped(&path, unknown_reason)),
                }
            }
        }
        (Value::Array(original), Value::Array(kept)) => {
            for (index, (value, kept)) in original.iter().zip(kept).enumerate() {
                note_left_out(value, kept, &item(path, index), unknown_reason, notes);
            }
        }
        _ => {}
    }
}
