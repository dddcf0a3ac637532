use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;

fn known_labels() -> BTreeMap<String, BTreeSet<String>> {
    let entries: [(&str, &[&str]); 3] = [
        (
            "node.kubernetes.io/instance-type",
            &["g2.2xlarge", "g2.8xlarge", "m5.large"],
        ),
        ("kubernetes.io/arch", &["amd64", "arm64"]),
        (
            "topology.kubernetes.io/zone",
            &["us-east-1a", "us-east-1b", "us-east-1c"],
        ),
    ];
    entries
        .iter()
        .map(|(key, values)| {
            (
                key.to_string(),
                values.iter().map(|v| v.to_string()).collect(),
            )
        })
        .collect()
}

fn group_selector(group: &str) -> LabelSelector {
    LabelSelector {
        match_labels: Some(BTreeMap::from([(
            "group".to_string(),
            group.replace(':', "."),
        )])),
        ..Default::default()
    }
}

fn member_of(expression: &str) -> Result<SchedulingConstraints, PlacementError> {
    constraints(&[("memberOf", Some(expression))])
}

fn constraints(items: &[(&str, Option<&str>)]) -> Result<SchedulingConstraints, PlacementError> {
    let known = known_labels();
    let context = ConstraintContext {
        task_group: "service:web",
        known_label_values: &known,
        group_selector: &group_selector,
    };
    let items: Vec<_> = items
        .iter()
        .map(|(kind, expression)| PlacementConstraintItem {
            constraint_type: kind.to_string(),
            expression: expression.map(str::to_string),
        })
        .collect();
    translate_constraints(&items, &context)
}

/// Node affinity as `key operator values` strings, one inner vector per nodeSelectorTerm.
fn node_terms(translated: &SchedulingConstraints) -> Vec<Vec<String>> {
    let Some(selector) = translated.node_affinity.as_ref().and_then(|a| {
        a.required_during_scheduling_ignored_during_execution
            .as_ref()
    }) else {
        return Vec::new();
    };
    selector
        .node_selector_terms
        .iter()
        .map(|term| {
            term.match_expressions
                .iter()
                .flatten()
                .map(|r| {
                    format!(
                        "{} {} {}",
                        r.key,
                        r.operator,
                        r.values.clone().unwrap_or_default().join(",")
                    )
                    .trim_end()
                    .to_string()
                })
                .collect()
        })
        .collect()
}

fn groups(terms: &Option<Vec<PodAffinityTerm>>) -> Vec<String> {
    terms
        .iter()
        .flatten()
        .map(|term| {
            assert_eq!(term.topology_key, "kubernetes.io/hostname");
            term.label_selector
                .as_ref()
                .and_then(|s| s.match_labels.as_ref())
                .map(|labels| labels["group"].clone())
                .unwrap_or_default()
        })
        .collect()
}

#[test]
fn regex_on_instance_type_expands_to_the_matching_node_values() {
    let translated = member_of("attribute:ecs.instance-type =~ g2.*").unwrap();
    assert_eq!(
        node_terms(&translated),
        vec![vec![
            "node.kubernetes.io/instance-type In g2.2xlarge,g2.8xlarge"
        ]]
    );
    assert_eq!(
        (translated.pod_affinity, translated.pod_anti_affinity),
        (None, None)
    );
}

#[test]
fn regex_matches_the_whole_value_in_ecs_vocabulary() {
    let translated = member_of("attribute:ecs.cpu-architecture =~ x86.*").unwrap();
    assert_eq!(
        node_terms(&translated),
        vec![vec!["kubernetes.io/arch In amd64"]]
    );
    assert_eq!(
        node_terms(&member_of("attribute:ecs.instance-type =~ g2").unwrap()),
        impossible_instance_type(),
        "g2 alone matches no whole value"
    );
}

/// The term no node satisfies, on the instance-type label.
fn impossible_instance_type() -> Vec<Vec<&'static str>> {
    vec![vec![
        "node.kubernetes.io/instance-type Exists",
        "node.kubernetes.io/instance-type DoesNotExist",
    ]]
}

