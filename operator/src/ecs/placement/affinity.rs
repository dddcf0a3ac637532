//! Placement constraints (`distinctInstance`, `memberOf`) → required node affinity, pod
//! affinity and pod anti-affinity (§4.7). Constraints are binding in ECS, so everything here
//! is `requiredDuringScheduling`.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PodAffinity,
    PodAffinityTerm, PodAntiAffinity,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use regex::Regex;

use super::PlacementError;
use super::cql::{self, Condition, Expression, Predicate, Subject};
use super::dnf::{Disjunction, disjunctive_normal_form};
use super::node_labels::{HOSTNAME_LABEL, attribute_value, label_for_attribute, label_value};
use crate::ecs::render::names::is_label_value;

/// ECS's limit on placement constraints per task (§5).
pub const MAX_CONSTRAINTS: usize = 10;
/// Bound on nodeSelectorTerms after expanding `or` and `not`.
pub const MAX_NODE_SELECTOR_TERMS: usize = 64;

/// One `placementConstraints` entry, as ECS spells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacementConstraintItem {
    /// `distinctInstance` or `memberOf`.
    pub constraint_type: String,
    pub expression: Option<String>,
}

/// What the translation needs from the cluster and the caller.
pub struct ConstraintContext<'a> {
    /// The task group of the tasks being placed (`service:<name>` for a service), for
    /// `distinctInstance`.
    pub task_group: &'a str,
    /// Current values of each node label, for expanding `=~` / `!~` into `In` / `NotIn`.
    pub known_label_values: &'a BTreeMap<String, BTreeSet<String>>,
    /// The pod label selector that picks the tasks of a task group.
    pub group_selector: &'a dyn Fn(&str) -> LabelSelector,
}

/// Scheduling constraints for a task's pod; `None` where nothing is required.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SchedulingConstraints {
    pub node_affinity: Option<NodeAffinity>,
    pub pod_affinity: Option<PodAffinity>,
    pub pod_anti_affinity: Option<PodAntiAffinity>,
}

/// Translates all constraints of a task (task definition and service/run-task ones
/// together); they must all hold, so `memberOf` expressions are ANDed.
pub fn translate_constraints(
    constraints: &[PlacementConstraintItem],
    context: &ConstraintContext,
) -> Result<SchedulingConstraints, PlacementError> {
    if constraints.len() > MAX_CONSTRAINTS {
        return Err(PlacementError::TooManyConstraints {
            count: constraints.len(),
            max: MAX_CONSTRAINTS,
        });
    }
    let mut member_of = Vec::new();
    let mut distinct_instance = false;
    for constraint in constraints {
        let expression = constraint
            .expression
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty());
        match (constraint.constraint_type.as_str(), expression) {
            ("distinctInstance", None) => distinct_instance = true,
            ("distinctInstance", Some(_)) => return Err(PlacementError::ExpressionNotAllowed),
            ("memberOf", Some(expression)) => member_of.push(cql::parse(expression)?),
            ("memberOf", None) => return Err(PlacementError::MissingExpression),
            (other, _) => return Err(PlacementError::UnknownConstraintType(other.to_string())),
        }
    }
    let mut translated = translate_member_of(&Expression::And(member_of), context)?;
    if distinct_instance {
        let term = pod_affinity_term((context.group_selector)(context.task_group));
        translated
            .required_pod_terms(GroupRelation::AntiAffinity)
            .push(term);
    }
    Ok(translated)
}

/// Translates one parsed `memberOf` expression. Expressions for which
/// `needs_berth_placement` holds are rejected: Berth places those tasks itself.
pub fn translate_member_of(
    expression: &Expression,
    context: &ConstraintContext,
) -> Result<SchedulingConstraints, PlacementError> {
    let terms = scheduler_terms(expression)?;
    let mut translated = SchedulingConstraints::default();
    let mut node_terms = Vec::new();
    let mut first_unsatisfiable_key = None;
    for term in &terms {
        let mut requirements = Some(Vec::new());
        for condition in term {
            if condition.subject == Subject::TaskGroup {
                let (relation, groups) = group_relation(&condition.predicate)?;
                let pod_terms = groups
                    .iter()
                    .map(|group| pod_affinity_term((context.group_selector)(group)));
                translated.required_pod_terms(relation).extend(pod_terms);
                continue;
            }
            match node_requirement(condition, context.known_label_values)? {
                NodeCondition::Requirement(requirement) => {
                    if let Some(requirements) = requirements.as_mut() {
                        requirements.push(requirement);
                    }
                }
                NodeCondition::Always => {}
                NodeCondition::Never { key } => {
                    first_unsatisfiable_key.get_or_insert(key);
                    requirements = None;
                }
            }
        }
        node_terms.extend(requirements);
    }

    if let (true, Some(key)) = (node_terms.is_empty(), first_unsatisfiable_key) {
        node_terms.push(impossible_requirements(key));
    }
    // A term without requirements is always true (Kubernetes would read it as never).
    if node_terms
        .iter()
        .all(|requirements| !requirements.is_empty())
    {
        let node_selector_terms = node_terms
            .into_iter()
            .map(|requirements| NodeSelectorTerm {
                match_expressions: Some(requirements),
                match_fields: None,
            })
            .collect();
        translated.node_affinity = Some(NodeAffinity {
            required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                node_selector_terms,
            }),
            preferred_during_scheduling_ignored_during_execution: None,
        });
    }
    Ok(translated)
}

