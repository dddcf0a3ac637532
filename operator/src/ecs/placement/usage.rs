//! What Berth's active tasks hold on each node: the requests placement subtracts from a
//! node's allocatable, how many tasks run there (`runningTasksCount`) and of which task
//! groups (`task:group`). Kept up to date one task at a time as the cache changes, so a
//! pass reads it without going over every task in the cluster.
use std::collections::{BTreeMap, HashMap};

use super::Resources;

/// One task's share of a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holding {
    pub node: String,
    pub requests: Resources,
    /// Its ECS task group (`service:web`), when it has one.
    pub group: Option<String>,
}

/// The tasks on one node, all owners together.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Held {
    pub requests: Resources,
    pub tasks: usize,
    pub groups: BTreeMap<String, usize>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeUsage {
    nodes: HashMap<String, Held>,
}

impl NodeUsage {
    pub fn of<'a>(holdings: impl IntoIterator<Item = &'a Holding>) -> NodeUsage {
        let mut usage = NodeUsage::default();
        holdings.into_iter().for_each(|h| usage.add(h));
        usage
    }

    pub fn add(&mut self, holding: &Holding) {
        let held = self.nodes.entry(holding.node.clone()).or_default();
        held.requests = held.requests.plus(holding.requests);
        held.tasks += 1;
        if let Some(group) = &holding.group {
            *held.groups.entry(group.clone()).or_default() += 1;
        }
    }

    /// Takes back what `add` counted; a node or group left with no task is forgotten, so the
    /// usage is the same whatever the order its tasks came and went in.
    pub fn remove(&mut self, holding: &Holding) {
        let Some(held) = self.nodes.get_mut(&holding.node) else { return };
        held.requests = held.requests.less(holding.requests);
        held.tasks = held.tasks.saturating_sub(1);
        if let Some(group) = &holding.group
            && let Some(count) = held.groups.get_mut(group)
        {
            *count -= 1;
            if *count == 0 {
                held.groups.remove(group);
            }
        }
        if held.tasks == 0 {
            self.nodes.remove(&holding.node);
        }
    }

    pub fn on(&self, node: &str) -> Option<&Held> {
        self.nodes.get(node)
    }

    /// How many tasks of `group` are on each node that has any.
    pub fn group_by_node(&self, group: &str) -> BTreeMap<String, usize> {
        self.nodes.iter().filter_map(|(node, held)| Some((node.clone(), *held.groups.get(group)?))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn holding(node: &str, cpu: i64, group: Option<&str>) -> Holding {
        Holding { node: node.into(), requests: Resources { cpu, memory: cpu * 2 }, group: group.map(String::from) }
    }

    #[test]
    fn a_node_holds_the_sum_of_its_tasks_by_group() {
        let usage = NodeUsage::of(&[holding("a", 250, Some("service:web")), holding("a", 500, Some("service:api")), holding("a", 100, None), holding("b", 250, Some("service:web"))]);
        let a = usage.on("a").unwrap();
        assert_eq!((a.requests, a.tasks), (Resources { cpu: 850, memory: 1700 }, 3));
        assert_eq!(a.groups, BTreeMap::from([("service:api".to_string(), 1), ("service:web".to_string(), 1)]));
        assert_eq!(usage.group_by_node("service:web"), BTreeMap::from([("a".to_string(), 1), ("b".to_string(), 1)]));
        assert_eq!(usage.on("c"), None);
    }

    #[test]
    fn a_node_whose_last_task_left_is_forgotten() {
        let web = holding("a", 250, Some("service:web"));
        let mut usage = NodeUsage::of([&web]);
        usage.remove(&web);
        assert_eq!(usage, NodeUsage::default());
        usage.remove(&web);
        assert_eq!(usage, NodeUsage::default(), "removing what is not there changes nothing");
    }

    fn holdings() -> impl Strategy<Value = Vec<Holding>> {
        let one = (0..4usize, 0..1000i64, proptest::option::of(0..3usize))
            .prop_map(|(node, cpu, group)| Holding { node: format!("n{node}"), requests: Resources { cpu, memory: cpu }, group: group.map(|g| format!("service:g{g}")) });
        proptest::collection::vec(one, 0..24)
    }

    proptest! {
        /// Counted task by task as they come and go, the usage is the one counted afresh
        /// from the tasks that remain.
        #[test]
        fn counted_as_tasks_come_and_go_it_is_the_usage_of_those_left(all in holdings(), leaving in proptest::collection::vec(any::<bool>(), 24)) {
            let mut usage = NodeUsage::of(&all);
            let mut left = vec![];
            for (holding, leaves) in all.iter().zip(leaving.iter().copied().chain(std::iter::repeat(false))) {
                if leaves { usage.remove(holding) } else { left.push(holding.clone()) }
            }
            prop_assert_eq!(usage, NodeUsage::of(&left));
        }
    }
}
