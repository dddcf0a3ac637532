//! Placement strategies (`spread`, `binpack`, `random`) → topology spread constraints and a
//! binpack marker (§4.7). Strategies are best effort in ECS, so spreads are `ScheduleAnyway`.

use k8s_openapi::api::core::v1::TopologySpreadConstraint;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::PlacementError;
use super::node_labels::{HOSTNAME_LABEL, ZONE_LABEL, label_for_attribute};

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

/// The resource a `binpack` strategy packs on. Kubernetes has no per-pod field for it: the
/// caller maps it to a scheduler profile whose `NodeResourcesFit` scores `MostAllocated`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinpackResource {
    Cpu,
    Memory,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct TranslatedStrategies {
    /// One per distinct spread key, in strategy order (the primary strategy first).
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,
    /// The first `binpack` strategy's resource; later ones can only break ties, which a
    /// single scheduler profile cannot express.
    pub binpack: Option<BinpackResource>,
}

/// Translates a service's or task's strategies. `selector` picks the pods to balance: the
/// whole service across revisions, never one revision only.
pub fn translate_strategies(
    strategies: &[PlacementStrategyItem],
    selector: &LabelSelector,
) -> Result<TranslatedStrategies, PlacementError> {
    if strategies.len() > MAX_STRATEGIES {
        return Err(PlacementError::TooManyStrategies {
            count: strategies.len(),
            max: MAX_STRATEGIES,
        });
    }
    let mut translated = TranslatedStrategies::default();
    for strategy in strategies {
        let field = strategy
            .field
            .as_deref()
            .map(str::trim)
            .filter(|f| !f.is_empty());
        match (strategy.strategy_type.as_str(), field) {
            ("random", None) => {}
            ("spread", Some(field)) => {
                let key = spread_key(field).ok_or_else(|| {
                    invalid_field(strategy, "instanceId, host or attribute:<name>")
                })?;
                if !translated
                    .topology_spread_constraints
                    .iter()
                    .any(|c| c.topology_key == key)
                {
                    translated
                        .topology_spread_constraints
                        .push(spread(key, selector));
                }
            }
            ("binpack", Some(field)) => {
                let resource = binpack_resource(field)
                    .ok_or_else(|| invalid_field(strategy, "cpu or memory"))?;
                translated.binpack.get_or_insert(resource);
            }
            ("random", Some(_)) => return Err(invalid_field(strategy, "no field")),
            ("spread", None) => {
                return Err(invalid_field(
                    strategy,
                    "instanceId, host or attribute:<name>",
                ));
            }
            ("binpack", None) => return Err(invalid_field(strategy, "cpu or memory")),
            (other, _) => return Err(PlacementError::UnknownStrategyType(other.to_string())),
        }
    }
    Ok(translated)
}

/// The spread ECS applies to a REPLICA service on EC2 without strategies: zones, then nodes.
pub fn default_service_spread(selector: &LabelSelector) -> Vec<TopologySpreadConstraint> {
    vec![
        spread(ZONE_LABEL, selector),
        spread(HOSTNAME_LABEL, selector),
    ]
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

    #[test]
    fn default_spread_is_zone_then_hostname_soft_with_skew_one() {
        let spread = default_service_spread(&service_selector());
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
        let translated = translate_strategies(&strategies, &service_selector()).unwrap();
        assert_eq!(
            keys(&translated.topology_spread_constraints),
            vec![ZONE_LABEL, HOSTNAME_LABEL, "rack"]
        );
        assert_eq!(translated.binpack, None);
    }

    #[test]
    fn binpack_becomes_a_marker_and_random_adds_nothing() {
        let strategies = [
            item("random", None),
            item("binpack", Some("memory")),
            item("binpack", Some("cpu")),
        ];
        let translated = translate_strategies(&strategies, &service_selector()).unwrap();
        assert_eq!(translated.binpack, Some(BinpackResource::Memory));
        assert!(translated.topology_spread_constraints.is_empty());
        assert_eq!(
            translate_strategies(&[], &service_selector()).unwrap(),
            TranslatedStrategies::default()
        );
    }

    #[test]
    fn invalid_strategies_are_rejected_with_what_was_expected() {
        let error = translate_strategies(&[item("binpack", Some("disk"))], &service_selector())
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "placement strategy binpack does not accept field \"disk\"; expected cpu or memory"
        );
        assert!(translate_strategies(&[item("spread", None)], &service_selector()).is_err());
        assert!(
            translate_strategies(
                &[item("spread", Some("attribute:bad key"))],
                &service_selector()
            )
            .is_err()
        );
        assert!(translate_strategies(&[item("random", Some("cpu"))], &service_selector()).is_err());
        assert_eq!(
            translate_strategies(&[item("roundrobin", None)], &service_selector()),
            Err(PlacementError::UnknownStrategyType("roundrobin".into()))
        );
        let six = vec![item("random", None); 6];
        assert_eq!(
            translate_strategies(&six, &service_selector()),
            Err(PlacementError::TooManyStrategies { count: 6, max: 5 })
        );
    }
}