/// The expression as an OR of ANDs that node and pod affinity can express, or why
/// kube-scheduler cannot evaluate it (then Berth places the task itself).
pub(super) fn scheduler_terms(expression: &Expression) -> Result<Disjunction, PlacementError> {
    let terms = disjunctive_normal_form(expression, MAX_NODE_SELECTOR_TERMS).map_err(|_| {
        PlacementError::TooManyAlternatives {
            max: MAX_NODE_SELECTOR_TERMS,
        }
    })?;
    let mentions_group = terms
        .iter()
        .flatten()
        .any(|c| c.subject == Subject::TaskGroup);
    if mentions_group && terms.len() > 1 {
        return Err(PlacementError::TaskGroupInDisjunction);
    }
    for condition in terms.iter().flatten() {
        if condition.subject == Subject::TaskGroup {
            group_relation(&condition.predicate)?;
        } else {
            node_requirement(condition, &BTreeMap::new())?;
        }
    }
    Ok(terms)
}

enum NodeCondition {
    Requirement(NodeSelectorRequirement),
    Always,
    /// No node has a value of label `key` that the condition accepts.
    Never {
        key: String,
    },
}

/// A term no node satisfies: the label both exists and does not. A required node affinity
/// of only this keeps the task Pending (unschedulable), as ECS keeps a task whose
/// constraints no instance meets. `In` with a made-up value would need a valid label
/// value that some node might one day carry; `Exists` with `DoesNotExist` needs none.
fn impossible_requirements(key: String) -> Vec<NodeSelectorRequirement> {
    ["Exists", "DoesNotExist"]
        .into_iter()
        .map(|operator| NodeSelectorRequirement {
            key: key.clone(),
            operator: operator.to_string(),
            values: None,
        })
        .collect()
}

