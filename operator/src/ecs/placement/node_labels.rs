//! Where ECS instance attributes live on a Kubernetes node (§4.7, "ECS attributes").

use crate::ecs::render::names::is_qualified_name;

pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";
const ARCHITECTURE_ATTRIBUTE: &str = "ecs.cpu-architecture";

/// Built-in ECS attributes with a well-known Kubernetes label. Any other attribute,
/// custom or built-in, is read from the node label of the same name.
const WELL_KNOWN_LABELS: [(&str, &str); 4] = [
    ("ecs.availability-zone", ZONE_LABEL),
    ("ecs.instance-type", "node.kubernetes.io/instance-type"),
    ("ecs.os-type", "kubernetes.io/os"),
    (ARCHITECTURE_ATTRIBUTE, "kubernetes.io/arch"),
];

/// ECS `ecs.cpu-architecture` values and their `kubernetes.io/arch` spelling.
const ARCHITECTURE_VALUES: [(&str, &str); 2] = [("x86_64", "amd64"), ("arm64", "arm64")];

/// The node label holding ECS attribute `attribute`, or `None` when that name is not a
/// valid Kubernetes label key (ECS allows names that Kubernetes does not).
pub fn label_for_attribute(attribute: &str) -> Option<&str> {
    let label = WELL_KNOWN_LABELS
        .iter()
        .find(|(name, _)| *name == attribute)
        .map_or(attribute, |(_, label)| label);
    is_qualified_name(label).then_some(label)
}

/// An ECS attribute value as the node label spells it.
pub fn label_value(attribute: &str, ecs_value: &str) -> String {
    architecture_pair(attribute, |(ecs, _)| *ecs == ecs_value)
        .map_or(ecs_value, |(_, label)| label)
        .to_string()
}

/// A node label value as ECS spells the attribute, so ECS regexes see ECS values.
pub fn attribute_value(attribute: &str, label_value: &str) -> String {
    architecture_pair(attribute, |(_, label)| *label == label_value)
        .map_or(label_value, |(ecs, _)| ecs)
        .to_string()
}

fn architecture_pair(
    attribute: &str,
    matches: impl Fn(&(&str, &str)) -> bool,
) -> Option<&'static (&'static str, &'static str)> {
    ARCHITECTURE_VALUES
        .iter()
        .filter(|_| attribute == ARCHITECTURE_ATTRIBUTE)
        .find(|pair| matches(pair))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_attributes_map_to_well_known_labels() {
        assert_eq!(
            label_for_attribute("ecs.availability-zone"),
            Some("topology.kubernetes.io/zone")
        );
        assert_eq!(
            label_for_attribute("ecs.instance-type"),
            Some("node.kubernetes.io/instance-type")
        );
        assert_eq!(label_for_attribute("ecs.os-type"), Some("kubernetes.io/os"));
        assert_eq!(
            label_for_attribute("ecs.cpu-architecture"),
            Some("kubernetes.io/arch")
        );
    }

    #[test]
    fn other_attributes_are_node_labels_of_the_same_name_when_valid() {
        assert_eq!(label_for_attribute("stack"), Some("stack"));
        assert_eq!(label_for_attribute("ecs.vpc-id"), Some("ecs.vpc-id"));
        assert_eq!(
            label_for_attribute("example.com/tier"),
            Some("example.com/tier")
        );
        assert_eq!(label_for_attribute("has space"), None);
        assert_eq!(label_for_attribute("Example.com/tier"), None);
        assert_eq!(label_for_attribute("a/b/c"), None);
        assert_eq!(label_for_attribute(&"x".repeat(64)), None);
        assert_eq!(label_for_attribute("-leading"), None);
    }

    #[test]
    fn architecture_values_translate_both_ways_and_others_pass_through() {
        assert_eq!(label_value("ecs.cpu-architecture", "x86_64"), "amd64");
        assert_eq!(label_value("ecs.cpu-architecture", "arm64"), "arm64");
        assert_eq!(attribute_value("ecs.cpu-architecture", "amd64"), "x86_64");
        assert_eq!(label_value("ecs.cpu-architecture", "s390x"), "s390x");
        assert_eq!(label_value("ecs.os-type", "x86_64"), "x86_64");
    }
}
