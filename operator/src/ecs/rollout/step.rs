//! One reconcile pass of a rolling deployment (§2.6 reference algorithm, steps 2 and 3):
//! start primary tasks within `maximumPercent`, stop old tasks within
//! `minimumHealthyPercent`, and recognise a configuration that can never progress.
//!
//! The plan is in counts. Which pods to stop inside a count (placement balance, task
//! protection) is the caller's choice; the counts only say how many of each health class.

use super::bounds::DeploymentBounds;

/// Tasks of one deployment that are not STOPPED, as observed at the start of the pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeploymentTasks {
    pub running: u32,
    pub pending: u32,
    /// Running tasks that count as healthy (§2.4); at most `running`.
    pub healthy: u32,
}

impl DeploymentTasks {
    /// RUNNING or PENDING: what `maximumPercent` caps.
    pub fn active(&self) -> u32 {
        self.running.saturating_add(self.pending)
    }

    fn not_healthy(&self) -> u32 {
        self.active().saturating_sub(self.healthy)
    }
}

/// How many tasks of one old deployment to stop in this pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OldDeploymentStops {
    /// Pending, warming up or unhealthy tasks. Stopping them costs no healthy task, so
    /// they go first; the caller should prefer pending ones among them.
    pub not_healthy: u32,
    /// Healthy tasks, each of which lowers the healthy total by one.
    pub healthy: u32,
}

/// The plan for one pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RolloutStep {
    /// New tasks to launch in the primary deployment.
    pub start_primary: u32,
    /// Stops per old deployment, in the order the old deployments were given.
    pub stop_old: Vec<OldDeploymentStops>,
    /// Old tasks remain and the deployment configuration forbids both starting and stopping
    /// even once every current task is healthy: waiting cannot help (see [`stuck_message`]).
    pub stuck: bool,
}

/// Plans one pass for a service of `desired` tasks. `old` lists the older (ACTIVE)
/// deployments; healthy old tasks are drained from the first listed one first, so pass the
/// oldest first.
///
/// Starts are computed from the counts before this pass's stops, as in the ECS reference
/// algorithm: room freed by a stop is used in the next pass, once the stop is observed.
///
/// Stops keep the healthy total at or above `minHealthy` when it already is: a healthy
/// victim is allowed while `healthy − 1 ≥ minHealthy` (the ECS rule), and a not-healthy
/// victim, which leaves the healthy total unchanged, while `healthy ≥ minHealthy`. When
/// the service is below `minHealthy`, nothing old is stopped: old tasks still warming up
/// are what will bring it back.
pub fn plan_rollout_step(
    desired: u32,
    bounds: DeploymentBounds,
    primary: DeploymentTasks,
    old: &[DeploymentTasks],
) -> RolloutStep {
    let max_tasks = bounds.max_tasks(desired);
    let min_healthy = bounds.min_healthy(desired);
    let active = old
        .iter()
        .fold(primary.active(), |sum, d| sum.saturating_add(d.active()));
    let healthy = old
        .iter()
        .fold(primary.healthy, |sum, d| sum.saturating_add(d.healthy));
    let old_active = active - primary.active();

    let start_primary = max_tasks
        .saturating_sub(active)
        .min(desired.saturating_sub(primary.active()));

    let mut healthy_stop_budget = healthy.saturating_sub(min_healthy);
    let may_stop_not_healthy = healthy >= min_healthy;
    let stop_old = old
        .iter()
        .map(|deployment| {
            let healthy_stops = deployment.healthy.min(healthy_stop_budget);
            healthy_stop_budget -= healthy_stops;
            OldDeploymentStops {
                not_healthy: if may_stop_not_healthy {
                    deployment.not_healthy()
                } else {
                    0
                },
                healthy: healthy_stops,
            }
        })
        .collect();

    // Optimistic check: if every active task were healthy, could a stop happen?
    let stuck = old_active > 0 && start_primary == 0 && active <= min_healthy;
    RolloutStep {
        start_primary,
        stop_old,
        stuck,
    }
}

