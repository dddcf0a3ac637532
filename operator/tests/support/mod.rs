//! Fixtures shared by the API tests: real ECS JSON inputs wrapped into Berth objects.

use serde_json::Value;

/// An ECS JSON fixture from `tests/fixtures`.
pub fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture exists"))
        .expect("fixture is JSON")
}
