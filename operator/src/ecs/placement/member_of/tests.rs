//! Semantics follow the ECS cluster query language page,
//! <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/cluster-query-language.html>.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;
use crate::ecs::placement::affinity::{ConstraintContext, translate_member_of};
use crate::ecs::placement::cql::parse;
use crate::ecs::placement::node_match;

/// Owned node facts, so tests can vary one field at a time.
#[derive(Clone)]
struct Node {
    name: String,
    labels: BTreeMap<String, String>,
    provider_id: Option<String>,
    registered_at: Option<i64>,
    ready: bool,
    kubelet_version: Option<String>,
    running_tasks: usize,
    task_groups: BTreeMap<String, usize>,
}

/// 2025-06-01T00:00:00Z.
const JUNE_FIRST_2025: i64 = 1_748_736_000;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

fn worker() -> Node {
    Node {
        name: "ip-10-0-1-23.ec2.internal".into(),
        labels: labels(&[
            ("topology.kubernetes.io/zone", "us-east-1a"),
            ("node.kubernetes.io/instance-type", "m5.large"),
            ("kubernetes.io/arch", "amd64"),
            ("kubernetes.io/os", "linux"),
            ("cores", "16"),
            ("tier", "b"),
        ]),
        provider_id: Some("aws:///us-east-1a/i-0123456789abcdef0".into()),
        registered_at: Some(JUNE_FIRST_2025),
        ready: true,
        kubelet_version: Some("v1.34.4".into()),
        running_tasks: 3,
        task_groups: BTreeMap::from([
            ("service:web".to_string(), 2),
            ("family:batch".to_string(), 1),
            ("service:gone".to_string(), 0),
        ]),
    }
}

/// A node that knows nothing: no labels, provider id, timestamp, version or tasks.
fn bare() -> Node {
    Node {
        name: "bare".into(),
        labels: BTreeMap::new(),
        provider_id: None,
        registered_at: None,
        ready: false,
        kubelet_version: None,
        running_tasks: 0,
        task_groups: BTreeMap::new(),
    }
}

impl Node {
    fn facts(&self) -> NodeFacts<'_> {
        NodeFacts {
            name: &self.name,
            labels: &self.labels,
            provider_id: self.provider_id.as_deref(),
            registered_at: self.registered_at,
            ready: self.ready,
            kubelet_version: self.kubelet_version.as_deref(),
            running_tasks: self.running_tasks,
            task_groups: &self.task_groups,
        }
    }
}

fn evaluate(expression: &str, node: &Node) -> Result<bool, PlacementError> {
    let parsed = parse(expression).unwrap_or_else(|e| panic!("{expression}: {e}"));
    holds(&parsed, &node.facts())
}

/// Asserts each expression's result on `node`.
fn assert_holds(node: &Node, cases: &[(&str, bool)]) {
    for (expression, expected) in cases {
        assert_eq!(evaluate(expression, node), Ok(*expected), "{expression}");
    }
}

#[test]
fn documented_examples_hold_on_a_matching_instance() {
    let mut gpu = worker();
    gpu.labels.insert(
        "node.kubernetes.io/instance-type".into(),
        "g2.2xlarge".into(),
    );
    assert_holds(
        &gpu,
        &[
            ("attribute:ecs.instance-type =~ g2.*", true),
            (
                "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]",
                true,
            ),
            ("task:group == service:web", true),
            ("not(task:group == database)", true),
            (
                "attribute:ecs.instance-type =~ t2.* and attribute:ecs.availability-zone != us-east-1d",
                false,
            ),
            (
                "ec2InstanceId in ['i-0123456789abcdef0', 'i-wxyz7890']",
                true,
            ),
            (
                "attribute:ecs.instance-type == g2.2xlarge or agentConnected == false",
                true,
            ),
        ],
    );
}

