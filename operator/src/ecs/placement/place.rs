//! Placement as the ECS scheduler does it (§2.10), for the strategies
//! kube-scheduler cannot express: `binpack`, `random` and several strategies
//! applied in order. Berth picks each new task's node and pins the pod to it,
//! as the DaemonSet controller pins its pods; kube-scheduler still binds it
//! and checks that it fits.
//!
//! Strategies apply in order: each keeps the best of the nodes the one before
//! it kept, so the first decides and later ones only break its ties. What
//! ties remain after the last is settled at random, as on ECS.
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use super::node_labels::{HOSTNAME_LABEL, ZONE_LABEL};
use super::PlacementError;
use super::cql::Expression;
use super::member_of::{NodeFacts, holds};
use super::strategy::BinpackResource;
use super::resources::Resources;
use crate::ecs::scheduler::TaskView;

/// One placement strategy, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Strategy {
    Random,
    /// Balance the group's tasks over the values of this node label (the node's name for `instanceId`/`host`).
    Spread(String),
    Binpack(BinpackResource),
}

impl Strategy {
    /// Whether kube-scheduler can honour these strategies by itself (topology
    /// spread constraints): one spread, or the default. Any binpack or random,
    /// or strategies in order, need Berth to choose the node.
    pub fn kube_scheduler_can_place(strategies: &[Strategy]) -> bool {
        // Two soft topology spreads are summed by kube-scheduler, not ordered;
        // for ECS's default pair the two agree closely enough.
        strategies == default_spread().as_slice() || matches!(strategies, [] | [Strategy::Spread(_)])
    }
}

/// ECS's spread for a REPLICA service without strategies (§2.3).
pub fn default_spread() -> Vec<Strategy> {
    vec![Strategy::Spread(ZONE_LABEL.into()), Strategy::Spread(HOSTNAME_LABEL.into())]
}

/// One node as placement sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeSlot {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Allocatable, less the requests of the Berth tasks on it or pinned to it.
    pub free: Resources,
    /// A task of this service may go there as far as Kubernetes goes: Ready,
    /// schedulable, tolerated, in its capacity provider's pool.
    pub eligible: bool,
    /// What memberOf expressions read of the node besides its labels.
    pub provider_id: Option<String>,
    pub registered_at: Option<i64>,
    pub kubelet_version: Option<String>,
    /// Active Berth tasks on the node, all owners, and by task group.
    pub running_tasks: usize,
    pub task_groups: BTreeMap<String, usize>,
}

impl NodeSlot {
    /// The node's value of a spread key; nodes without the label share the empty value.
    pub fn value(&self, key: &str) -> String {
        if key == HOSTNAME_LABEL {
            return self.name.clone();
        }
        self.labels.get(key).cloned().unwrap_or_default()
    }
}

/// Why tasks found no node: `message` in ECS's words, naming the closest node; `cause`, the
/// same without it, stays the same while the cause stands (ECS says a standing cause once).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unplaced {
    pub cause: String,
    pub message: String,
}

/// What placing a service's new tasks, or choosing which to stop, starts from.
#[derive(Clone, Debug, Default)]
pub struct Placement {
    pub nodes: Vec<NodeSlot>,
    pub strategies: Vec<Strategy>,
    /// What one task requests.
    pub request: Resources,
    /// `distinctInstance`: at most one task of the group per node.
    pub distinct_instance: bool,
    /// The task group placed, counted on a node once a task goes there.
    pub group: String,
    /// The task's memberOf constraints: a node must meet every one, read
    /// again after each task placed (runningTasksCount and task:group change).
    pub member_of: Vec<Expression>,
    /// Berth chooses the nodes of new tasks (the strategies need it).
    pub berth_places: bool,
    /// Availability Zone rebalancing is on for the service.
    pub zone_rebalancing: bool,
    /// Further spread keys the service is kept balanced over (Berth's extension).
    pub rebalance_across: Vec<String>,
    /// Settles ties and `random`; the caller varies it per pass.
    pub seed: u64,
}

