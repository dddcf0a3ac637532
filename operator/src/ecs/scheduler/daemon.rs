//! DAEMON scheduling (§2.2): exactly one task on every eligible node. Tasks
//! on nodes that are no longer eligible, and extra tasks on one node, stop.
use std::collections::{BTreeMap, BTreeSet};

use super::TaskView;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct DaemonPlan<'a> {
    /// Nodes that need a task.
    pub start_on: Vec<&'a str>,
    /// Tasks to stop.
    pub stop: Vec<&'a TaskView>,
}

/// `tasks` are the service's active tasks, each with the node it is bound to
/// (daemon tasks are pinned to a node when created).
pub fn plan<'a>(eligible_nodes: &'a BTreeSet<String>, tasks: &'a [TaskView]) -> DaemonPlan<'a> {
    let mut by_node: BTreeMap<&str, Vec<&TaskView>> = BTreeMap::new();
    let mut stop = vec![];
    for task in tasks {
        match task.node.as_deref() {
            Some(node) if eligible_nodes.contains(node) => by_node.entry(node).or_default().push(task),
            _ => stop.push(task),
        }
    }
    for node_tasks in by_node.values_mut() {
        // Keep the best one: running, healthy, oldest.
        node_tasks.sort_by_key(|t| (t.pending, !t.healthy, t.created, t.name.clone()));
        stop.extend(node_tasks.drain(1..));
    }
    let start_on = eligible_nodes.iter().map(String::as_str).filter(|n| !by_node.contains_key(n)).collect();
    DaemonPlan { start_on, stop }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(name: &str, node: &str, created: i64) -> TaskView {
        TaskView { name: name.into(), node: Some(node.into()), zone: None, provider: None, pending: false, healthy: true, created }
    }

    fn nodes(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn a_new_node_gets_a_task() {
        let eligible = nodes(&["n1", "n2", "n3"]);
        let tasks = [task("a", "n1", 0), task("b", "n2", 0)];
        assert_eq!(plan(&eligible, &tasks), DaemonPlan { start_on: vec!["n3"], stop: vec![] });
    }

    #[test]
    fn a_removed_node_loses_its_task_and_duplicates_stop() {
        let eligible = nodes(&["n1"]);
        let tasks = [task("old", "n1", 0), task("dup", "n1", 5), task("gone", "n9", 0)];
        let p = plan(&eligible, &tasks);
        assert!(p.start_on.is_empty());
        let stopped: Vec<_> = p.stop.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(stopped, ["gone", "dup"]);
    }
}