#[test]
fn attribute_operators_in_every_spelling() {
    assert_holds(
        &worker(),
        &[
            ("attribute:ecs.instance-type == m5.large", true),
            ("attribute:ecs.instance-type equals m5.xlarge", false),
            ("attribute:ecs.instance-type != m5.xlarge", true),
            ("attribute:ecs.instance-type not_equals m5.large", false),
            (
                "attribute:ecs.availability-zone in [us-east-1b, us-east-1a]",
                true,
            ),
            ("attribute:ecs.availability-zone !in [us-east-1a]", false),
            ("attribute:ecs.availability-zone not_in [us-east-1c]", true),
            ("attribute:ecs.os-type exists", true),
            ("attribute:ecs.os-type !exists", false),
            ("attribute:ecs.os-type not_exists", false),
            ("attribute:ecs.instance-type matches m5\\..*", true),
            ("attribute:ecs.instance-type !~ m5.*", false),
            ("attribute:ecs.instance-type not_matches t3.*", true),
            ("attribute:cores greater_than 8", true),
            ("attribute:cores greater_than_equal 16", true),
            ("attribute:cores less_than 16", false),
            ("attribute:cores less_than_equal 16", true),
            // Values no label can hold compare as any other string.
            ("attribute:tier != 'a b'", true),
            ("attribute:tier in ['a b', \"b\"]", true),
        ],
    );
}

#[test]
fn regexes_match_the_whole_value_like_java_matches() {
    assert_holds(
        &worker(),
        &[
            ("attribute:ecs.instance-type =~ m5", false),
            ("attribute:ecs.instance-type =~ .*large", true),
            ("attribute:ecs.instance-type =~ (m5|c5).large", true),
            ("attribute:ecs.instance-type =~ 'm5.large|t3.micro'", true),
            ("attribute:ecs.instance-type !~ large", true),
        ],
    );
    assert!(matches!(
        evaluate("attribute:ecs.instance-type =~ (m5", &worker()),
        Err(PlacementError::InvalidRegex { .. })
    ));
}

#[test]
fn cpu_architecture_reads_x86_64_for_amd64() {
    assert_holds(
        &worker(),
        &[
            ("attribute:ecs.cpu-architecture == x86_64", true),
            ("attribute:ecs.cpu-architecture in [arm64, x86_64]", true),
            ("attribute:ecs.cpu-architecture =~ x86.*", true),
            ("attribute:ecs.cpu-architecture =~ amd.*", false),
            ("attribute:ecs.cpu-architecture != arm64", true),
            // The label's own spelling is accepted too, as node affinity accepts it.
            ("attribute:ecs.cpu-architecture == amd64", true),
        ],
    );
}

#[test]
fn a_missing_attribute_fails_comparisons_and_satisfies_their_negations() {
    // Berth's reading; the docs define `!exists` only as "Subject does not exist".
    let node = worker();
    assert_holds(
        &node,
        &[
            ("attribute:gpu == 1", false),
            ("attribute:gpu != 1", true),
            ("attribute:gpu in [1, 2]", false),
            ("attribute:gpu !in [1, 2]", true),
            ("attribute:gpu =~ .*", false),
            ("attribute:gpu !~ .*", true),
            ("attribute:gpu > 0", false),
            ("attribute:gpu <= 0", false),
            ("not(attribute:gpu > 0)", true),
            ("attribute:gpu exists", false),
            ("attribute:gpu !exists", true),
            // No node can carry a label with this name.
            ("attribute:Bad/Key/x exists", false),
        ],
    );
}

#[test]
fn attribute_order_compares_numbers_as_numbers_and_words_as_words() {
    assert_holds(
        &worker(),
        &[
            // As strings "16" < "8"; as numbers it is greater.
            ("attribute:cores > 8", true),
            ("attribute:cores < 16.5", true),
            ("attribute:cores >= 1.6e1", true),
            ("attribute:cores == 16.0", false),
            ("attribute:tier > a", true),
            ("attribute:tier < a", false),
            // A number and a word do not compare.
            ("attribute:cores > many", false),
            ("attribute:cores <= many", false),
            ("attribute:tier > 1", false),
        ],
    );
}

#[test]
fn running_tasks_count_is_a_number() {
    assert_holds(
        &worker(),
        &[
            ("runningTasksCount > 2", true),
            ("runningTasksCount == 3", true),
            ("runningTasksCount == 03", true),
            ("runningTasksCount != 3", false),
            ("runningTasksCount <= 2", false),
            ("runningTasksCount < 10", true),
            ("runningTasksCount exists", true),
        ],
    );
    assert_holds(&bare(), &[("runningTasksCount == 0", true)]);
    assert_eq!(
        evaluate("runningTasksCount > lots", &worker()),
        Err(PlacementError::InvalidArgument {
            condition: "runningTasksCount >".into(),
            value: "lots".into(),
            expected: "an integer",
        })
    );
}

