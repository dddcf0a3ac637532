//! Placement strategies (`spread`, `binpack`, `random`), validated; spreads alone become
//! topology spread constraints (§4.7), best effort as in ECS, so `ScheduleAnyway`. Berth
//! places the others itself (`place`).

use k8s_openapi::api::core::v1::TopologySpreadConstraint;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::PlacementError;
use super::place::Strategy;
use super::node_labels::{HOSTNAME_LABEL, label_for_attribute};

/// ECS's limit on placement strategies per service or task (§5).
pub const MAX_STRATEGIES: usize = 5;
const ATTRIBUTE_PREFIX: &str = "attribute:";

/// One `placementStrategy` entry, as ECS spells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacementStrategyItem {
    /// `random`, `spread` or `binpack`.
    pub strategy_type: String,
    pub field: Option<String>,
}

/// The resource a `binpack` strategy packs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinpackResource {
    Cpu,
    Memory,
}

/// Validates a service's or task's strategies, keeping their order.
pub fn parse_strategies(strategies: &[PlacementStrategyItem]) -> Result<Vec<Strategy>, PlacementError> {
    if strategies.len() > MAX_STRATEGIES {
        return Err(PlacementError::TooManyStrategies {
            count: strategies.len(),
            max: MAX_STRATEGIES,
        });
    }
    strategies
        .iter()
        .map(|strategy| {
            let field = strategy
                .field
                .as_deref()
                .map(str::trim)
                .filter(|f| !f.is_empty());
            match (strategy.strategy_type.as_str(), field) {
                ("random", None) => Ok(Strategy::Random),
                ("spread", Some(field)) => spread_key(field)
                    .map(|key| Strategy::Spread(key.to_string()))
                    .ok_or_else(|| invalid_field(strategy, "instanceId, host or attribute:<name>")),
                ("binpack", Some(field)) => binpack_resource(field)
                    .map(Strategy::Binpack)
                    .ok_or_else(|| invalid_field(strategy, "cpu or memory")),
                ("random", Some(_)) => Err(invalid_field(strategy, "no field")),
                ("spread", None) => Err(invalid_field(
                    strategy,
                    "instanceId, host or attribute:<name>",
                )),
                ("binpack", None) => Err(invalid_field(strategy, "cpu or memory")),
                (other, _) => Err(PlacementError::UnknownStrategyType(other.to_string())),
            }
        })
        .collect()
}

/// Spread strategies as soft topology spread constraints, one per distinct
/// key in strategy order, for kube-scheduler to place by. `selector` picks the
/// pods to balance: the whole service across revisions, never one revision only.
pub fn topology_spreads(strategies: &[Strategy], selector: &LabelSelector) -> Vec<TopologySpreadConstraint> {
    let mut constraints: Vec<TopologySpreadConstraint> = vec![];
    for strategy in strategies {
        if let Strategy::Spread(key) = strategy
            && !constraints.iter().any(|c| &c.topology_key == key)
        {
            constraints.push(spread(key, selector));
        }
    }
    constraints
}

fn spread_key(field: &str) -> Option<&str> {
    if field.eq_ignore_ascii_case("instanceId") || field.eq_ignore_ascii_case("host") {
        return Some(HOSTNAME_LABEL);
    }
    field
        .strip_prefix(ATTRIBUTE_PREFIX)
        .and_then(label_for_attribute)
}

fn binpack_resource(field: &str) -> Option<BinpackResource> {
    [
        ("cpu", BinpackResource::Cpu),
        ("memory", BinpackResource::Memory),
    ]
    .into_iter()
    .find_map(|(name, resource)| field.eq_ignore_ascii_case(name).then_some(resource))
}

fn spread(topology_key: &str, selector: &LabelSelector) -> TopologySpreadConstraint {
    TopologySpreadConstraint {
        max_skew: 1,
        topology_key: topology_key.to_string(),
        when_unsatisfiable: "ScheduleAnyway".to_string(),
        label_selector: Some(selector.clone()),
        ..Default::default()
    }
}

