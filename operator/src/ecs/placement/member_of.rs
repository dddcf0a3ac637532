//! A `memberOf` expression evaluated on one node, as ECS evaluates it on a container
//! instance (§2.10). Berth uses it for the expressions node and pod affinity cannot express
//! (`needs_berth_placement`): it chooses the node itself and pins the task there.
//!
//! Reference: <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/cluster-query-language.html>

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::PlacementError;
use super::affinity::{scheduler_terms, whole_value_regex};
use super::cql::{Condition, Expression, Predicate, Subject};
use super::node_labels::{attribute_value, label_for_attribute, label_value};

/// What a memberOf expression can ask of a node.
pub struct NodeFacts<'a> {
    pub name: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    /// spec.providerID, e.g. "aws:///us-east-1a/i-0123456789abcdef0"; ec2InstanceId matches
    /// its last path segment (the instance id), never the hostname; a node without
    /// providerID has no instance id.
    pub provider_id: Option<&'a str>,
    /// metadata.creationTimestamp in unix seconds (ECS registeredAt).
    pub registered_at: Option<i64>,
    /// Ready condition True (ECS agentConnected).
    pub ready: bool,
    /// status.nodeInfo.kubeletVersion, e.g. "v1.34.4" (ECS agentVersion; compare as
    /// versions, leading v optional).
    pub kubelet_version: Option<&'a str>,
    /// Active (not stopped) Berth tasks on the node, all owners (ECS runningTasksCount).
    pub running_tasks: usize,
    /// Active Berth tasks on the node by task group (e.g. "service:web" → 2), for task:group.
    pub task_groups: &'a BTreeMap<String, usize>,
}

/// Whether `node` satisfies `expression`. Errors (a bad regex, argument or operator) do
/// not depend on the node: every condition is checked, even where `and`/`or` could stop.
pub fn holds(expression: &Expression, node: &NodeFacts) -> Result<bool, PlacementError> {
    let all = |operands: &[Expression]| -> Result<Vec<bool>, PlacementError> {
        operands
            .iter()
            .map(|operand| holds(operand, node))
            .collect()
    };
    Ok(match expression {
        Expression::Condition(condition) => condition_holds(condition, node)?,
        Expression::Not(inner) => !holds(inner, node)?,
        Expression::And(operands) => all(operands)?.into_iter().all(|held| held),
        Expression::Or(operands) => all(operands)?.into_iter().any(|held| held),
    })
}

/// True when some condition of the expression cannot be a Kubernetes node/pod affinity
/// (runningTasksCount, agentConnected, agentVersion, registeredAt, ec2InstanceId,
/// task:group inside `or`/with several groups in `in`), so Berth must choose the node
/// itself and pin the pod. Also true for what affinity cannot say about attributes
/// (order comparisons with a non-integer argument, names that are not label keys) and for
/// expressions that expand to too many node selector terms.
///
/// Regexes too: node affinity can only list the label values that match today, so a pod
/// rendered before a matching node joins would never go there; Berth evaluates the regex
/// on each node at each placement instead.
pub fn needs_berth_placement(expression: &Expression) -> bool {
    scheduler_terms(expression).is_err() || uses_regex(expression)
}

fn uses_regex(expression: &Expression) -> bool {
    match expression {
        Expression::Condition(condition) => matches!(condition.predicate, Predicate::Matches(_) | Predicate::NotMatches(_)),
        Expression::Not(inner) => uses_regex(inner),
        Expression::And(operands) | Expression::Or(operands) => operands.iter().any(uses_regex),
    }
}

/// A subject's value on a node, or a condition's argument, typed as ECS compares it.
#[derive(Debug, PartialEq)]
enum Value {
    /// Attribute values (as the node label spells them), instance ids, task groups and
    /// agentConnected's `true` / `false`; `==` is string equality.
    Text(String),
    Count(i64),
    /// The version's numbers without trailing zeros, so 1.34 equals 1.34.0.
    Version(Vec<u64>),
    /// Unix seconds.
    Instant(i64),
}

