//! Checks Berth's output against the AWS CLI's documented output (the samples under
//! `tests/fixtures/aws-cli/`): used by the unit tests here and by the end-to-end test.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::Value;

/// Every field of `documented` is in `actual` with the same JSON type, at every level:
/// objects field by field, array elements against the documented first element.
/// The error names the path of the first difference.
pub fn conforms(actual: &Value, documented: &Value) -> Result<(), String> {
    conforms_at(actual, documented, "")
}

fn conforms_at(actual: &Value, documented: &Value, path: &str) -> Result<(), String> {
    match (actual, documented) {
        (Value::Object(actual), Value::Object(documented)) => documented.iter().try_for_each(|(key, expected)| {
            let here = format!("{path}.{key}");
            let found = actual.get(key).ok_or_else(|| format!("{here} is missing"))?;
            conforms_at(found, expected, &here)
        }),
        (Value::Array(actual), Value::Array(documented)) => match documented.first() {
            None => Ok(()),
            Some(_) if actual.is_empty() => Err(format!("{path} is empty; the documented sample has elements to compare")),
            Some(expected) => actual.iter().enumerate().try_for_each(|(i, element)| conforms_at(element, expected, &format!("{path}[{i}]"))),
        },
        (actual, documented) if kind(actual) == kind(documented) => Ok(()),
        (actual, documented) => Err(format!("{path} is {} where the AWS CLI prints {}", kind(actual), kind(documented))),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The time `second` seconds after the epoch.
pub fn at(second: i64) -> Time {
    Time(k8s_openapi::jiff::Timestamp::from_second(second).expect("a valid test time"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_the_first_difference() {
        let documented = json!({"services": [{"desiredCount": 10, "events": [{"id": "x"}]}], "failures": []});
        assert!(conforms(&json!({"services": [{"desiredCount": 1, "events": [{"id": "y", "extra": 1}]}], "failures": []}), &documented).is_ok());
        assert_eq!(conforms(&json!({"services": [{"desiredCount": "1", "events": [{"id": "y"}]}], "failures": []}), &documented).unwrap_err(),
            ".services[0].desiredCount is a string where the AWS CLI prints a number");
        assert_eq!(conforms(&json!({"services": [{"events": []}], "failures": []}), &documented).unwrap_err(), ".services[0].desiredCount is missing");
        assert!(conforms(&json!({"services": [{"desiredCount": 1, "events": []}], "failures": []}), &documented).unwrap_err().contains("is empty"));
    }
}
