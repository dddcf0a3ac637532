//! Property tests: simulate whole rollouts from all-old to all-new with the planner.

use proptest::prelude::*;

use super::*;

/// Ticks a task spends before counting healthy; a task is PENDING while more than one
/// tick remains and RUNNING (not yet healthy) on its last one.
const MAX_DELAY: usize = 3;

/// Tasks of one deployment bucketed by ticks left until healthy (index 0 = healthy).
#[derive(Clone, Debug, Default)]
struct Tasks([u32; MAX_DELAY + 1]);

impl Tasks {
    fn counts(&self) -> DeploymentTasks {
        let pending = self.0[2..].iter().sum();
        DeploymentTasks {
            running: self.0[0] + self.0[1],
            pending,
            healthy: self.0[0],
        }
    }

    fn total(&self) -> u32 {
        self.0.iter().sum()
    }

    /// Stops `not_healthy` tasks, those furthest from healthy (pending) first, then `healthy`.
    fn stop(&mut self, stops: OldDeploymentStops) {
        let mut left = stops.not_healthy;
        for bucket in self.0[1..].iter_mut().rev() {
            let taken = left.min(*bucket);
            *bucket -= taken;
            left -= taken;
        }
        assert_eq!(left, 0, "planner stopped more not-healthy tasks than exist");
        assert!(
            stops.healthy <= self.0[0],
            "planner stopped more healthy tasks than exist"
        );
        self.0[0] -= stops.healthy;
    }

    fn tick(&mut self) {
        self.0[0] += self.0[1];
        self.0.copy_within(2.., 1);
        self.0[MAX_DELAY] = 0;
    }
}

struct Outcome {
    stuck_at_start: bool,
    converged: bool,
}

/// Runs passes until the rollout completes, is reported stuck, or a generous tick budget
/// runs out, asserting the invariants on every pass.
fn simulate(desired: u32, bounds: DeploymentBounds, mut old: Tasks, delays: &[usize]) -> Outcome {
    let max_tasks = bounds.max_tasks(desired);
    let min_healthy = bounds.min_healthy(desired);
    let mut primary = Tasks::default();
    let tick_budget = (desired as usize + 2) * (MAX_DELAY + 2) * 2;
    for tick in 0..tick_budget {
        let before = (primary.counts(), old.counts());
        let step = plan_rollout_step(desired, bounds, before.0, &[before.1]);
        if tick == 0 && step.stuck {
            assert_eq!(
                (step.start_primary, step.stop_old[0]),
                (0, OldDeploymentStops::default())
            );
            return Outcome {
                stuck_at_start: true,
                converged: false,
            };
        }
        assert!(!step.stuck, "stuck mid-rollout at tick {tick}");
        if primary.total() == desired && old.total() == 0 {
            return Outcome {
                stuck_at_start: false,
                converged: true,
            };
        }

        let active = before.0.active() + before.1.active();
        assert!(
            active + step.start_primary <= max_tasks,
            "tick {tick}: {active} + {} > maxTasks {max_tasks}",
            step.start_primary
        );
        let healthy = before.0.healthy + before.1.healthy;
        let healthy_after = healthy - step.stop_old[0].healthy;
        assert!(
            healthy_after >= healthy.min(min_healthy),
            "tick {tick}: healthy {healthy} -> {healthy_after}, minHealthy {min_healthy}"
        );

        old.stop(step.stop_old[0]);
        primary.0[delays.get(tick).copied().unwrap_or(0)] += step.start_primary;
        primary.tick();
        old.tick();
    }
    Outcome {
        stuck_at_start: false,
        converged: false,
    }
}

fn all_healthy(count: u32) -> Tasks {
    let mut tasks = Tasks::default();
    tasks.0[0] = count;
    tasks
}

fn check_rollout(desired: u32, bounds: DeploymentBounds, old: Tasks, delays: &[usize]) {
    let outcome = simulate(desired, bounds, old, delays);
    assert_eq!(
        outcome.stuck_at_start,
        bounds.deadlocks(desired),
        "stuck report must match the deadlock condition"
    );
    assert!(
        outcome.stuck_at_start || outcome.converged,
        "rollout did not converge"
    );
}

proptest! {
    #[test]
    fn instant_health_rollout_converges_within_bounds(desired in 0u32..=1000, min in 0u32..=100, max in 100u32..=400) {
        check_rollout(desired, DeploymentBounds { minimum_healthy_percent: min, maximum_percent: max }, all_healthy(desired), &[]);
    }

    #[test]
    fn delayed_health_rollout_converges_within_bounds(
        desired in 0u32..=1000,
        min in 0u32..=100,
        max in 100u32..=400,
        delays in prop::collection::vec(0..=MAX_DELAY, 0..64),
    ) {
        check_rollout(desired, DeploymentBounds { minimum_healthy_percent: min, maximum_percent: max }, all_healthy(desired), &delays);
    }

    #[test]
    fn rollout_starting_with_warming_old_tasks_converges(
        old_buckets in prop::array::uniform4(0u32..=250),
        min in 0u32..=100,
        max in 100u32..=400,
        delays in prop::collection::vec(0..=MAX_DELAY, 0..64),
    ) {
        let old = Tasks(old_buckets);
        check_rollout(old.total(), DeploymentBounds { minimum_healthy_percent: min, maximum_percent: max }, old, &delays);
    }

    #[test]
    fn daemon_defaults_never_deadlock(desired in 0u32..=1000) {
        let bounds = DeploymentBounds::defaults_for(SchedulingStrategy::Daemon);
        prop_assert!(!bounds.deadlocks(desired));
        check_rollout(desired, bounds, all_healthy(desired), &[]);
    }

    #[test]
    fn deadlock_is_exactly_no_room_to_start_and_no_room_to_stop(desired in 1u32..=1000, min in 0u32..=100, max in 100u32..=400) {
        let bounds = DeploymentBounds { minimum_healthy_percent: min, maximum_percent: max };
        let expected = max_tasks(desired, max) == desired && min_healthy(desired, min) == desired;
        prop_assert_eq!(bounds.deadlocks(desired), expected);
    }

    #[test]
    fn rounding_is_exact(desired in 0u32..=1_000_000, percent in 0u32..=1000) {
        let exact_times_100 = u64::from(desired) * u64::from(percent);
        let floor = u64::from(max_tasks(desired, percent));
        let ceil = u64::from(min_healthy(desired, percent));
        prop_assert!(floor * 100 <= exact_times_100 && exact_times_100 < (floor + 1) * 100);
        prop_assert!(ceil * 100 >= exact_times_100 && exact_times_100 + 100 > ceil * 100);
    }
}
