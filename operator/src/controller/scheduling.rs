//! Where a task may run: the task definition's and the owner's placement
//! constraints and strategies (ecs-semantics §2.10, §4.7), applied to the
//! task's pod, and the nodes a DAEMON service covers.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Affinity, Node, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::ResourceExt;

use super::Context;
use super::observe::node_ready;
use crate::api::{CapacityProviderSpec, PlacementConstraint, PlacementStrategy, TaskDefinitionSpec, wire_name};
use crate::ecs::placement::{Expression, cql, needs_berth_placement};
use crate::ecs::placement::{ConstraintContext, NodeSlot, NodeUsage, Placement, PlacementConstraintItem, PlacementError, PlacementStrategyItem, Resources, Strategy, parse_strategies, topology_spreads};
use crate::ecs::render::names::label_value;
use crate::ecs::task::labels;

/// The label that selects the tasks of an ECS task group.
pub fn group_selector(group: &str) -> LabelSelector {
    LabelSelector { match_labels: Some(BTreeMap::from([(labels::TASK_GROUP.to_string(), label_value(group))])), ..Default::default() }
}

/// The task definition's constraints and the owner's, which must all hold.
pub fn constraints(task_definition: &TaskDefinitionSpec, owner: Option<&Vec<PlacementConstraint>>) -> Vec<PlacementConstraintItem> {
    let from_task_definition = task_definition.placement_constraints.iter().flatten().map(|c| PlacementConstraintItem {
        constraint_type: wire_name(&c.type_),
        expression: Some(c.expression.clone()),
    });
    let from_owner = owner.into_iter().flatten().map(|c| PlacementConstraintItem { constraint_type: wire_name(&c.type_), expression: c.expression.clone() });
    from_task_definition.chain(from_owner).collect()
}

/// Applies constraints (required affinities) and spread strategies (soft
/// topology spreads) to a task's pod spec, for kube-scheduler to place it.
/// A task Berth places gets neither: its node meets them, and it is pinned.
pub fn apply(spec: &mut PodSpec, ctx: &Context, group: &str, constraints: &[PlacementConstraintItem], spreads: &[Strategy], pinned: bool) -> Result<(), PlacementError> {
    if pinned {
        return Ok(());
    }
    // Only constraints read them: a task without any skips a walk over every node's labels.
    let known = if constraints.is_empty() { BTreeMap::new() } else { known_label_values(ctx) };
    let selector = |g: &str| group_selector(g);
    let context = ConstraintContext { task_group: group, known_label_values: &known, group_selector: &selector };
    let scheduling = crate::ecs::placement::translate_constraints(constraints, &context)?;
    let spread = topology_spreads(spreads, &group_selector(group));
    if scheduling.node_affinity.is_some() || scheduling.pod_affinity.is_some() || scheduling.pod_anti_affinity.is_some() {
        let affinity = spec.affinity.get_or_insert_with(Affinity::default);
        affinity.node_affinity = scheduling.node_affinity.or(affinity.node_affinity.take());
        affinity.pod_affinity = scheduling.pod_affinity;
        affinity.pod_anti_affinity = scheduling.pod_anti_affinity;
    }
    if !spread.is_empty() {
        spec.topology_spread_constraints = Some(spread);
    }
    Ok(())
}

/// An owner's placement strategies, validated and in order.
pub fn strategies(items: Option<&Vec<PlacementStrategy>>) -> Result<Vec<Strategy>, PlacementError> {
    let items: Vec<PlacementStrategyItem> = items.into_iter().flatten()
        .map(|s| PlacementStrategyItem { strategy_type: wire_name(&s.type_), field: s.field.clone() })
        .collect();
    parse_strategies(&items)
}

/// A Service's placement strategies, ECS's default (spread over zones, then instances) when
/// it names none: the operator's and `kubectl ecs plan`'s.
pub fn service_strategies(items: Option<&Vec<PlacementStrategy>>) -> Result<Vec<Strategy>, PlacementError> {
    strategies(items).map(|s| if s.is_empty() { crate::ecs::placement::place::default_spread() } else { s })
}

/// Binds a task to the node Berth chose for it: the node's label (so
/// placement counts it there before it is scheduled) and a required affinity
/// on the node's name, as the DaemonSet controller binds its pods.
pub fn pin(pod: &mut Pod, node: &str) {
    pod.metadata.labels.get_or_insert_with(BTreeMap::new).insert(labels::NODE.to_string(), label_value(node));
    super::observe::pin_to_node(pod.spec.get_or_insert_with(Default::default), node);
}

/// The active tasks of a task group on each node, all owners together.
pub fn group_tasks_by_node(ctx: &Context, group: &str) -> BTreeMap<String, usize> {
    ctx.pods.with_usage(|usage| usage.group_by_node(group))
}

