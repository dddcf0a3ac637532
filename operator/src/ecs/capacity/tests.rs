use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

fn item(provider: &str, base: i32, weight: i32) -> StrategyItem {
    StrategyItem {
        provider: provider.to_string(),
        base,
        weight,
    }
}

fn strategy(items: &[StrategyItem]) -> CapacityStrategy {
    CapacityStrategy::new(items).expect("valid strategy")
}

fn counts(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
    pairs
        .iter()
        .map(|(name, count)| (name.to_string(), *count))
        .collect()
}

fn fargate_base2_weight3_and_ec2_weight1() -> CapacityStrategy {
    strategy(&[item("FARGATE", 2, 3), item("EC2", 0, 1)])
}

#[test]
fn base_then_one_to_three_for_ten_six_and_fourteen_tasks() {
    let s = fargate_base2_weight3_and_ec2_weight1();
    assert_eq!(s.split(10), counts(&[("FARGATE", 8), ("EC2", 2)]));
    assert_eq!(s.split(6), counts(&[("FARGATE", 5), ("EC2", 1)]));
    assert_eq!(s.split(14), counts(&[("FARGATE", 11), ("EC2", 3)]));
}

#[test]
fn fewer_tasks_than_the_base_all_go_to_the_base_provider() {
    let s = fargate_base2_weight3_and_ec2_weight1();
    assert_eq!(s.split(0), counts(&[("FARGATE", 0), ("EC2", 0)]));
    assert_eq!(s.split(1), counts(&[("FARGATE", 1), ("EC2", 0)]));
    assert_eq!(s.split(2), counts(&[("FARGATE", 2), ("EC2", 0)]));
}

#[test]
fn order_inside_a_period_follows_the_largest_deficit() {
    let s = fargate_base2_weight3_and_ec2_weight1();
    // Deficits ×4 at m = 1..4: (3, 1) → FARGATE; (2, 2) tie → FARGATE, listed first;
    // (1, 3) → EC2; (4, 0) → FARGATE.
    let ec2: Vec<u32> = (3..=6).map(|n| s.split(n)["EC2"]).collect();
    assert_eq!(ec2, vec![0, 0, 1, 1]);
}

#[test]
fn ecs_one_to_four_example_puts_one_task_on_a_for_every_four_on_b() {
    let s = strategy(&[item("A", 0, 1), item("B", 0, 4)]);
    assert_eq!(s.split(5), counts(&[("A", 1), ("B", 4)]));
    assert_eq!(s.split(50), counts(&[("A", 10), ("B", 40)]));
}

#[test]
fn equal_weights_alternate_starting_with_the_first_listed() {
    let s = strategy(&[item("FARGATE_SPOT", 0, 1), item("FARGATE", 0, 1)]);
    assert_eq!(s.split(1), counts(&[("FARGATE_SPOT", 1), ("FARGATE", 0)]));
    assert_eq!(s.split(3), counts(&[("FARGATE_SPOT", 2), ("FARGATE", 1)]));
}

#[test]
fn weight_zero_provider_gets_only_its_base() {
    let s = strategy(&[item("ON_DEMAND", 3, 0), item("SPOT", 0, 1)]);
    assert_eq!(s.split(10), counts(&[("ON_DEMAND", 3), ("SPOT", 7)]));
    let without_base = strategy(&[item("IDLE", 0, 0), item("SPOT", 0, 2)]);
    assert_eq!(without_base.split(9), counts(&[("IDLE", 0), ("SPOT", 9)]));
}

