//! Why an input could not be imported.

/// The input shapes `import` recognises, for the error about anything else.
const EXPECTED_SHAPES: &str = "a RegisterTaskDefinition input (with containerDefinitions), \
    describe-task-definition output (with taskDefinition), a CreateService input (with \
    serviceName, or a taskDefinition name and --name), a describe-services entry, \
    create-service output (with service), describe-services output (with services), \
    aws scheduler get-schedule output (with ScheduleExpression and Target), \
    [aws events describe-rule output, list-targets-by-rule output], \
    or a JSON array of these";

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("invalid JSON at line {line}, column {column}: {reason}")]
    InvalidJson {
        line: usize,
        column: usize,
        reason: String,
    },
    #[error("{at}: expected {EXPECTED_SHAPES}; found {found}")]
    UnknownShape { at: String, found: String },
    #[error("{at}: {field} is missing or not a string; it names the {kind} (or give the name with --name)")]
    MissingName {
        at: String,
        field: &'static str,
        kind: &'static str,
    },
    #[error("{at}: {field} {value:?} has no letter or digit to make a Kubernetes name from")]
    NoValidName {
        at: String,
        field: &'static str,
        value: String,
    },
    #[error("{at}: does not fit the Berth {kind} spec: {reason}")]
    DoesNotFit {
        at: String,
        kind: &'static str,
        reason: String,
    },
    #[error("cannot write YAML: {0}")]
    Yaml(#[from] serde_saphyr::SerializeError),
}

impl ImportError {
    /// Keeps the position apart from serde_json's message, which ends with it.
    pub fn invalid_json(error: serde_json::Error) -> Self {
        let (line, column) = (error.line(), error.column());
        let message = error.to_string();
        let position = format!(" at line {line} column {column}");
        let reason = message
            .strip_suffix(&position)
            .unwrap_or(&message)
            .to_owned();
        Self::InvalidJson {
            line,
            column,
            reason,
        }
    }
}
