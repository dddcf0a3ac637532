//! The lines `import` writes on stderr: every field it drops, with the reason.

use serde_json::{Map, Value};

use super::path::child;

/// The note for a field left out of the output.
pub fn dropped(path: &str, reason: &str) -> String {
    format!("dropped {path}: {reason}")
}

/// Removes each of `fields` (name, reason) present in `object`, with one note per field.
pub fn drop_fields(
    object: &mut Map<String, Value>,
    fields: &[(&str, &str)],
    path: &str,
    notes: &mut Vec<String>,
) {
    for (field, reason) in fields {
        if object.remove(*field).is_some() {
            notes.push(dropped(&child(path, field), reason));
        }
    }
}