#[test]
fn regex_matching_no_node_keeps_the_task_pending_and_its_negation_is_no_constraint() {
    let none = member_of("attribute:ecs.instance-type =~ p3.*").unwrap();
    assert_eq!(node_terms(&none), impossible_instance_type());
    let selector = none
        .node_affinity
        .and_then(|a| a.required_during_scheduling_ignored_during_execution)
        .unwrap();
    let p3 = BTreeMap::from([(
        "node.kubernetes.io/instance-type".to_string(),
        "p3.2xlarge".to_string(),
    )]);
    assert!(!crate::ecs::placement::node_match::matches(
        &selector, "n", &p3
    ));
    assert!(!crate::ecs::placement::node_match::matches(
        &selector,
        "n",
        &BTreeMap::new()
    ));
    assert_eq!(
        member_of("attribute:ecs.instance-type !~ p3.*"),
        Ok(SchedulingConstraints::default())
    );
    assert_eq!(
        node_terms(&member_of("attribute:ecs.instance-type !~ g2.*").unwrap()),
        vec![vec![
            "node.kubernetes.io/instance-type NotIn g2.2xlarge,g2.8xlarge"
        ]]
    );
    // An unsatisfiable alternative is dropped when another one remains.
    let either =
        member_of("attribute:ecs.instance-type =~ p3.* or attribute:ecs.os-type == linux").unwrap();
    assert_eq!(node_terms(&either), vec![vec!["kubernetes.io/os In linux"]]);
    assert!(matches!(
        member_of("attribute:x =~ (a"),
        Err(PlacementError::InvalidRegex { .. })
    ));
}

#[test]
fn availability_zone_list_becomes_in_on_the_zone_label() {
    let translated =
        member_of("attribute:ecs.availability-zone in [us-east-1a, us-east-1b]").unwrap();
    assert_eq!(
        node_terms(&translated),
        vec![vec!["topology.kubernetes.io/zone In us-east-1a,us-east-1b"]]
    );
}

#[test]
fn task_group_equality_is_pod_affinity_and_its_negation_anti_affinity() {
    let affinity = member_of("task:group == service:production").unwrap();
    assert_eq!(
        groups(
            &affinity
                .pod_affinity
                .unwrap()
                .required_during_scheduling_ignored_during_execution
        ),
        vec!["service.production"]
    );
    assert_eq!(
        (affinity.node_affinity, affinity.pod_anti_affinity),
        (None, None)
    );

    let anti = member_of("not(task:group == database)").unwrap();
    assert_eq!(
        groups(
            &anti
                .pod_anti_affinity
                .unwrap()
                .required_during_scheduling_ignored_during_execution
        ),
        vec!["database"]
    );
    assert_eq!(anti.pod_affinity, None);

    let several = member_of("task:group not_in [a, b] and attribute:ecs.os-type == linux").unwrap();
    assert_eq!(
        groups(
            &several
                .pod_anti_affinity
                .clone()
                .unwrap()
                .required_during_scheduling_ignored_during_execution
        ),
        vec!["a", "b"]
    );
    assert_eq!(
        node_terms(&several),
        vec![vec!["kubernetes.io/os In linux"]]
    );
}

#[test]
fn task_group_cannot_be_ored_or_used_with_other_operators() {
    assert_eq!(
        member_of("task:group == a or attribute:x exists"),
        Err(PlacementError::TaskGroupInDisjunction)
    );
    assert!(matches!(
        member_of("task:group in [a, b]"),
        Err(PlacementError::Unsupported { .. })
    ));
    assert!(matches!(
        member_of("task:group =~ a.*"),
        Err(PlacementError::Unsupported { .. })
    ));
}

#[test]
fn or_and_not_normalise_to_node_selector_terms() {
    let translated = member_of(
        "(attribute:ecs.instance-type == t2.small or attribute:ecs.availability-zone != us-east-1a) \
         and not(attribute:stack == dev or attribute:ecs.cpu-architecture == x86_64)",
    )
    .unwrap();
    assert_eq!(
        node_terms(&translated),
        vec![
            vec![
                "node.kubernetes.io/instance-type In t2.small",
                "stack NotIn dev",
                "kubernetes.io/arch NotIn amd64"
            ],
            vec![
                "topology.kubernetes.io/zone NotIn us-east-1a",
                "stack NotIn dev",
                "kubernetes.io/arch NotIn amd64"
            ],
        ]
    );
}

#[test]
fn always_true_alternative_drops_node_affinity() {
    assert_eq!(
        member_of("attribute:x exists or attribute:ecs.instance-type !~ p3.*"),
        Ok(SchedulingConstraints::default())
    );
}