#[test]
fn registered_at_compares_dates_in_every_documented_format() {
    assert_holds(
        &worker(),
        &[
            ("registeredAt < 2025-06-02", true),
            ("registeredAt >= 2025-06-01", true),
            ("registeredAt > 2025-06-01", false),
            ("registeredAt == 2025-06-01T00:00:00Z", true),
            ("registeredAt == 2025-06-01T00:00:00+00:00", true),
            ("registeredAt == 2025-06-01T02:00:00+02:00", true),
            ("registeredAt == 2025-06-01T00:00:00", true),
            ("registeredAt > 2025-05-31T23:59:59Z", true),
            ("registeredAt != 2025-05-31T23:59:59Z", true),
            ("registeredAt <= 2018-06-18T22:28:28Z", false),
        ],
    );
    assert_holds(
        &bare(),
        &[
            ("registeredAt < 2100-01-01", false),
            ("registeredAt != 2100-01-01", true),
            ("registeredAt !exists", true),
        ],
    );
    assert!(matches!(
        evaluate("registeredAt < yesterday", &worker()),
        Err(PlacementError::InvalidArgument { .. })
    ));
}

#[test]
fn agent_version_is_the_kubelet_version_compared_as_a_version() {
    assert_holds(
        &worker(),
        &[
            ("agentVersion == 1.34.4", true),
            ("agentVersion == v1.34.4", true),
            ("agentVersion == 1.34.4.0", true),
            ("agentVersion >= 1.34", true),
            ("agentVersion > 1.34.4", false),
            ("agentVersion < 1.100", true),
            ("agentVersion != 1.33.9", true),
        ],
    );
    let mut eks = worker();
    eks.kubelet_version = Some("v1.30.2-eks-1552ad0".into());
    assert_holds(
        &eks,
        &[
            ("agentVersion == 1.30.2", true),
            ("agentVersion < 1.31", true),
        ],
    );
    assert_holds(
        &bare(),
        &[
            ("agentVersion > 0.1", false),
            ("agentVersion !exists", true),
        ],
    );
    assert!(matches!(
        evaluate("agentVersion > latest", &worker()),
        Err(PlacementError::InvalidArgument { .. })
    ));
}

#[test]
fn agent_connected_is_the_ready_condition() {
    assert_holds(
        &worker(),
        &[
            ("agentConnected == true", true),
            ("agentConnected == TRUE", true),
            ("agentConnected != true", false),
            ("agentConnected in [false]", false),
            ("agentConnected =~ t.*", true),
        ],
    );
    assert_holds(
        &bare(),
        &[
            ("agentConnected == false", true),
            ("agentConnected !~ t.*", true),
        ],
    );
}

#[test]
fn ec2_instance_id_is_the_provider_id_instance_never_the_hostname() {
    assert_holds(
        &worker(),
        &[
            ("ec2InstanceId == i-0123456789abcdef0", true),
            ("ec2InstanceId == ip-10-0-1-23.ec2.internal", false),
            ("ec2InstanceId in [i-1, i-0123456789abcdef0]", true),
            ("ec2InstanceId =~ i-0123.*", true),
            ("ec2InstanceId !in [i-0123456789abcdef0]", false),
        ],
    );
    let mut kind = worker();
    kind.provider_id = Some("kind://docker/kind/kind-worker".into());
    assert_holds(&kind, &[("ec2InstanceId == kind-worker", true)]);
    assert_holds(
        &bare(),
        &[
            ("ec2InstanceId == bare", false),
            ("ec2InstanceId != bare", true),
            ("ec2InstanceId !exists", true),
        ],
    );
}