fn invalid_field(strategy: &PlacementStrategyItem, expected: &str) -> PlacementError {
    PlacementError::InvalidStrategyField {
        strategy_type: strategy.strategy_type.clone(),
        field: strategy.field.clone().unwrap_or_default(),
        expected: expected.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::ecs::placement::node_labels::ZONE_LABEL;

    fn service_selector() -> LabelSelector {
        LabelSelector {
            match_labels: Some(BTreeMap::from([(
                "ecs.berth.dev/service".to_string(),
                "web".to_string(),
            )])),
            ..Default::default()
        }
    }

    fn item(strategy_type: &str, field: Option<&str>) -> PlacementStrategyItem {
        PlacementStrategyItem {
            strategy_type: strategy_type.to_string(),
            field: field.map(str::to_string),
        }
    }

    fn keys(constraints: &[TopologySpreadConstraint]) -> Vec<&str> {
        constraints
            .iter()
            .map(|c| c.topology_key.as_str())
            .collect()
    }

    fn spreads(strategies: &[PlacementStrategyItem]) -> Vec<TopologySpreadConstraint> {
        topology_spreads(&parse_strategies(strategies).unwrap(), &service_selector())
    }

    #[test]
    fn default_spread_is_zone_then_hostname_soft_with_skew_one() {
        let spread = topology_spreads(&crate::ecs::placement::place::default_spread(), &service_selector());
        assert_eq!(keys(&spread), vec![ZONE_LABEL, HOSTNAME_LABEL]);
        for constraint in &spread {
            assert_eq!(
                (constraint.max_skew, constraint.when_unsatisfiable.as_str()),
                (1, "ScheduleAnyway")
            );
            assert_eq!(constraint.label_selector, Some(service_selector()));
            assert_eq!(
                constraint.match_label_keys, None,
                "balance the whole service, not one revision"
            );
        }
    }

    #[test]
    fn spreads_keep_strategy_order_and_map_fields_to_node_labels() {
        let strategies = [
            item("spread", Some("attribute:ecs.availability-zone")),
            item("spread", Some("instanceId")),
            item("spread", Some("attribute:rack")),
            item("spread", Some("host")),
        ];
        assert_eq!(keys(&spreads(&strategies)), vec![ZONE_LABEL, HOSTNAME_LABEL, "rack"]);
    }

    #[test]
    fn binpack_and_random_parse_in_order_and_add_no_spread() {
        let strategies = [
            item("random", None),
            item("binpack", Some("memory")),
            item("binpack", Some("CPU")),
        ];
        assert_eq!(
            parse_strategies(&strategies).unwrap(),
            vec![Strategy::Random, Strategy::Binpack(BinpackResource::Memory), Strategy::Binpack(BinpackResource::Cpu)]
        );
        assert!(spreads(&strategies).is_empty());
        assert_eq!(parse_strategies(&[]).unwrap(), vec![]);
    }

    #[test]
    fn invalid_strategies_are_rejected_with_what_was_expected() {
        let error = parse_strategies(&[item("binpack", Some("disk"))]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "placement strategy binpack does not accept field \"disk\"; expected cpu or memory"
        );
        assert!(parse_strategies(&[item("spread", None)]).is_err());
        assert!(parse_strategies(&[item("spread", Some("attribute:bad key"))]).is_err());
        assert!(parse_strategies(&[item("random", Some("cpu"))]).is_err());
        assert_eq!(
            parse_strategies(&[item("roundrobin", None)]),
            Err(PlacementError::UnknownStrategyType("roundrobin".into()))
        );
        let six = vec![item("random", None); 6];
        assert_eq!(
            parse_strategies(&six),
            Err(PlacementError::TooManyStrategies { count: 6, max: 5 })
        );
    }
}
