//! REPLICA scheduling: keep `desiredCount` tasks, and on scale-in choose the
//! tasks to stop the way ECS does (§2.3): pending and unhealthy tasks first,
//! then from the zone with the most tasks of the service, then the node with
//! the most, keeping the spread balanced.
use super::TaskView;
use crate::ecs::placement::Placement;
use crate::ecs::placement::place::default_spread;

/// How many tasks to start: the gap to `desired`, counting creations already
/// sent but not yet seen (expectations), so a slow cache never duplicates.
pub fn tasks_to_start(desired: usize, active: usize, creations_in_flight: usize) -> usize {
    desired.saturating_sub(active + creations_in_flight)
}

/// The `count` tasks to stop, best victim first, by ECS's default spread
/// (zones, then nodes): pending and unhealthy tasks first, then from the
/// zone with the most tasks of the service, then the node with the most.
pub fn scale_in_victims(tasks: &[TaskView], count: usize) -> Vec<&TaskView> {
    let spread = Placement { strategies: default_spread(), ..Placement::default() };
    spread.scale_in_victims(tasks, count)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use proptest::prelude::*;

    fn task(name: &str, zone: &str, node: &str) -> TaskView {
        TaskView { name: name.into(), node: Some(node.into()), zone: Some(zone.into()), provider: None, pending: false, healthy: true, created: 0 }
    }

    fn zone_counts<'a>(tasks: impl Iterator<Item = &'a TaskView>) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for t in tasks {
            *counts.entry(t.zone.clone().unwrap_or_default()).or_default() += 1;
        }
        counts
    }

    #[test]
    fn six_to_three_leaves_one_per_zone() {
        let tasks: Vec<_> = (0..6).map(|i| task(&format!("t{i}"), ["a", "b", "c"][i % 3], &format!("n{}", i % 3))).collect();
        let victims: Vec<_> = scale_in_victims(&tasks, 3).into_iter().map(|t| t.name.clone()).collect();
        let kept = tasks.iter().filter(|t| !victims.contains(&t.name));
        assert_eq!(zone_counts(kept), BTreeMap::from([("a".into(), 1), ("b".into(), 1), ("c".into(), 1)]));
    }

    #[test]
    fn pending_then_unhealthy_go_first() {
        let mut tasks = vec![task("healthy", "a", "n1"), task("sick", "b", "n2"), task("waiting", "c", "n3")];
        tasks[1].healthy = false;
        tasks[2].pending = true;
        let names: Vec<_> = scale_in_victims(&tasks, 2).into_iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["waiting", "sick"]);
    }

    #[test]
    fn within_a_zone_the_busiest_node_loses() {
        let tasks = vec![task("x1", "a", "n1"), task("x2", "a", "n1"), task("y", "a", "n2")];
        assert_eq!(scale_in_victims(&tasks, 1)[0].node.as_deref(), Some("n1"));
    }

    #[test]
    fn in_flight_creations_are_not_started_again() {
        assert_eq!(tasks_to_start(6, 2, 3), 1);
        assert_eq!(tasks_to_start(6, 2, 4), 0);
        assert_eq!(tasks_to_start(3, 5, 0), 0);
    }

    fn arb_tasks() -> impl Strategy<Value = Vec<TaskView>> {
        prop::collection::vec((0..3usize, 0..6usize, any::<bool>(), any::<bool>(), 0..100i64), 0..40).prop_map(|specs| {
            specs
                .into_iter()
                .enumerate()
                .map(|(i, (zone, node, pending, healthy, created))| TaskView {
                    name: format!("t{i}"),
                    zone: Some(["a", "b", "c"][zone].into()),
                    node: Some(format!("{}-{node}", ["a", "b", "c"][zone])),
                    provider: None,
                    pending,
                    healthy,
                    created,
                })
                .collect()
        })
    }

    /// One reconcile against a model cluster: stop the victims, start the gap
    /// (kube-scheduler puts each new task in the emptiest zone).
    fn reconcile(tasks: &mut Vec<TaskView>, desired: usize, next_id: &mut usize) {
        if tasks.len() > desired {
            let victims: Vec<String> = scale_in_victims(tasks, tasks.len() - desired).into_iter().map(|t| t.name.clone()).collect();
            tasks.retain(|t| !victims.contains(&t.name));
        }
        for _ in 0..tasks_to_start(desired, tasks.len(), 0) {
            let counts = zone_counts(tasks.iter());
            let zone = ["a", "b", "c"].into_iter().min_by_key(|z| counts.get(*z).copied().unwrap_or(0)).unwrap();
            *next_id += 1;
            tasks.push(TaskView { name: format!("new{next_id}"), zone: Some(zone.into()), node: Some(format!("{zone}-0")), provider: None, pending: true, healthy: false, created: 1000 });
        }
    }

    proptest! {
        #[test]
        fn converges_to_desired_from_any_start(mut tasks in arb_tasks(), desired in 0..40usize) {
            let mut next_id = 0;
            reconcile(&mut tasks, desired, &mut next_id);
            prop_assert_eq!(tasks.len(), desired);
            let before = tasks.clone();
            reconcile(&mut tasks, desired, &mut next_id);
            prop_assert_eq!(tasks, before, "a second pass changes nothing");
        }

        #[test]
        fn never_picks_a_task_twice(tasks in arb_tasks(), count in 0..50usize) {
            let victims = scale_in_victims(&tasks, count);
            prop_assert_eq!(victims.len(), count.min(tasks.len()));
            let mut names: Vec<_> = victims.iter().map(|t| &t.name).collect();
            names.sort();
            names.dedup();
            prop_assert_eq!(names.len(), victims.len());
        }

        #[test]
        fn scale_in_keeps_balanced_zones_within_one(per_zone in 1..12usize, extra in prop::collection::vec(0..3usize, 0..3), desired in 0..36usize) {
            // Running, healthy tasks spread within one across zones.
            let mut tasks = vec![];
            for (z, zone) in ["a", "b", "c"].iter().enumerate() {
                let n = per_zone + usize::from(extra.contains(&z));
                for i in 0..n {
                    tasks.push(task(&format!("{zone}{i}"), zone, &format!("{zone}-{}", i % 2)));
                }
            }
            let stop = tasks.len().saturating_sub(desired);
            let victims: Vec<String> = scale_in_victims(&tasks, stop).into_iter().map(|t| t.name.clone()).collect();
            let kept = zone_counts(tasks.iter().filter(|t| !victims.contains(&t.name)));
            let counts: Vec<usize> = ["a", "b", "c"].iter().map(|z| kept.get(*z).copied().unwrap_or(0)).collect();
            prop_assert!(counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1, "{:?}", counts);
        }
    }
}
