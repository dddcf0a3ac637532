//! Locations in the input JSON (`services[1].deployments`), so every note and error points at
//! the value it is about. The root is the empty path.

/// The path of `key` inside the object at `path`.
pub fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// The path of entry `index` of the array at `path`.
pub fn item(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

/// `path` for messages: the root reads as "the input".
pub fn shown(path: &str) -> String {
    if path.is_empty() {
        "the input".to_owned()
    } else {
        path.to_owned()
    }
}