impl Placement {
    /// The nodes of `count` new tasks, chosen one at a time so each sees the
    /// tasks chosen before it; `None` for a task no eligible node has room for
    /// (ECS leaves it unplaced). `group` is the group's active tasks by node.
    pub fn place(&self, group: &BTreeMap<String, usize>, count: usize) -> Vec<Option<String>> {
        let mut group = group.clone();
        let mut free: BTreeMap<&str, Resources> = self.nodes.iter().map(|n| (n.name.as_str(), n.free)).collect();
        let mut placed = Vec::with_capacity(count);
        let mut added: BTreeMap<&str, usize> = BTreeMap::new();
        for step in 0..count {
            let candidates: Vec<&NodeSlot> = self.nodes.iter()
                .filter(|n| free[n.name.as_str()].holds(self.request))
                .filter(|n| self.admits(n, added.get(n.name.as_str()).copied().unwrap_or(0)).unwrap_or(false))
                .filter(|n| !self.distinct_instance || group.get(&n.name).copied().unwrap_or(0) == 0)
                .collect();
            let Some(chosen) = self.best(candidates, &group, &free, step as u64) else {
                // Nothing fits now, nor will it for the tasks after this one.
                placed.resize(count, None);
                break;
            };
            *group.entry(chosen.to_string()).or_default() += 1;
            let left = free[chosen].less(self.request);
            free.insert(chosen, left);
            *added.entry(chosen).or_default() += 1;
            placed.push(Some(chosen.to_string()));
        }
        placed
    }

    /// Whether a task may go to `node` with `added` of the group's tasks
    /// placed there by this pass: eligible, and meeting every memberOf.
    pub fn admits(&self, node: &NodeSlot, added: usize) -> Result<bool, PlacementError> {
        if !node.eligible {
            return Ok(false);
        }
        if self.member_of.is_empty() {
            return Ok(true);
        }
        let mut task_groups = node.task_groups.clone();
        if added > 0 {
            *task_groups.entry(self.group.clone()).or_default() += added;
        }
        let facts = NodeFacts {
            name: &node.name,
            labels: &node.labels,
            provider_id: node.provider_id.as_deref(),
            registered_at: node.registered_at,
            ready: node.eligible,
            kubelet_version: node.kubelet_version.as_deref(),
            running_tasks: node.running_tasks + added,
            task_groups: &task_groups,
        };
        let mut meets = true;
        for expression in &self.member_of {
            meets &= holds(expression, &facts)?;
        }
        Ok(meets)
    }

    /// The nodes a task may go to now; an expression that cannot be evaluated
    /// (a bad regex or argument) is an error on every node.
    pub fn admitting(&self) -> Result<Vec<&NodeSlot>, PlacementError> {
        let mut nodes = vec![];
        for node in &self.nodes {
            if self.admits(node, 0)? {
                nodes.push(node);
            }
        }
        Ok(nodes)
    }

