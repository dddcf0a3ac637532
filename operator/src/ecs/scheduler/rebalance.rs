//! Availability Zone rebalancing (ECS `availabilityZoneRebalancing`,
//! https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-rebalancing.html):
//! when a steady service's tasks are uneven over the zones its tasks may go
//! to, start tasks in the zones with the fewest, and once they are healthy
//! stop as many in the zones with the most. Start first, so the service never
//! has fewer healthy tasks than desired, and never more than maximumPercent.
//! Berth balances any spread attribute the same way (nodes, custom labels),
//! where a service asks for it: ECS users have long asked for that
//! (aws/containers-roadmap#42). The "zones" here are the attribute's values.
use std::collections::{BTreeMap, BTreeSet};

use super::TaskView;

/// After a rebalancing completes, the next waits this long: a zone that
/// flaps does not make tasks move back and forth.
pub const COOLDOWN_SECONDS: i64 = 300;

/// What the rebalancer sees of a service in one pass.
pub struct Balance<'a> {
    /// The service's active tasks, all of its one deployment, each with its
    /// value of the attribute balanced (its zone, its node...).
    pub tasks: &'a [TaskView],
    pub values: &'a [Option<String>],
    pub desired: usize,
    /// maximumPercent of desired, as a task count.
    pub max_tasks: usize,
    /// The attribute's values of the nodes a new task may go to.
    pub zones: &'a BTreeSet<String>,
    pub in_progress: bool,
    /// When the last rebalancing completed.
    pub completed_at: Option<i64>,
    pub now: i64,
}

/// One step of a rebalancing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing to rebalance: the service scheduler's usual pass applies.
    None,
    /// Start one task in each of these zones (a zone repeats for several).
    Start(Vec<String>),
    /// Wait for the tasks started to become healthy.
    Hold,
    /// Stop this many tasks, from the zones with the most.
    Stop(usize),
    /// The zones are even: the rebalancing is over.
    Complete,
}

/// The service's tasks per value, over the values it may use (each counted, even empty).
pub fn zone_counts(values: &[Option<String>], zones: &BTreeSet<String>) -> BTreeMap<String, usize> {
    let mut counts: BTreeMap<String, usize> = zones.iter().map(|z| (z.clone(), 0)).collect();
    for zone in values.iter().flatten() {
        if let Some(count) = counts.get_mut(zone) {
            *count += 1;
        }
    }
    counts
}

/// Even: no zone has more than one task more than another.
pub fn balanced(counts: &BTreeMap<String, usize>) -> bool {
    let (max, min) = (counts.values().max(), counts.values().min());
    max.zip(min).is_none_or(|(max, min)| max - min <= 1)
}

/// The zones to start tasks in, fewest first, one at a time until the
/// zones would be even or `room` is used up.
fn lightest_zones(counts: &BTreeMap<String, usize>, room: usize) -> Vec<String> {
    let mut counts = counts.clone();
    let mut zones = vec![];
    while zones.len() < room {
        let heaviest = counts.iter().max_by_key(|(z, c)| (**c, std::cmp::Reverse((*z).clone()))).map(|(z, _)| z.clone());
        let lightest = counts.iter().min_by_key(|(z, c)| (**c, (*z).clone())).map(|(z, _)| z.clone());
        let (Some(heaviest), Some(lightest)) = (heaviest, lightest) else { break };
        if counts[&heaviest] - counts[&lightest] <= 1 {
            break;
        }
        // The move: one more in the lightest, one fewer (once stopped) in the heaviest.
        *counts.get_mut(&lightest).expect("a counted zone") += 1;
        *counts.get_mut(&heaviest).expect("a counted zone") -= 1;
        zones.push(lightest);
    }
    zones
}