#[test]
fn invalid_strategies_are_rejected_with_a_reason() {
    assert_eq!(CapacityStrategy::new(&[]), Err(StrategyError::Empty));
    assert_eq!(
        CapacityStrategy::new(&[item("A", 0, 0), item("B", 5, 0)]),
        Err(StrategyError::AllWeightsZero)
    );
    assert_eq!(
        CapacityStrategy::new(&[item("A", 1, 1), item("B", 2, 1)]),
        Err(StrategyError::SeveralBases {
            first: "A".into(),
            second: "B".into()
        })
    );
    assert_eq!(
        CapacityStrategy::new(&[item("A", 0, 1), item("A", 0, 1)]),
        Err(StrategyError::DuplicateProvider("A".into()))
    );
    assert_eq!(
        CapacityStrategy::new(&[item("A", -1, 1)]),
        Err(StrategyError::BaseOutOfRange {
            provider: "A".into(),
            base: -1
        })
    );
    assert_eq!(
        CapacityStrategy::new(&[item("A", 100_001, 1)]),
        Err(StrategyError::BaseOutOfRange {
            provider: "A".into(),
            base: 100_001
        })
    );
    assert_eq!(
        CapacityStrategy::new(&[item("A", 0, 1001)]),
        Err(StrategyError::WeightOutOfRange {
            provider: "A".into(),
            weight: 1001
        })
    );
    let many: Vec<_> = (0..21).map(|i| item(&format!("P{i}"), 0, 1)).collect();
    assert_eq!(
        CapacityStrategy::new(&many),
        Err(StrategyError::TooManyProviders(21))
    );
    assert_eq!(
        StrategyError::AllWeightsZero.to_string(),
        "at least one capacity provider in the strategy must have a weight greater than 0"
    );
}

#[test]
fn next_task_fills_the_base_then_the_largest_deficit() {
    let s = fargate_base2_weight3_and_ec2_weight1();
    assert_eq!(s.provider_for_next_task(&counts(&[])), "FARGATE");
    assert_eq!(
        s.provider_for_next_task(&counts(&[("FARGATE", 8), ("EC2", 2)])),
        "FARGATE"
    );
    assert_eq!(
        s.provider_for_next_task(&counts(&[("FARGATE", 9), ("EC2", 2)])),
        "FARGATE"
    );
    assert_eq!(
        s.provider_for_next_task(&counts(&[("FARGATE", 10), ("EC2", 2)])),
        "EC2"
    );
    // A lost EC2 task is replaced on EC2, whatever the period position.
    assert_eq!(
        s.provider_for_next_task(&counts(&[("FARGATE", 8), ("EC2", 1)])),
        "EC2"
    );
}

#[test]
fn scale_in_takes_from_the_most_over_share_and_the_base_last() {
    let s = fargate_base2_weight3_and_ec2_weight1();
    assert_eq!(s.provider_to_scale_in(&counts(&[])), None);
    assert_eq!(
        s.provider_to_scale_in(&counts(&[("FARGATE", 8), ("EC2", 2)])),
        Some("FARGATE".into())
    );
    assert_eq!(
        s.provider_to_scale_in(&counts(&[("FARGATE", 2), ("EC2", 5)])),
        Some("EC2".into())
    );
    assert_eq!(
        s.provider_to_scale_in(&counts(&[("FARGATE", 2), ("EC2", 0)])),
        Some("FARGATE".into())
    );
}

#[test]
fn scale_in_removes_tasks_of_providers_that_left_the_strategy_first() {
    let s = fargate_base2_weight3_and_ec2_weight1();
    let current = counts(&[("FARGATE", 8), ("EC2", 2), ("OLD_POOL", 1)]);
    assert_eq!(s.provider_to_scale_in(&current), Some("OLD_POOL".into()));
}

/// Test oracle: rule 1 and rule 2 of the module doc applied task by task from zero.
fn split_task_by_task(items: &[StrategyItem], task_count: u32) -> Vec<u32> {
    let total_weight: i64 = items.iter().map(|i| i64::from(i.weight)).sum();
    let mut counts = vec![0u32; items.len()];
    let mut beyond = vec![0i64; items.len()];
    for _ in 0..task_count {
        if let Some(b) = items.iter().position(|it| it.base > 0)
            && counts[b] < items[b].base as u32
        {
            counts[b] += 1;
            continue;
        }
        let m: i64 = beyond.iter().sum::<i64>() + 1;
        let mut best = 0;
        for i in 0..items.len() {
            let deficit = |j: usize| i64::from(items[j].weight) * m - beyond[j] * total_weight;
            if deficit(i) > deficit(best) {
                best = i;
            }
        }
        beyond[best] += 1;
        counts[best] += 1;
    }
    counts
}