    /// Narrows the candidates strategy by strategy, then settles what ties remain.
    fn best<'n>(&self, mut candidates: Vec<&'n NodeSlot>, group: &BTreeMap<String, usize>, free: &BTreeMap<&str, Resources>, step: u64) -> Option<&'n str> {
        if candidates.is_empty() {
            return None;
        }
        for (i, strategy) in self.strategies.iter().enumerate() {
            let score = |n: &NodeSlot| -> i64 {
                match strategy {
                    // The fewest of the group's tasks on the node's value of the key.
                    Strategy::Spread(key) => {
                        let value = n.value(key);
                        self.nodes.iter().filter(|m| m.value(key) == value).map(|m| group.get(&m.name).copied().unwrap_or(0) as i64).sum()
                    }
                    // The least of the resource left once the task is on it.
                    Strategy::Binpack(resource) => free[n.name.as_str()].of(*resource),
                    Strategy::Random => mix(self.seed, step * 31 + i as u64, &n.name) as i64,
                }
            };
            let low = candidates.iter().map(|n| score(n)).min().expect("not empty");
            candidates.retain(|n| score(n) == low);
        }
        candidates.iter().min_by_key(|n| mix(self.seed, step, &n.name)).map(|n| n.name.as_str())
    }

    /// A task's value of a spread key: its node's, or `None` while it has no node.
    pub fn value_of(&self, task: &TaskView, key: &str) -> Option<String> {
        match key {
            HOSTNAME_LABEL => task.node.clone(),
            // The zone is observed with the task, even where its node has left the cache.
            ZONE_LABEL => task.zone.clone(),
            _ => task.node.as_ref().and_then(|n| self.nodes.iter().find(|m| &m.name == n)).map(|n| n.value(key)),
        }
    }

    /// Why a task found no node, in the words of ECS's
    /// SERVICE_TASK_PLACEMENT_FAILURE event: the eligible node with the most
    /// room is the closest match, and what it lacks is the reason.
    pub fn why_unplaced(&self) -> Unplaced {
        let closest = self.nodes.iter().filter(|n| self.admits(n, 0).unwrap_or(false)).max_by_key(|n| (n.free.memory.min(self.request.memory), n.free.cpu.min(self.request.cpu), n.free));
        let Some(n) = closest else {
            let reason = "Reason: No Container Instances were found in your cluster that meet the task's placement constraints.";
            return Unplaced { cause: reason.to_string(), message: reason.to_string() };
        };
        let lacks = if n.free.memory < self.request.memory {
            "has insufficient memory available."
        } else if n.free.cpu < self.request.cpu {
            "has insufficient CPU units available."
        } else if self.distinct_instance {
            "encountered error \"DistinctInstance placement constraint unsatisfied.\""
        } else {
            "has insufficient memory available."
        };
        Unplaced {
            cause: format!("The closest matching container instance {lacks}"),
            message: format!("The closest matching container instance {} {lacks}", n.name),
        }
    }

    /// The `count` tasks to stop, best victim first (§2.10): pending, then
    /// unhealthy tasks, then as the strategies say: a spread stops from the
    /// value with the most of the group's tasks, binpack the task whose node
    /// is left with the most free, random any; later strategies break ties,
    /// then the newest task goes. Chosen one at a time, so each pick sees the
    /// counts the previous picks left.
    pub fn scale_in_victims<'t>(&self, tasks: &'t [TaskView], count: usize) -> Vec<&'t TaskView> {
        // Each task's value of each spread key, read once, and how many of the remaining
        // tasks share each value, kept as victims leave: a pick costs one look at each task,
        // not a count over all of them (a roll of 500 stopped its old tasks in O(n³)).
        let values: Vec<Vec<String>> = tasks.iter().map(|t| {
            self.strategies.iter().map(|strategy| match strategy {
                Strategy::Spread(key) => self.value_of(t, key).unwrap_or_default(),
                _ => String::new(),
            }).collect()
        }).collect();
        let mut sharing: Vec<HashMap<&str, i64>> = vec![HashMap::new(); self.strategies.len()];
        for task_values in &values {
            for (j, value) in task_values.iter().enumerate() {
                *sharing[j].entry(value.as_str()).or_default() += 1;
            }
        }
        let mut free: BTreeMap<String, Resources> = self.nodes.iter().map(|n| (n.name.clone(), n.free)).collect();
        let mut remaining: Vec<usize> = (0..tasks.len()).collect();
        let mut victims = Vec::with_capacity(count.min(tasks.len()));
        for step in 0..count.min(tasks.len()) {
            let key = |i: usize, j: usize| -> i64 {
                let t = &tasks[i];
                match &self.strategies[j] {
                    Strategy::Spread(_) => sharing[j][values[i][j].as_str()],
                    Strategy::Binpack(resource) => t.node.as_ref().and_then(|n| free.get(n)).map_or(i64::MAX, |f| f.of(*resource)),
                    Strategy::Random => mix(self.seed, step as u64, &t.name) as i64,
                }
            };
            let rank = |a: usize, b: usize| {
                let (ta, tb) = (&tasks[a], &tasks[b]);
                (ta.pending, !ta.healthy).cmp(&(tb.pending, !tb.healthy))
                    .then_with(|| (0..self.strategies.len()).map(|j| key(a, j).cmp(&key(b, j))).find(|o| o.is_ne()).unwrap_or(Ordering::Equal))
                    .then_with(|| ta.created.cmp(&tb.created))
                    .then_with(|| tb.name.cmp(&ta.name))
            };
            let index = (0..remaining.len()).max_by(|&a, &b| rank(remaining[a], remaining[b])).expect("count bounded by len");
            let victim = remaining.swap_remove(index);
            for (j, value) in values[victim].iter().enumerate() {
                if let Some(n) = sharing[j].get_mut(value.as_str()) {
                    *n -= 1;
                }
            }
            if let Some(node) = tasks[victim].node.as_ref().and_then(|n| free.get_mut(n)) {
                *node = node.plus(self.request);
            }
            victims.push(&tasks[victim]);
        }
        victims
    }
}

/// A deterministic hash of a seed, a step and a name (SplitMix64 finalizer
/// over FNV-1a): uniform enough to settle ties and `random` fairly.
fn mix(seed: u64, step: u64, name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        h = (h ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = h ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ step.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests;