#[test]
fn task_group_asks_which_groups_run_tasks_on_the_node() {
    assert_holds(
        &worker(),
        &[
            ("task:group == service:web", true),
            ("task:group == service:api", false),
            // A group whose tasks have all stopped is not on the node.
            ("task:group == service:gone", false),
            ("task:group != service:api", true),
            ("task:group != service:web", false),
            ("task:group in [service:api, family:batch]", true),
            ("task:group not_in [service:api, family:x]", true),
            ("task:group not_in [service:api, service:web]", false),
            ("task:group =~ service:.*", true),
            ("task:group !~ family:.*", false),
            ("task:group exists", true),
        ],
    );
    assert_holds(
        &bare(),
        &[
            ("task:group == service:web", false),
            ("task:group != service:web", true),
            ("task:group !exists", true),
        ],
    );
}

#[test]
fn operators_the_docs_do_not_list_for_a_subject_are_errors() {
    for (expression, subject, operator) in [
        ("runningTasksCount in [3]", "runningTasksCount", "in"),
        ("agentVersion =~ 1.*", "agentVersion", "=~"),
        ("registeredAt !in [2025-06-01]", "registeredAt", "!in"),
        ("agentConnected > false", "agentConnected", ">"),
        ("ec2InstanceId <= i-1", "ec2InstanceId", "<="),
        ("task:group >= service:a", "task:group", ">="),
    ] {
        let error = evaluate(expression, &worker()).unwrap_err();
        assert!(
            matches!(&error, PlacementError::InvalidOperator { subject: s, operator: o, .. } if s == subject && *o == operator),
            "{expression}: {error}"
        );
    }
    assert_eq!(
        evaluate("agentConnected > false", &worker())
            .unwrap_err()
            .to_string(),
        "agentConnected does not take operator >; ECS allows ==, !=, in, !in, =~, !~, exists and !exists"
    );
}

#[test]
fn not_and_or_and_parentheses_combine() {
    assert_holds(
        &worker(),
        &[
            (
                "runningTasksCount < 5 and (attribute:ecs.availability-zone == us-east-1b or task:group == service:web)",
                true,
            ),
            (
                "runningTasksCount < 5 and attribute:ecs.availability-zone == us-east-1b or task:group == service:api",
                false,
            ),
            (
                "!(agentConnected == true) || attribute:ecs.os-type == linux",
                true,
            ),
            (
                "not (agentConnected == true or attribute:ecs.os-type == linux)",
                false,
            ),
            ("!!agentConnected == true", true),
        ],
    );
}

#[test]
fn errors_do_not_depend_on_the_node_or_on_short_circuits() {
    for node in [worker(), bare()] {
        assert!(evaluate("attribute:gpu exists and attribute:x =~ (a", &node).is_err());
        assert!(evaluate("agentConnected == true or runningTasksCount > x", &node).is_err());
        assert!(evaluate("registeredAt !exists or agentVersion < next", &node).is_err());
    }
}

#[test]
fn needs_berth_placement_exactly_when_affinity_cannot_express_it_or_a_regex_is_read() {
    for expression in [
        "attribute:ecs.availability-zone != us-east-1a",
        "attribute:cores > 4 or attribute:gpu exists",
        "task:group == service:web",
        "not(task:group == database) and attribute:ecs.os-type == linux",
        "task:group not_in [a, b]",
        "task:group in [a]",
    ] {
        assert!(
            !needs_berth_placement(&parse(expression).unwrap()),
            "{expression}"
        );
    }
    let factor = |i: usize| format!("(attribute:a{i} exists or attribute:b{i} exists)");
    let too_many = (0..7).map(factor).collect::<Vec<_>>().join(" and ");
    for expression in [
        "runningTasksCount < 3",
        "agentConnected == true",
        "agentVersion >= 1.30",
        "registeredAt > 2025-01-01",
        "ec2InstanceId == i-0123456789abcdef0",
        "not(attribute:x exists) and not(ec2InstanceId exists)",
        "task:group == service:web or attribute:gpu exists",
        "task:group in [a, b]",
        "not(task:group not_in [a, b])",
        "task:group exists",
        "task:group =~ service:.*",
        // A regex expands to today's label values only: Berth reads it at each placement.
        "attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1a",
        "not(attribute:ecs.instance-type !~ t3.*)",
        "attribute:version > 1.5",
        "attribute:Bad/Key/x exists",
        "attribute:team != 'a b'",
        too_many.as_str(),
    ] {
        assert!(
            needs_berth_placement(&parse(expression).unwrap()),
            "{expression}"
        );
    }
    assert!(!needs_berth_placement(&Expression::And(Vec::new())));
}

