//! Whether a node satisfies a required node affinity, evaluated as
//! kube-scheduler does: the oracle the tests hold translated `memberOf`
//! expressions to (Berth itself evaluates them with `member_of`).
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{NodeSelector, NodeSelectorRequirement};

/// True when any term of `selector` holds for a node with this name and these
/// labels (terms are ORed, requirements within a term ANDed).
pub fn matches(selector: &NodeSelector, node_name: &str, labels: &BTreeMap<String, String>) -> bool {
    selector.node_selector_terms.iter().any(|term| {
        let expressions = term.match_expressions.iter().flatten().all(|r| requirement_holds(r, labels.get(&r.key)));
        let fields = term.match_fields.iter().flatten().all(|r| r.key != "metadata.name" || requirement_holds(r, Some(&node_name.to_string())));
        // An empty term matches nothing, as in Kubernetes.
        let empty = term.match_expressions.as_ref().is_none_or(Vec::is_empty) && term.match_fields.as_ref().is_none_or(Vec::is_empty);
        !empty && expressions && fields
    })
}

fn requirement_holds(r: &NodeSelectorRequirement, value: Option<&String>) -> bool {
    let values = r.values.as_deref().unwrap_or_default();
    let number = |s: &str| s.parse::<i64>().ok();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.contains(v)),
        "NotIn" => value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" => matches!((value.and_then(|v| number(v)), values.first().and_then(|v| number(v))), (Some(a), Some(b)) if a > b),
        "Lt" => matches!((value.and_then(|v| number(v)), values.first().and_then(|v| number(v))), (Some(a), Some(b)) if a < b),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecs::placement::{ConstraintContext, PlacementConstraintItem, translate_constraints};
    use std::collections::BTreeSet;

    fn node_affinity(expression: &str) -> NodeSelector {
        let known = BTreeMap::<String, BTreeSet<String>>::new();
        let selector = |_: &str| Default::default();
        let context = ConstraintContext { task_group: "service:x", known_label_values: &known, group_selector: &selector };
        let item = PlacementConstraintItem { constraint_type: "memberOf".into(), expression: Some(expression.into()) };
        let constraints = translate_constraints(&[item], &context).unwrap();
        constraints.node_affinity.unwrap().required_during_scheduling_ignored_during_execution.unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn evaluates_translated_member_of_expressions() {
        let zone_a = labels(&[("topology.kubernetes.io/zone", "us-east-1a"), ("node.kubernetes.io/instance-type", "m5.xlarge")]);
        let zone_c = labels(&[("topology.kubernetes.io/zone", "us-east-1c")]);
        let in_ab = node_affinity("attribute:ecs.availability-zone in [us-east-1a, us-east-1b]");
        assert!(matches(&in_ab, "n1", &zone_a));
        assert!(!matches(&in_ab, "n3", &zone_c));
        let not_m5_or_c = node_affinity("attribute:ecs.instance-type != m5.xlarge or attribute:ecs.availability-zone == us-east-1c");
        assert!(!matches(&not_m5_or_c, "n1", &zone_a));
        assert!(matches(&not_m5_or_c, "n3", &zone_c));
        let gpus = node_affinity("attribute:gpus > 2");
        assert!(matches(&gpus, "g", &labels(&[("gpus", "4")])));
        assert!(!matches(&gpus, "g", &labels(&[("gpus", "2")])));
        assert!(!matches(&gpus, "g", &labels(&[])));
    }

    #[test]
    fn match_fields_pin_by_node_name() {
        let selector: NodeSelector = serde_json::from_value(serde_json::json!({"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}]})).unwrap();
        assert!(matches(&selector, "n2", &labels(&[])));
        assert!(!matches(&selector, "n1", &labels(&[])));
    }
}
