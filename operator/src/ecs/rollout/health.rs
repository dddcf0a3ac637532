//! Whether a task counts as healthy for the scheduler (§2.4).
//!
//! The verdict has three values, not two, because `healthCheckGracePeriodSeconds` only
//! suppresses *unhealthy* results: a task in its grace period that fails its checks is not
//! replaced, but neither does it count toward `minimumHealthyPercent`. Rollouts therefore
//! still wait for real health, and the grace period only protects slow starters from being
//! killed.

/// Combined status of the health checks of a task's essential containers, as ECS reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthCheckStatus {
    /// No check has concluded yet (ECS `UNKNOWN`: start period, or not yet probed).
    Unknown,
    /// Every essential container with a health check passes it.
    Healthy,
    /// At least one essential container fails its health check.
    Unhealthy,
}

/// What the scheduler knows about one non-stopped task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskHealthInput {
    /// The task's lastStatus is RUNNING.
    pub running: bool,
    /// `None` when no essential container has a health check; then the 40-second rule applies.
    pub essential_health_checks: Option<HealthCheckStatus>,
    /// Seconds since the task reached RUNNING (ignored while it is not running).
    pub seconds_since_running: u64,
    /// The task is still inside the service's `healthCheckGracePeriodSeconds`.
    pub in_grace_period: bool,
}

/// The scheduler's view of a task's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskHealth {
    /// Counts toward `minimumHealthyPercent`.
    Healthy,
    /// Not counted yet, and not to be replaced: pending, warming up, no verdict yet, or
    /// failing inside the grace period.
    NotYetHealthy,
    /// Not counted, and to be replaced (§2.4, "Unhealthy tasks").
    Unhealthy,
}

/// Seconds after RUNNING at which a task without essential health checks counts as healthy.
pub const HEALTHY_AFTER_RUNNING_WITHOUT_CHECKS_SECONDS: u64 = 40;

/// Classifies a task per §2.4 (no load balancer: Berth's load balancer health is the
/// readiness probe, which is the same signal as the container health checks).
pub fn task_health(task: &TaskHealthInput) -> TaskHealth {
    if !task.running {
        return TaskHealth::NotYetHealthy;
    }
    match task.essential_health_checks {
        None if task.seconds_since_running >= HEALTHY_AFTER_RUNNING_WITHOUT_CHECKS_SECONDS => {
            TaskHealth::Healthy
        }
        None | Some(HealthCheckStatus::Unknown) => TaskHealth::NotYetHealthy,
        Some(HealthCheckStatus::Healthy) => TaskHealth::Healthy,
        Some(HealthCheckStatus::Unhealthy) if task.in_grace_period => TaskHealth::NotYetHealthy,
        Some(HealthCheckStatus::Unhealthy) => TaskHealth::Unhealthy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running(
        checks: Option<HealthCheckStatus>,
        seconds: u64,
        in_grace_period: bool,
    ) -> TaskHealthInput {
        TaskHealthInput {
            running: true,
            essential_health_checks: checks,
            seconds_since_running: seconds,
            in_grace_period,
        }
    }

    #[test]
    fn pending_task_is_never_healthy_even_with_passing_checks() {
        let pending = TaskHealthInput {
            running: false,
            ..running(Some(HealthCheckStatus::Healthy), 500, false)
        };
        assert_eq!(task_health(&pending), TaskHealth::NotYetHealthy);
    }

    #[test]
    fn without_checks_a_task_counts_40_seconds_after_running() {
        assert_eq!(
            task_health(&running(None, 0, false)),
            TaskHealth::NotYetHealthy
        );
        assert_eq!(
            task_health(&running(None, 39, false)),
            TaskHealth::NotYetHealthy
        );
        assert_eq!(task_health(&running(None, 40, false)), TaskHealth::Healthy);
        assert_eq!(task_health(&running(None, 4000, true)), TaskHealth::Healthy);
    }

    #[test]
    fn with_checks_only_the_check_result_matters_not_the_40_seconds() {
        assert_eq!(
            task_health(&running(Some(HealthCheckStatus::Healthy), 0, false)),
            TaskHealth::Healthy
        );
        assert_eq!(
            task_health(&running(Some(HealthCheckStatus::Unknown), 4000, false)),
            TaskHealth::NotYetHealthy
        );
    }

    #[test]
    fn grace_period_turns_unhealthy_into_not_yet_healthy_but_never_into_healthy() {
        assert_eq!(
            task_health(&running(Some(HealthCheckStatus::Unhealthy), 10, true)),
            TaskHealth::NotYetHealthy
        );
        assert_eq!(
            task_health(&running(Some(HealthCheckStatus::Unhealthy), 10, false)),
            TaskHealth::Unhealthy
        );
        assert_eq!(
            task_health(&running(Some(HealthCheckStatus::Healthy), 10, true)),
            TaskHealth::Healthy
        );
    }
}