/// Renders an expression so that parsing it gives it back: compounds in parentheses,
/// scalar values bare, list values in double quotes, patterns in single quotes.
fn render(expression: &Expression) -> String {
    let join = |operands: &[Expression], combinator: &str| {
        operands
            .iter()
            .map(|operand| format!("({})", render(operand)))
            .collect::<Vec<_>>()
            .join(combinator)
    };
    match expression {
        Expression::Condition(Condition { subject, predicate }) => {
            let argument = match predicate {
                Predicate::Equals(value)
                | Predicate::NotEquals(value)
                | Predicate::GreaterThan(value)
                | Predicate::GreaterThanOrEqual(value)
                | Predicate::LessThan(value)
                | Predicate::LessThanOrEqual(value) => format!("'{value}'"),
                Predicate::In(values) | Predicate::NotIn(values) => {
                    let quoted: Vec<_> = values.iter().map(|v| format!("\"{v}\"")).collect();
                    format!("[{}]", quoted.join(", "))
                }
                Predicate::Matches(pattern) | Predicate::NotMatches(pattern) => {
                    format!("'{pattern}'")
                }
                Predicate::Exists | Predicate::NotExists => String::new(),
            };
            format!("{subject} {} {argument}", predicate.operator())
        }
        Expression::Not(inner) => format!("not ({})", render(inner)),
        Expression::And(operands) => join(operands, " and "),
        Expression::Or(operands) => join(operands, " || "),
    }
}

fn predicate(
    values: impl Strategy<Value = String> + Clone + 'static,
    patterns: impl Strategy<Value = String> + Clone + 'static,
    ordered: bool,
) -> BoxedStrategy<Predicate> {
    let list = prop::collection::vec(values.clone(), 1..4);
    let unordered = prop_oneof![
        values.clone().prop_map(Predicate::Equals),
        values.clone().prop_map(Predicate::NotEquals),
        list.clone().prop_map(Predicate::In),
        list.prop_map(Predicate::NotIn),
        Just(Predicate::Exists),
        Just(Predicate::NotExists),
        patterns.clone().prop_map(Predicate::Matches),
        patterns.prop_map(Predicate::NotMatches),
    ];
    if !ordered {
        return unordered.boxed();
    }
    prop_oneof![
        unordered,
        values.clone().prop_map(Predicate::GreaterThan),
        values.clone().prop_map(Predicate::GreaterThanOrEqual),
        values.clone().prop_map(Predicate::LessThan),
        values.prop_map(Predicate::LessThanOrEqual),
    ]
    .boxed()
}

fn expressions(conditions: BoxedStrategy<Condition>) -> impl Strategy<Value = Expression> {
    conditions
        .prop_map(Expression::Condition)
        .prop_recursive(3, 24, 3, |inner| {
            prop_oneof![
                inner.clone().prop_map(|e| Expression::Not(Box::new(e))),
                prop::collection::vec(inner.clone(), 2..4).prop_map(Expression::And),
                prop::collection::vec(inner, 2..4).prop_map(Expression::Or),
            ]
        })
}

/// Any subject with any operator and awkward arguments (spaces, commas, bad dates,
/// versions, regexes), well-formed for the parser but not always for ECS.
fn any_condition() -> BoxedStrategy<Condition> {
    let subjects = prop::sample::select(vec![
        Subject::Attribute("ecs.cpu-architecture".into()),
        Subject::Attribute("ecs.instance-type".into()),
        Subject::Attribute("cores".into()),
        Subject::Attribute("Bad/Key/x".into()),
        Subject::Ec2InstanceId,
        Subject::TaskGroup,
        Subject::AgentConnected,
        Subject::AgentVersion,
        Subject::RegisteredAt,
        Subject::RunningTasksCount,
    ]);
    let values = prop::sample::select(vec![
        "x86_64",
        "m5.large",
        "16",
        "-3",
        "1.5",
        "a b",
        "x,y",
        "true",
        "v1.34.4",
        "1.30",
        "2025-06-01",
        "2025-06-01T00:00:00Z",
        "not a date",
        "service:web",
        "i-0123456789abcdef0",
        "",
        "é",
    ])
    .prop_map(str::to_string);
    let patterns = prop::sample::select(vec![".*", "m5\\..*", "(a|b", "x86.*", "[0-9]+", "t|f"])
        .prop_map(str::to_string);
    (subjects, predicate(values, patterns, true))
        .prop_map(|(subject, predicate)| Condition { subject, predicate })
        .boxed()
}