/// A subject's values on a node are a set: none (attribute absent), one, or for task:group
/// one per group with tasks there. A positive operator holds when some value satisfies
/// it, and its negated form is exactly its negation, so a node without the attribute
/// satisfies `!=`, `!in`, `!~` and `!exists` but not `==`, `in`, `=~`, `exists` or an
/// order comparison. The docs say only "Subject does not exist" for `!exists`; that
/// negated operators admit such nodes is Berth's reading, the one Kubernetes `NotIn` and
/// `DoesNotExist` give the scheduler path too (dnf.rs relies on it).
fn condition_holds(condition: &Condition, node: &NodeFacts) -> Result<bool, PlacementError> {
    let Condition { subject, predicate } = condition;
    check_operator(subject, predicate)?;
    let values = node_values(subject, node);
    let any_equal = |arguments: &[String]| -> Result<bool, PlacementError> {
        let arguments = arguments
            .iter()
            .map(|argument| parse_argument(condition, argument))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(values.iter().any(|value| arguments.contains(value)))
    };
    let any_matches = |pattern: &str| -> Result<bool, PlacementError> {
        let regex = whole_value_regex(pattern)?;
        Ok(values.iter().any(|value| match value {
            Value::Text(text) => regex.is_match(&ecs_spelling(subject, text)),
            // check_operator rejects patterns on subjects with typed values.
            Value::Count(_) | Value::Version(_) | Value::Instant(_) => false,
        }))
    };
    let any_ordered = |argument: &str, accept: fn(Ordering) -> bool| {
        let argument = parse_argument(condition, argument)?;
        Ok::<_, PlacementError>(
            values
                .iter()
                .any(|value| order(value, &argument).is_some_and(accept)),
        )
    };
    match predicate {
        Predicate::Equals(argument) => any_equal(std::slice::from_ref(argument)),
        Predicate::NotEquals(argument) => any_equal(std::slice::from_ref(argument)).map(|h| !h),
        Predicate::In(arguments) => any_equal(arguments),
        Predicate::NotIn(arguments) => any_equal(arguments).map(|held| !held),
        Predicate::Exists => Ok(!values.is_empty()),
        Predicate::NotExists => Ok(values.is_empty()),
        Predicate::Matches(pattern) => any_matches(pattern),
        Predicate::NotMatches(pattern) => any_matches(pattern).map(|held| !held),
        Predicate::GreaterThan(argument) => any_ordered(argument, Ordering::is_gt),
        Predicate::GreaterThanOrEqual(argument) => any_ordered(argument, Ordering::is_ge),
        Predicate::LessThan(argument) => any_ordered(argument, Ordering::is_lt),
        Predicate::LessThanOrEqual(argument) => any_ordered(argument, Ordering::is_le),
    }
}

/// The operators the docs list per subject; `exists` / `!exists` are accepted for all.
/// The docs list none for task:group; Berth allows what a set of group names supports.
fn check_operator(subject: &Subject, predicate: &Predicate) -> Result<(), PlacementError> {
    let order = matches!(
        predicate,
        Predicate::GreaterThan(_)
            | Predicate::GreaterThanOrEqual(_)
            | Predicate::LessThan(_)
            | Predicate::LessThanOrEqual(_)
    );
    let list_or_pattern = matches!(
        predicate,
        Predicate::In(_) | Predicate::NotIn(_) | Predicate::Matches(_) | Predicate::NotMatches(_)
    );
    let allowed = match subject {
        Subject::Ec2InstanceId | Subject::AgentConnected | Subject::TaskGroup if order => {
            "==, !=, in, !in, =~, !~, exists and !exists"
        }
        Subject::AgentVersion | Subject::RegisteredAt | Subject::RunningTasksCount
            if list_or_pattern =>
        {
            "==, !=, >, >=, <, <=, exists and !exists"
        }
        _ => return Ok(()),
    };
    Err(PlacementError::InvalidOperator {
        subject: subject.to_string(),
        operator: predicate.operator(),
        allowed,
    })
}

fn node_values(subject: &Subject, node: &NodeFacts) -> Vec<Value> {
    match subject {
        Subject::Attribute(name) => label_for_attribute(name)
            .and_then(|key| node.labels.get(key))
            .map(|label| Value::Text(label.clone()))
            .into_iter()
            .collect(),
        Subject::Ec2InstanceId => node
            .provider_id
            .and_then(|id| id.rsplit('/').next())
            .filter(|id| !id.is_empty())
            .map(|id| Value::Text(id.to_string()))
            .into_iter()
            .collect(),
        Subject::TaskGroup => node
            .task_groups
            .iter()
            .filter(|(_, tasks)| **tasks > 0)
            .map(|(group, _)| Value::Text(group.clone()))
            .collect(),
        Subject::AgentConnected => vec![Value::Text(node.ready.to_string())],
        Subject::AgentVersion => node
            .kubelet_version
            .and_then(version)
            .map(Value::Version)
            .into_iter()
            .collect(),
        Subject::RegisteredAt => node.registered_at.map(Value::Instant).into_iter().collect(),
        Subject::RunningTasksCount => vec![Value::Count(
            i64::try_from(node.running_tasks).unwrap_or(i64::MAX),
        )],
    }
}