/// The node label keys of `rebalanceAcross` entries, which name attributes as a spread strategy does.
pub fn rebalance_keys(fields: &[String]) -> Result<Vec<String>, PlacementError> {
    let spreads: Vec<PlacementStrategyItem> = fields.iter().map(|f| PlacementStrategyItem { strategy_type: "spread".into(), field: Some(f.clone()) }).collect();
    Ok(parse_strategies(&spreads)?.into_iter().filter_map(|s| match s { Strategy::Spread(key) => Some(key), _ => None }).collect())
}

/// The cluster as placement sees it for a task group: every node, with its
/// allocatable less the requests of Berth's tasks on it or pinned to it, the
/// facts memberOf expressions read, and whether Kubernetes lets the task
/// there (Ready, schedulable, tolerated, in the pool). An expression that
/// cannot be evaluated is an error here, before anything is started.
pub fn placement(ctx: &Context, group: &str, constraints: &[PlacementConstraintItem], pool: Option<&CapacityProviderSpec>, request: Resources) -> Result<Placement, PlacementError> {
    let nodes = ctx.nodes.state();
    ctx.pods.with_usage(|usage| cluster_placement(usage, &nodes, group, constraints, pool, request))
}

/// [`placement`] from the nodes and what Berth's tasks hold on them, as the operator caches
/// them or a client (`kubectl ecs plan`) lists them.
pub fn cluster_placement(usage: &NodeUsage, nodes: &[Arc<Node>], group: &str, constraints: &[PlacementConstraintItem], pool: Option<&CapacityProviderSpec>,
    request: Resources) -> Result<Placement, PlacementError> {
    let member_of = member_of_expressions(constraints)?;
    let nodes = nodes.iter().map(|n| {
        let name = n.name_any();
        let allocatable = Resources::from_map(n.status.as_ref().and_then(|s| s.allocatable.as_ref()));
        let held = usage.on(&name);
        NodeSlot {
            free: allocatable.less(held.map(|h| h.requests).unwrap_or_default()),
            eligible: node_ready(n) && schedulable(n, pool),
            labels: n.labels().clone(),
            provider_id: n.spec.as_ref().and_then(|s| s.provider_id.clone()),
            registered_at: n.metadata.creation_timestamp.as_ref().map(|t| t.0.as_second()),
            kubelet_version: n.status.as_ref().and_then(|s| s.node_info.as_ref()).map(|i| i.kubelet_version.clone()),
            running_tasks: held.map_or(0, |h| h.tasks),
            // Only memberOf expressions read them (`task:group`).
            task_groups: held.filter(|_| !member_of.is_empty()).map(|h| h.groups.clone()).unwrap_or_default(),
            name,
        }
    }).collect();
    let distinct_instance = constraints.iter().any(|c| c.constraint_type == "distinctInstance");
    let placement = Placement { nodes, request, distinct_instance, group: group.to_string(), member_of, ..Placement::default() };
    placement.admitting()?;
    Ok(placement)
}

/// The parsed `memberOf` expressions of a task's constraints.
fn member_of_expressions(constraints: &[PlacementConstraintItem]) -> Result<Vec<Expression>, PlacementError> {
    constraints.iter().filter(|c| c.constraint_type == "memberOf").filter_map(|c| c.expression.as_deref())
        .map(|e| Ok(cql::parse(e)?)).collect()
}

/// Whether Berth must choose the task's node itself: strategies kube-scheduler
/// cannot honour, or memberOf expressions node affinity cannot express.
pub fn berth_places(strategies: &[Strategy], constraints: &[PlacementConstraintItem]) -> bool {
    let expressible = member_of_expressions(constraints).map_or(true, |es| !es.iter().any(needs_berth_placement));
    !Strategy::kube_scheduler_can_place(strategies) || !expressible
}

/// Not cordoned, and in the task's pool: without a capacity provider, any
/// node whose taints do not repel the task (it tolerates none).
fn schedulable(node: &Node, pool: Option<&CapacityProviderSpec>) -> bool {
    let spec = node.spec.as_ref();
    let cordoned = spec.and_then(|s| s.unschedulable).unwrap_or(false);
    let taints = spec.and_then(|s| s.taints.as_deref()).unwrap_or_default();
    !cordoned && crate::ecs::capacity::pool::admits(pool, node.labels(), taints)
}

fn known_label_values(ctx: &Context) -> BTreeMap<String, BTreeSet<String>> {
    let mut known: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for node in ctx.nodes.state() {
        for (key, value) in node.labels() {
            known.entry(key.clone()).or_default().insert(value.clone());
        }
    }
    known
}