fn valid_items() -> impl Strategy<Value = Vec<StrategyItem>> {
    (
        prop::collection::vec(0i32..=12, 1..=6),
        0i32..=30,
        any::<prop::sample::Index>(),
    )
        .prop_filter("some weight", |(weights, _, _)| {
            weights.iter().any(|w| *w > 0)
        })
        .prop_map(|(weights, base, base_at)| {
            let base_index = base_at.index(weights.len());
            weights
                .iter()
                .enumerate()
                .map(|(i, &w)| item(&format!("P{i}"), if i == base_index { base } else { 0 }, w))
                .collect()
        })
}

fn in_order(s: &CapacityStrategy, split: &BTreeMap<String, u32>) -> Vec<u32> {
    s.providers().map(|p| split[p]).collect()
}

proptest! {
    #[test]
    fn split_sums_to_the_task_count_and_matches_task_by_task_placement(items in valid_items(), n in 0u32..=300) {
        let s = strategy(&items);
        let split = in_order(&s, &s.split(n));
        prop_assert_eq!(split.iter().sum::<u32>(), n);
        prop_assert_eq!(split, split_task_by_task(&items, n));
    }

    #[test]
    fn beyond_the_base_no_provider_exceeds_its_exact_share_by_a_whole_task(items in valid_items(), n in 0u32..=5000) {
        let s = strategy(&items);
        let split = in_order(&s, &s.split(n));
        let base_taken: u32 = items.iter().map(|i| i.base as u32).sum::<u32>().min(n);
        let beyond = i64::from(n - base_taken);
        let total_weight: i64 = items.iter().map(|i| i64::from(i.weight)).sum();
        for (i, it) in items.iter().enumerate() {
            let own = i64::from(split[i]) - i64::from((it.base as u32).min(n));
            let share_times_total_weight = i64::from(it.weight) * beyond;
            prop_assert!(own * total_weight < share_times_total_weight + total_weight, "provider {} has {} beyond base", i, own);
            if beyond % total_weight == 0 {
                prop_assert_eq!(own * total_weight, share_times_total_weight, "whole periods are exact");
            }
        }
    }

    #[test]
    fn growing_by_one_adds_exactly_one_task_to_one_provider(items in valid_items(), n in 0u32..=500) {
        let s = strategy(&items);
        let (before, after) = (in_order(&s, &s.split(n)), in_order(&s, &s.split(n + 1)));
        let grown: Vec<u32> = before.iter().zip(&after).map(|(b, a)| a - b).collect();
        prop_assert_eq!(grown.iter().sum::<u32>(), 1);
    }

    #[test]
    fn scale_up_and_down_one_task_at_a_time_stays_on_the_closed_form_split(
        items in valid_items(),
        moves in prop::collection::vec(any::<bool>(), 0..200),
    ) {
        let s = strategy(&items);
        let mut current: BTreeMap<String, u32> = BTreeMap::new();
        for grow in moves {
            if grow {
                *current.entry(s.provider_for_next_task(&current).to_string()).or_default() += 1;
            } else if let Some(victim) = s.provider_to_scale_in(&current) {
                *current.get_mut(&victim).expect("victim runs a task") -= 1;
            } else {
                prop_assert!(current.values().all(|c| *c == 0));
            }
            let total: u32 = current.values().sum();
            let observed: Vec<u32> = s.providers().map(|p| current.get(p).copied().unwrap_or(0)).collect();
            prop_assert_eq!(observed, in_order(&s, &s.split(total)));
        }
    }
}