#[test]
fn integer_comparisons_become_gt_and_lt() {
    assert_eq!(
        node_terms(&member_of("attribute:cores > 4").unwrap()),
        vec![vec!["cores Gt 4"]]
    );
    assert_eq!(
        node_terms(&member_of("attribute:cores >= 4").unwrap()),
        vec![vec!["cores Gt 3"]]
    );
    assert_eq!(
        node_terms(&member_of("attribute:cores < 4").unwrap()),
        vec![vec!["cores Lt 4"]]
    );
    assert_eq!(
        node_terms(&member_of("attribute:cores <= 4").unwrap()),
        vec![vec!["cores Lt 5"]]
    );
    assert_eq!(
        node_terms(&member_of("not(attribute:cores > 4)").unwrap()),
        vec![vec!["cores Lt 5"], vec!["cores DoesNotExist"]]
    );
    assert_eq!(
        member_of("attribute:cores > four"),
        Err(PlacementError::InvalidArgument {
            condition: "attribute:cores >".into(),
            value: "four".into(),
            expected: "an integer to be node affinity",
        })
    );
    assert!(matches!(
        member_of(&format!("attribute:cores <= {}", i64::MAX)),
        Err(PlacementError::InvalidArgument { .. })
    ));
}

#[test]
fn existence_maps_directly() {
    assert_eq!(
        node_terms(&member_of("attribute:gpu exists && attribute:spot !exists").unwrap()),
        vec![vec!["gpu Exists", "spot DoesNotExist"]]
    );
}

#[test]
fn subjects_without_node_affinity_are_rejected_as_placed_by_berth() {
    for subject in [
        "ec2InstanceId in [i-1, i-2]",
        "runningTasksCount > 2",
        "agentVersion == 1.0",
        "agentConnected == true",
        "registeredAt < 2020",
    ] {
        let error = member_of(subject).unwrap_err().to_string();
        assert!(error.contains("is not supported by Berth: "), "{error}");
        assert!(
            error.ends_with("; Berth places such tasks itself"),
            "{error}"
        );
        assert!(
            error.starts_with(subject.split(' ').next().unwrap()),
            "{error}"
        );
    }
    assert_eq!(
        member_of("attribute:Bad/Key/x exists"),
        Err(PlacementError::InvalidLabelKey("Bad/Key/x".into()))
    );
    assert_eq!(
        member_of("attribute:team in [a, 'b c']"),
        Err(PlacementError::InvalidLabelValue {
            attribute: "team".into(),
            value: "b c".into()
        })
    );
}

#[test]
fn distinct_instance_adds_hostname_anti_affinity_to_the_own_group() {
    let translated = constraints(&[
        ("distinctInstance", None),
        ("memberOf", Some("not(task:group == database)")),
    ])
    .unwrap();
    assert_eq!(
        groups(
            &translated
                .pod_anti_affinity
                .unwrap()
                .required_during_scheduling_ignored_during_execution
        ),
        vec!["database", "service.web"]
    );
    assert_eq!(
        constraints(&[("distinctInstance", Some(""))]).map(|c| c.node_affinity),
        Ok(None)
    );
}

#[test]
fn several_member_of_constraints_must_all_hold() {
    let translated = constraints(&[
        ("memberOf", Some("attribute:a == 1 or attribute:a == 2")),
        ("memberOf", Some("attribute:b exists")),
    ])
    .unwrap();
    assert_eq!(
        node_terms(&translated),
        vec![vec!["a In 1", "b Exists"], vec!["a In 2", "b Exists"]]
    );
}

#[test]
fn malformed_constraints_are_rejected() {
    assert_eq!(
        constraints(&[("distinctInstance", Some("task:group == a"))]),
        Err(PlacementError::ExpressionNotAllowed)
    );
    assert_eq!(
        constraints(&[("memberOf", None)]),
        Err(PlacementError::MissingExpression)
    );
    assert_eq!(
        constraints(&[("sameZone", None)]),
        Err(PlacementError::UnknownConstraintType("sameZone".into()))
    );
    assert_eq!(
        constraints(&[("distinctInstance", None); 11]),
        Err(PlacementError::TooManyConstraints { count: 11, max: 10 })
    );
    let error = member_of("attribute:x ==").unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid memberOf expression: column 15: expected a value, found the end of the expression"
    );
}

proptest! {
    #[test]
    fn arbitrary_expressions_never_panic_in_translation(
        input in prop::collection::vec(prop::sample::select(vec![
            "attribute:ecs.instance-type", "attribute:ecs.cpu-architecture", "task:group", "ec2InstanceId", "runningTasksCount",
            " == ", " != ", " > ", " >= ", " <= ", " in ", " not_in ", " exists ", " !exists ", " =~ ", " !~ ", "not(", "(", ")",
            "[a, b]", "[g2.2xlarge]", " and ", " or ", "!", "g2.*", "x86_64", "7", "-9223372036854775808", "(a|", "'q'",
        ]), 0..40).prop_map(|tokens| tokens.concat())
    ) {
        let _ = member_of(&input);
    }
}
