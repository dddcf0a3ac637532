//! A strategy applied to actual tasks: which provider each new task goes to, and which
//! tasks stop on scale-in so every provider keeps its share (ecs-semantics §2.11).

use std::collections::BTreeMap;

use super::CapacityStrategy;
use crate::ecs::scheduler::TaskView;
use crate::ecs::scheduler::replica;

/// How many of `tasks` each provider runs; tasks without a provider count under `""`,
/// which no strategy names, so they are the first to go on scale-in.
pub fn provider_counts<'a>(providers: impl Iterator<Item = Option<&'a str>>) -> BTreeMap<String, u32> {
    let mut counts = BTreeMap::new();
    for provider in providers {
        *counts.entry(provider.unwrap_or_default().to_string()).or_default() += 1;
    }
    counts
}

/// The providers of `count` new tasks, placed one at a time on top of `current`.
pub fn providers_for_new_tasks(strategy: &CapacityStrategy, current: &BTreeMap<String, u32>, count: usize) -> Vec<String> {
    let mut counts = current.clone();
    (0..count)
        .map(|_| {
            let provider = strategy.provider_for_next_task(&counts).to_string();
            *counts.entry(provider.clone()).or_default() += 1;
            provider
        })
        .collect()
}

/// The `count` tasks to stop, best victim first: each from the provider furthest above its
/// share, and within it as the service scheduler picks (pending and unhealthy first, then
/// the busiest zone and node).
pub fn scale_in_victims<'a>(strategy: &CapacityStrategy, tasks: &'a [TaskView], count: usize) -> Vec<&'a TaskView> {
    let mut remaining: Vec<&TaskView> = tasks.iter().collect();
    let mut victims = Vec::with_capacity(count.min(tasks.len()));
    while victims.len() < count {
        let counts = provider_counts(remaining.iter().map(|t| t.provider.as_deref()));
        let Some(provider) = strategy.provider_to_scale_in(&counts) else { break };
        let on_provider: Vec<TaskView> = remaining.iter().filter(|t| t.provider.as_deref().unwrap_or_default() == provider).map(|t| (*t).clone()).collect();
        let Some(victim) = replica::scale_in_victims(&on_provider, 1).first().map(|v| v.name.clone()) else { break };
        let index = remaining.iter().position(|t| t.name == victim).expect("the victim is one of the remaining tasks");
        victims.push(remaining.swap_remove(index));
    }
    victims
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecs::capacity::StrategyItem;

    fn fargate_base2_weight3_and_ec2_weight1() -> CapacityStrategy {
        CapacityStrategy::new(&[
            StrategyItem { provider: "fargate".into(), base: 2, weight: 3 },
            StrategyItem { provider: "ec2".into(), base: 0, weight: 1 },
        ])
        .unwrap()
    }

    fn task(name: &str, provider: Option<&str>, zone: &str) -> TaskView {
        TaskView {
            name: name.into(),
            node: Some(format!("{zone}-node")),
            zone: Some(zone.into()),
            provider: provider.map(str::to_string),
            pending: false,
            healthy: true,
            created: 0,
        }
    }

    fn count(tasks: &[TaskView]) -> BTreeMap<String, u32> {
        provider_counts(tasks.iter().map(|t| t.provider.as_deref()))
    }

    /// Starts `n` tasks the way the controller does, named in order.
    fn start(strategy: &CapacityStrategy, tasks: &mut Vec<TaskView>, n: usize) {
        for (i, provider) in providers_for_new_tasks(strategy, &count(tasks), n).into_iter().enumerate() {
            let zone = ["a", "b", "c"][(tasks.len() + i) % 3];
            tasks.push(task(&format!("t{}", tasks.len()), Some(&provider), zone));
        }
    }

    fn scale_in(strategy: &CapacityStrategy, tasks: &mut Vec<TaskView>, n: usize) {
        let victims: Vec<String> = scale_in_victims(strategy, tasks, n).into_iter().map(|t| t.name.clone()).collect();
        tasks.retain(|t| !victims.contains(&t.name));
    }

    fn split(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
        pairs.iter().map(|(p, n)| (p.to_string(), *n)).collect()
    }

    #[test]
    fn ten_then_six_then_fourteen_follow_the_ecs_split() {
        let s = fargate_base2_weight3_and_ec2_weight1();
        let mut tasks = vec![];
        start(&s, &mut tasks, 10);
        assert_eq!(count(&tasks), split(&[("fargate", 8), ("ec2", 2)]));
        scale_in(&s, &mut tasks, 4);
        assert_eq!(count(&tasks), split(&[("fargate", 5), ("ec2", 1)]));
        start(&s, &mut tasks, 8);
        assert_eq!(count(&tasks), split(&[("fargate", 11), ("ec2", 3)]));
    }

    #[test]
    fn tasks_without_a_provider_stop_first() {
        let s = fargate_base2_weight3_and_ec2_weight1();
        let tasks = vec![task("old", None, "a"), task("f1", Some("fargate"), "b"), task("f2", Some("fargate"), "c")];
        let names: Vec<&str> = scale_in_victims(&s, &tasks, 1).iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["old"]);
    }

    #[test]
    fn within_the_provider_pending_tasks_stop_first() {
        let s = fargate_base2_weight3_and_ec2_weight1();
        let mut tasks = vec![];
        start(&s, &mut tasks, 7);
        // 7 tasks: fargate 6, ec2 1; at 6 the split is 5/1, so fargate loses one.
        let pending = tasks.iter().position(|t| t.provider.as_deref() == Some("fargate") && t.name != "t0").unwrap();
        tasks[pending].pending = true;
        let victim = scale_in_victims(&s, &tasks, 1)[0].name.clone();
        assert_eq!(victim, tasks[pending].name);
    }

    #[test]
    fn never_more_victims_than_tasks() {
        let s = fargate_base2_weight3_and_ec2_weight1();
        let mut tasks = vec![];
        start(&s, &mut tasks, 3);
        assert_eq!(scale_in_victims(&s, &tasks, 10).len(), 3);
    }
}