pub fn step(balance: &Balance) -> Step {
    let Balance { tasks, values, desired, max_tasks, zones, in_progress, completed_at, now } = *balance;
    if desired == 0 || zones.len() < 2 || tasks.len() < desired {
        // Too few tasks: the usual pass starts them where the strategies say.
        return Step::None;
    }
    let settled = tasks.iter().all(|t| !t.pending && t.healthy);
    if !settled {
        // Only the tasks started to move warm up past desired; any other is the usual pass's to replace.
        return if in_progress && tasks.len() > desired { Step::Hold } else { Step::None };
    }
    if tasks.len() > desired {
        return if in_progress { Step::Stop(tasks.len() - desired) } else { Step::None };
    }
    let counts = zone_counts(values, zones);
    if balanced(&counts) {
        return if in_progress { Step::Complete } else { Step::None };
    }
    if !in_progress && completed_at.is_some_and(|at| now < at + COOLDOWN_SECONDS) {
        return Step::None;
    }
    match lightest_zones(&counts, max_tasks.saturating_sub(tasks.len())) {
        // maximumPercent leaves no room to start first: wait, as ECS does, rather than drop below desired.
        moves if moves.is_empty() => Step::None,
        moves => Step::Start(moves),
    }
}

/// ECS's SERVICE_REBALANCING_STARTED / _COMPLETED message for these counts;
/// `over` names an attribute other than zones.
pub fn message(service: &str, counts: &BTreeMap<String, usize>, completed: bool, over: Option<&str>) -> String {
    let tasks: Vec<String> = counts.iter().map(|(zone, count)| format!("{count} tasks in {zone}")).collect();
    let list = match tasks.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{}, and {last}", init.join(", ")),
    };
    match (over, completed) {
        (None, true) => format!("service ({service}) is AZ balanced with {list}."),
        (None, false) => format!("service ({service}) is not AZ balanced with {list}. AZ Rebalancing in progress."),
        (Some(attribute), true) => format!("service ({service}) is balanced across {attribute} with {list}."),
        (Some(attribute), false) => format!("service ({service}) is not balanced across {attribute} with {list}. Rebalancing in progress."),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn task(name: &str, zone: &str) -> TaskView {
        TaskView { name: name.into(), node: Some(format!("{zone}-n")), zone: Some(zone.into()), provider: None, pending: false, healthy: true, created: 0 }
    }

    fn zones() -> BTreeSet<String> {
        ["a", "b", "c"].into_iter().map(String::from).collect()
    }

    fn in_zones(spec: &[(&str, usize)]) -> Vec<TaskView> {
        spec.iter().flat_map(|(zone, n)| (0..*n).map(move |i| task(&format!("{zone}{i}"), zone))).collect()
    }

    fn zones_of(tasks: &[TaskView]) -> Vec<Option<String>> {
        tasks.iter().map(|t| t.zone.clone()).collect()
    }

    fn balance<'a>(tasks: &'a [TaskView], values: &'a [Option<String>], zones: &'a BTreeSet<String>, in_progress: bool) -> Balance<'a> {
        Balance { tasks, values, desired: 6, max_tasks: 12, zones, in_progress, completed_at: None, now: 1000 }
    }

    #[test]
    fn a_recovered_zone_gets_its_share_back_start_first() {
        let zones = zones();
        let tasks = in_zones(&[("a", 3), ("b", 3)]);
        assert_eq!(step(&balance(&tasks, &zones_of(&tasks), &zones, false)), Step::Start(vec!["c".into(), "c".into()]));
        // The two new tasks warm up: hold; healthy: stop the surplus; then even.
        let mut moved = in_zones(&[("a", 3), ("b", 3), ("c", 2)]);
        moved[6].pending = true;
        assert_eq!(step(&balance(&moved, &zones_of(&moved), &zones, true)), Step::Hold);
        moved[6].pending = false;
        assert_eq!(step(&balance(&moved, &zones_of(&moved), &zones, true)), Step::Stop(2));
        let even = in_zones(&[("a", 2), ("b", 2), ("c", 2)]);
        assert_eq!(step(&balance(&even, &zones_of(&even), &zones, true)), Step::Complete);
        assert_eq!(step(&balance(&even, &zones_of(&even), &zones, false)), Step::None);
    }

    #[test]
    fn maximum_percent_bounds_the_moves_and_100_percent_waits() {
        let zones = zones();
        let tasks = in_zones(&[("a", 4), ("b", 2)]);
        let values = zones_of(&tasks);
        let bounded = Balance { max_tasks: 7, ..balance(&tasks, &values, &zones, false) };
        assert_eq!(step(&bounded), Step::Start(vec!["c".into()]));
        let full = Balance { max_tasks: 6, ..balance(&tasks, &values, &zones, false) };
        assert_eq!(step(&full), Step::None);
    }

    #[test]
    fn a_recent_rebalancing_keeps_the_next_waiting() {
        let zones = zones();
        let tasks = in_zones(&[("a", 4), ("b", 2)]);
        let values = zones_of(&tasks);
        let recent = Balance { completed_at: Some(900), ..balance(&tasks, &values, &zones, false) };
        assert_eq!(step(&recent), Step::None);
        let later = Balance { completed_at: Some(900 - COOLDOWN_SECONDS), ..balance(&tasks, &values, &zones, false) };
        assert!(matches!(step(&later), Step::Start(_)));
    }

    #[test]
    fn one_zone_or_a_short_service_is_left_to_the_usual_pass() {
        let one: BTreeSet<String> = ["a".to_string()].into();
        let tasks = in_zones(&[("a", 6)]);
        assert_eq!(step(&balance(&tasks, &zones_of(&tasks), &one, false)), Step::None);
        let zones = zones();
        let short = in_zones(&[("a", 5)]);
        assert_eq!(step(&balance(&short, &zones_of(&short), &zones, true)), Step::None);
    }

    #[test]
    fn events_say_what_ecs_says() {
        let counts = BTreeMap::from([("us-east-1a".to_string(), 3), ("us-east-1b".to_string(), 3), ("us-east-1c".to_string(), 0)]);
        assert_eq!(message("web", &counts, false, None),
            "service (web) is not AZ balanced with 3 tasks in us-east-1a, 3 tasks in us-east-1b, and 0 tasks in us-east-1c. AZ Rebalancing in progress.");
        let even = BTreeMap::from([("us-east-1a".to_string(), 2), ("us-east-1b".to_string(), 2)]);
        assert_eq!(message("web", &even, true, None), "service (web) is AZ balanced with 2 tasks in us-east-1a, and 2 tasks in us-east-1b.");
        assert_eq!(message("web", &even, true, Some("instanceId")), "service (web) is balanced across instanceId with 2 tasks in us-east-1a, and 2 tasks in us-east-1b.");
    }

    proptest! {
        /// Rebalancing from any spread reaches even zones, never runs more
        /// than maximumPercent nor fewer healthy tasks than desired.
        #[test]
        fn converges_within_bounds(a in 0..10usize, b in 0..10usize, c in 0..10usize, max_percent in 100..=200usize) {
            let zones = zones();
            let desired = a + b + c;
            prop_assume!(desired > 0);
            let max_tasks = desired * max_percent / 100;
            let mut tasks = in_zones(&[("a", a), ("b", b), ("c", c)]);
            let mut in_progress = false;
            let mut next = 0;
            for _ in 0..50 {
                let values = zones_of(&tasks);
                let s = step(&Balance { tasks: &tasks, values: &values, desired, max_tasks, zones: &zones, in_progress, completed_at: None, now: 0 });
                match s {
                    Step::Start(moves) => {
                        in_progress = true;
                        for zone in moves {
                            next += 1;
                            tasks.push(task(&format!("new{next}"), &zone));
                        }
                    }
                    Step::Stop(n) => {
                        // The heaviest zones lose them, as the zone-first scale-in picks.
                        for _ in 0..n {
                            let counts = zone_counts(&zones_of(&tasks), &zones);
                            let heaviest = counts.iter().max_by_key(|(_, c)| **c).map(|(z, _)| z.clone()).unwrap();
                            let index = tasks.iter().position(|t| t.zone.as_deref() == Some(heaviest.as_str())).unwrap();
                            tasks.remove(index);
                        }
                    }
                    Step::Complete => in_progress = false,
                    Step::Hold => unreachable!("tasks start healthy in this model"),
                    Step::None => break,
                }
                prop_assert!(tasks.len() <= max_tasks.max(desired));
                prop_assert!(tasks.len() >= desired);
            }
            prop_assert_eq!(tasks.len(), desired);
            if max_tasks > desired {
                let counts = zone_counts(&zones_of(&tasks), &zones);
                prop_assert!(balanced(&counts), "{:?}", counts);
            }
        }
    }
}