fn node_requirement(
    condition: &Condition,
    known_label_values: &BTreeMap<String, BTreeSet<String>>,
) -> Result<NodeCondition, PlacementError> {
    let Subject::Attribute(attribute) = &condition.subject else {
        return Err(unsupported_subject(&condition.subject));
    };
    let key = label_for_attribute(attribute)
        .ok_or_else(|| PlacementError::InvalidLabelKey(attribute.clone()))?;
    let requirement = |operator: &str, values: Vec<String>| {
        let values = (!values.is_empty()).then_some(values);
        NodeCondition::Requirement(NodeSelectorRequirement {
            key: key.to_string(),
            operator: operator.to_string(),
            values,
        })
    };
    // No node label holds a value outside label syntax, and the API server would reject
    // the pod that names one, so such comparisons are left to Berth.
    let labels = |values: &[String]| {
        values
            .iter()
            .map(|value| {
                Some(label_value(attribute, value))
                    .filter(|label| is_label_value(label))
                    .ok_or_else(|| PlacementError::InvalidLabelValue {
                        attribute: attribute.clone(),
                        value: value.clone(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()
    };
    let integer = |value: &str, offset: i64| {
        let number = value
            .trim()
            .parse::<i64>()
            .ok()
            .and_then(|n| n.checked_add(offset));
        number
            .map(|n| vec![n.to_string()])
            .ok_or_else(|| PlacementError::InvalidArgument {
                condition: format!("{} {}", condition.subject, condition.predicate.operator()),
                value: value.to_string(),
                expected: "an integer to be node affinity",
            })
    };
    let matching_values = |pattern: &str| -> Result<Vec<String>, PlacementError> {
        let regex = whole_value_regex(pattern)?;
        let known = known_label_values.get(key).into_iter().flatten();
        Ok(known
            .filter(|value| regex.is_match(&attribute_value(attribute, value)))
            .cloned()
            .collect())
    };
    Ok(match &condition.predicate {
        Predicate::Equals(value) => requirement("In", labels(std::slice::from_ref(value))?),
        Predicate::NotEquals(value) => requirement("NotIn", labels(std::slice::from_ref(value))?),
        Predicate::In(values) => requirement("In", labels(values)?),
        Predicate::NotIn(values) => requirement("NotIn", labels(values)?),
        Predicate::Exists => requirement("Exists", Vec::new()),
        Predicate::NotExists => requirement("DoesNotExist", Vec::new()),
        Predicate::GreaterThan(value) => requirement("Gt", integer(value, 0)?),
        Predicate::GreaterThanOrEqual(value) => requirement("Gt", integer(value, -1)?),
        Predicate::LessThan(value) => requirement("Lt", integer(value, 0)?),
        Predicate::LessThanOrEqual(value) => requirement("Lt", integer(value, 1)?),
        Predicate::Matches(pattern) => match matching_values(pattern)? {
            matched if matched.is_empty() => NodeCondition::Never {
                key: key.to_string(),
            },
            matched => requirement("In", matched),
        },
        Predicate::NotMatches(pattern) => match matching_values(pattern)? {
            matched if matched.is_empty() => NodeCondition::Always,
            matched => requirement("NotIn", matched),
        },
    })
}

/// A `=~` pattern compiled to match whole values: ECS evaluates a Java regex with
/// `matches`, which must match the whole value.
pub(super) fn whole_value_regex(pattern: &str) -> Result<Regex, PlacementError> {
    Regex::new(&format!("^(?:{pattern})$")).map_err(|e| PlacementError::InvalidRegex {
        pattern: pattern.to_string(),
        reason: e.to_string(),
    })
}

#[derive(Clone, Copy)]
enum GroupRelation {
    Affinity,
    AntiAffinity,
}

impl SchedulingConstraints {
    fn required_pod_terms(&mut self, relation: GroupRelation) -> &mut Vec<PodAffinityTerm> {
        let required = match relation {
            GroupRelation::Affinity => {
                &mut self
                    .pod_affinity
                    .get_or_insert_with(Default::default)
                    .required_during_scheduling_ignored_during_execution
            }
            GroupRelation::AntiAffinity => {
                &mut self
                    .pod_anti_affinity
                    .get_or_insert_with(Default::default)
                    .required_during_scheduling_ignored_during_execution
            }
        };
        required.get_or_insert_with(Vec::new)
    }
}

/// `task:group == G` needs a task of G on the same node; `!=` / `not_in` forbid one.
fn group_relation(predicate: &Predicate) -> Result<(GroupRelation, &[String]), PlacementError> {
    match predicate {
        Predicate::Equals(group) => Ok((GroupRelation::Affinity, std::slice::from_ref(group))),
        Predicate::In(groups) if groups.len() == 1 => Ok((GroupRelation::Affinity, groups)),
        Predicate::NotEquals(group) => {
            Ok((GroupRelation::AntiAffinity, std::slice::from_ref(group)))
        }
        Predicate::NotIn(groups) => Ok((GroupRelation::AntiAffinity, groups)),
        Predicate::In(_) => Err(PlacementError::Unsupported {
            what: "task:group in [...] with several groups as pod affinity".to_string(),
            reason: "required pod affinity terms are ANDed, so \"next to any one of these groups\" cannot be expressed; Berth places such tasks itself".to_string(),
        }),
        other => Err(PlacementError::Unsupported {
            what: format!("task:group {} as pod affinity", other.operator()),
            reason: "pod affinity supports only ==, !=, in with one group, and not_in; Berth places such tasks itself".to_string(),
        }),
    }
}

fn pod_affinity_term(selector: LabelSelector) -> PodAffinityTerm {
    PodAffinityTerm {
        label_selector: Some(selector),
        topology_key: HOSTNAME_LABEL.to_string(),
        ..Default::default()
    }
}

fn unsupported_subject(subject: &Subject) -> PlacementError {
    let reason = match subject {
        Subject::RunningTasksCount => {
            "the number of tasks on a node changes with every placement, and kube-scheduler cannot filter on it"
        }
        Subject::AgentVersion => "node affinity cannot compare kubelet versions",
        Subject::AgentConnected => "node affinity cannot read the Ready condition",
        Subject::RegisteredAt => "node affinity cannot compare node registration times",
        Subject::Ec2InstanceId => {
            "the instance id is in spec.providerID, which node affinity cannot read"
        }
        Subject::Attribute(_) | Subject::TaskGroup => "it has no node affinity equivalent",
    };
    PlacementError::Unsupported {
        what: format!("{subject} as node affinity"),
        reason: format!("{reason}; Berth places such tasks itself"),
    }
}

#[cfg(test)]
mod tests;
