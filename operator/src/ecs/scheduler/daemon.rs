//! DAEMON scheduling (§2.2): exactly one task on every eligible node. Tasks
//! on nodes that are no longer eligible, and extra tasks on one node, stop.
use std::collections::{BTreeMap, BTreeSet};

use super::TaskView;
use crate::ecs::rollout::DeploymentBounds;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct DaemonPlan<'a> {
    /// Nodes that need a task of the current deployment.
    pub start_on: Vec<&'a str>,
    /// Tasks to stop.
    pub stop: Vec<&'a TaskView>,
}

/// `tasks` are the service's active tasks, each with the node it is bound to
/// (daemon tasks are pinned to a node when created); `current` names those of
/// the deployment that gets new tasks.
///
/// A new deployment rolls node by node within the DAEMON bounds (§2.2, §2.6;
/// defaults minimumHealthyPercent 0, maximumPercent 100 of the node count): a
/// node whose task is of an older deployment gets its new task first while
/// `maximumPercent` leaves room, and loses the old one once the new is
/// healthy; without room the old task stops first (healthy ones only while
/// `minimumHealthyPercent` holds, so a higher minimum rolls in batches) and
/// the node gets its new task on a later pass.
pub fn plan<'a>(eligible_nodes: &'a BTreeSet<String>, tasks: &'a [TaskView], current: &BTreeSet<&str>, bounds: DeploymentBounds) -> DaemonPlan<'a> {
    let mut by_node: BTreeMap<&str, (Vec<&TaskView>, Vec<&TaskView>)> = BTreeMap::new();
    let mut stop = vec![];
    for task in tasks {
        match task.node.as_deref() {
            Some(node) if eligible_nodes.contains(node) => {
                let (new, old) = by_node.entry(node).or_default();
                if current.contains(task.name.as_str()) { new.push(task) } else { old.push(task) }
            }
            _ => stop.push(task),
        }
    }
    // On each node keep the best task of each kind (running, healthy, oldest);
    // an old one only while the node has no healthy current one.
    let mut replace = vec![];
    for (node, (new, old)) in by_node.iter_mut() {
        for tasks in [&mut *new, &mut *old] {
            tasks.sort_by_key(|t| (t.pending, !t.healthy, t.created, t.name.clone()));
            stop.extend(tasks.drain(1.min(tasks.len())..));
        }
        match (new.first(), old.first()) {
            (Some(n), Some(_)) if n.healthy => stop.append(old),
            (None, Some(o)) => replace.push((*node, *o)),
            _ => {}
        }
    }
    let desired = eligible_nodes.len() as u32;
    let kept = by_node.values().map(|(new, old)| new.len() + old.len()).sum::<usize>() as u32;
    let mut room = bounds.max_tasks(desired).saturating_sub(kept);
    let mut start_on: Vec<&str> = eligible_nodes.iter().map(String::as_str).filter(|n| !by_node.contains_key(n)).collect();
    start_on.truncate(room as usize);
    room -= start_on.len() as u32;
    let healthy = by_node.values().flat_map(|(new, old)| new.iter().chain(old.iter())).filter(|t| t.healthy).count() as u32;
    let mut healthy_stops = healthy.saturating_sub(bounds.min_healthy(desired));
    // Unhealthy old tasks cost nothing to stop: they go first.
    replace.sort_by_key(|(node, t)| (t.healthy, *node));
    for (node, old) in replace {
        if room > 0 {
            start_on.push(node);
            room -= 1;
        } else if !old.healthy {
            stop.push(old);
        } else if healthy_stops > 0 {
            stop.push(old);
            healthy_stops -= 1;
        }
    }
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

    const DAEMON: DeploymentBounds = DeploymentBounds { minimum_healthy_percent: 0, maximum_percent: 100 };

    fn all(tasks: &[TaskView]) -> BTreeSet<&str> {
        tasks.iter().map(|t| t.name.as_str()).collect()
    }

    fn names<'a>(tasks: &[&'a TaskView]) -> Vec<&'a str> {
        tasks.iter().map(|t| t.name.as_str()).collect()
    }

    #[test]
    fn a_new_node_gets_a_task() {
        let eligible = nodes(&["n1", "n2", "n3"]);
        let tasks = [task("a", "n1", 0), task("b", "n2", 0)];
        assert_eq!(plan(&eligible, &tasks, &all(&tasks), DAEMON), DaemonPlan { start_on: vec!["n3"], stop: vec![] });
    }

    #[test]
    fn a_removed_node_loses_its_task_and_duplicates_stop() {
        let eligible = nodes(&["n1"]);
        let tasks = [task("old", "n1", 0), task("dup", "n1", 5), task("gone", "n9", 0)];
        let p = plan(&eligible, &tasks, &all(&tasks), DAEMON);
        assert!(p.start_on.is_empty());
        assert_eq!(names(&p.stop), ["gone", "dup"]);
    }

    /// The DAEMON defaults (min 0 %, max 100 %): every old task stops, then
    /// each node gets its new task; the new deployment never exceeds one per node.
    #[test]
    fn a_new_deployment_replaces_each_node_stop_first_by_default() {
        let eligible = nodes(&["n1", "n2", "n3"]);
        let old = [task("a", "n1", 0), task("b", "n2", 0), task("c", "n3", 0)];
        let p = plan(&eligible, &old, &BTreeSet::new(), DAEMON);
        assert_eq!((p.start_on.len(), names(&p.stop)), (0, vec!["a", "b", "c"]));
        // Next pass: the nodes are empty, each gets its new task.
        let p = plan(&eligible, &[], &BTreeSet::new(), DAEMON);
        assert_eq!(p.start_on, ["n1", "n2", "n3"]);
    }

    #[test]
    fn a_higher_minimum_rolls_in_batches_and_room_starts_first() {
        let eligible = nodes(&["n1", "n2", "n3", "n4"]);
        let old = [task("a", "n1", 0), task("b", "n2", 0), task("c", "n3", 0), task("d", "n4", 0)];
        // min 50 %: two of four may go at a time.
        let half = DeploymentBounds { minimum_healthy_percent: 50, maximum_percent: 100 };
        assert_eq!(plan(&eligible, &old, &BTreeSet::new(), half).stop.len(), 2);
        // max 125 %: one new task starts beside its old one, which stays until it is healthy.
        let room = DeploymentBounds { minimum_healthy_percent: 100, maximum_percent: 125 };
        let p = plan(&eligible, &old, &BTreeSet::new(), room);
        assert_eq!((p.start_on, p.stop.len()), (vec!["n1"], 0));
        let mut new = task("a2", "n1", 10);
        new.pending = true;
        new.healthy = false;
        let tasks = [old[0].clone(), old[1].clone(), old[2].clone(), old[3].clone(), new];
        let current = BTreeSet::from(["a2"]);
        assert!(plan(&eligible, &tasks, &current, room).stop.is_empty(), "the old task waits for the new one");
        let mut tasks = tasks;
        tasks[4].pending = false;
        tasks[4].healthy = true;
        assert_eq!(names(&plan(&eligible, &tasks, &current, room).stop), ["a"]);
    }
}
