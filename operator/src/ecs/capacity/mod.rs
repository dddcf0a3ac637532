//! Capacity provider strategy arithmetic (§2.11, §4.8): how many of a service's tasks each
//! provider should run, and which provider gains or loses the next task.
//!
//! The split is defined by the per-task rule, so that placing tasks one at a time and
//! computing the split in one go always agree:
//! 1. the first `base` tasks go to the one provider that has a base;
//! 2. every further task goes to the provider with the largest deficit against its weight
//!    share, `weight × m / Σweight − count` after `m` tasks beyond the base; ties go to the
//!    provider listed first.
//!
//! Under this rule no provider ever holds a whole task more than its exact share: its last
//! task would have been given at a deficit ≤ 0, while the largest deficit is always positive
//! (the deficits sum to one task). So after `Σweight` tasks every provider holds exactly its
//! weight, and the sequence repeats. That makes the one-go split cheap: whole periods, then
//! at most `Σweight − 1` steps. (A provider can fall slightly more than one task below its
//! share inside a period; the rule is ECS's "largest deficit", not a quota method.)
//!
//! Worked example, FARGATE {base 2, weight 3} and EC2 {weight 1}, listed FARGATE first:
//! N=10 → base 2 to FARGATE, the other 8 are two periods of 3:1 → FARGATE 2+6=8, EC2 2.
//! N=6 → 4 beyond the base, one period → FARGATE 5, EC2 1. N=14 → 12, three periods →
//! FARGATE 11, EC2 3. Within a period the order is FARGATE, FARGATE (a tie at m=2, won by
//! the provider listed first), EC2, FARGATE.

use std::collections::BTreeMap;

pub mod compatibility;
pub mod launch;
pub mod pool;
pub mod readiness;
pub mod split;

/// One entry of a `capacityProviderStrategy`, as ECS spells it (integers are ECS's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StrategyItem {
    pub provider: String,
    pub base: i32,
    pub weight: i32,
}

/// Why a strategy is rejected; the messages name the provider and the allowed range.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StrategyError {
    #[error("a capacity provider strategy needs at least one capacity provider")]
    Empty,
    #[error(
        "a capacity provider strategy can have at most {MAX_PROVIDERS} capacity providers, got {0}"
    )]
    TooManyProviders(usize),
    #[error("capacity provider {0} appears more than once in the strategy")]
    DuplicateProvider(String),
    #[error("capacity provider {provider}: base must be between 0 and {MAX_BASE}, got {base}")]
    BaseOutOfRange { provider: String, base: i32 },
    #[error(
        "capacity provider {provider}: weight must be between 0 and {MAX_WEIGHT}, got {weight}"
    )]
    WeightOutOfRange { provider: String, weight: i32 },
    #[error(
        "only one capacity provider in a strategy can have a base, but {first} and {second} both do"
    )]
    SeveralBases { first: String, second: String },
    #[error("at least one capacity provider in the strategy must have a weight greater than 0")]
    AllWeightsZero,
}

/// ECS limits: providers per strategy (§5), and the API's ranges for `base` and `weight`.
pub const MAX_PROVIDERS: usize = 20;
pub const MAX_BASE: i32 = 100_000;
pub const MAX_WEIGHT: i32 = 1_000;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Provider {
    name: String,
    base: u32,
    weight: u32,
}

/// A validated capacity provider strategy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapacityStrategy {
    providers: Vec<Provider>,
    total_weight: u32,
}

impl CapacityStrategy {
    pub fn new(items: &[StrategyItem]) -> Result<Self, StrategyError> {
        if items.is_empty() {
            return Err(StrategyError::Empty);
        }
        if items.len() > MAX_PROVIDERS {
            return Err(StrategyError::TooManyProviders(items.len()));
        }
        let mut providers: Vec<Provider> = Vec::with_capacity(items.len());
        for item in items {
            let provider = item.provider.clone();
            if providers.iter().any(|p| p.name == provider) {
                return Err(StrategyError::DuplicateProvider(provider));
            }
            let base = u32::try_from(item.base)
                .ok()
                .filter(|_| item.base <= MAX_BASE);
            let base = base.ok_or_else(|| StrategyError::BaseOutOfRange {
                provider: provider.clone(),
                base: item.base,
            })?;
            let weight = u32::try_from(item.weight)
                .ok()
                .filter(|_| item.weight <= MAX_WEIGHT);
            let weight = weight.ok_or_else(|| StrategyError::WeightOutOfRange {
                provider: provider.clone(),
                weight: item.weight,
            })?;
            if base > 0
                && let Some(first) = providers.iter().find(|p| p.base > 0)
            {
                return Err(StrategyError::SeveralBases {
                    first: first.name.clone(),
                    second: provider,
                });
            }
            providers.push(Provider {
                name: provider,
                base,
                weight,
            });
        }
        let total_weight = providers.iter().map(|p| p.weight).sum();
        if total_weight == 0 {
            return Err(StrategyError::AllWeightsZero);
        }
        Ok(Self {
            providers,
            total_weight,
        })
    }