/// A condition's argument as a value of its subject.
fn parse_argument(condition: &Condition, argument: &str) -> Result<Value, PlacementError> {
    let invalid = |expected: &'static str| PlacementError::InvalidArgument {
        condition: format!("{} {}", condition.subject, condition.predicate.operator()),
        value: argument.to_string(),
        expected,
    };
    match &condition.subject {
        Subject::Attribute(name) => Ok(Value::Text(label_value(name, argument))),
        Subject::Ec2InstanceId | Subject::TaskGroup => Ok(Value::Text(argument.to_string())),
        Subject::AgentConnected => Ok(Value::Text(argument.to_ascii_lowercase())),
        Subject::RunningTasksCount => argument
            .trim()
            .parse()
            .map(Value::Count)
            .map_err(|_| invalid("an integer")),
        Subject::AgentVersion => version(argument)
            .map(Value::Version)
            .ok_or_else(|| invalid("a version such as 1.34 or v1.34.2")),
        Subject::RegisteredAt => instant(argument).map(Value::Instant).ok_or_else(|| {
            invalid(
                "a date such as 2018-06-18T22:28:28+00:00, 2018-06-18T22:28:28Z, 2018-06-18T22:28:28 or 2018-06-18",
            )
        }),
    }
}

/// A node's text as ECS spells it, for regexes (`amd64` is `x86_64`).
fn ecs_spelling(subject: &Subject, text: &str) -> String {
    match subject {
        Subject::Attribute(name) => attribute_value(name, text),
        _ => text.to_string(),
    }
}

/// How a node's value compares with an argument. Text compares as numbers when both are
/// numbers (`attribute:cores > 8`) and as strings when neither is; a number and a word do
/// not compare, as Kubernetes `Gt` / `Lt` fail on a label that is not an integer.
fn order(value: &Value, argument: &Value) -> Option<Ordering> {
    match (value, argument) {
        (Value::Text(value), Value::Text(argument)) => match (real(value), real(argument)) {
            (Some(_), Some(_)) => numeric_order(value, argument),
            (None, None) => Some(value.cmp(argument)),
            _ => None,
        },
        (Value::Count(value), Value::Count(argument)) => Some(value.cmp(argument)),
        (Value::Version(value), Value::Version(argument)) => Some(value.cmp(argument)),
        (Value::Instant(value), Value::Instant(argument)) => Some(value.cmp(argument)),
        _ => None,
    }
}

/// Two numbers compared exactly when both are integers (f64 would round large ones).
fn numeric_order(a: &str, b: &str) -> Option<Ordering> {
    match (a.trim().parse::<i128>(), b.trim().parse::<i128>()) {
        (Ok(a), Ok(b)) => Some(a.cmp(&b)),
        _ => real(a)?.partial_cmp(&real(b)?),
    }
}

fn real(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

/// A version's numbers without trailing zeros. A leading `v` and a pre-release or build
/// suffix (`-eks-1552ad0`, `+k3s1`) are ignored, so v1.30.2-eks-1552ad0 equals 1.30.2.
fn version(text: &str) -> Option<Vec<u64>> {
    let text = text.trim();
    let text = text.strip_prefix(['v', 'V']).unwrap_or(text);
    let core = text.split(['-', '+']).next()?;
    let mut numbers = core
        .split('.')
        .map(|n| n.parse::<u64>().ok())
        .collect::<Option<Vec<_>>>()?;
    while numbers.last() == Some(&0) {
        numbers.pop();
    }
    Some(numbers)
}

/// Unix seconds of a registeredAt argument, in the formats the docs list: with an offset
/// or `Z`; without one (UTC); or a date alone (its midnight, UTC).
fn instant(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(timestamp) = text.parse::<jiff::Timestamp>() {
        return Some(timestamp.as_second());
    }
    // A civil date-time's time is optional: a date alone parses as its midnight.
    let civil = text.parse::<jiff::civil::DateTime>().ok()?;
    let zoned = civil.to_zoned(jiff::tz::TimeZone::UTC).ok()?;
    Some(zoned.timestamp().as_second())
}

#[cfg(test)]
mod tests;