/// The ECS service event for a stuck deployment.
pub fn stuck_message(service: &str) -> String {
    format!(
        "(service {service}) was unable to stop or start tasks during a deployment because of the service deployment \
         configuration. Update the minimumHealthyPercent or maximumPercent value and try again."
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecs::rollout::bounds::SchedulingStrategy;

    fn bounds(minimum_healthy_percent: u32, maximum_percent: u32) -> DeploymentBounds {
        DeploymentBounds {
            minimum_healthy_percent,
            maximum_percent,
        }
    }

    fn healthy(count: u32) -> DeploymentTasks {
        DeploymentTasks {
            running: count,
            pending: 0,
            healthy: count,
        }
    }

    fn total_stops(step: &RolloutStep) -> u32 {
        step.stop_old
            .iter()
            .map(|s| s.not_healthy + s.healthy)
            .sum()
    }

    #[test]
    fn default_replica_rollout_starts_all_new_tasks_before_stopping_any() {
        let step = plan_rollout_step(
            4,
            DeploymentBounds::defaults_for(SchedulingStrategy::Replica),
            DeploymentTasks::default(),
            &[healthy(4)],
        );
        assert_eq!(
            step,
            RolloutStep {
                start_primary: 4,
                stop_old: vec![OldDeploymentStops::default()],
                stuck: false
            }
        );
    }

    #[test]
    fn min50_max100_stops_half_first_then_starts_into_the_freed_room() {
        let first = plan_rollout_step(
            4,
            bounds(50, 100),
            DeploymentTasks::default(),
            &[healthy(4)],
        );
        assert_eq!(first.start_primary, 0);
        assert_eq!(
            first.stop_old,
            vec![OldDeploymentStops {
                not_healthy: 0,
                healthy: 2
            }]
        );
        let second = plan_rollout_step(
            4,
            bounds(50, 100),
            DeploymentTasks::default(),
            &[healthy(2)],
        );
        assert_eq!(second.start_primary, 2);
        assert_eq!(total_stops(&second), 0);
    }

    #[test]
    fn pending_primary_tasks_do_not_allow_stops_under_min100() {
        let primary = DeploymentTasks {
            running: 0,
            pending: 4,
            healthy: 0,
        };
        let step = plan_rollout_step(4, bounds(100, 200), primary, &[healthy(4)]);
        assert_eq!(
            (step.start_primary, total_stops(&step), step.stuck),
            (0, 0, false)
        );
    }

    #[test]
    fn healthy_primary_tasks_release_old_ones() {
        let step = plan_rollout_step(4, bounds(100, 200), healthy(4), &[healthy(4)]);
        assert_eq!(
            step.stop_old,
            vec![OldDeploymentStops {
                not_healthy: 0,
                healthy: 4
            }]
        );
    }

    #[test]
    fn not_healthy_old_tasks_go_first_and_cost_no_healthy_budget() {
        let old = DeploymentTasks {
            running: 3,
            pending: 1,
            healthy: 2,
        };
        let step = plan_rollout_step(4, bounds(50, 100), DeploymentTasks::default(), &[old]);
        // healthy 2 = minHealthy 2: the two not-healthy ones may go, no healthy one.
        assert_eq!(
            step.stop_old,
            vec![OldDeploymentStops {
                not_healthy: 2,
                healthy: 0
            }]
        );
    }

    #[test]
    fn below_min_healthy_nothing_old_is_stopped() {
        let warming = DeploymentTasks {
            running: 4,
            pending: 0,
            healthy: 1,
        };
        let step = plan_rollout_step(4, bounds(50, 100), DeploymentTasks::default(), &[warming]);
        assert_eq!(total_stops(&step), 0);
        assert!(!step.stuck, "tasks warming up may still become healthy");
    }

    #[test]
    fn healthy_stops_drain_the_first_listed_old_deployment_first() {
        let step = plan_rollout_step(
            4,
            bounds(0, 100),
            DeploymentTasks::default(),
            &[healthy(2), healthy(2)],
        );
        assert_eq!(
            step.stop_old,
            vec![
                OldDeploymentStops {
                    not_healthy: 0,
                    healthy: 2
                },
                OldDeploymentStops {
                    not_healthy: 0,
                    healthy: 2
                }
            ]
        );
        let limited = plan_rollout_step(
            4,
            bounds(25, 100),
            DeploymentTasks::default(),
            &[healthy(2), healthy(2)],
        );
        assert_eq!(
            limited.stop_old,
            vec![
                OldDeploymentStops {
                    not_healthy: 0,
                    healthy: 2
                },
                OldDeploymentStops {
                    not_healthy: 0,
                    healthy: 1
                }
            ]
        );
    }

    #[test]
    fn primary_never_grows_past_desired() {
        let step = plan_rollout_step(
            2,
            bounds(100, 1000),
            DeploymentTasks::default(),
            &[healthy(2)],
        );
        assert_eq!(step.start_primary, 2);
    }

    #[test]
    fn min100_max100_is_reported_stuck() {
        let step = plan_rollout_step(
            3,
            bounds(100, 100),
            DeploymentTasks::default(),
            &[healthy(3)],
        );
        assert_eq!(
            (step.start_primary, total_stops(&step), step.stuck),
            (0, 0, true)
        );
    }

    #[test]
    fn scale_to_zero_drains_everything_old() {
        let step = plan_rollout_step(
            0,
            bounds(100, 200),
            DeploymentTasks::default(),
            &[healthy(3)],
        );
        assert_eq!(
            (step.start_primary, total_stops(&step), step.stuck),
            (0, 3, false)
        );
    }

    #[test]
    fn stuck_message_matches_ecs_wording() {
        assert_eq!(
            stuck_message("web"),
            "(service web) was unable to stop or start tasks during a deployment because of the service deployment \
             configuration. Update the minimumHealthyPercent or maximumPercent value and try again."
        );
    }
}