    /// Provider names in strategy order.
    pub fn providers(&self) -> impl Iterator<Item = &str> {
        self.providers.iter().map(|p| p.name.as_str())
    }

    /// How many of `task_count` tasks each provider runs; every provider of the strategy is
    /// a key, zero included.
    pub fn split(&self, task_count: u32) -> BTreeMap<String, u32> {
        self.providers
            .iter()
            .map(|p| p.name.clone())
            .zip(self.split_in_order(task_count))
            .collect()
    }

    /// The provider that should run one more task, given the tasks each provider runs now:
    /// the one furthest below its share of the grown service. Providers missing from
    /// `current` run no task; providers not in the strategy are ignored.
    pub fn provider_for_next_task(&self, current: &BTreeMap<String, u32>) -> &str {
        let counts = self.counts_in_order(current);
        let target = self.split_in_order(
            counts
                .iter()
                .fold(0u32, |sum, &c| sum.saturating_add(c))
                .saturating_add(1),
        );
        let deficit = |i: usize| i64::from(target[i]) - i64::from(counts[i]);
        let chosen = (0..counts.len()).fold(
            0,
            |best, i| if deficit(i) > deficit(best) { i } else { best },
        );
        &self.providers[chosen].name
    }

    /// The provider that should lose a task on scale-in, or `None` when no task runs.
    /// Tasks on a provider that left the strategy go first (alphabetically); then the
    /// provider furthest above its share of the shrunk service. The base is part of that
    /// share, so base tasks go last. Ties go to the provider listed last, the mirror of
    /// scale-up, and never to the base provider when another provider ties with it.
    pub fn provider_to_scale_in(&self, current: &BTreeMap<String, u32>) -> Option<String> {
        if let Some((outsider, _)) = current
            .iter()
            .find(|(name, count)| **count > 0 && !self.providers().any(|p| p == name.as_str()))
        {
            return Some(outsider.clone());
        }
        let counts = self.counts_in_order(current);
        let total = counts.iter().fold(0u32, |sum, &c| sum.saturating_add(c));
        let target = self.split_in_order(total.checked_sub(1)?);
        let surplus = |i: usize| {
            (
                i64::from(counts[i]) - i64::from(target[i]),
                self.providers[i].base == 0,
                i,
            )
        };
        let chosen = (0..counts.len()).max_by_key(|&i| surplus(i))?;
        Some(self.providers[chosen].name.clone())
    }

    fn counts_in_order(&self, current: &BTreeMap<String, u32>) -> Vec<u32> {
        self.providers
            .iter()
            .map(|p| current.get(&p.name).copied().unwrap_or(0))
            .collect()
    }

    fn split_in_order(&self, task_count: u32) -> Vec<u32> {
        let mut counts = vec![0; self.providers.len()];
        let mut beyond_base = task_count;
        if let Some(i) = self.providers.iter().position(|p| p.base > 0) {
            counts[i] = task_count.min(self.providers[i].base);
            beyond_base -= counts[i];
        }
        let periods = beyond_base / self.total_weight;
        let mut in_period = vec![0u32; self.providers.len()];
        for _ in 0..beyond_base % self.total_weight {
            let i = self.largest_weight_deficit(&in_period);
            in_period[i] += 1;
        }
        for (i, provider) in self.providers.iter().enumerate() {
            counts[i] += periods * provider.weight + in_period[i];
        }
        counts
    }

    /// Rule 2 of the module doc: who gets the next task beyond the base, given the tasks
    /// beyond the base each provider has. Compares `weight × m − count × Σweight`, which is
    /// the deficit scaled by `Σweight` and stays in integers.
    fn largest_weight_deficit(&self, beyond_base: &[u32]) -> usize {
        let next_task = i64::from(beyond_base.iter().sum::<u32>()) + 1;
        let deficit = |i: usize| {
            i64::from(self.providers[i].weight) * next_task
                - i64::from(beyond_base[i]) * i64::from(self.total_weight)
        };
        (0..beyond_base.len()).fold(
            0,
            |best, i| if deficit(i) > deficit(best) { i } else { best },
        )
    }
}

#[cfg(test)]
mod tests;