/// Attribute conditions over the labels of `fleet()`, mostly ones node affinity can
/// express; only `cores` (integer labels) is compared by order.
fn affinity_condition() -> BoxedStrategy<Condition> {
    let words = prop::sample::select(vec!["x86_64", "amd64", "arm64", "a", "b", "c", "a b"])
        .prop_map(str::to_string);
    let patterns = prop::sample::select(vec!["x86.*", "arm.*", "a|b", "c", "z.*", ".*"])
        .prop_map(str::to_string);
    let named = prop::sample::select(vec!["ecs.cpu-architecture", "zone"]);
    let words_condition =
        (named, predicate(words, patterns.clone(), false)).prop_map(|(name, predicate)| {
            Condition {
                subject: Subject::Attribute(name.to_string()),
                predicate,
            }
        });
    let integers = prop::sample::select(vec!["-1", "4", "8", "16"]).prop_map(str::to_string);
    let cores_condition = predicate(integers, patterns, true).prop_map(|predicate| Condition {
        subject: Subject::Attribute("cores".into()),
        predicate,
    });
    prop_oneof![words_condition, cores_condition].boxed()
}

fn fleet() -> Vec<Node> {
    let with = |name: &str, pairs: &[(&str, &str)]| Node {
        name: name.into(),
        labels: labels(pairs),
        ..bare()
    };
    vec![
        with(
            "n1",
            &[
                ("kubernetes.io/arch", "amd64"),
                ("zone", "a"),
                ("cores", "4"),
            ],
        ),
        with(
            "n2",
            &[
                ("kubernetes.io/arch", "arm64"),
                ("zone", "b"),
                ("cores", "16"),
            ],
        ),
        with("n3", &[("kubernetes.io/arch", "amd64"), ("cores", "8")]),
        with("n4", &[]),
    ]
}

proptest! {
    #[test]
    fn well_formed_expressions_round_trip_and_never_panic(expression in expressions(any_condition())) {
        let text = render(&expression);
        prop_assert_eq!(parse(&text), Ok(expression.clone()), "{}", text);
        let on_worker = holds(&expression, &worker().facts());
        let on_bare = holds(&expression, &bare().facts());
        prop_assert_eq!(on_worker.is_err(), on_bare.is_err(), "{}", text);
        let _ = needs_berth_placement(&expression);
    }

    /// Where kube-scheduler places (needs_berth_placement false), it must choose exactly
    /// the nodes Berth would.
    #[test]
    fn node_affinity_agrees_with_holds(expression in expressions(affinity_condition())) {
        let nodes = fleet();
        let mut known = BTreeMap::<String, BTreeSet<String>>::new();
        for (key, value) in nodes.iter().flat_map(|node| &node.labels) {
            known.entry(key.clone()).or_default().insert(value.clone());
        }
        let group_selector = |_: &str| Default::default();
        let context = ConstraintContext { task_group: "service:web", known_label_values: &known, group_selector: &group_selector };
        let translated = translate_member_of(&expression, &context);
        // Where affinity cannot express it Berth places; a regex it could translate, Berth places too.
        prop_assert!(needs_berth_placement(&expression) || translated.is_ok(), "{}", render(&expression));
        let Ok(translated) = translated else { return Ok(()) };
        let required = translated.node_affinity.and_then(|a| a.required_during_scheduling_ignored_during_execution);
        for node in &nodes {
            let scheduler = required.as_ref().is_none_or(|r| node_match::matches(r, &node.name, &node.labels));
            prop_assert_eq!(holds(&expression, &node.facts()), Ok(scheduler), "{} on {}", render(&expression), node.name);
        }
    }
}
