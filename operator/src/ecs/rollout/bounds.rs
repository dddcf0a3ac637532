//! The two numbers of an ECS deployment configuration (§2.6) and the task counts they allow.
//!
//! All arithmetic is integer-exact: ECS rounds `maximumPercent` down and
//! `minimumHealthyPercent` up, and a float could put `4 × 75 / 100` on the wrong side of 3.

/// Whether the service keeps `desiredCount` tasks or one task per eligible node. Only the
/// defaults of the deployment configuration depend on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchedulingStrategy {
    Replica,
    Daemon,
}

/// `minimumHealthyPercent` and `maximumPercent` of a service's deployment configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeploymentBounds {
    pub minimum_healthy_percent: u32,
    pub maximum_percent: u32,
}

impl DeploymentBounds {
    /// ECS defaults when the service leaves a percent unset: REPLICA 100/200, DAEMON 0/100
    /// (the API's DAEMON default; only the console proposes 50).
    pub fn defaults_for(strategy: SchedulingStrategy) -> Self {
        match strategy {
            SchedulingStrategy::Replica => Self {
                minimum_healthy_percent: 100,
                maximum_percent: 200,
            },
            SchedulingStrategy::Daemon => Self {
                minimum_healthy_percent: 0,
                maximum_percent: 100,
            },
        }
    }

    /// Tasks allowed RUNNING or PENDING across all deployments.
    pub fn max_tasks(&self, desired: u32) -> u32 {
        max_tasks(desired, self.maximum_percent)
    }

    /// Healthy RUNNING tasks that must remain across all deployments.
    pub fn min_healthy(&self, desired: u32) -> u32 {
        min_healthy(desired, self.minimum_healthy_percent)
    }

    /// True when a rollout of `desired` all-healthy tasks can neither start a new task nor
    /// stop an old one (the min=100/max=100 case). ECS accepts such a configuration and
    /// only reports it at run time, so admission should warn about it.
    pub fn deadlocks(&self, desired: u32) -> bool {
        desired > 0 && self.max_tasks(desired) <= desired && self.min_healthy(desired) >= desired
    }
}

/// `floor(desired × maximum_percent / 100)`, saturating at `u32::MAX`.
pub fn max_tasks(desired: u32, maximum_percent: u32) -> u32 {
    let tasks = u64::from(desired) * u64::from(maximum_percent) / 100;
    u32::try_from(tasks).unwrap_or(u32::MAX)
}

/// `ceil(desired × minimum_healthy_percent / 100)`, saturating at `u32::MAX`.
pub fn min_healthy(desired: u32, minimum_healthy_percent: u32) -> u32 {
    let tasks = (u64::from(desired) * u64::from(minimum_healthy_percent)).div_ceil(100);
    u32::try_from(tasks).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_and_daemon_defaults() {
        let replica = DeploymentBounds::defaults_for(SchedulingStrategy::Replica);
        assert_eq!(
            (replica.minimum_healthy_percent, replica.maximum_percent),
            (100, 200)
        );
        let daemon = DeploymentBounds::defaults_for(SchedulingStrategy::Daemon);
        assert_eq!(
            (daemon.minimum_healthy_percent, daemon.maximum_percent),
            (0, 100)
        );
    }

    #[test]
    fn d4_min50_lets_two_old_tasks_stop_first() {
        assert_eq!(4 - min_healthy(4, 50), 2);
    }

    #[test]
    fn d2_min75_rounds_up_so_nothing_stops_first() {
        assert_eq!(min_healthy(2, 75), 2);
    }

    #[test]
    fn d4_max200_lets_four_new_tasks_start_first() {
        assert_eq!(max_tasks(4, 200) - 4, 4);
    }

    #[test]
    fn d3_max125_rounds_down_so_nothing_starts_first() {
        assert_eq!(max_tasks(3, 125), 3);
    }

    #[test]
    fn zero_desired_allows_nothing_and_requires_nothing() {
        assert_eq!(max_tasks(0, 200), 0);
        assert_eq!(min_healthy(0, 100), 0);
    }

    #[test]
    fn huge_inputs_saturate_instead_of_overflowing() {
        assert_eq!(max_tasks(u32::MAX, u32::MAX), u32::MAX);
        assert_eq!(min_healthy(u32::MAX, u32::MAX), u32::MAX);
        assert_eq!(max_tasks(u32::MAX, 100), u32::MAX);
    }

    #[test]
    fn min100_max100_deadlocks_but_neighbours_do_not() {
        let deadlocked = DeploymentBounds {
            minimum_healthy_percent: 100,
            maximum_percent: 100,
        };
        assert!(deadlocked.deadlocks(1));
        assert!(deadlocked.deadlocks(1000));
        assert!(!deadlocked.deadlocks(0));
        // D=3, max 125 → maxTasks 3, min 100 → minHealthy 3: stuck although max > 100.
        assert!(
            DeploymentBounds {
                minimum_healthy_percent: 100,
                maximum_percent: 125
            }
            .deadlocks(3)
        );
        // D=4, max 125 → maxTasks 5: one task can start.
        assert!(
            !DeploymentBounds {
                minimum_healthy_percent: 100,
                maximum_percent: 125
            }
            .deadlocks(4)
        );
        // D=2, min 75 → minHealthy 2 = D, max 100: stuck although min < 100.
        assert!(
            DeploymentBounds {
                minimum_healthy_percent: 75,
                maximum_percent: 100
            }
            .deadlocks(2)
        );
        assert!(
            !DeploymentBounds {
                minimum_healthy_percent: 50,
                maximum_percent: 100
            }
            .deadlocks(2)
        );
    }
}
